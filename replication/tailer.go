package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	gmreplication "github.com/go-mysql-org/go-mysql/replication"
	"github.com/hashicorp/go-hclog"
)

// TailerOptions configure the binlog tailer.
type TailerOptions struct {
	// Address is the primary's host:port, or its unix socket's path.
	Address string
	// User and Password need REPLICATION SLAVE (and BINLOG MONITOR on MariaDB). A MySQL
	// server needs gtid_mode=ON.
	User, Password string
	// ServerID identifies the tailer to the primary; unique among the cluster's server ids.
	ServerID uint32
	// Heartbeat is the primary's heartbeat period on the stream (default 250ms); a stream
	// silent for 4 periods is reconnected.
	Heartbeat time.Duration
	// RetryMin and RetryMax bound the reconnect backoff.
	RetryMin, RetryMax time.Duration
	// Quiet logs connection changes at debug (replica streams, which polling backs up).
	Quiet  bool
	Logger hclog.Logger

	// account, when set (by a Monitor), replaces User and Password: it follows reloads.
	account *atomic.Pointer[Account]
}

// login returns the account a new connection logs in with.
func (o *TailerOptions) login() (user, password string) {
	if o.account != nil {
		if a := o.account.Load(); a != nil {
			return a.User, a.Password
		}
	}
	return o.User, o.Password
}

// tailer follows a server's binlog and hands each transaction's GTID to its sink. Row
// events are not decoded (raw mode): only GTID events are read, MariaDB's or MySQL's,
// whichever flavor the server's version names. On the primary the sink
// stamps transactions with the time tailgate saw them; on a replica (log_slave_updates)
// it advances the replica's applied position the moment the replica commits.
type tailer struct {
	opts TailerOptions
	log  hclog.Logger
	sink gtidSink
	// startFile, when set by the sink's start, starts the stream at that binlog file and
	// offset (the server's position of now) instead of a GTID.
	startFile *mysql.Position

	connected  atomic.Bool
	reconnects atomic.Uint64
	events     atomic.Uint64
	lastSeq    atomic.Uint64 // sequence number of the newest GTID seen (domain 0 or any)

	// dialect is the server's, learned by serverPosition (run goroutine only).
	dialect dialect

	// Stamping the primary's transactions (set by primarySink.startPosition on the run
	// goroutine, used by the handler during the session that follows; sessions do not
	// overlap). backlog is the primary's position read as the session connected, at
	// backlogAt: a transaction in it that the timeline had not seen was committed while
	// tailgate was not looking, between caughtUpAt and backlogAt. nil once the stream has
	// delivered a transaction past it: everything from then on is live.
	backlog   position
	backlogAt time.Time
	// caughtUpAt is the last time the stream was known to have delivered everything the
	// primary had committed: a live transaction or a heartbeat arrived (the primary sends
	// heartbeats only when it has nothing else to send).
	caughtUpAt time.Time
}

// gtidSink receives a tailer's GTIDs.
type gtidSink interface {
	// startPosition is where a new binlog connection starts.
	startPosition(ctx context.Context, t *tailer) (position, error)
	// seen records a GTID event that arrived at the given time.
	seen(g gtid, at time.Time)
}

// primarySink stamps the primary's transactions into the timeline.
type primarySink struct{ tl *timeline }

func (p primarySink) startPosition(ctx context.Context, t *tailer) (position, error) {
	resume := p.tl.newest()
	pos, err := t.serverPosition(ctx, nil)
	if err != nil {
		return nil, err
	}
	read := time.Now()
	if len(resume) == 0 {
		// First start: begin at the primary's current position; what came before is
		// stamped as seen now, so a replica already behind counts as lagging from now on.
		p.tl.seed(pos, read)
		t.backlog, t.caughtUpAt = nil, read
		// The position metric starts where the primary is, not at 0 until the next write.
		var newest uint64
		for _, sp := range pos {
			newest = max(newest, sp.newest())
		}
		t.lastSeq.Store(newest)
		return pos, nil
	}
	// Resume after the last transaction seen (by GTID). What the primary committed
	// meanwhile, up to pos, is replayed first: the backlog.
	t.startFile = nil
	t.backlog, t.backlogAt = pos, read
	return resume, nil
}

