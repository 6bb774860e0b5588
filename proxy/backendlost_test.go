package proxy

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/router"
)

// clientErrors lists the error codes of the ERR packets the harness's client got.
func (h *commandHarness) clientErrors() []uint16 {
	var codes []uint16
	for out := h.out.Bytes(); len(out) >= 4; {
		n := int(out[0]) | int(out[1])<<8 | int(out[2])<<16
		if p := out[4 : 4+n]; len(p) >= 3 && p[0] == mysql.ERR_HEADER {
			codes = append(codes, binary.LittleEndian.Uint16(p[1:]))
		}
		out = out[4+n:]
	}
	return codes
}

// TestBackendLostChangesNothing: a statement whose backend connection breaks before it
// answers gets the client tailgate's lost-connection error, and the session records none
// of what the statement would have changed had it run: the database, a variable, a lock,
// a temporary table, a prepared statement (the fake backend breaks on "GONE", and on
// COM_INIT_DB of "gone"; nothing listens where the proxy would reconnect).
func TestBackendLostChangesNothing(t *testing.T) {
	cases := []struct {
		name  string
		cmds  [][]byte
		codes []uint16 // the client's errors, in order
		check func(*session) string
	}{
		{"USE", [][]byte{cmd(mysql.COM_QUERY, "USE gone_db")}, []uint16{erBackendLost},
			func(s *session) string { return s.state.schema }},
		{"COM_INIT_DB", [][]byte{cmd(mysql.COM_INIT_DB, "gone_db")}, []uint16{erBackendLost},
			func(s *session) string { return s.state.schema }},
		{"SET", [][]byte{cmd(mysql.COM_QUERY, "SET time_zone = '+01:00' /* GONE */")}, []uint16{erBackendLost},
			func(s *session) string {
				if len(s.state.sets) > 0 {
					return s.state.sets[0].sql
				}
				return ""
			}},
		{"GET_LOCK", [][]byte{cmd(mysql.COM_QUERY, "SELECT GET_LOCK('GONE', 1)")}, []uint16{erBackendLost},
			func(s *session) string {
				if s.locks > 0 || s.primaryPinned() {
					return "a lock held, the session pinned to the primary"
				}
				return ""
			}},
		{"temporary table", [][]byte{cmd(mysql.COM_QUERY, "CREATE TEMPORARY TABLE gone (a int)")}, []uint16{erBackendLost},
			func(s *session) string {
				for name := range s.tempTables {
					return "temporary table " + name
				}
				return ""
			}},
		{"prepare", [][]byte{
			cmd(mysql.COM_STMT_PREPARE, "SELECT a FROM GONE"),
			// MariaDB's direct execution: the statement just prepared, were there one.
			execPkt(mariadbLastStmt, 0, nil, 0, nil, nil),
		}, []uint16{erBackendLost, mysql.ER_UNKNOWN_STMT_HANDLER},
			func(s *session) string {
				if len(s.stmts) > 0 || s.lastStmtID != 0 {
					return "a prepared statement"
				}
				return ""
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newCommandHarness(router.New(router.Options{Replicas: []router.ReplicaConfig{{Name: "r1"}}}),
				router.NewClassifier(1000), commandInput(0, tc.cmds...))
			h.sess.run(context.Background())
			for _, v := range h.violations {
				t.Error(v)
			}
			if got := h.clientErrors(); !slices.Equal(got, tc.codes) {
				t.Errorf("client errors %v, want %v", got, tc.codes)
			}
			if got := tc.check(h.sess); got != "" {
				t.Errorf("after the lost statement the session has %q, want nothing of it", got)
			}
		})
	}
}
