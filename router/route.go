package router

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// PrimaryName is the backend name of the primary in decisions, views and admin output.
const PrimaryName = "primary"

// ErrNoReplica is returned for a read when no replica is fresh enough and the configured
// policy is to fail rather than fall back to the primary.
var ErrNoReplica = errors.New("no replica is fresh enough")

// Target is where a statement goes.
type Target uint8

const (
	TargetPrimary Target = iota
	TargetReplica
	// TargetProxy: tailgate answers the statement itself (KILL of a client connection).
	TargetProxy
)

func (t Target) String() string {
	switch t {
	case TargetReplica:
		return "replica"
	case TargetProxy:
		return "tailgate"
	}
	return "primary"
}

// Decision is the routing decision for one statement.
type Decision struct {
	Target  Target
	Backend string // PrimaryName or a replica name
	Reason  Reason
	// Fallback is true when a read went to the primary because no replica was eligible.
	Fallback bool
	// WaitFor, on a replica decision, is the write position the replica must show before
	// the read runs there (SessionView.WaitForWrite); if it does not in time, the read
	// goes to the primary.
	WaitFor string
}

// ReplicaState is the freshness state of a replica.
type ReplicaState uint8

const (
	StateOnline  ReplicaState = iota // serving reads
	StateLagging                     // behind more than lag.max, until it is back under lag.recover
	StateDown                        // unreachable or its replication is broken
)

func (s ReplicaState) String() string {
	switch s {
	case StateOnline:
		return "online"
	case StateLagging:
		return "lagging"
	case StateDown:
		return "down"
	}
	return "unknown"
}

// ReplicaStatus is what the freshness view knows about one replica now.
type ReplicaStatus struct {
	State ReplicaState
	Lag   time.Duration // 0 when caught up
}

// Freshness is the replicas' freshness view the router needs; package replication
// satisfies it.
type Freshness interface {
	// ReplicaStatus returns the current state of the named replica.
	ReplicaStatus(name string) ReplicaStatus
	// HasApplied reports whether the named replica has applied the given write position
	// (a GTID string in the server's flavor); an empty position is always applied.
	HasApplied(name, position string) bool
}

// AlwaysFresh is the Freshness used when tailgate cannot see lag: every replica is online.
type AlwaysFresh struct{}

func (AlwaysFresh) ReplicaStatus(string) ReplicaStatus { return ReplicaStatus{State: StateOnline} }
func (AlwaysFresh) HasApplied(string, string) bool     { return true }

// ReplicaConfig is one replica as the router balances it.
type ReplicaConfig struct {
	Name   string
	Weight int
}

// Options configure a Router.
type Options struct {
	Replicas []ReplicaConfig
	// FailWhenStale makes a read fail with ErrNoReplica when no replica is eligible,
	// instead of going to the primary (lag.on_all_stale = "error").
	FailWhenStale bool
	// Freshness is the replicas' freshness view; nil means AlwaysFresh.
	Freshness Freshness
}

// SessionView is the part of a client session's state the router decides on.
type SessionView struct {
	// TransactionBackend is the backend holding the session's open transaction, or "".
	TransactionBackend string
	AutocommitOff      bool
	TempTables         bool // the session created temporary tables (they live on the primary)
	LocksHeld          bool // GET_LOCK locks held on the primary
	TablesLocked       bool // LOCK TABLES in effect on the primary
	UserVarsOnPrimary  bool // user variables were assigned in a way that cannot be replayed
	StateOnPrimary     bool // session variables were set in a way that cannot be replayed
	LastBackend        string
	// WritePosition is the GTID of the session's last write, for read-your-writes ("" = none).
	WritePosition string
	// WaitForWrite: when no replica shows WritePosition yet, a read goes to an otherwise
	// eligible replica to wait there for it (Decision.WaitFor) instead of to the primary.
	WaitForWrite bool
}

// Router decides where statements go. Safe for concurrent use; its replica set can be
// replaced at run time (config reload) with Update.
type Router struct {
	set       atomic.Pointer[replicaSet]
	freshness Freshness

	mu      sync.Mutex                      // serializes SetOffline
	offline atomic.Pointer[map[string]bool] // operator-drained backends (SET BACKEND x OFFLINE), copy on write
}

type replicaSet struct {
	opts     Options
	balancer *Balancer
}

// New returns a router for opts.
func New(opts Options) *Router {
	r := &Router{}
	r.offline.Store(&map[string]bool{})
	r.freshness = opts.Freshness
	if r.freshness == nil {
		r.freshness = AlwaysFresh{}
	}
	r.Update(opts)
	return r
}

// Update replaces the replica set and policy; the freshness view is kept.
func (r *Router) Update(opts Options) {
	weights := make([]int, len(opts.Replicas))
	for i, rc := range opts.Replicas {
		weights[i] = rc.Weight
	}
	r.set.Store(&replicaSet{opts: opts, balancer: NewBalancer(weights)})
}

