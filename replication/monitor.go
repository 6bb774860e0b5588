package replication

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/router"
)

var _ router.Freshness = (*Monitor)(nil)

// evaluateEvery is how often lag and states are recomputed from the timeline and the
// replica positions. Lag grows between position polls too, so a replica that stops
// applying is caught within lag.max plus this interval.
const evaluateEvery = 10 * time.Millisecond

// healthEvery is how often each replica's replication threads are checked (SHOW SLAVE
// STATUS, SHOW REPLICA STATUS on MySQL); positions are polled every PollInterval.
const healthEvery = time.Second

// Replica names one replica to watch.
type Replica struct {
	Name    string
	Address string
}

// Options configure a Monitor.
type Options struct {
	// Replicas are the servers to watch.
	Replicas []Replica
	// User and Password log in to the replicas to read their GTID position and thread
	// health. Reading the position (@@gtid_slave_pos on MariaDB, @@GLOBAL.gtid_executed
	// on MySQL) needs no privilege; thread health needs SLAVE MONITOR on MariaDB (SHOW
	// SLAVE STATUS) or REPLICATION CLIENT on MySQL (SHOW REPLICA STATUS), else it is not
	// shown.
	User, Password string
	// PollInterval is how often each replica's position is read (default 100ms).
	PollInterval time.Duration
	// ConnectTimeout bounds each connection attempt and each poll (default 2s).
	ConnectTimeout time.Duration
	// DownAfter is how many failed polls in a row mark a replica down.
	DownAfter int
	// MaxLag takes a replica out of rotation; Recover puts it back (hysteresis).
	MaxLag, Recover time.Duration
	// Tailer, when set, follows the primary's binlog so that lag can be measured. Without
	// it lag is unknown (0) and only reachability decides the state.
	Tailer *TailerOptions
	Logger hclog.Logger
}

// Monitor keeps each replica's applied GTID position, reachability, replication thread
// health and lag current, and answers the router's freshness questions from atomics
// without blocking.
type Monitor struct {
	opts Options
	log  hclog.Logger
	set  atomic.Pointer[viewSet]
	tl   *timeline
	// tailer follows the primary's binlog (nil without Options.Tailer); SetPrimary
	// replaces it.
	tailer atomic.Pointer[tailer]
	maxLag atomic.Int64 // nanoseconds; changed by SetThresholds
	recov  atomic.Int64
	// account logs in to the replicas and, with a tailer, streams binlogs; every new
	// connection reads it (SetAccount).
	account     atomic.Pointer[Account]
	pollEvery   atomic.Int64 // PollInterval in nanoseconds (SetPolling)
	pollTimeout atomic.Int64 // ConnectTimeout in nanoseconds (SetPolling)
	// applied is evaluateAt's scratch list of replica positions (evaluator only).
	applied []position

	// Following promotions (SetFollow): primary is what the primary's watcher knows (nil
	// without a tailer); promotions carries what checkPromotion finds.
	follow     atomic.Bool
	primary    atomic.Pointer[primaryView]
	promotions chan Promotion
	// Evaluator only: the primary a promotion was reported for, the last note logged,
	// and a scratch list.
	proposed   *primaryView
	followNote string
	cands      []candidate

	// Watchers of the replicas, started by Run and by SetReplicas while it runs.
	mu      sync.Mutex
	runCtx  context.Context // nil until Run
	wg      sync.WaitGroup
	cancels map[*replicaView]context.CancelFunc
	// stopTailer ends the running primary tailer; tailerDone is closed when it has.
	stopTailer context.CancelFunc
	tailerDone chan struct{}
}

// viewSet is the replicas watched now; replaced as a whole by SetReplicas.
type viewSet struct {
	byName map[string]*replicaView
	order  []*replicaView
}

