package replication

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gmreplication "github.com/go-mysql-org/go-mysql/replication"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/router"
)

func TestParseMariaPos(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string
	}{
		{"", true, ""},
		{"0-1-42", true, "0-1-42"},
		{"1-2-7, 0-1-42", true, "0-1-42,1-2-7"},
		{"0-1", false, ""},
		{"a-1-2", false, ""},
		{"0-1-x", false, ""},
		{"0-1-42,", false, ""},
	}
	for _, tc := range tests {
		pos, ok := parseMariaPos(tc.in)
		if ok != tc.ok || ok && pos.String() != tc.want {
			t.Errorf("parseMariaPos(%q) = %q, %v; want %q, %v", tc.in, pos.String(), ok, tc.want, tc.ok)
		}
	}
}

func TestContains(t *testing.T) {
	pos, _ := parseMariaPos("0-1-42,1-2-7")
	for _, tc := range []struct {
		gtid string
		want bool
	}{
		{"0-1-42", true}, {"0-1-41", true}, {"0-1-43", false},
		{"1-2-7", true}, {"1-2-8", false}, {"2-1-1", false},
		{"0-3-40", true}, // another server id in the same domain: sequence numbers decide
	} {
		g, _ := parseMariaGTID(tc.gtid)
		if got := pos.contains(g); got != tc.want {
			t.Errorf("contains(%s) = %v, want %v", tc.gtid, got, tc.want)
		}
	}
	want, _ := parseMariaPos("0-1-40,1-2-7")
	if !pos.containsAll(want) {
		t.Errorf("containsAll(%s) = false", want)
	}
}

func TestDecodeMariaGTIDEvent(t *testing.T) {
	raw := make([]byte, 19+13)
	raw[19] = 42 // seq 42
	raw[27] = 3  // domain 3
	g, ok := decodeMariaGTIDEvent(raw, 1)
	if !ok || g != (gtid{stream: streamID{domain: 3}, server: 1, seq: 42}) {
		t.Fatalf("decode = %+v, %v", g, ok)
	}
	if _, ok := decodeMariaGTIDEvent(raw[:25], 1); ok {
		t.Fatal("a short event decoded")
	}
}

func mgtid(domain uint32, seq uint64) gtid {
	return gtid{stream: streamID{domain: domain}, server: 1, seq: seq}
}

func TestTimelineOldestUnapplied(t *testing.T) {
	tl := newTimeline()
	base := time.Unix(1000, 0)
	for i := uint64(1); i <= 10; i++ {
		tl.add(mgtid(0, i), base.Add(time.Duration(i)*time.Second))
	}
	tl.add(mgtid(0, 5), base.Add(time.Hour)) // a replayed event keeps its first stamp
	tl.add(mgtid(1, 3), base.Add(4500*time.Millisecond))

	pos := func(s string) position { p, _ := parseMariaPos(s); return p }
	for _, tc := range []struct {
		pos    string
		seenAt time.Duration // offset from base; -1 = nothing unapplied
	}{
		{"0-1-10,1-1-3", -1},
		{"0-1-4,1-1-3", 5 * time.Second},
		{"0-1-7", 4500 * time.Millisecond}, // domain 1 not applied at all: its txn is older
		{"", 1 * time.Second},
	} {
		checkOldestUnapplied(t, tl, fmt.Sprintf("pos %q", tc.pos), pos(tc.pos), base, tc.seenAt)
	}
	tl.prune([]position{pos("0-1-6,1-1-3")})
	if n := tl.size(); n != 5+1 { // seqs 6..10 of domain 0 and 3 of domain 1
		t.Errorf("after prune %d entries, want 6", n)
	}
	if seen, _ := tl.oldestUnapplied(pos("0-1-6,1-1-3")); !seen.Equal(base.Add(7 * time.Second)) {
		t.Errorf("after prune oldest unapplied = %v", seen)
	}
}

// testReplica returns replica name's view in m, a setter of its applied position (MariaDB
// text) and a reader of its state.
func testReplica(m *Monitor, name string) (*replicaView, func(string), func() router.ReplicaState) {
	v := m.set.Load().byName[name]
	setPos := func(s string) { p, _ := parseMariaPos(s); v.pos.Store(&p) }
	state := func() router.ReplicaState { return m.ReplicaStatus(name).State }
	return v, setPos, state
}