func (p primarySink) seen(g gtid, at time.Time) { p.tl.add(g, at) }

// replicaSink advances a replica's applied position from its own binlog.
type replicaSink struct {
	v  *replicaView
	tl *timeline // the primary's, to recognise a former primary's own transactions
	// serverID is the replica's @@server_id on MariaDB (0 on MySQL), read at each
	// connection (run goroutine; the handler reads it during the session that follows).
	serverID uint32
}

// primaryWait bounds how long a replica's stream waits for the primary's position before
// it starts (replicaSink.startPosition).
const primaryWait = 5 * time.Second

func (r *replicaSink) startPosition(ctx context.Context, t *tailer) (position, error) {
	// Whether a former primary's own transactions are the primary's (mariaApplied) needs the
	// primary's position, which its tailer learns a moment after start and after the primary
	// changed: streams start first. Without it a demoted primary would count as behind by
	// everything it wrote as the primary, until the primary writes again.
	wait := time.NewTimer(primaryWait)
	select {
	case <-r.tl.whenKnown():
	case <-wait.C:
	case <-ctx.Done():
		wait.Stop()
		return nil, ctx.Err()
	}
	wait.Stop()
	var applied position
	pos, err := t.serverPosition(ctx, func(c *client.Conn, d dialect) error {
		var err error
		applied, r.serverID, err = replicaApplied(c, d, r.tl.newest())
		return err
	})
	if err != nil {
		return nil, err
	}
	// A new connection may reach a server whose position went back under the same
	// address (restored from a backup): what it applied now replaces what was known. Its
	// binlog position (pos) is not used: it includes the replica's local writes.
	r.v.pos.Store(&applied)
	return pos, nil
}

func (r *replicaSink) seen(g gtid, _ time.Time) {
	// On MariaDB a GTID the replica originated is a local write (made on the replica
	// itself), not one of its primary's: the domain's sequence numbers are shared, so
	// counting it would make the replica look as far as its primary without the
	// primary's data. MySQL GTIDs name their source uuid: a local one never covers the
	// primary's.
	if !g.stream.isMySQL() && r.serverID != 0 && g.server == r.serverID {
		return
	}
	r.v.advanceGTID(g)
}

// replicaApplied reads what a replica applied of its primary's transactions, and its
// server id on MariaDB. On MySQL that is @@GLOBAL.gtid_executed: its GTID sets are exact,
// and the replica's local writes carry its own uuid. On MariaDB, @@gtid_binlog_pos would
// count local writes (their sequence numbers continue the domain's), so it is
// @@gtid_slave_pos: what the replica applied from its primary. One exception from the
// binlog: a domain whose newest GTID the replica originated and which is exactly the
// primary's newest in that domain, the same transaction. That is a replica that used to
// be the primary and has had nothing to apply since, whose gtid_slave_pos may predate
// its time as the primary (demoted with master_use_gtid=current_pos).
func replicaApplied(c *client.Conn, d dialect, primary position) (position, uint32, error) {
	if d.isMySQL() {
		res, err := c.Execute(d.pollQuery)
		if err != nil {
			return nil, 0, fmt.Errorf("read the applied position: %w", err)
		}
		s, err := res.GetString(0, 0)
		if err != nil {
			return nil, 0, err
		}
		pos, ok := d.parse(s)
		if !ok {
			return nil, 0, fmt.Errorf("unexpected GTID position %q", s)
		}
		return pos, 0, nil
	}
	res, err := c.Execute("SELECT @@server_id, @@gtid_slave_pos, @@gtid_binlog_pos")
	if err != nil {
		return nil, 0, fmt.Errorf("read the applied position: %w", err)
	}
	id, err := res.GetUint(0, 0)
	if err != nil {
		return nil, 0, err
	}
	var texts [2]string
	for i := range texts {
		if texts[i], err = res.GetString(0, i+1); err != nil {
			return nil, 0, err
		}
	}
	slave, ok1 := parseMariaPos(texts[0])
	binlog, ok2 := parseMariaPos(texts[1])
	if !ok1 || !ok2 {
		return nil, 0, fmt.Errorf("unexpected GTID positions %q, %q", texts[0], texts[1])
	}
	return mariaApplied(slave, binlog, uint32(id), primary), uint32(id), nil
}