// SetOffline drains (true) or restores (false) a backend by name.
func (r *Router) SetOffline(name string, offline bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[string]bool{}
	for k, v := range *r.offline.Load() {
		next[k] = v
	}
	if offline {
		next[name] = true
	} else {
		delete(next, name)
	}
	r.offline.Store(&next)
}

// Offline reports whether an operator took the backend offline. It takes no lock: it is
// read for every replica on every routed read.
func (r *Router) Offline(name string) bool { return (*r.offline.Load())[name] }

// Replicas returns the configured replicas.
func (r *Router) Replicas() []ReplicaConfig { return r.set.Load().opts.Replicas }

// Freshness returns the freshness view the router uses.
func (r *Router) Freshness() Freshness { return r.freshness }

// Route decides where st goes for a session in state s. It returns ErrNoReplica (wrapped,
// with the lag figures) only for reads under lag.on_all_stale = "error".
func (r *Router) Route(st *Statement, s *SessionView) (Decision, error) {
	return r.route(st, s, true)
}

// Explain is Route without taking a turn of the round robin: the replica it names is the
// one the next such statement would get.
func (r *Router) Explain(st *Statement, s *SessionView) (Decision, error) {
	return r.route(st, s, false)
}

func (r *Router) route(st *Statement, s *SessionView, take bool) (Decision, error) {
	d := Pin(st, s)
	if d.Target != TargetReplica || d.Backend != "" {
		return d, nil
	}
	return r.pickReplica(st, s, d.Reason, take)
}

// Pin is the pure part of routing: it decides from the statement and the session alone.
// A Decision with Target replica and no Backend means "any eligible replica".
func Pin(st *Statement, s *SessionView) Decision {
	primary := func(reason Reason) Decision {
		return Decision{Target: TargetPrimary, Backend: PrimaryName, Reason: reason}
	}
	on := func(backend string, reason Reason) Decision {
		if backend == PrimaryName || backend == "" {
			return primary(reason)
		}
		return Decision{Target: TargetReplica, Backend: backend, Reason: reason}
	}
	if st.Kind == KindKill {
		return Decision{Target: TargetProxy, Reason: ReasonKillSession}
	}
	if s.TransactionBackend != "" {
		switch {
		case s.TransactionBackend == PrimaryName:
			return primary(ReasonInTransaction)
		case st.Kind == KindWrite && !st.MayWrite() &&
			(st.PrimarySession || st.Reason == ReasonPrimaryStatus || st.Effects.Has(EffectUserVarAssign)):
			// A read-only transaction on a replica holds a snapshot of the data, not the
			// session: its user locks, LAST_INSERT_ID() and thread id are the primary
			// connection's, the binlog position asked for is the primary's, and user
			// variables assigned in a statement live on the primary connection (later
			// reads of them go there). Such a statement runs there as it would outside the
			// transaction, which stays on its replica.
			return primary(st.Reason)
		case st.Kind == KindLastBackend && s.LastBackend == PrimaryName:
			return primary(ReasonLastBackend) // the diagnostics of such a read
		case st.Kind == KindSessionSet && st.Effects.Has(EffectSetAutocommit):
			// The session's autocommit lives on the primary, where its writes go: set on
			// the replica, a later write would commit on its own.
			return primary(ReasonSessionState)
		case s.UserVarsOnPrimary && st.Effects.Has(EffectUsesUserVars) && !st.MayWrite():
			// They live on the primary connection only. (A write stays, for the
			// transaction's server to refuse: on the primary it would commit.)
			return primary(ReasonUserVarsPinned)
		}
		return on(s.TransactionBackend, ReasonReadOnlyTxn)
	}
	switch st.Kind {
	case KindLastBackend:
		return on(s.LastBackend, ReasonLastBackend)
	case KindSessionSet:
		if st.Effects&(EffectSetAutocommit|EffectSetTransaction) != 0 {
			return primary(ReasonSessionState)
		}
		return on(s.LastBackend, ReasonSessionState)
	case KindUse:
		return on(s.LastBackend, ReasonSessionState)
	case KindWrite, KindBegin, KindEndTransaction:
		reason := st.Reason
		if reason == "" {
			reason = ReasonWrite
		}
		return primary(reason)
	}
	// Reads (and read-only transactions) from here on.
	switch {
	case st.Hint == HintPrimary && st.Rule != "":
		return primary(ReasonRulePrimary)
	case st.Hint == HintPrimary:
		return primary(ReasonHintPrimary)
	case s.AutocommitOff:
		return primary(ReasonAutocommitOff)
	case s.StateOnPrimary:
		return primary(ReasonSessionState)
	case s.TablesLocked:
		return primary(ReasonAdminCommand)
	case s.TempTables:
		return primary(ReasonTempTable)
	case s.LocksHeld:
		return primary(ReasonLockHeld)
	case s.UserVarsOnPrimary && st.Effects.Has(EffectUsesUserVars):
		return primary(ReasonUserVarsPinned)
	case st.Digest.Writes():
		// Learned, not classified: it failed read-only on a replica, and would again
		// whatever the replica hint says.
		return primary(ReasonWroteOnReplica)
	}
	if st.Hint == HintReplica {
		if st.Rule != "" {
			return Decision{Target: TargetReplica, Reason: ReasonRuleReplica}
		}
		return Decision{Target: TargetReplica, Reason: ReasonHintReplica}
	}
	if st.Kind == KindBeginReadOnly {
		return Decision{Target: TargetReplica, Reason: ReasonReadOnlyTxn}
	}
	return Decision{Target: TargetReplica, Reason: ReasonRead}
}

