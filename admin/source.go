package admin

import (
	"context"
	"time"

	"github.com/tailgate-proxy/tailgate/config"
)

// Source is what the admin commands and metrics read and steer; app.App implements it.
// Its methods are called from admin connections and metric scrapes, concurrently with
// traffic, and must be safe for that.
type Source interface {
	// Backends lists the backends, primary first.
	Backends() []BackendInfo
	// ExplainRoute classifies and routes sql as live traffic would in a fresh autocommit
	// session. An error means the statement would fail to route (lag.on_all_stale = "error").
	ExplainRoute(sql string) (Route, error)
	// Stats are the proxy's counters by name; see the Stat* names for those that
	// metrics exports.
	Stats() []Stat
	// Sessions lists the client sessions.
	Sessions() []SessionInfo
	// Digests lists the statements that ran by digest (their text with literals
	// replaced), the most total time first.
	Digests() []DigestInfo
	// ResetDigests zeroes the digests' counters and forgets the reads found to write.
	ResetDigests()
	// KillSession ends client session id (query: stops the statement it runs); an unknown
	// id is a *mysql.MyError (1094), as servers report it.
	KillSession(id uint32, query bool) error
	// SetBackendOffline drains (true) or restores (false) a backend; an unknown name is
	// an error.
	SetBackendOffline(name string, offline bool) error
	// Config is the running configuration with secrets masked.
	Config() *config.Config
	// ReloadConfig reloads the config file and returns the changes applied, or why the
	// file was refused (the running config then stays).
	ReloadConfig() ([]string, error)
	// CheckPrimary returns nil when the primary answers within ctx, else why not.
	CheckPrimary(ctx context.Context) error
}

// Backend states, as SHOW BACKENDS and tailgate_backend_state report them.
const (
	StateOnline  = "online"  // serving
	StateLagging = "lagging" // replica behind lag.max: no reads until it recovers
	StateDown    = "down"    // unreachable or replication broken
	StateOffline = "offline" // drained by SET BACKEND <name> OFFLINE
)

// backendStates are every state, in the order metrics exports them.
var backendStates = [...]string{StateOnline, StateLagging, StateDown, StateOffline}

// Roles of BackendInfo.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// BackendInfo is one row of SHOW BACKENDS.
type BackendInfo struct {
	Name    string
	Role    string // RolePrimary or RoleReplica
	Address string
	State   string // one of the State* constants
	// LagMS is the replica's lag in milliseconds (0 for the primary or a caught-up replica).
	LagMS int64
	// GTID is the backend's last known GTID position ("" when unknown).
	GTID        string
	Weight      int
	Connections int64  // open backend connections
	Queries     uint64 // statements sent to it
}

// Route is the result of EXPLAIN ROUTE.
type Route struct {
	Target  string // "primary" or "replica"
	Backend string // the backend that would be chosen now
	Reason  string // the router's reason code
}

// Stat is one named counter of SHOW STATS.
type Stat struct {
	Name  string
	Value uint64
}

// Stat names that metrics exports (any other stat only shows in SHOW STATS). A Source
// that has none of a name just leaves it out, and so does /metrics: the binlog tailer's
// stats appear once a tailer reports them.
const (
	StatQueriesPrimary    = "queries_primary"     // statements sent to the primary
	StatQueriesReplica    = "queries_replica"     // statements sent to replicas
	StatFallbacks         = "fallbacks_primary"   // reads sent to the primary because no replica was eligible
	StatRouteErrors       = "route_errors"        // reads refused under lag.on_all_stale = "error"
	StatClientConnections = "client_connections"  // open client sessions (a gauge)
	StatRefused           = "connections_refused" // clients refused by proxy.max_connections
	StatHandshakeFailures = "handshake_failures"
	StatAuthFailures      = "auth_failures"
	StatBackendDialErrors = "backend_dial_errors"
	StatReplicasLagging   = "replicas_lagging" // replicas excluded from reads for lag now (a gauge)
	StatReadRetries       = "read_retries"     // reads retried on another backend after a failure
	// Reads after the session's write that waited on a replica for it (consistency.replica_wait)
	// and ran there, and waits that ran out (the read then went to the primary).
	StatReplicaWaits      = "replica_waits"
	StatReplicaWaitMisses = "replica_wait_misses"
	// StatSlowStatements counts the statements that took log.slow_statement or longer.
	StatSlowStatements = "slow_statements"
	// StatReadOnlyWaits counts statements the primary refused as read-only (a switchover
	// under way) that waited for it to move (proxy.primary_wait) instead of failing.
	StatReadOnlyWaits = "primary_read_only_waits"
	// StatPrimaryFollows counts promotions followed: the primary moved to a promoted
	// replica without a config change (primary.follow_promotion).
	StatPrimaryFollows = "primary_follows"
	// The binlog tailer's, present only when it runs ([replication] is set):
	// StatTailerConnected is 1 while it streams from the primary, StatTailerPosition the
	// sequence number of the newest primary transaction it saw, StatTailerReconnects how
	// often it reconnected.
	StatTailerConnected  = "tailer_connected"
	StatTailerPosition   = "tailer_position_seq"
	StatTailerReconnects = "tailer_reconnects"
)

// DigestInfo is one row of SHOW DIGESTS.
type DigestInfo struct {
	// Digest is the statement text with its literals replaced by markers ("?", "?s"
	// for a string, "?li" for a list of integers), or the start of a text without them.
	Digest string
	// Class is how the statement was classified: "read", or "write" and the reason it
	// goes to the primary ("write/session_function").
	Class string
	// Count is its executions; Primary and Replica split them by where they ran; Errors
	// counts those that ended in an error.
	Count, Primary, Replica, Errors uint64
	// Total is the time from sending each execution to a backend to its last response
	// packet, summed.
	Total time.Duration
}

// SessionInfo is one row of SHOW SESSIONS.
type SessionInfo struct {
	ID     uint32
	User   string
	Client string // client address
	State  string // "idle" or "query"
	Pinned string // backend the session is pinned to, "" when not pinned
	InTxn  bool
	Since  time.Time
}
