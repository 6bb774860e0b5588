package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	gmreplication "github.com/go-mysql-org/go-mysql/replication"
	"github.com/hashicorp/go-hclog"
)

// TailerOptions configure the binlog tailer.
type TailerOptions struct {
	// Address is the primary's host:port.
	Address string
	// User and Password need REPLICATION SLAVE (and BINLOG MONITOR on MariaDB).
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
}

// tailer follows a server's binlog and hands each transaction's GTID to its sink. Row
// events are not decoded (raw mode): only GTID events are read. On the primary the sink
// stamps transactions with the time tailgate saw them; on a replica (log_slave_updates)
// it advances the replica's applied position the moment the replica commits.
type tailer struct {
	opts TailerOptions
	log  hclog.Logger
	sink gtidSink

	connected  atomic.Bool
	reconnects atomic.Uint64
	events     atomic.Uint64
	lastSeq    atomic.Uint64 // sequence number of the newest GTID seen (domain 0 or any)
}

// gtidSink receives a tailer's GTIDs.
type gtidSink interface {
	// startPosition is where a new binlog connection starts.
	startPosition(ctx context.Context, t *tailer) (mariaPos, error)
	// seen records a GTID event that arrived at the given time.
	seen(g mariaGTID, at time.Time)
}

// primarySink stamps the primary's transactions into the timeline.
type primarySink struct{ tl *timeline }

func (p primarySink) startPosition(ctx context.Context, t *tailer) (mariaPos, error) {
	if start := p.tl.newest(); len(start) > 0 {
		return start, nil // resume after the last transaction seen
	}
	// First start: begin at the primary's current position; what came before is stamped
	// as seen now, so a replica already behind counts as lagging from now on.
	pos, err := t.serverPosition(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, g := range pos {
		p.tl.add(g, now)
	}
	return pos, nil
}

func (p primarySink) seen(g mariaGTID, at time.Time) { p.tl.add(g, at) }

// replicaSink advances a replica's applied position from its own binlog.
type replicaSink struct{ v *replicaView }

func (r replicaSink) startPosition(ctx context.Context, t *tailer) (mariaPos, error) {
	pos, err := t.serverPosition(ctx)
	if err == nil {
		r.v.advance(pos)
	}
	return pos, err
}

func (r replicaSink) seen(g mariaGTID, _ time.Time) { r.v.advance(mariaPos{g.domain: g}) }

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

// errFlavor is returned for a primary that is not MariaDB (MySQL GTIDs are not tailed yet).
var errFlavor = errors.New("the binlog tailer supports MariaDB primaries")

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
		if t.opts.Quiet {
			t.log.Debug("binlog stream lost; reconnecting", "error", err, "retry_in", backoff)
		} else {
			t.log.Warn("binlog stream lost; reconnecting", "error", err, "retry_in", backoff)
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

// session runs one binlog connection from its start position until it fails.
func (t *tailer) session(ctx context.Context, first bool) error {
	start, err := t.sink.startPosition(ctx, t)
	if err != nil {
		return err
	}
	host, portStr, err := net.SplitHostPort(t.opts.Address)
	if err != nil {
		return err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return err
	}
	syncer := gmreplication.NewBinlogSyncer(gmreplication.BinlogSyncerConfig{
		ServerID:         t.opts.ServerID,
		Flavor:           mysql.MariaDBFlavor,
		Host:             host,
		Port:             uint16(port),
		User:             t.opts.User,
		Password:         t.opts.Password,
		HeartbeatPeriod:  t.opts.Heartbeat,
		ReadTimeout:      4 * t.opts.Heartbeat,
		RawModeEnabled:   true,
		DisableRetrySync: true,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer syncer.Close()
	gset, err := mysql.ParseMariadbGTIDSet(start.String())
	if err != nil {
		return fmt.Errorf("start position %q: %w", start.String(), err)
	}
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		return fmt.Errorf("start binlog stream: %w", err)
	}
	t.connected.Store(true)
	if t.opts.Quiet {
		t.log.Debug("tailing the binlog", "from", start.String())
	} else {
		t.log.Info("tailing the binlog", "from", start.String(), "first", first)
	}
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return err
		}
		t.events.Add(1)
		if ev.Header.EventType != gmreplication.MARIADB_GTID_EVENT {
			continue
		}
		seen := stamp(time.Now(), ev.Header.Timestamp)
		g, ok := decodeMariaGTIDEvent(ev.RawData, ev.Header.ServerID)
		if !ok {
			t.log.Warn("undecodable GTID event skipped", "size", len(ev.RawData))
			continue
		}
		t.sink.seen(g, seen)
		t.lastSeq.Store(g.seq)
	}
}

// stamp is when a transaction appeared on the primary, as far as tailgate can tell: when
// it arrived, but no later than the end of the second its binlog header names. Events
// replayed after a reconnect thus keep (nearly) their real age instead of looking new,
// which would under-state the lag of a replica that misses them.
func stamp(arrived time.Time, headerSecs uint32) time.Time {
	if headerSecs == 0 {
		return arrived
	}
	if bound := time.Unix(int64(headerSecs)+1, 0); bound.Before(arrived) {
		return bound
	}
	return arrived
}

// decodeMariaGTIDEvent reads a raw MariaDB GTID event: a 19-byte header, then the
// sequence number (8 bytes) and the domain id (4 bytes).
func decodeMariaGTIDEvent(raw []byte, serverID uint32) (mariaGTID, bool) {
	const header = 19
	if len(raw) < header+12 {
		return mariaGTID{}, false
	}
	body := raw[header:]
	return mariaGTID{
		seq:    binary.LittleEndian.Uint64(body[0:8]),
		domain: binary.LittleEndian.Uint32(body[8:12]),
		server: serverID,
	}, true
}

// serverPosition reads the server's binlog position and checks its flavor.
func (t *tailer) serverPosition(ctx context.Context) (mariaPos, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(ctx, t.opts.Address, t.opts.User, t.opts.Password, "", 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.opts.Address, err)
	}
	defer c.Close()
	if !isMariaDB(c.GetServerVersion()) {
		return nil, fmt.Errorf("%w; %s is %s", errFlavor, t.opts.Address, c.GetServerVersion())
	}
	res, err := c.Execute("SELECT @@gtid_binlog_pos")
	if err != nil {
		return nil, fmt.Errorf("read the binlog position: %w", err)
	}
	s, err := res.GetString(0, 0)
	if err != nil {
		return nil, err
	}
	pos, ok := parseMariaPos(s)
	if !ok {
		return nil, fmt.Errorf("unexpected @@gtid_binlog_pos %q", s)
	}
	return pos, nil
}