// pickReplica chooses an eligible replica with the balancer, or applies the stale policy.
func (r *Router) pickReplica(st *Statement, s *SessionView, reason Reason, take bool) (Decision, error) {
	set := r.set.Load()
	reps := set.opts.Replicas
	if len(reps) == 0 {
		return Decision{Target: TargetPrimary, Backend: PrimaryName, Reason: ReasonNoReplica, Fallback: true}, nil
	}
	var eligibleBuf, lacksBuf [16]bool
	eligible, lacksWrite := eligibleBuf[:0], lacksBuf[:0] // lacksWrite: eligible but for the write
	any, rywMiss := false, false
	for _, rc := range reps {
		ok := r.eligible(rc.Name, st.MaxLag)
		lacks := ok && s.WritePosition != "" && !r.freshness.HasApplied(rc.Name, s.WritePosition)
		eligible, lacksWrite = append(eligible, ok && !lacks), append(lacksWrite, lacks)
		any, rywMiss = any || ok && !lacks, rywMiss || lacks
	}
	if !any {
		if rywMiss && s.WaitForWrite {
			r.leastBehind(reps, lacksWrite)
			i := set.balancer.pick(lacksWrite, take)
			return Decision{Target: TargetReplica, Backend: reps[i].Name, Reason: ReasonWaitForWrite, WaitFor: s.WritePosition}, nil
		}
		if rywMiss {
			return Decision{Target: TargetPrimary, Backend: PrimaryName, Reason: ReasonReadYourWrites, Fallback: true}, nil
		}
		if set.opts.FailWhenStale && st.Hint != HintReplica {
			return Decision{}, r.staleError(reps)
		}
		return Decision{Target: TargetPrimary, Backend: PrimaryName, Reason: ReasonNoHealthyReplica, Fallback: true}, nil
	}
	i := set.balancer.pick(eligible, take)
	return Decision{Target: TargetReplica, Backend: reps[i].Name, Reason: reason}, nil
}

// leastBehind keeps in candidates, the replicas a read may wait on for the session's write,
// only the least behind (within lagTie): one that applies the primary's transactions as
// they come shows the write within milliseconds, while one that has stopped applying (lag
// growing, still under lag.max) never would.
func (r *Router) leastBehind(reps []ReplicaConfig, candidates []bool) {
	var lagBuf [16]time.Duration
	lags := lagBuf[:0]
	least := time.Duration(-1)
	for i, rc := range reps {
		lag := r.freshness.ReplicaStatus(rc.Name).Lag
		lags = append(lags, lag)
		if candidates[i] && (least < 0 || lag < least) {
			least = lag
		}
	}
	for i := range candidates {
		candidates[i] = candidates[i] && lags[i] <= least+lagTie
	}
}

// lagTie is how far apart two replicas' lags may be and count as the same: the monitor
// recomputes lag every 10 ms.
const lagTie = 20 * time.Millisecond

func (r *Router) eligible(name string, maxLag time.Duration) bool {
	if r.Offline(name) {
		return false
	}
	st := r.freshness.ReplicaStatus(name)
	if maxLag > 0 {
		return st.State != StateDown && st.Lag <= maxLag
	}
	return st.State == StateOnline
}

func (r *Router) staleError(reps []ReplicaConfig) error {
	msg := ""
	for i, rc := range reps {
		if i > 0 {
			msg += ", "
		}
		st := r.freshness.ReplicaStatus(rc.Name)
		if r.Offline(rc.Name) {
			msg += rc.Name + " offline"
			continue
		}
		msg += fmt.Sprintf("%s %s (lag %dms)", rc.Name, st.State, st.Lag.Milliseconds())
	}
	return fmt.Errorf("%w: %s; retry later, raise lag.max or use /* tailgate:primary */", ErrNoReplica, msg)
}