// TestStateMachine drives evaluateAt with a fake clock: hysteresis, no flapping, down.
func TestStateMachine(t *testing.T) {
	m := NewMonitor(Options{
		Replicas: []Replica{{Name: "r1"}},
		MaxLag:   time.Second, Recover: 500 * time.Millisecond,
		Tailer: &TailerOptions{},
	})
	v, setPos, state := testReplica(m, "r1")
	base := time.Unix(2000, 0)
	for i := uint64(1); i <= 100; i++ { // a write every 20 ms
		m.tl.add(mgtid(0, i), base.Add(time.Duration(i)*20*time.Millisecond))
	}

	setPos("0-1-10") // stuck after the txn seen at 200 ms
	m.evaluateAt(base.Add(1100 * time.Millisecond))
	if state() != router.StateOnline {
		t.Fatalf("lag 880ms: %s, want online", state())
	}
	m.evaluateAt(base.Add(1300 * time.Millisecond))
	if st := m.ReplicaStatus("r1"); st.State != router.StateLagging || st.Lag != 1080*time.Millisecond {
		t.Fatalf("lag 1080ms: %+v, want lagging with that lag", st)
	}
	setPos("0-1-60") // caught up to the txn seen at 1.2 s: lag 700ms > recover
	m.evaluateAt(base.Add(1920 * time.Millisecond))
	if state() != router.StateLagging {
		t.Fatalf("lag 700ms (between recover and max): %s, want still lagging", state())
	}
	setPos("0-1-100")
	m.evaluateAt(base.Add(2100 * time.Millisecond))
	if state() != router.StateOnline {
		t.Fatalf("caught up: %s, want online", state())
	}
	if n := m.StateChanges("r1"); n != 2 {
		t.Fatalf("%d state changes, want 2", n)
	}
	v.reachable.Store(false)
	m.evaluateAt(base.Add(2200 * time.Millisecond))
	if state() != router.StateDown {
		t.Fatalf("unreachable: %s, want down", state())
	}
	v.reachable.Store(true)
	m.evaluateAt(base.Add(2300 * time.Millisecond))
	if state() != router.StateOnline {
		t.Fatalf("reachable and caught up: %s, want online", state())
	}
}

func TestHasApplied(t *testing.T) {
	m := NewMonitor(Options{Replicas: []Replica{{Name: "r1"}}})
	p, _ := parseMariaPos("0-1-42")
	m.set.Load().byName["r1"].advance(p) // as a poll shows it
	for _, tc := range []struct {
		name, pos string
		want      bool
	}{
		{"r1", "", true}, {"r1", "0-1-42", true}, {"r1", "0-1-43", false},
		{"r1", "0-1-40,1-1-1", false}, {"r9", "0-1-1", false},
	} {
		if got := m.HasApplied(tc.name, tc.pos); got != tc.want {
			t.Errorf("HasApplied(%s, %q) = %v, want %v", tc.name, tc.pos, got, tc.want)
		}
	}
}

// TestStampIgnoresHeaderOfLiveEvents: a live transaction is stamped with its arrival,
// whatever its binlog header says. MariaDB writes a session's SET timestamp there, and a
// primary whose clock is behind tailgate's host writes its own time: stamped with either,
// a replica a few milliseconds behind looked an hour (or seconds) behind and left rotation.
func TestStampIgnoresHeaderOfLiveEvents(t *testing.T) {
	m := NewMonitor(Options{
		Replicas: []Replica{{Name: "r1"}},
		MaxLag:   time.Second, Recover: 500 * time.Millisecond,
		Tailer: &TailerOptions{},
	})
	tl := newTailer(TailerOptions{Logger: hclog.NewNullLogger()}, primarySink{m.tl})
	h := eventHandler{tl}
	v := m.set.Load().byName["r1"]
	now := uint32(time.Now().Unix())
	for seq, header := range map[uint64]uint32{
		1: now,        // a live event of this second
		2: now - 3600, // SET timestamp = UNIX_TIMESTAMP() - 3600
		3: now - 5,    // the primary's clock 5 s behind
		4: 0,
	} {
		before := time.Now()
		ev := &gmreplication.BinlogEvent{
			Header:  &gmreplication.EventHeader{EventType: gmreplication.MARIADB_GTID_EVENT, ServerID: 1, Timestamp: header},
			RawData: mariaGTIDEvent(seq, 0),
		}
		if err := h.HandleEvent(ev); err != nil {
			t.Fatal(err)
		}
		// The replica applied everything before it: its lag is how long ago this one
		// was stamped.
		p, _ := parseMariaPos(fmt.Sprintf("0-1-%d", seq-1))
		v.pos.Store(&p)
		m.evaluateAt(time.Now())
		if st := m.ReplicaStatus("r1"); st.State != router.StateOnline || st.Lag > time.Since(before)+100*time.Millisecond {
			t.Errorf("live txn %d with header %d s old: replica one txn behind is %+v, want online with lag <= %s",
				seq, int64(now)-int64(header), st, time.Since(before))
		}
		m.tl.reset()
	}
}