// replicaView is what is known about one replica.
type replicaView struct {
	name    string
	address string
	state   atomic.Uint32 // router.ReplicaState
	lag     atomic.Int64  // nanoseconds
	// pos is what the replica has applied as far as tailgate knows: its polls and the
	// stream of its own binlog. The stream runs a little ahead of what a read there sees:
	// a server writes a transaction to its binlog (where the stream reads it) before the
	// storage engine makes it visible. pos measures lag.
	pos atomic.Pointer[position]
	// visible is what the replica's polls showed it applied (@@gtid_slave_pos is updated
	// after the commit): a read there sees it. Read-your-writes goes by visible. When it
	// wants a GTID that pos has and visible not yet, it asks for a poll at once (kick).
	visible atomic.Pointer[position]
	kick    chan struct{} // cap 1: a poll is wanted now
	// reachable is set by the poller; the evaluator turns it into states.
	reachable atomic.Bool
	// writable is read_only = 0 in the last poll (a promoted replica, or a misconfigured one).
	writable atomic.Bool
	// replicaAt is when a poll last showed it a replica (read_only, or its replication
	// threads running), unix nanoseconds; 0 never.
	replicaAt atomic.Int64
	// threads is the replication thread health text ("" when unknown).
	threads atomic.Pointer[string]
	changes atomic.Uint64 // state changes, for tests and metrics

	fails int // failed polls in a row (poller goroutine only)
	// polled is the last poll's position (poller goroutine only; nil before the first).
	polled position
}

func newReplicaView(name, address string) *replicaView {
	v := &replicaView{name: name, address: address, kick: make(chan struct{}, 1)}
	v.pos.Store(&position{})
	v.visible.Store(&position{})
	return v
}

// NewMonitor returns a monitor; Run starts watching.
func NewMonitor(opts Options) *Monitor {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.DownAfter <= 0 {
		opts.DownAfter = 2
	}
	m := &Monitor{opts: opts, log: opts.Logger.Named("replication"), tl: newTimeline(), cancels: map[*replicaView]context.CancelFunc{},
		promotions: make(chan Promotion, 1)}
	m.SetThresholds(opts.MaxLag, opts.Recover)
	m.SetAccount(opts.User, opts.Password)
	m.SetPolling(opts.PollInterval, opts.ConnectTimeout)
	m.set.Store(&viewSet{byName: map[string]*replicaView{}})
	m.SetReplicas(opts.Replicas)
	if opts.Tailer != nil {
		t := *opts.Tailer
		t.Logger = opts.Logger
		t.account = &m.account
		m.tailer.Store(newTailer(t, primarySink{m.tl}))
		m.primary.Store(newPrimaryView(t.Address))
	}
	return m
}

// SetPrimary moves the binlog tailer to the primary at address (a reload after a
// switchover or failover). Lag is measured against the new primary from then on, as from
// a start: its position of now is stamped as seen now, and what tailgate saw of the old
// one is forgotten (after a failover the new primary may lack some of it, which no replica
// would ever apply). Read-your-writes goes by GTIDs, not by this timeline: unaffected.
func (m *Monitor) SetPrimary(address string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.tailer.Load()
	if old == nil || old.opts.Address == address {
		return
	}
	if m.stopTailer != nil {
		m.stopTailer()
		<-m.tailerDone
		m.stopTailer, m.tailerDone = nil, nil
	}
	m.tl.reset()
	opts := old.opts
	opts.Address = address
	t := newTailer(opts, primarySink{m.tl})
	t.reconnects.Store(old.reconnects.Load())
	m.tailer.Store(t)
	m.primary.Store(newPrimaryView(address))
	m.log.Info("binlog tailer moved to the new primary", "from", old.opts.Address, "to", address)
	m.startTailer()
}

// startTailer runs the primary's tailer when Run is running (not shutting down). Caller
// holds mu.
func (m *Monitor) startTailer() {
	t := m.tailer.Load()
	if m.runCtx == nil || m.runCtx.Err() != nil || t == nil {
		return
	}
	ctx, cancel := context.WithCancel(m.runCtx)
	done := make(chan struct{})
	m.stopTailer, m.tailerDone = cancel, done
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(done)
		t.run(ctx)
	}()
	if p := m.primary.Load(); p != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.watchPrimary(ctx, p, t)
		}()
	}
}

// Account is a login to the servers.
type Account struct{ User, Password string }

