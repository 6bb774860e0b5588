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

	// dialect is the server's, learned by serverPosition (run goroutine only); a primary
	// stream resumes without asking again.
	dialect dialect
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
	if start := p.tl.newest(); len(start) > 0 {
		t.startFile = nil
		return start, nil // resume after the last transaction seen (by GTID)
	}
	// First start: begin at the primary's current position; what came before is stamped
	// as seen now, so a replica already behind counts as lagging from now on.
	pos, err := t.serverPosition(ctx)
	if err != nil {
		return nil, err
	}
	p.tl.seed(pos, time.Now())
	return pos, nil
}

func (p primarySink) seen(g gtid, at time.Time) { p.tl.add(g, at) }

// replicaSink advances a replica's applied position from its own binlog.
type replicaSink struct{ v *replicaView }

func (r replicaSink) startPosition(ctx context.Context, t *tailer) (position, error) {
	pos, err := t.serverPosition(ctx)
	if err == nil {
		// Its binlog position: what it wrote, not yet all visible (see replicaView.visible).
		mergePosition(&r.v.pos, pos)
	}
	return pos, err
}

func (r replicaSink) seen(g gtid, _ time.Time) { r.v.advanceGTID(g) }

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
	seen := stamp(time.Now(), ev.Header.Timestamp)
	if !ok {
		t.log.Warn("undecodable GTID event skipped", "size", len(ev.RawData))
		return nil
	}
	t.sink.seen(g, seen)
	t.lastSeq.Store(g.seq)
	return nil
}

// stamp is when a transaction appeared on the primary, as far as tailgate can tell. A live
// event arrives within milliseconds of its commit, inside the second its binlog header
// names: its arrival is the stamp. An event that arrives after the end of that second was
// delayed (replayed after a reconnect, or held up while the primary located the start
// position in a large binlog): its commit is only known to the second, and it is stamped
// at the start of that second. Erring early over-states the lag of a replica that misses
// it (it leaves rotation a little sooner), never under-states it.
func stamp(arrived time.Time, headerSecs uint32) time.Time {
	if headerSecs == 0 {
		return arrived
	}
	if time.Unix(int64(headerSecs)+1, 0).Before(arrived) {
		return time.Unix(int64(headerSecs), 0)
	}
	return arrived
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

// serverPosition reads the server's binlog position and learns its flavor.
func (t *tailer) serverPosition(ctx context.Context) (position, error) {
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
