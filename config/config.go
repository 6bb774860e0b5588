package config

import "time"

// Config is tailgate's whole configuration, as loaded from one TOML file.
// Optional tables are pointers that stay nil when the table is absent.
type Config struct {
	// Proxy is the MySQL listener that applications connect to.
	Proxy Proxy `toml:"proxy"`
	// Admin is the admin SQL listener; nil when [admin] is absent, which turns it off.
	Admin *Admin `toml:"admin"`
	// Metrics is the Prometheus and health HTTP listener; nil when [metrics] is absent.
	Metrics *Metrics `toml:"metrics"`
	// Users are the application accounts tailgate authenticates clients against.
	Users []User `toml:"users"`
	// Primary is the backend that takes every write.
	Primary Primary `toml:"primary"`
	// Replicas are the read-only backends reads are balanced over; may be empty.
	Replicas []Replica `toml:"replicas"`
	// Replication is the account the binlog tailer and position checks use; nil when
	// [replication] is absent, in which case tailgate cannot see lag (the caller warns).
	Replication *Replication `toml:"replication"`
	// Lag decides when a replica is too stale to serve reads.
	Lag Lag `toml:"lag"`
	// Consistency holds the session consistency guarantees.
	Consistency Consistency `toml:"consistency"`
	// Rules route statements by their digest, as a hint in the statement would: for
	// applications whose SQL cannot be changed. The first rule that matches applies.
	Rules []Rule `toml:"rules"`
	// Log configures logging.
	Log Log `toml:"log"`
	// Path is the file the config was loaded from; empty when parsed from memory.
	Path string `toml:"-"`

	// lines maps dotted keys to their line in the loaded text (nil when not loaded
	// from text). Read-only after Parse, so copies may share it.
	lines keyLines
}

// Proxy configures the client-facing MySQL listener.
type Proxy struct {
	// Listen is the host:port applications connect to. Default "127.0.0.1:6033".
	Listen string `toml:"listen"`
	// Socket is a unix socket path (absolute) that applications on this host may connect
	// to as well, as to mysqld's socket: cheaper than TCP on loopback. Tailgate replaces a
	// socket file left by a process that is gone and removes it when it stops. Empty (the
	// default): no socket.
	Socket string `toml:"socket"`
	// MaxConnections caps concurrent client connections. Default 10000.
	MaxConnections int `toml:"max_connections"`
	// HandshakeTimeout bounds a client's handshake and authentication. Default 10s.
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// ShutdownTimeout is how long open transactions may run after SIGTERM. Default 15s.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// PrimaryWait is how long a write waits for a primary that is down before failing. Default 5s.
	PrimaryWait Duration `toml:"primary_wait"`
	// MaxAllowedPacket is the largest packet accepted from a client, 1KiB..1GiB. Default 64MiB.
	MaxAllowedPacket Size `toml:"max_allowed_packet"`
	// TLS enables TLS for clients; nil when [proxy.tls] is absent (plain connections only).
	TLS *ServerTLS `toml:"tls"`
	// BackendConnectTimeout bounds dialing and authenticating to a backend. Default 3s.
	BackendConnectTimeout Duration `toml:"backend_connect_timeout"`
	// MaxAuthFailures refuses a client host's connections (error 1129) after this many
	// failed logins within a minute; 0 turns the limit off. Default 50.
	MaxAuthFailures int `toml:"max_auth_failures"`
	// MaxBackendConnections caps the connections tailgate opens to each backend; client
	// sessions share them between statements. Default 256.
	MaxBackendConnections int `toml:"max_backend_connections"`
	// BackendReadTimeout bounds each read from a backend; 0 (the default) means no limit.
	BackendReadTimeout Duration `toml:"backend_read_timeout"`
	// Compression offers clients zlib protocol compression (CLIENT_COMPRESS); clients
	// still choose. Default true.
	Compression bool `toml:"compression"`
	// LocalInfile lets clients that ask for it run LOAD DATA LOCAL INFILE: tailgate then
	// relays the file from the client to the primary. Default false (refused by the server).
	LocalInfile bool `toml:"local_infile"`
	// ProxyProtocolNetworks are the load balancers (IP addresses or CIDR ranges) that put a
	// PROXY protocol header (v1 or v2, HAProxy's send-proxy) before the client's bytes:
	// connections from them must send one, and the client address it names is the one
	// tailgate logs, shows in SHOW SESSIONS and counts failed logins against. Empty (the
	// default): no header is read.
	ProxyProtocolNetworks []string `toml:"proxy_protocol_networks"`
}