// SetAccount changes the login for the connections opened from now on: position polls
// and binlog streams (a reload after a password rotation). Open ones stay as they are.
func (m *Monitor) SetAccount(user, password string) {
	m.account.Store(&Account{User: user, Password: password})
}

// SetPolling changes how often each replica's position is read and the bound on each
// connection attempt and poll (config reload).
func (m *Monitor) SetPolling(interval, timeout time.Duration) {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	m.pollEvery.Store(int64(interval))
	m.pollTimeout.Store(int64(timeout))
}

// SetThresholds changes lag.max and lag.recover (config reload).
func (m *Monitor) SetThresholds(maxLag, recover time.Duration) {
	m.maxLag.Store(int64(maxLag))
	m.recov.Store(int64(recover))
}

// SetReplicas changes the replicas watched (config reload): new ones start as online
// until their first poll, removed ones stop being watched, others keep their state.
func (m *Monitor) SetReplicas(reps []Replica) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.set.Load()
	next := &viewSet{byName: make(map[string]*replicaView, len(reps))}
	for _, r := range reps {
		v := old.byName[r.Name]
		if v == nil || v.address != r.Address {
			v = newReplicaView(r.Name, r.Address)
			v.reachable.Store(true)
			empty := ""
			v.threads.Store(&empty)
			m.startWatch(v)
		}
		next.byName[r.Name] = v
		next.order = append(next.order, v)
	}
	m.set.Store(next)
	for _, v := range old.order {
		if next.byName[v.name] != v {
			if cancel := m.cancels[v]; cancel != nil {
				cancel()
				delete(m.cancels, v)
			}
		}
	}
}

// startWatch starts v's poller when Run is running, and with a tailer account, a stream
// of the replica's own binlog that advances its position as it commits (polling backs it
// up: a replica without log_slave_updates is only polled). Caller holds mu.
func (m *Monitor) startWatch(v *replicaView) {
	if m.runCtx == nil || m.runCtx.Err() != nil {
		return // not running, or shutting down: Run may be waiting for its goroutines
	}
	ctx, cancel := context.WithCancel(m.runCtx)
	m.cancels[v] = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.watch(ctx, v)
	}()
	if t := m.tailer.Load(); t != nil {
		opts := t.opts
		opts.Address, opts.Quiet, opts.RetryMax = v.address, true, 30*time.Second
		stream := newTailer(opts, &replicaSink{v: v, tl: m.tl})
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			stream.run(ctx)
		}()
	}
}

// Run watches until ctx ends; it returns when all its goroutines have.
func (m *Monitor) Run(ctx context.Context) {
	m.mu.Lock()
	m.runCtx = ctx
	for _, v := range m.set.Load().order {
		m.startWatch(v)
	}
	m.startTailer()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.evaluate(ctx)
	}()
	m.mu.Unlock()
	<-ctx.Done()
	m.wg.Wait()
}