// mariaApplied is replicaApplied's rule for MariaDB: slave (@@gtid_slave_pos), plus the
// domains of binlog (@@gtid_binlog_pos) whose newest GTID is the primary's newest there,
// originated by the replica itself (serverID).
func mariaApplied(slave, binlog position, serverID uint32, primary position) position {
	applied := slave.clone()
	for k, b := range binlog {
		p, ok := primary[k]
		if ok && b.server == serverID && p.server == b.server && p.through == b.through && slave[k].through < b.through {
			applied[k] = b
		}
	}
	return applied
}

func newTailer(opts TailerOptions, sink gtidSink) *tailer {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 250 * time.Millisecond
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 100 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Second
	}
	return &tailer{opts: opts, log: opts.Logger.Named("tailer").With("server", opts.Address), sink: sink}
}

// errFlavor is returned for a server whose binlog has no GTIDs to tail: neither MariaDB
// nor MySQL with gtid_mode=ON.
var errFlavor = errors.New("the binlog tailer needs MariaDB, or MySQL with gtid_mode=ON")

// run tails until ctx ends, reconnecting with backoff from the last position it saw.
func (t *tailer) run(ctx context.Context) {
	backoff := t.opts.RetryMin
	first := true
	for ctx.Err() == nil {
		start := time.Now()
		err := t.session(ctx, first)
		first = false
		t.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errFlavor) {
			t.log.Error("binlog tailer stopped", "error", err)
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = t.opts.RetryMin // it ran a while: this is a new failure
		}
		t.reconnects.Add(1)
		args := []any{"error", err, "retry_in", backoff}
		if serverIDInUse(err) {
			args = append(args, "hint", fmt.Sprintf("replication.server_id %d is in use by another connection to the primary "+
				"(another tailgate, or a server of the cluster): give each its own", t.opts.ServerID))
		}
		if t.opts.Quiet {
			t.log.Debug("binlog stream lost; reconnecting", args...)
		} else {
			t.log.Warn("binlog stream lost; reconnecting", args...)
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, t.opts.RetryMax)
	}
}

// serverIDInUse tells whether the primary refused or dropped the binlog stream because
// another connection registered the same server id: MariaDB's ER_SLAVE_SAME_ID (4052,
// "A slave with the same server_uuid/server_id is already connected"), MySQL's 1236
// ("A replica with the same server_uuid/server_id as this replica has connected to the
// source", "A slave ... to the master" before 8.0.26).
func serverIDInUse(err error) bool {
	var myErr *mysql.MyError
	if errors.As(err, &myErr) && myErr.Code == 4052 {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "same server_uuid/server_id")
}