// TestStampBacklog: after a reconnect, transactions the primary committed while the stream
// was down (in its position read as the stream connected) are placed within that outage by
// their header's second, clamped to it: between the last moment the stream was known
// caught up and the moment the position was read. Past that position the stream is live.
func TestStampBacklog(t *testing.T) {
	tl := newTailer(TailerOptions{Logger: hclog.NewNullLogger()}, &recordingSink{})
	caughtUp := time.Unix(10_000, 500_000_000)
	read := time.Unix(10_060, 0)
	tl.caughtUpAt = caughtUp
	tl.backlog, _ = parseMariaPos("0-1-10")
	tl.backlogAt = read
	arrived := time.Unix(10_061, 0)
	for _, c := range []struct {
		seq    uint64
		header uint32
		want   time.Time
	}{
		{5, 10_030, time.Unix(10_030, 0)}, // within the outage: its second
		{6, 6_400, caughtUp},              // SET timestamp an hour back: not before the outage
		{7, 10_000, caughtUp},             // its second began before the stream was last caught up
		{8, 20_000, read},                 // a clock ahead: not after the position was read
		{9, 0, caughtUp},                  // no time at all: the earliest it can be
		{10, 10_059, time.Unix(10_059, 0)},
		{11, 6_400, arrived}, // past the backlog: live
		{12, 10_050, arrived},
	} {
		g := mgtid(0, c.seq)
		if got := tl.stamp(g, arrived, c.header); !got.Equal(c.want) {
			t.Errorf("txn %d with header %d stamped %v, want %v", c.seq, c.header, got, c.want)
		}
	}
	if tl.backlog != nil || !tl.caughtUpAt.Equal(arrived) {
		t.Errorf("after a live txn: backlog %v, caught up at %v; want none and %v", tl.backlog, tl.caughtUpAt, arrived)
	}
	// A heartbeat: the primary had nothing more to send.
	if err := (eventHandler{tl}).HandleEvent(&gmreplication.BinlogEvent{
		Header: &gmreplication.EventHeader{EventType: gmreplication.HEARTBEAT_EVENT},
	}); err != nil {
		t.Fatal(err)
	}
	if time.Since(tl.caughtUpAt) > time.Minute {
		t.Errorf("a heartbeat left caughtUpAt at %v", tl.caughtUpAt)
	}
}

// TestTimelineStampsInOrder: a transaction is never stamped before the one ahead of it in
// its stream (a replayed one after a seed by the primary's watcher).
func TestTimelineStampsInOrder(t *testing.T) {
	tl := newTimeline()
	base := time.Unix(1000, 0)
	tl.seed(position{streamID{}: {server: 1, through: 5}}, base.Add(10*time.Second))
	tl.add(mgtid(0, 6), base.Add(2*time.Second))
	checkOldestUnapplied(t, tl, "after the seed", position{streamID{}: {server: 1, through: 5}}, base, 10*time.Second)
}

// mariaGTIDEvent is a raw MariaDB GTID event (no flags) of seq in domain.
func mariaGTIDEvent(seq uint64, domain uint32) []byte {
	raw := make([]byte, eventHeaderSize+13)
	binary.LittleEndian.PutUint64(raw[eventHeaderSize:], seq)
	binary.LittleEndian.PutUint32(raw[eventHeaderSize+8:], domain)
	return raw
}

