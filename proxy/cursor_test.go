package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/router"
)

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

	s1, s2 := &backendStmt{id: 1}, &backendStmt{id: 2}
	s.setCursor(p1, a, s1)
	s.setCursor(p1, a, s1) // an execute on the same statement does not count twice
	s.setCursor(p2, a, s2)
	pinned(true, false)
	if s.cursors != 2 {
		t.Errorf("cursors = %d after two statements opened one, want 2", s.cursors)
	}
	s.clearCursor(p1)
	s.clearCursor(p1) // closing twice does not count twice
	pinned(true, false)
	s.setCursor(p1, b, &backendStmt{id: 3})
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

// TestCursorsOwnTheirStatements: two statements of one text each keep their open cursor on
// one connection, and the statements prepared after them, more than the connection keeps
// (maxStmtsPerConn), close neither. The fake backend's fetch reads a cursor's one row and
// closes it, answers an error where there is none (another execute of its statement
// replaced it) and records a violation for a statement the proxy closed.
func TestCursorsOwnTheirStatements(t *testing.T) {
	const first, second = 1, 2
	execs := [][]byte{execPkt(first, cursorReadOnly, nil, 0, nil, nil), execPkt(second, cursorReadOnly, nil, 0, nil, nil)}
	fetches := [][]byte{stmtCmd(mysql.COM_STMT_FETCH, first, 1, 0, 0, 0), stmtCmd(mysql.COM_STMT_FETCH, second, 1, 0, 0, 0)}
	cmds := [][]byte{cmd(mysql.COM_QUERY, "BEGIN"), // all on the primary connection
		cmd(mysql.COM_STMT_PREPARE, "SELECT c FROM t"), cmd(mysql.COM_STMT_PREPARE, "SELECT c FROM t")}
	cmds = append(append(append(cmds, execs...), fetches...), execs...)
	for i := range maxStmtsPerConn + 3 {
		cmds = append(cmds, cmd(mysql.COM_STMT_PREPARE, fmt.Sprintf("SELECT %d", i)))
	}
	cmds = append(append(cmds, fetches...), cmd(mysql.COM_QUERY, "COMMIT"))
	h := newCommandHarness(router.New(router.Options{Replicas: []router.ReplicaConfig{{Name: "r1"}}}),
		router.NewClassifier(1000), commandInput(0, cmds...))
	h.sess.run(context.Background())
	for _, v := range h.violations {
		t.Error(v)
	}
	for out := h.out.Bytes(); len(out) >= 4; {
		n := int(out[0]) | int(out[1])<<8 | int(out[2])<<16
		if p := out[4 : 4+n]; len(p) >= 9 && p[0] == mysql.ERR_HEADER && p[3] == '#' {
			t.Errorf("error answered: %d %s", binary.LittleEndian.Uint16(p[1:]), p[9:])
		}
		out = out[4+n:]
	}
	if n := len(h.fakes[0].stmts); n > maxStmtsPerConn {
		t.Errorf("%d statements prepared on the primary connection, want at most %d", n, maxStmtsPerConn)
	}
}