// session runs one binlog connection from its start position until it fails.
func (t *tailer) session(ctx context.Context, first bool) error {
	start, err := t.sink.startPosition(ctx, t)
	if err != nil {
		return err
	}
	host, port, err := syncerAddress(t.opts.Address)
	if err != nil {
		return err
	}
	user, password := t.opts.login()
	syncer := gmreplication.NewBinlogSyncer(gmreplication.BinlogSyncerConfig{
		ServerID:         t.opts.ServerID,
		Flavor:           t.dialect.flavor,
		Host:             host,
		Port:             port,
		User:             user,
		Password:         password,
		HeartbeatPeriod:  t.opts.Heartbeat,
		ReadTimeout:      4 * t.opts.Heartbeat,
		RawModeEnabled:   true,
		DisableRetrySync: true,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Events are handled on the syncer's reading goroutine, not handed over a channel to
		// this one: a goroutine switch less per event (every rows event of every
		// transaction, on each of the primary's and the replicas' streams).
		SynchronousEventHandler: eventHandler{t},
	})
	defer syncer.Close()
	var gset mysql.GTIDSet
	if t.dialect.isMySQL() {
		gset, err = mysql.ParseMysqlGTIDSet(start.String())
	} else {
		gset, err = mysql.ParseMariadbGTIDSet(start.String())
	}
	if err != nil {
		return fmt.Errorf("start position %q: %w", start.String(), err)
	}
	var streamer *gmreplication.BinlogStreamer
	if t.startFile != nil {
		streamer, err = syncer.StartSync(*t.startFile)
	} else {
		streamer, err = syncer.StartSyncGTID(gset)
	}
	if err != nil {
		return fmt.Errorf("start binlog stream: %w", err)
	}
	t.connected.Store(true)
	if t.opts.Quiet {
		t.log.Debug("tailing the binlog", "from", start.String())
	} else {
		t.log.Info("tailing the binlog", "from", start.String(), "first", first)
	}
	// The handler gets the events; the streamer only reports how the stream ended.
	_, err = streamer.GetEvent(ctx)
	return err
}

// eventHandler takes a tailer's binlog events on go-mysql's reading goroutine. Its sessions
// do not overlap: a session's syncer.Close waits for that goroutine to end.
type eventHandler struct{ t *tailer }

func (h eventHandler) HandleEvent(ev *gmreplication.BinlogEvent) error {
	t := h.t
	t.events.Add(1)
	var g gtid
	var ok bool
	switch ev.Header.EventType {
	case gmreplication.HEARTBEAT_EVENT, gmreplication.HEARTBEAT_LOG_EVENT_V2:
		t.caughtUpAt = time.Now()
		return nil
	case gmreplication.MARIADB_GTID_EVENT:
		g, ok = decodeMariaGTIDEvent(ev.RawData, ev.Header.ServerID)
	case gmreplication.GTID_EVENT:
		g, ok = decodeMySQLGTIDEvent(ev.RawData)
	case gmreplication.GTID_TAGGED_LOG_EVENT:
		g, ok = decodeMySQLTaggedGTIDEvent(ev.RawData)
	default:
		// ANONYMOUS_GTID_EVENT too: a transaction without a GTID (gtid_mode not ON)
		// cannot be matched against replica positions.
		return nil
	}
	arrived := time.Now()
	if !ok {
		t.log.Warn("undecodable GTID event skipped", "size", len(ev.RawData))
		return nil
	}
	t.sink.seen(g, t.stamp(g, arrived, ev.Header.Timestamp))
	t.lastSeq.Store(g.seq)
	return nil
}

// stamp is when transaction g appeared on the primary, as far as tailgate can tell.
//
// A live transaction (the stream caught up) is stamped with its arrival, within
// milliseconds of its commit. Its binlog header's time is never used for it: that is the
// primary's clock, which may be behind tailgate's host by seconds, or whatever the
// committing session SET timestamp to (an hour back, for a replay of old data). Stamped
// with it, every replica a few milliseconds behind would look that old and leave rotation.
//
// A backlog transaction, replayed after a reconnect (in the primary's position read as
// the stream connected, t.backlog, and not seen before), was committed while tailgate was
// not looking: after the stream was last known caught up (t.caughtUpAt) and before that
// position was read (t.backlogAt). Its arrival would under-state the lag of a replica that
// misses it by the length of the outage; the header's second places it within that
// window, and is clamped to it: a wrong header can only move the stamp within the outage.
// Erring early over-states the lag of a replica that misses it (it leaves rotation a
// little sooner), never under-states it.
//
// The rest are stamped with their arrival even when the primary sent them late (it first
// reads through its binlog file to find a GTID to resume at): committed after the
// position was read, they are known only to have come before their arrival, and the
// header cannot tell them from live ones.
func (t *tailer) stamp(g gtid, arrived time.Time, headerSecs uint32) time.Time {
	if t.backlog != nil && t.backlog.contains(g) {
		return backlogStamp(headerSecs, t.caughtUpAt, t.backlogAt)
	}
	t.backlog = nil // binlog order: no backlog transaction comes after a newer one
	t.caughtUpAt = arrived
	return arrived
}