// watch polls one replica's position on a ticker, over one kept connection, and its
// replication threads every healthEvery.
func (m *Monitor) watch(ctx context.Context, v *replicaView) {
	log := m.log.With("replica", v.name)
	var conn *client.Conn
	var d dialect // conn's server's
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	interval := time.Duration(m.pollEvery.Load())
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastHealth, lastPoll time.Time
	for {
		lastPoll = time.Now()
		var err error
		if conn == nil {
			if conn, err = m.connect(ctx, v.address); err == nil {
				d = dialectFor(conn.GetServerVersion())
			}
		}
		if err == nil {
			err = m.poll(conn, d, v)
			// A writable replica may be a promoted one: its threads are read at each
			// poll, so that following a promotion never goes by an old status.
			if err == nil && (time.Since(lastHealth) >= healthEvery || v.writable.Load() && m.follow.Load()) {
				lastHealth = time.Now()
				m.checkThreads(log, conn, d, v)
			}
			if err != nil {
				_ = conn.Close()
				conn = nil
			}
		}
		m.recordPoll(log, v, err)
		if next := time.Duration(m.pollEvery.Load()); next != interval {
			interval = next
			t.Reset(interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-v.kick:
			// At most one poll per millisecond: under a stream of reads after writes, each
			// poll serves all those waiting.
			if wait := time.Millisecond - time.Since(lastPoll); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

func (m *Monitor) connect(ctx context.Context, address string) (*client.Conn, error) {
	timeout := time.Duration(m.pollTimeout.Load())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	acct := m.account.Load()
	c, err := client.ConnectWithContext(ctx, address, acct.User, acct.Password, "", timeout)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}

// poll reads the replica's applied position and whether it is writable.
func (m *Monitor) poll(c *client.Conn, d dialect, v *replicaView) error {
	if err := c.SetDeadline(time.Now().Add(time.Duration(m.pollTimeout.Load()))); err != nil {
		return err
	}
	res, err := c.Execute(d.pollQuery)
	if err != nil {
		return fmt.Errorf("read position: %w", err)
	}
	s, err := res.GetString(0, 0)
	if err != nil {
		return fmt.Errorf("read position: %w", err)
	}
	pos, ok := d.parse(s)
	if !ok {
		return fmt.Errorf("unexpected GTID position %q", s)
	}
	readOnly, err := res.GetInt(0, 1)
	if err != nil {
		return fmt.Errorf("read read_only: %w", err)
	}
	if last := v.polled; v.applyPoll(pos) {
		m.log.Warn("replica's applied position went back; taking the new one", "replica", v.name,
			"from", last.String(), "to", pos.String())
	}
	v.writable.Store(readOnly == 0)
	if readOnly != 0 {
		v.replicaAt.Store(time.Now().UnixNano())
	}
	return nil
}

// advance merges what a poll showed into the replica's positions.
func (v *replicaView) advance(pos position) {
	mergePosition(&v.pos, pos)
	mergePosition(&v.visible, pos)
}

// applyPoll takes the position a poll showed (poller goroutine only) and reports whether
// it went back since the previous poll. What a server says it applied never shrinks,
// unless it is not the same server any more: restored from an older backup under the same
// address, or its GTID state reset (RESET MASTER, SET GLOBAL gtid_slave_pos). Its old
// position would then give it reads it cannot serve, so the new one replaces it. A poll
// behind the binlog stream is not that: it is compared with the previous poll only.
func (v *replicaView) applyPoll(pos position) (wentBack bool) {
	wentBack = v.polled != nil && !pos.containsAll(v.polled)
	if wentBack {
		v.reset(pos)
	} else {
		v.advance(pos)
	}
	v.polled = pos
	return wentBack
}

// reset replaces the replica's positions with what a poll showed, when that went back.
// What the stream added after the poll read is dropped until the next poll: a replica
// that is in fact further along looks behind for that long, never the other way round.
func (v *replicaView) reset(pos position) {
	v.pos.Store(&pos)
	v.visible.Store(&pos)
}

// mergePosition merges a newer position into p (the union: on MariaDB the higher sequence
// per domain). The poller and the binlog stream each see the replica at a different
// moment (the stream ahead: a binlog is written before the commit is visible), so the
// older of the two must not move the position back. A server whose position really went
// back is caught by comparing each source with itself (poll with poll, applyPoll; a new
// stream starts from what the server says, replicaSink.startPosition).
func mergePosition(p *atomic.Pointer[position], pos position) {
	for {
		old := p.Load()
		if old.containsAll(pos) {
			return
		}
		next := old.union(pos)
		if p.CompareAndSwap(old, &next) {
			return
		}
	}
}

// advanceGTID adds one transaction the replica committed (from its binlog stream) to pos.
func (v *replicaView) advanceGTID(g gtid) {
	for {
		old := v.pos.Load()
		if old.contains(g) {
			return
		}
		next := old.clone()
		next[g.stream] = next[g.stream].withGTID(g)
		if v.pos.CompareAndSwap(old, &next) {
			return
		}
	}
}

// wantPoll asks the poller for a poll now (it may already have one pending).
func (v *replicaView) wantPoll() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// checkThreads reads SHOW SLAVE STATUS (SHOW REPLICA STATUS on MySQL) and logs changes of
// the replication threads once. Lag never relies on it (Seconds_Behind_Master has 1 s
// resolution and reads 0 or NULL for a stopped SQL thread); it explains a lagging replica
// to the operator.
func (m *Monitor) checkThreads(log hclog.Logger, c *client.Conn, d dialect, v *replicaView) {
	res, err := c.Execute(d.statusQuery)
	if err != nil {
		return // no SLAVE MONITOR / REPLICATION CLIENT privilege: thread health stays unknown
	}
	text := "not a replica"
	if res.RowNumber() > 0 {
		get := func(col string) string {
			s, _ := res.GetStringByName(0, col)
			return s
		}
		text = fmt.Sprintf("io=%s sql=%s", get(d.ioCol), get(d.sqlCol))
		if e := get("Last_IO_Error"); e != "" {
			text += " io_error=" + e
		}
		if e := get("Last_SQL_Error"); e != "" {
			text += " sql_error=" + e
		}
	}
	if replicating(text) {
		v.replicaAt.Store(time.Now().UnixNano())
	}
	if old := *v.threads.Load(); old != text {
		v.threads.Store(&text)
		if old != "" || !strings.HasPrefix(text, "io=Yes sql=Yes") {
			log.Info("replication threads", "status", text)
		}
	}
}

// recordPoll turns poll results into reachability (DownAfter failures in a row).
func (m *Monitor) recordPoll(log hclog.Logger, v *replicaView, err error) {
	if err == nil {
		v.fails = 0
		if !v.reachable.Swap(true) {
			log.Info("replica reachable again")
		}
		return
	}
	v.fails++
	if v.fails >= m.opts.DownAfter && v.reachable.Swap(false) {
		log.Warn("replica unreachable", "error", err)
		m.setState(v, router.StateDown, time.Duration(v.lag.Load()))
	}
}

// ReportFailure marks a replica down at once after a connection to it failed mid-use;
// its poller brings it back when it answers again.
func (m *Monitor) ReportFailure(name string) {
	v := m.set.Load().byName[name]
	if v == nil {
		return
	}
	first := v.reachable.Swap(false)
	// Down before returning, for every caller: sessions whose reads on it failed at the
	// same moment route their retries right after this, and must not pick it again while
	// the first caller is still logging.
	m.setState(v, router.StateDown, time.Duration(v.lag.Load()))
	if first {
		m.log.Warn("replica connection failed; taken out of rotation until it answers", "replica", name)
	}
}

// evaluate recomputes lag and states on a ticker.
func (m *Monitor) evaluate(ctx context.Context) {
	t := time.NewTicker(evaluateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.evaluateAt(now)
		}
	}
}

// evaluateAt computes every replica's lag at now and applies the state machine:
// online -> lagging above lag.max, lagging or down -> online below lag.recover (down ->
// lagging otherwise), down while unreachable.
func (m *Monitor) evaluateAt(now time.Time) {
	maxLag, recov := time.Duration(m.maxLag.Load()), time.Duration(m.recov.Load())
	tailing := m.opts.Tailer != nil
	applied := m.applied[:0]
	for _, v := range m.set.Load().order {
		pos := *v.pos.Load()
		lag := time.Duration(0)
		if tailing {
			if seen, ok := m.tl.oldestUnapplied(pos); ok {
				lag = max(now.Sub(seen), 0) // monotonic: see timeline.base
			}
		}
		v.lag.Store(int64(lag))
		applied = append(applied, pos)
		if !v.reachable.Load() {
			m.setState(v, router.StateDown, lag)
			continue
		}
		state := router.ReplicaState(v.state.Load())
		switch {
		case !tailing:
			m.setState(v, router.StateOnline, 0)
		case state == router.StateLagging && lag <= recov: // <=: lag.recover = 0 means caught up
			m.setState(v, router.StateOnline, lag)
		case state == router.StateDown:
			// Re-admitted as a lagging one would be: only below lag.recover. A replica
			// that went down while lagging and came back between lag.recover and
			// lag.max would otherwise be online, lag past lag.max again, and flap.
			if lag <= recov {
				m.setState(v, router.StateOnline, lag)
			} else {
				m.setState(v, router.StateLagging, lag)
			}
		case state == router.StateOnline && lag > maxLag:
			m.setState(v, router.StateLagging, lag)
		}
	}
	m.tl.prune(applied)
	clear(applied) // drop the references until the next round
	m.applied = applied
	m.checkPromotion()
}

// setState changes a replica's state, logging each change once with the lag figure.
func (m *Monitor) setState(v *replicaView, next router.ReplicaState, lag time.Duration) {
	old := router.ReplicaState(v.state.Swap(uint32(next)))
	if old == next {
		return
	}
	v.changes.Add(1)
	args := []any{"replica", v.name, "from", old.String(), "to", next.String(), "lag_ms", lag.Milliseconds()}
	if th := *v.threads.Load(); th != "" {
		args = append(args, "threads", th)
	}
	if next == router.StateOnline {
		m.log.Info("replica state changed", args...)
	} else {
		m.log.Warn("replica state changed", args...)
	}
}

// ReplicaStatus implements router.Freshness.
func (m *Monitor) ReplicaStatus(name string) router.ReplicaStatus {
	v := m.set.Load().byName[name]
	if v == nil {
		return router.ReplicaStatus{State: router.StateDown}
	}
	return router.ReplicaStatus{State: router.ReplicaState(v.state.Load()), Lag: time.Duration(v.lag.Load())}
}

// HasApplied implements router.Freshness. required is a MariaDB GTID ("domain-server-seq")
// or position ("0-1-42,1-2-7": each domain applied up to that sequence), or a MySQL GTID
// ("uuid:23", "uuid:tag:23") or GTID set ("uuid:1-5:7,uuid2:3"), as learned from a write's
// OK packet or from PrimaryPosition. MySQL containment is exact: a replica that applied
// 1-20 and 22 has applied "uuid:22" but not "uuid:21".
func (m *Monitor) HasApplied(name, required string) bool {
	if required == "" {
		return true
	}
	v := m.set.Load().byName[name]
	if v == nil {
		return false
	}
	g, single := parseGTID(required) // one GTID: no allocation
	var want position
	if !single {
		var ok bool
		if want, ok = parsePosition(required); !ok {
			return false
		}
	}
	has := func(p *position) bool {
		if single {
			return p.contains(g)
		}
		return p.containsAll(want)
	}
	// visible, not pos: a read there must see the write. When only the stream has it yet
	// (committing there this very moment), a poll now makes the next read find it.
	if has(v.visible.Load()) {
		return true
	}
	if has(v.pos.Load()) {
		v.wantPoll()
	}
	return false
}

// Position returns the replica's last known applied GTID position as text.
func (m *Monitor) Position(name string) string {
	v := m.set.Load().byName[name]
	if v == nil {
		return ""
	}
	return v.pos.Load().String()
}

// Threads returns the replica's replication thread health ("io=Yes sql=No ...", "" when
// unknown).
func (m *Monitor) Threads(name string) string {
	v := m.set.Load().byName[name]
	if v == nil {
		return ""
	}
	return *v.threads.Load()
}

// StateChanges returns how many times the replica changed state.
func (m *Monitor) StateChanges(name string) uint64 {
	v := m.set.Load().byName[name]
	if v == nil {
		return 0
	}
	return v.changes.Load()
}

// TailerStats reports the binlog tailer's connection, reconnects and newest sequence
// number; ok is false without a tailer.
func (m *Monitor) TailerStats() (connected bool, reconnects, lastSeq uint64, ok bool) {
	t := m.tailer.Load()
	if t == nil {
		return false, 0, 0, false
	}
	return t.connected.Load(), t.reconnects.Load(), t.lastSeq.Load(), true
}

// PrimaryPosition is the newest primary GTID position the tailer has seen (on MySQL, the
// primary's executed GTID set as far as seen).
func (m *Monitor) PrimaryPosition() string { return m.tl.newest().String() }