// ServerTLS is the TLS setup tailgate offers its clients.
type ServerTLS struct {
	// Cert is the PEM certificate (chain) file. Required.
	Cert string `toml:"cert"`
	// Key is the PEM private key file for Cert. Required.
	Key string `toml:"key"`
	// RequireTLS refuses clients that do not switch to TLS. Default false.
	RequireTLS bool `toml:"require_tls"`
	// MinVersion is the lowest TLS version accepted: "1.2" (default) or "1.3".
	MinVersion string `toml:"min_version"`
}

// Admin configures the admin SQL listener.
type Admin struct {
	// Listen is the admin host:port. Default "127.0.0.1:6034". A non-loopback address
	// is refused unless AllowRemote is set.
	Listen string `toml:"listen"`
	// User is the admin account name. Default "admin".
	User string `toml:"user"`
	// Password is the admin password. Required (there is no built-in default); after
	// loading it holds the content of PasswordFile when that is set.
	Password string `toml:"password"`
	// PasswordFile names a file holding Password (trailing newlines trimmed); relative
	// paths are relative to the config file's directory. Exclusive with Password.
	PasswordFile string `toml:"password_file"`
	// AllowRemote permits a non-loopback Listen address. Default false.
	AllowRemote bool `toml:"allow_remote"`
}

// Metrics configures the HTTP listener for /metrics, /healthz and /readyz.
type Metrics struct {
	// Listen is the HTTP host:port. Default "127.0.0.1:9034".
	Listen string `toml:"listen"`
}

// User is an application account. Tailgate authenticates clients itself and logs in
// to the backends as BackendUser/BackendPassword, or as Name/Password when those are empty.
type User struct {
	// Name is the account name clients log in with. Required, unique.
	Name string `toml:"name"`
	// Password is the account password. Required; after loading it holds the content
	// of PasswordFile when that is set.
	Password string `toml:"password"`
	// PasswordFile names a file holding Password (trailing newlines trimmed); relative
	// paths are relative to the config file's directory. Exclusive with Password.
	PasswordFile string `toml:"password_file"`
	// BackendUser is the account used on the backends; empty means Name.
	BackendUser string `toml:"backend_user"`
	// BackendPassword is the password used on the backends; empty means Password.
	BackendPassword string `toml:"backend_password"`
	// AuthPlugin is how clients prove the password to tailgate: "mysql_native_password"
	// (default) or "caching_sha2_password" (full authentication needs TLS or the
	// server's RSA public key). Empty means mysql_native_password.
	AuthPlugin string `toml:"auth_plugin"`
}

// Primary is the server that takes every write.
type Primary struct {
	// Address is the server's host:port, or the absolute path of its unix socket (a
	// server on this host: cheaper than TCP on loopback). Required.
	Address string `toml:"address"`
	// TLS configures TLS to this server; nil when the tls table is absent (plain connections).
	TLS *BackendTLS `toml:"tls"`
	// FollowPromotion moves the primary to a replica that was promoted outside tailgate
	// (a switchover or failover by an operator or an orchestrator): once the primary is
	// read-only or unreachable and exactly one replica is writable, replicates from no
	// one, was a replica when the primary last took writes and has applied at least what
	// every other reachable replica has, that replica
	// becomes the primary and the old primary takes its place among the replicas, as a
	// reload with the two addresses swapped would do. Needs [replication] (its account
	// reads read_only and SHOW SLAVE STATUS). Default false: the primary moves only by a
	// config change.
	FollowPromotion bool `toml:"follow_promotion"`
}

// Replica is a read-only backend.
type Replica struct {
	// Name identifies the replica in admin commands, metrics and logs. Required, unique,
	// and not "primary".
	Name string `toml:"name"`
	// Address is the replica's host:port or unix socket path. Required, distinct from
	// every other backend.
	Address string `toml:"address"`
	// Weight is the replica's share of reads relative to the others, >= 1. Default 1.
	Weight int `toml:"weight"`
	// TLS configures TLS to this replica; nil when the tls table is absent.
	TLS *BackendTLS `toml:"tls"`
}

