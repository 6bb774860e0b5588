package proxy

import "testing"

// TestCursorPins: a connection holding a statement's open cursor stays with the session
// until the cursor closes, and pinnedConn only scans the statements while one is open.
func TestCursorPins(t *testing.T) {
	r1, r2 := &Backend{Name: "replica1"}, &Backend{Name: "replica2"}
	a, b := &backendConn{b: r1}, &backendConn{b: r2}
	p1, p2 := &prepared{sql: "SELECT 1"}, &prepared{sql: "SELECT 2"}
	s := &session{autocommit: true, stmts: map[uint32]*prepared{1: p1, 2: p2}}
	pinned := func(want ...bool) {
		t.Helper()
		if got := []bool{s.pinnedConn(a), s.pinnedConn(b)}; got[0] != want[0] || got[1] != want[1] {
			t.Errorf("pinned a, b = %v, want %v (cursors %d)", got, want, s.cursors)
		}
	}
	pinned(false, false)

	s.setCursor(p1, a)
	s.setCursor(p1, a) // an execute on the same statement does not count twice
	s.setCursor(p2, a)
	pinned(true, false)
	if s.cursors != 2 {
		t.Errorf("cursors = %d after two statements opened one, want 2", s.cursors)
	}
	s.clearCursor(p1)
	s.clearCursor(p1) // closing twice does not count twice
	pinned(true, false)
	s.setCursor(p1, b)
	pinned(true, true)

	s.forget(a) // a is gone: p2's cursor with it
	if p2.cursor != nil || s.cursors != 1 {
		t.Errorf("after forget(a): p2.cursor %v, cursors %d; want nil, 1", p2.cursor, s.cursors)
	}
	pinned(false, true)
	s.clearCursor(p1)
	pinned(false, false)
	if s.cursors != 0 {
		t.Errorf("cursors = %d with none open", s.cursors)
	}
}
