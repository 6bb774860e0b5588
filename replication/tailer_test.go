package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmreplication "github.com/go-mysql-org/go-mysql/replication"
	"github.com/hashicorp/go-hclog"
)

// TestSyncerAddress: go-mysql's binlog syncer takes a host and port, or a unix socket's path
// with port 0.
func TestSyncerAddress(t *testing.T) {
	for _, c := range []struct {
		in   string
		host string
		port uint16
		bad  bool
	}{
		{in: "127.0.0.1:3306", host: "127.0.0.1", port: 3306},
		{in: "[::1]:3307", host: "::1", port: 3307},
		{in: "/run/mysqld/mysqld.sock", host: "/run/mysqld/mysqld.sock"},
		{in: "db", bad: true},
		{in: "db:70000", bad: true},
	} {
		host, port, err := syncerAddress(c.in)
		if (err != nil) != c.bad || host != c.host || port != c.port {
			t.Errorf("syncerAddress(%q) = %q, %d, %v; want %q, %d, error %v", c.in, host, port, err, c.host, c.port, c.bad)
		}
	}
}

// TestServerIDInUse: the two ways a primary says that another connection uses the tailer's
// server id, as go-mysql returns them, and errors that are something else.
func TestServerIDInUse(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{mysql.NewError(4052, "A slave with the same server_uuid/server_id is already connected"), true},
		{fmt.Errorf("dump: %w", mysql.NewError(4052, "")), true},
		{mysql.NewError(1236, "A replica with the same server_uuid/server_id as this replica has connected to the source; "+
			"the first event 'binlog.000002' at 4, the last event read from './binlog.000002' at 126"), true},
		{mysql.NewError(1236, "A slave with the same server_uuid/server_id as this slave has connected to the master; "+
			"the first event 'binlog.000002' at 119263798"), true}, // MySQL before 8.0.26
		{mysql.NewError(1236, "Could not find first log file name in binary log index file"), false},
		{mysql.NewError(1045, "Access denied for user 'tailgate'@'localhost'"), false},
		{io.EOF, false},
		{errors.New("connection reset by peer"), false},
		{nil, false},
	} {
		if got := serverIDInUse(c.err); got != c.want {
			t.Errorf("serverIDInUse(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// recordingSink keeps what a tailer's handler passes on.
type recordingSink struct {
	gtids []gtid
	at    []time.Time
}

func (r *recordingSink) startPosition(context.Context, *tailer) (position, error) { return nil, nil }
func (r *recordingSink) seen(g gtid, at time.Time) {
	r.gtids = append(r.gtids, g)
	r.at = append(r.at, at)
}

// TestEventHandler: the handler go-mysql calls for every event of the stream counts each one,
// passes GTIDs on with their stamp and skips everything else, including a GTID event too short
// to decode.
func TestEventHandler(t *testing.T) {
	sink := &recordingSink{}
	tl := newTailer(TailerOptions{Logger: hclog.NewNullLogger()}, sink)
	h := eventHandler{tl}
	mariaGTID := mariaGTIDEvent
	now := uint32(time.Now().Unix())
	for _, ev := range []*gmreplication.BinlogEvent{
		{Header: &gmreplication.EventHeader{EventType: gmreplication.MARIADB_GTID_EVENT, ServerID: 7, Timestamp: now}, RawData: mariaGTID(41, 0)},
		{Header: &gmreplication.EventHeader{EventType: gmreplication.TABLE_MAP_EVENT, ServerID: 7}, RawData: make([]byte, 40)},
		{Header: &gmreplication.EventHeader{EventType: gmreplication.WRITE_ROWS_EVENTv1, ServerID: 7}, RawData: make([]byte, 60)},
		{Header: &gmreplication.EventHeader{EventType: gmreplication.XID_EVENT, ServerID: 7}, RawData: make([]byte, 27)},
		{Header: &gmreplication.EventHeader{EventType: gmreplication.MARIADB_GTID_EVENT, ServerID: 7}, RawData: make([]byte, eventHeaderSize+3)},
		// Its header a minute old (SET timestamp, or the primary's clock behind): live all
		// the same (no backlog), stamped at its arrival.
		{Header: &gmreplication.EventHeader{EventType: gmreplication.MARIADB_GTID_EVENT, ServerID: 9, Timestamp: now - 60}, RawData: mariaGTID(42, 3)},
	} {
		if err := h.HandleEvent(ev); err != nil {
			t.Fatalf("HandleEvent(%v) = %v", ev.Header.EventType, err)
		}
	}
	if n := tl.events.Load(); n != 6 {
		t.Errorf("events counted %d, want 6", n)
	}
	want := []gtid{{server: 7, seq: 41}, {stream: streamID{domain: 3}, server: 9, seq: 42}}
	if len(sink.gtids) != len(want) || sink.gtids[0] != want[0] || sink.gtids[1] != want[1] {
		t.Fatalf("GTIDs passed on %+v, want %+v", sink.gtids, want)
	}
	for i, at := range sink.at {
		if d := time.Since(at); d < 0 || d > 10*time.Second {
			t.Errorf("live GTID %d was stamped %v ago, want its arrival", i, d)
		}
	}
	if seq := tl.lastSeq.Load(); seq != 42 {
		t.Errorf("lastSeq %d, want 42", seq)
	}
}