// BackendTLS is the TLS setup tailgate uses towards a backend.
type BackendTLS struct {
	// CA is a PEM file of CAs to verify the server with; empty means the system roots.
	CA string `toml:"ca"`
	// Verify checks the server certificate and name. Default true.
	Verify bool `toml:"verify"`
	// Required fails the connection when the server does not offer TLS. Default false.
	Required bool `toml:"required"`
	// ServerName overrides the name verified in the server certificate; empty means
	// the host part of the backend address.
	ServerName string `toml:"server_name"`
}

// Replication is the account the binlog tailer and replica position checks use.
type Replication struct {
	// User is the replication account name. Required.
	User string `toml:"user"`
	// Password is the replication account password; after loading it holds the content
	// of PasswordFile when that is set.
	Password string `toml:"password"`
	// PasswordFile names a file holding Password (trailing newlines trimmed); relative
	// paths are relative to the config file's directory. Exclusive with Password.
	PasswordFile string `toml:"password_file"`
	// ServerID is the server id the tailer registers with; it must be unique among the
	// cluster's server ids and not 0. Default 4200001.
	ServerID uint32 `toml:"server_id"`
}

// Lag decides which replicas are fresh enough to serve reads.
type Lag struct {
	// Max is the lag above which a replica gets no reads. Default 1s.
	Max Duration `toml:"max"`
	// Recover is the lag below which an excluded replica is re-admitted, <= Max. Default 500ms.
	Recover Duration `toml:"recover"`
	// PollInterval is how often replica positions are checked, unless streamed, > 0. Default 100ms.
	PollInterval Duration `toml:"poll_interval"`
	// OnAllStale is what a read does when no replica is fresh: "primary" (default) sends it
	// to the primary, "error" fails it.
	OnAllStale string `toml:"on_all_stale"`
}

// Rule routes the statements whose digest matches, as the leading comment hints do
// (/* tailgate:primary */, /* tailgate:replica */, /* tailgate:max_lag=... */); a hint in
// the statement itself wins.
type Rule struct {
	// Name identifies the rule in EXPLAIN ROUTE's reason and the logs. Required, unique.
	Name string `toml:"name"`
	// Match is a regular expression (Go RE2 syntax) searched in the statement's digest:
	// its text with literals replaced by markers, as SHOW DIGESTS shows it
	// ("SELECT c FROM sbtest1 WHERE id=?"). Required.
	Match string `toml:"match"`
	// Target is "primary" or "replica"; empty leaves the target to the usual rules.
	Target string `toml:"target"`
	// MaxLag accepts a replica up to this lag for the statement instead of lag.max; 0
	// (the default) leaves lag.max.
	MaxLag Duration `toml:"max_lag"`
}

// Rule targets.
const (
	RuleTargetPrimary = "primary"
	RuleTargetReplica = "replica"
)

// Consistency holds the session consistency guarantees.
type Consistency struct {
	// ReadYourWrites makes a session's reads see its own earlier writes. Default true.
	ReadYourWrites bool `toml:"read_your_writes"`
	// Scope is whose writes a read must see: "session" (default: the session's own),
	// "user" (every session of the same user, for applications whose connection pool
	// spreads one request over several connections) or "global" (every write through
	// this tailgate).
	Scope string `toml:"scope"`
	// ReplicaWait lets a read that must see a write no replica shows yet wait up to this
	// long on a replica for it (MASTER_GTID_WAIT there) before it goes to the primary.
	// Default 0: it goes to the primary at once.
	ReplicaWait Duration `toml:"replica_wait"`
}

// Log configures logging.
type Log struct {
	// Level is one of trace, debug, info (default), warn, error.
	Level string `toml:"level"`
	// Format is text (default) or json.
	Format string `toml:"format"`
	// SlowStatement logs each statement whose backend took at least this long to answer
	// (from sending it to its last packet), at warn level, with its digest (no literal
	// values), backend and duration, and counts it (SHOW STATS slow_statements). 0 (the
	// default) is off.
	SlowStatement Duration `toml:"slow_statement"`
}

// Accepted values of the enumerated keys.
const (
	OnAllStalePrimary = "primary"
	OnAllStaleError   = "error"

	ScopeSession = "session"
	ScopeUser    = "user"
	ScopeGlobal  = "global"

	TLSVersion12 = "1.2"
	TLSVersion13 = "1.3"
)

// PrimaryName is the name the primary has among the backends (admin commands,
// metrics); no replica may use it.
const PrimaryName = "primary"