// checkOldestUnapplied checks that tl's oldest transaction missing from pos was seen at
// base+seenAt, or that none is missing when seenAt < 0.
func checkOldestUnapplied(t *testing.T, tl *timeline, name string, pos position, base time.Time, seenAt time.Duration) {
	t.Helper()
	seen, ok := tl.oldestUnapplied(pos)
	if seenAt < 0 {
		if ok {
			t.Errorf("%s: unapplied txn seen at %v, want none", name, seen)
		}
		return
	}
	if !ok || !seen.Equal(base.Add(seenAt)) {
		t.Errorf("%s: oldest unapplied seen at %v (%v), want %v", name, seen, ok, base.Add(seenAt))
	}
}

// TestStreamedCommitsNeedAPoll: a GTID from the replica's binlog stream moves its position
// (lag) at once, but read-your-writes trusts it only once a poll shows it: a server writes
// its binlog before the transaction is visible to reads. A read that wants it asks for that
// poll; the stream alone does not (no polls under writes nobody reads back).
func TestStreamedCommitsNeedAPoll(t *testing.T) {
	m := NewMonitor(Options{Replicas: []Replica{{Name: "r1"}}})
	v := m.set.Load().byName["r1"]
	p, _ := parseMariaPos("0-1-41")
	v.advance(p)
	g, _ := parseGTID("0-1-42")
	v.advanceGTID(g)
	if got := m.Position("r1"); got != "0-1-42" {
		t.Errorf("position after the stream's 0-1-42: %q", got)
	}
	select {
	case <-v.kick:
		t.Error("the stream alone asked for a poll")
	default:
	}
	for _, want := range []string{"0-1-42", "0-1-42,1-1-1", "0-1-43"} {
		if m.HasApplied("r1", want) {
			t.Errorf("HasApplied(%s) before a poll showed it", want)
		}
		select {
		case <-v.kick:
			if want != "0-1-42" {
				t.Errorf("HasApplied(%s), which the stream has not either, asked for a poll", want)
			}
		default:
			if want == "0-1-42" {
				t.Error("HasApplied(0-1-42), which only the stream has, asked for no poll")
			}
		}
	}
	p, _ = parseMariaPos("0-1-42")
	v.advance(p) // the poll
	if !m.HasApplied("r1", "0-1-42") {
		t.Error("HasApplied(0-1-42) after a poll showed it = false")
	}
}

// TestReportFailureDownForEveryCaller: sessions whose reads on a replica fail at the same
// moment each report it, then route a retry at once: every one must find it down when its
// own report returns, not only the first reporter.
func TestReportFailureDownForEveryCaller(t *testing.T) {
	for round := range 200 {
		m := NewMonitor(Options{
			Replicas: []Replica{{Name: "r1"}},
			Logger:   hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Warn}), // logging takes time, as in production
		})
		var wg sync.WaitGroup
		var online atomic.Int64
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.ReportFailure("r1")
				if m.ReplicaStatus("r1").State != router.StateDown {
					online.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := online.Load(); n > 0 {
			t.Fatalf("round %d: %d of 8 reporters saw the replica still in rotation after their report", round, n)
		}
	}
}

// TestReplicaLocalWritesAreNotThePrimarys: on MariaDB a replica's local writes (GTIDs with
// its own server id) continue the domain's sequence numbers. Counted as applied, a replica
// whose SQL thread stopped at 0-1-4 and that took 4 local writes (0-2-5..8) looked as far
// as a primary at 0-1-8 without its data: online with lag 0. Its binlog stream skips them.
func TestReplicaLocalWritesAreNotThePrimarys(t *testing.T) {
	m := NewMonitor(Options{
		Replicas: []Replica{{Name: "r1"}},
		MaxLag:   time.Second, Recover: 500 * time.Millisecond,
		Tailer: &TailerOptions{},
	})
	v := m.set.Load().byName["r1"]
	sink := &replicaSink{v: v, tl: m.tl, serverID: 2}
	base := time.Unix(3000, 0)
	for seq := uint64(1); seq <= 8; seq++ {
		m.tl.add(gtid{server: 1, seq: seq}, base.Add(time.Duration(seq)*100*time.Millisecond))
	}
	for seq := uint64(1); seq <= 4; seq++ {
		sink.seen(gtid{server: 1, seq: seq}, time.Time{}) // applied from the primary
	}
	for seq := uint64(5); seq <= 8; seq++ {
		sink.seen(gtid{server: 2, seq: seq}, time.Time{}) // written on the replica itself
	}
	if got := m.Position("r1"); got != "0-1-4" {
		t.Errorf("position after 0-1-1..4 applied and 0-2-5..8 local: %q, want 0-1-4", got)
	}
	m.evaluateAt(base.Add(2 * time.Second))
	if st := m.ReplicaStatus("r1"); st.State != router.StateLagging || st.Lag != 1500*time.Millisecond {
		t.Errorf("replica lacking the primary's 0-1-5..8: %+v, want lagging by 1.5s", st)
	}
	sink.seen(gtid{server: 1, seq: 9}, time.Time{}) // the primary's next one, applied
	if got := m.Position("r1"); got != "0-1-9" {
		t.Errorf("position after the primary's 0-1-9: %q", got)
	}
}

