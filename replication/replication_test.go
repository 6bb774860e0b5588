package replication

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	if seen, _ := tl.oldestUnapplied(pos("0-1-6,1-1-3")); time.Unix(0, seen) != base.Add(7*time.Second) {
		t.Errorf("after prune oldest unapplied = %v", time.Unix(0, seen))
	}
}

// TestStateMachine drives evaluateAt with a fake clock: hysteresis, no flapping, down.
func TestStateMachine(t *testing.T) {
	m := NewMonitor(Options{
		Replicas: []Replica{{Name: "r1"}},
		MaxLag:   time.Second, Recover: 500 * time.Millisecond,
		Tailer: &TailerOptions{},
	})
	v := m.set.Load().byName["r1"]
	base := time.Unix(2000, 0)
	setPos := func(s string) { p, _ := parseMariaPos(s); v.pos.Store(&p) }
	for i := uint64(1); i <= 100; i++ { // a write every 20 ms
		m.tl.add(mgtid(0, i), base.Add(time.Duration(i)*20*time.Millisecond))
	}
	state := func() router.ReplicaState { return m.ReplicaStatus("r1").State }

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

func TestStamp(t *testing.T) {
	arrived := time.Unix(5000, 300_000_000)
	if got := stamp(arrived, 5000); got != arrived {
		t.Errorf("live event stamped %v, want its arrival %v", got, arrived)
	}
	if got := stamp(arrived, 4990); got != time.Unix(4990, 0) {
		t.Errorf("delayed event stamped %v, want the start of its second 4990", got)
	}
	if got := stamp(arrived, 4999); got != time.Unix(4999, 0) {
		t.Errorf("event of the previous second arriving 0.3s into the next stamped %v, want 4999", got)
	}
	if got := stamp(arrived, 0); got != arrived {
		t.Errorf("event without timestamp stamped %v", got)
	}
}

// checkOldestUnapplied checks that tl's oldest transaction missing from pos was seen at
// base+seenAt, or that none is missing when seenAt < 0.
func checkOldestUnapplied(t *testing.T, tl *timeline, name string, pos position, base time.Time, seenAt time.Duration) {
	t.Helper()
	seen, ok := tl.oldestUnapplied(pos)
	if seenAt < 0 {
		if ok {
			t.Errorf("%s: unapplied txn seen at %v, want none", name, time.Unix(0, seen))
		}
		return
	}
	if !ok || time.Unix(0, seen) != base.Add(seenAt) {
		t.Errorf("%s: oldest unapplied seen at %v (%v), want %v", name, time.Unix(0, seen), ok, base.Add(seenAt))
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