// Default returns a config holding every default of DESIGN.md. Optional tables are
// nil and there are no users, replicas or primary address: a file must supply those.
func Default() *Config {
	c := &Config{}
	c.Proxy.setDefaults()
	c.Lag.setDefaults()
	c.Consistency.setDefaults()
	c.Log.setDefaults()
	return c
}

// defaulter is implemented by every table that has defaults. The loader calls it on
// each table it creates (optional tables, [[replicas]] entries, tls tables) before
// laying the file's keys over it, so defaults apply per entry.
type defaulter interface{ setDefaults() }

func (p *Proxy) setDefaults() {
	p.Listen = "127.0.0.1:6033"
	p.MaxConnections = 10000
	p.MaxBackendConnections = 256
	p.MaxAuthFailures = 50
	p.HandshakeTimeout = Duration{10 * time.Second}
	p.ShutdownTimeout = Duration{15 * time.Second}
	p.PrimaryWait = Duration{5 * time.Second}
	p.MaxAllowedPacket = 64 * MiB
	p.BackendConnectTimeout = Duration{3 * time.Second}
	p.Compression = true
	p.ProxyProtocolNetworks = []string{}
}

func (t *ServerTLS) setDefaults() { t.MinVersion = TLSVersion12 }

func (a *Admin) setDefaults() {
	a.Listen = "127.0.0.1:6034"
	a.User = "admin"
}

func (m *Metrics) setDefaults() { m.Listen = "127.0.0.1:9034" }

func (r *Replica) setDefaults() { r.Weight = 1 }

func (u *User) setDefaults() { u.AuthPlugin = AuthNativePassword }

// Client authentication methods (users.auth_plugin).
const (
	AuthNativePassword      = "mysql_native_password"
	AuthCachingSHA2Password = "caching_sha2_password"
)

func (t *BackendTLS) setDefaults() { t.Verify = true }

func (r *Replication) setDefaults() { r.ServerID = 4200001 }

func (l *Lag) setDefaults() {
	l.Max = Duration{time.Second}
	l.Recover = Duration{500 * time.Millisecond}
	l.PollInterval = Duration{100 * time.Millisecond}
	l.OnAllStale = OnAllStalePrimary
}

func (c *Consistency) setDefaults() { c.ReadYourWrites, c.Scope = true, ScopeSession }

func (l *Log) setDefaults() {
	l.Level = "info"
	l.Format = "text"
}

// User returns the application account called name.
func (c *Config) User(name string) (User, bool) {
	for _, u := range c.Users {
		if u.Name == name {
			return u, true
		}
	}
	return User{}, false
}

// Replica returns the replica called name.
func (c *Config) Replica(name string) (Replica, bool) {
	for _, r := range c.Replicas {
		if r.Name == name {
			return r, true
		}
	}
	return Replica{}, false
}

// Mask is what Masked puts in place of a secret.
const Mask = "*****"

// Masked returns a deep copy of c with every non-empty password replaced by Mask,
// fit for SHOW CONFIG and logs. Empty passwords stay empty (nothing to hide, and
// it shows that, say, backend_password is unset). c is not modified.
func (c *Config) Masked() *Config {
	m := c.clone()
	mask := func(s *string) {
		if *s != "" {
			*s = Mask
		}
	}
	if m.Admin != nil {
		mask(&m.Admin.Password)
	}
	for i := range m.Users {
		mask(&m.Users[i].Password)
		mask(&m.Users[i].BackendPassword)
	}
	if m.Replication != nil {
		mask(&m.Replication.Password)
	}
	return m
}

// clone returns a deep copy of c.
func (c *Config) clone() *Config {
	n := *c
	n.Proxy.TLS = clonePtr(c.Proxy.TLS)
	n.Admin = clonePtr(c.Admin)
	n.Metrics = clonePtr(c.Metrics)
	n.Replication = clonePtr(c.Replication)
	n.Primary.TLS = clonePtr(c.Primary.TLS)
	if c.Users != nil {
		n.Users = append([]User(nil), c.Users...)
	}
	if c.Rules != nil {
		n.Rules = append([]Rule(nil), c.Rules...)
	}
	if c.Replicas != nil {
		n.Replicas = append([]Replica(nil), c.Replicas...)
		for i := range n.Replicas {
			n.Replicas[i].TLS = clonePtr(c.Replicas[i].TLS)
		}
	}
	return &n
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