// TestMariaApplied: a MariaDB replica's applied position at a new stream is its
// @@gtid_slave_pos; its binlog counts only for a domain whose newest GTID the replica
// originated and which is exactly the primary's newest (a former primary, nothing written
// since).
func TestMariaApplied(t *testing.T) {
	pos := func(s string) position { p, _ := parseMariaPos(s); return p }
	for _, c := range []struct {
		name, slave, binlog, primary, want string
	}{
		{"replicating", "0-1-40", "0-1-40", "0-1-42", "0-1-40"},
		{"local writes after the primary's", "0-1-4", "0-2-8", "0-1-8", "0-1-4"},
		{"local writes, primary idle", "0-1-4", "0-2-8", "0-1-4", "0-1-4"},
		{"former primary, nothing written since", "", "0-2-100", "0-2-100", "0-2-100"},
		{"former primary, stale slave pos", "0-1-7,1-1-3", "0-2-100,1-1-3", "0-2-100,1-1-3", "0-2-100,1-1-3"},
		{"former primary's writes, then local ones", "", "0-2-101", "0-2-100", ""},
		{"another server's newest", "0-1-4", "0-3-9", "0-3-9", "0-1-4"},
	} {
		got := mariaApplied(pos(c.slave), pos(c.binlog), 2, pos(c.primary))
		if got.String() != c.want {
			t.Errorf("%s: slave %q binlog %q primary %q: %q, want %q", c.name, c.slave, c.binlog, c.primary, got, c.want)
		}
	}
}

// TestPollThatWentBackReplaces: positions only grow while a poll merely trails the binlog
// stream, but a replica whose own polls go back (re-seeded from an older backup under the
// same address: RESET MASTER, SET GLOBAL gtid_slave_pos) takes the lower position, for lag
// and for read-your-writes; before, it kept its old one and got reads it could not serve.
func TestPollThatWentBackReplaces(t *testing.T) {
	m := NewMonitor(Options{Replicas: []Replica{{Name: "r1"}}})
	v := m.set.Load().byName["r1"]
	pos := func(s string) position { p, _ := parseMariaPos(s); return p }
	if v.applyPoll(pos("0-1-100")) {
		t.Error("the first poll went back")
	}
	for seq := uint64(101); seq <= 105; seq++ {
		v.advanceGTID(mgtid(0, seq)) // the replica's binlog stream, ahead of the polls
	}
	if v.applyPoll(pos("0-1-103")) || m.Position("r1") != "0-1-105" {
		t.Errorf("a poll behind the stream but ahead of the last poll: position %q, want 0-1-105", m.Position("r1"))
	}
	if !v.applyPoll(pos("0-1-50")) {
		t.Error("a poll below the previous one did not go back")
	}
	if got := m.Position("r1"); got != "0-1-50" {
		t.Errorf("position after the replica went back to 0-1-50: %q", got)
	}
	if m.HasApplied("r1", "0-1-60") {
		t.Error("read-your-writes still trusts the old position")
	}
	if v.applyPoll(pos("0-1-51")) || m.Position("r1") != "0-1-51" || !m.HasApplied("r1", "0-1-51") {
		t.Errorf("catching up again: position %q", m.Position("r1"))
	}
}