// backlogStamp places a backlog transaction whose header names headerSecs within the
// window it was committed in, from to until (see tailer.stamp).
func backlogStamp(headerSecs uint32, from, until time.Time) time.Time {
	if from.IsZero() || from.After(until) {
		from = until
	}
	if headerSecs == 0 {
		return from
	}
	h := time.Unix(int64(headerSecs), 0)
	switch {
	case h.Before(from):
		return from
	case h.After(until):
		return until
	}
	return h
}

// eventHeaderSize is the size of a binlog event header (v4, both flavors).
const eventHeaderSize = 19

// decodeMariaGTIDEvent reads a raw MariaDB GTID event: a 19-byte header, then the
// sequence number (8 bytes) and the domain id (4 bytes).
func decodeMariaGTIDEvent(raw []byte, serverID uint32) (gtid, bool) {
	if len(raw) < eventHeaderSize+12 {
		return gtid{}, false
	}
	body := raw[eventHeaderSize:]
	return gtid{
		seq:    binary.LittleEndian.Uint64(body[0:8]),
		stream: streamID{domain: binary.LittleEndian.Uint32(body[8:12])},
		server: serverID,
	}, true
}

// decodeMySQLGTIDEvent reads a raw MySQL GTID_LOG_EVENT (type 33): a 19-byte header, then
// flags (1 byte), the source uuid (16 bytes) and the gno (8 bytes, little-endian); the
// logical clock, commit timestamps and lengths that follow are not needed.
func decodeMySQLGTIDEvent(raw []byte) (gtid, bool) {
	if len(raw) < eventHeaderSize+1+16+8 {
		return gtid{}, false
	}
	body := raw[eventHeaderSize+1:]
	var k streamID
	copy(k.uuid[:], body[:16])
	gno := binary.LittleEndian.Uint64(body[16:24])
	if !k.isMySQL() || gno == 0 || gno > math.MaxInt64 {
		return gtid{}, false
	}
	return gtid{stream: k, seq: gno}, true
}

// decodeMySQLTaggedGTIDEvent reads a raw GTID_TAGGED_LOG_EVENT (type 42, MySQL 8.3+,
// written for transactions with a tagged GTID). Its body is a message in MySQL's
// serialization format, which go-mysql decodes. The body is cut to the size the message
// declares: that drops the CRC32 trailer (which the decoder could take for an optional
// field) and refuses a truncated message (whose missing fields the decoder would take for
// omitted ones, such as a tag).
func decodeMySQLTaggedGTIDEvent(raw []byte) (g gtid, ok bool) {
	if len(raw) < eventHeaderSize {
		return gtid{}, false
	}
	body := raw[eventHeaderSize:]
	size, ok := serializedSize(body)
	// go-mysql's decoder indexes the first bytes unchecked, and v1.16 reads the size as
	// one byte: a message of 128 bytes or more (a long tag) would be misread, so it is
	// skipped (lag then ignores that stream; replica positions still include it).
	if !ok || size < 3 || size > 127 || size > uint64(len(body)) {
		return gtid{}, false
	}
	body = body[:size]
	defer func() {
		if recover() != nil { // untrusted bytes: a decoder panic skips the event
			g, ok = gtid{}, false
		}
	}()
	var ev gmreplication.GtidTaggedLogEvent
	if err := ev.Decode(body); err != nil || len(ev.SID) != 16 || ev.GNO <= 0 {
		return gtid{}, false
	}
	var k streamID
	copy(k.uuid[:], ev.SID)
	if !k.isMySQL() {
		return gtid{}, false
	}
	if k.tag, ok = parseTag(ev.Tag.String()); !ok && ev.Tag.String() != "" {
		return gtid{}, false
	}
	return gtid{stream: k, seq: uint64(ev.GNO)}, true
}

