package replication

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestPickPromoted(t *testing.T) {
	pos := func(s string) position {
		p, ok := parseMariaPos(s)
		if !ok {
			t.Fatalf("bad position %q", s)
		}
		return p
	}
	now := time.Now()
	// replica: reachable, read_only = 1, replicating, at 0-1-100, seen so just now.
	replica := func(name string) candidate {
		return candidate{name: name, address: name + ":3306", reachable: true, threads: "io=Yes sql=Yes", pos: pos("0-1-100"), replicaAt: now}
	}
	// promoted: writable, replication reset.
	promoted := func(name string) candidate {
		c := replica(name)
		c.writable, c.threads = true, "not a replica"
		return c
	}
	with := func(c candidate, f func(*candidate)) candidate { f(&c); return c }

	tests := []struct {
		name        string
		primaryGone bool
		reps        []candidate
		want        string // the replica picked, "" for none
		note        string // in the note, "" for no note
	}{
		{"all replicas replicate", true, []candidate{replica("r1"), replica("r2")}, "", ""},
		{"switchover: one promoted", true, []candidate{promoted("r1"), replica("r2")}, "r1", ""},
		{"promoted with both threads stopped", true, []candidate{with(promoted("r1"), func(c *candidate) { c.threads = "io=No sql=No" }), replica("r2")}, "r1", ""},
		{"the primary still takes writes", false, []candidate{promoted("r1"), replica("r2")}, "", "still takes writes"},
		{"writable but replicating", true, []candidate{with(promoted("r1"), func(c *candidate) { c.threads = "io=Yes sql=Yes" }), replica("r2")}, "", ""},
		{"writable, IO thread connecting", true, []candidate{with(promoted("r1"), func(c *candidate) { c.threads = "io=Connecting sql=Yes" }), replica("r2")}, "", ""},
		{"writable, only the SQL thread runs", true, []candidate{with(promoted("r1"), func(c *candidate) { c.threads = "io=No sql=Yes" }), replica("r2")}, "", ""},
		{"threads unknown", true, []candidate{with(promoted("r1"), func(c *candidate) { c.threads = "" }), replica("r2")}, "", "SLAVE MONITOR"},
		{"two promoted", true, []candidate{promoted("r1"), promoted("r2")}, "", "both writable"},
		{"promoted but unreachable", true, []candidate{with(promoted("r1"), func(c *candidate) { c.reachable = false }), replica("r2")}, "", ""},
		{"stale server", true, []candidate{with(promoted("r1"), func(c *candidate) { c.pos = pos("0-1-90") }), replica("r2")}, "", "lacks transactions replica r2"},
		{"stale next to an unreachable replica", true, []candidate{with(promoted("r1"), func(c *candidate) { c.pos = pos("0-1-90") }), with(replica("r2"), func(c *candidate) { c.reachable = false })}, "r1", ""},
		{"ahead of the others", true, []candidate{with(promoted("r1"), func(c *candidate) { c.pos = pos("0-1-120") }), replica("r2")}, "r1", ""},
		{"missing a domain", true, []candidate{promoted("r1"), with(replica("r2"), func(c *candidate) { c.pos = pos("0-1-100,1-5-3") })}, "", "lacks transactions"},
		{"only replica", true, []candidate{promoted("r1")}, "r1", ""},
		{"no replicas", true, nil, "", ""},
		{"promoted a poll before the primary was last seen up", true, []candidate{with(promoted("r1"), func(c *candidate) { c.replicaAt = now.Add(-1500 * time.Millisecond) }), replica("r2")}, "r1", ""},
		{"on its own since long before", true, []candidate{with(promoted("r1"), func(c *candidate) { c.replicaAt = now.Add(-time.Hour) }), replica("r2")}, "", "already was before the primary stopped"},
		{"never seen a replica", true, []candidate{with(promoted("r1"), func(c *candidate) { c.replicaAt = time.Time{} }), replica("r2")}, "", "already was before"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The primary was last seen taking writes a second ago.
			pick, note := pickPromoted(primaryFacts{gone: tc.primaryGone, upAt: now.Add(-time.Second)}, tc.reps, time.Second)
			got := ""
			if pick != nil {
				got = pick.name
			}
			if got != tc.want {
				t.Errorf("picked %q, want %q (note %q)", got, tc.want, note)
			}
			if tc.note == "" && note != "" || !strings.Contains(note, tc.note) {
				t.Errorf("note %q, want one containing %q", note, tc.note)
			}
		})
	}
	// A primary not seen taking writes since tailgate watches it (a restart with a config
	// file that still names the old primary): the promoted replica is followed.
	old := promoted("r1")
	old.replicaAt = time.Time{}
	if pick, note := pickPromoted(primaryFacts{gone: true}, []candidate{old, replica("r2")}, time.Second); pick == nil {
		t.Errorf("primary never seen up: nothing followed (%s), want r1", note)
	}
}

// TestCheckPromotionOncePerPrimary: a promotion is reported once for a primary, not at
// every evaluation, and again after the primary moved; nothing while following is off.
func TestCheckPromotionOncePerPrimary(t *testing.T) {
	m := NewMonitor(Options{
		Replicas: []Replica{{Name: "r1", Address: "h1:1"}, {Name: "r2", Address: "h2:1"}},
		Tailer:   &TailerOptions{Address: "h0:1"},
		Logger:   hclog.NewNullLogger(),
	})
	v := m.set.Load().byName["r1"]
	v.writable.Store(true)
	v.replicaAt.Store(time.Now().UnixNano())
	notReplica := "not a replica"
	v.threads.Store(&notReplica)
	m.primary.Load().readOnly.Store(true)

	m.evaluateAt(time.Now())
	if len(m.Promotions()) != 0 {
		t.Fatal("a promotion was reported while following is off")
	}
	m.SetFollow(true)
	for range 3 {
		m.evaluateAt(time.Now())
	}
	select {
	case p := <-m.Promotions():
		if p != (Promotion{Name: "r1", Address: "h1:1", From: "h0:1"}) {
			t.Errorf("promotion %+v, want r1 at h1:1 from h0:1", p)
		}
	default:
		t.Fatal("no promotion reported")
	}
	m.evaluateAt(time.Now())
	if len(m.Promotions()) != 0 {
		t.Error("the same promotion was reported twice")
	}
	// The primary moved elsewhere and went read-only too: reported again.
	m.primary.Store(newPrimaryView("h9:1"))
	m.primary.Load().readOnly.Store(true)
	m.evaluateAt(time.Now())
	if p := <-m.Promotions(); p.From != "h9:1" {
		t.Errorf("promotion from %s, want h9:1", p.From)
	}
}