// TestDownReturnsThroughRecover: a replica back from down is re-admitted like a lagging one,
// only below lag.recover; between lag.recover and lag.max it comes back lagging. Before, it
// came back online at any lag up to lag.max, passed lag.max again and flapped.
func TestDownReturnsThroughRecover(t *testing.T) {
	m := NewMonitor(Options{
		Replicas: []Replica{{Name: "r1"}},
		MaxLag:   time.Second, Recover: 500 * time.Millisecond,
		Tailer: &TailerOptions{},
	})
	v, setPos, state := testReplica(m, "r1")
	base := time.Unix(4000, 0)
	for i := uint64(1); i <= 100; i++ { // a write every 20 ms
		m.tl.add(mgtid(0, i), base.Add(time.Duration(i)*20*time.Millisecond))
	}
	setPos("0-1-10") // stuck after the txn seen at 200 ms
	m.evaluateAt(base.Add(1300 * time.Millisecond))
	if state() != router.StateLagging {
		t.Fatalf("lag 1.08s: %s, want lagging", state())
	}
	v.reachable.Store(false)
	m.evaluateAt(base.Add(1400 * time.Millisecond))
	if state() != router.StateDown {
		t.Fatalf("unreachable: %s, want down", state())
	}
	setPos("0-1-60") // applied more while down: oldest missing seen at 1.22 s
	v.reachable.Store(true)
	m.evaluateAt(base.Add(2000 * time.Millisecond))
	if st := m.ReplicaStatus("r1"); st.State != router.StateLagging || st.Lag != 780*time.Millisecond {
		t.Fatalf("back with lag 780ms (between recover and max): %+v, want lagging", st)
	}
	setPos("0-1-90") // oldest missing seen at 1.82 s
	m.evaluateAt(base.Add(2100 * time.Millisecond))
	if st := m.ReplicaStatus("r1"); st.State != router.StateOnline {
		t.Fatalf("lag 280ms: %+v, want online", st)
	}
	// Down while online, back below lag.recover: online at once.
	v.reachable.Store(false)
	m.evaluateAt(base.Add(2110 * time.Millisecond))
	v.reachable.Store(true)
	m.evaluateAt(base.Add(2120 * time.Millisecond))
	if state() != router.StateOnline {
		t.Fatalf("back caught up enough: %s, want online", state())
	}
}

// lag.recover = 0 re-admits a replica once it has caught up (lag 0), from lagging or down.
func TestRecoverZeroMeansCaughtUp(t *testing.T) {
	m := NewMonitor(Options{Replicas: []Replica{{Name: "r1"}}, Tailer: &TailerOptions{}})
	v, setPos, state := testReplica(m, "r1")
	base := time.Unix(4000, 0)
	m.tl.add(mgtid(0, 1), base)
	m.tl.add(mgtid(0, 2), base.Add(10*time.Millisecond))
	setPos("0-1-1")
	m.evaluateAt(base.Add(20 * time.Millisecond))
	if state() != router.StateLagging {
		t.Fatalf("lag 10ms with lag.max 0: %s, want lagging", state())
	}
	setPos("0-1-2")
	m.evaluateAt(base.Add(30 * time.Millisecond))
	if st := m.ReplicaStatus("r1"); st.State != router.StateOnline || st.Lag != 0 {
		t.Fatalf("caught up with lag.recover 0: %+v, want online", st)
	}
	v.reachable.Store(false)
	m.evaluateAt(base.Add(40 * time.Millisecond))
	v.reachable.Store(true)
	m.evaluateAt(base.Add(50 * time.Millisecond))
	if state() != router.StateOnline {
		t.Fatalf("back from down caught up with lag.recover 0: %s, want online", state())
	}
}

// The timeline says when it knows the primary's position (a replica's stream waits for it):
// after a seed or a transaction, and again only after the next one once reset.
func TestTimelineKnown(t *testing.T) {
	tl := newTimeline()
	known := func() bool {
		select {
		case <-tl.whenKnown():
			return true
		default:
			return false
		}
	}
	if known() {
		t.Fatal("a new timeline knows the primary's position")
	}
	p, _ := parseMariaPos("0-1-5")
	tl.seed(p, time.Now())
	if !known() {
		t.Fatal("not known after a seed")
	}
	tl.reset() // the primary changed
	if known() {
		t.Fatal("still known after a reset")
	}
	tl.add(mgtid(0, 6), time.Now())
	if !known() {
		t.Fatal("not known after a transaction")
	}
	tl.add(mgtid(0, 7), time.Now()) // closing twice would panic
}