// serializedSize reads the size a MySQL serialization-format message declares (all of it,
// these bytes included): after a one-byte format version, a variable-length unsigned
// integer, little-endian, whose first byte's trailing one bits count its further bytes
// and whose value is shifted left by its length in bytes.
func serializedSize(b []byte) (uint64, bool) {
	if len(b) < 2 || b[0]&1 != 0 {
		return 0, false
	}
	n := bits.TrailingZeros8(^b[1]) + 1
	if n > 8 || len(b) < 1+n {
		return 0, false
	}
	var buf [8]byte
	copy(buf[:], b[1:1+n])
	return binary.LittleEndian.Uint64(buf[:]) >> n, true
}

// serverPosition reads the server's binlog position and learns its flavor; more, when
// set, reads what else the sink needs on the same connection.
func (t *tailer) serverPosition(ctx context.Context, more func(*client.Conn, dialect) error) (position, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	user, password := t.opts.login()
	c, err := client.ConnectWithContext(ctx, t.opts.Address, user, password, "", 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.opts.Address, err)
	}
	defer c.Close()
	d := dialectFor(c.GetServerVersion())
	t.startFile = nil
	if !d.isMySQL() {
		// The binlog file and offset of now, read before the GTID position: a stream that
		// only needs what comes next starts there. (Started from a GTID, MariaDB 10.11
		// reads through the binlog file to find it: seconds of I/O on a large binlog.)
		if res, err := c.Execute("SHOW MASTER STATUS"); err == nil && res.RowNumber() > 0 {
			file, ferr := res.GetString(0, 0)
			off, oerr := res.GetUint(0, 1)
			if ferr == nil && oerr == nil && file != "" {
				t.startFile = &mysql.Position{Name: file, Pos: uint32(off)}
			}
		}
	}
	pos, err := binlogPosition(c, d)
	if err == nil && more != nil {
		err = more(c, d)
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", t.opts.Address, c.GetServerVersion(), err)
	}
	t.dialect = d
	return pos, nil
}

// binlogPosition reads the GTIDs in a server's binlog (d.binlogQuery); on MySQL gtid_mode
// must be ON (else errFlavor).
func binlogPosition(c *client.Conn, d dialect) (position, error) {
	res, err := c.Execute(d.binlogQuery)
	if err != nil {
		return nil, fmt.Errorf("read the binlog position: %w", err)
	}
	var s string
	if d.isMySQL() {
		mode, err := res.GetString(0, 0)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(mode, "ON") {
			return nil, fmt.Errorf("%w; gtid_mode is %s", errFlavor, mode)
		}
		if s, err = res.GetString(0, 1); err != nil {
			return nil, err
		}
	} else if s, err = res.GetString(0, 0); err != nil {
		return nil, err
	}
	pos, ok := d.parse(s)
	if !ok {
		return nil, fmt.Errorf("unexpected binlog position %q from %q", s, d.binlogQuery)
	}
	return pos, nil
}

// syncerAddress is address as go-mysql's binlog syncer takes it: host and port, or a unix
// socket's path with port 0.
func syncerAddress(address string) (string, uint16, error) {
	if strings.Contains(address, "/") {
		return address, 0, nil
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port of %q: %w", address, err)
	}
	return host, uint16(port), nil
}
