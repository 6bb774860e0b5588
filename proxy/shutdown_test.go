package proxy

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// hungBackend is an in-process server that never answers "SELECT hang" (until its
// connection closes) and answers everything else with OK, KILL included, which it reports
// on kills and otherwise ignores: a hung server.
type hungBackend struct {
	ln    net.Listener
	kills chan string
	// hangOnReset: COM_RESET_CONNECTION hangs too.
	hangOnReset bool
}

func newHungBackend(t *testing.T, hangOnReset bool) *hungBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hb := &hungBackend{ln: ln, kills: make(chan string, 16), hangOnReset: hangOnReset}
	srv := server.NewServer("10.11.0-MariaDB-fake", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	serveFake(t, ln, func(c net.Conn) { hb.serve(srv, c) })
	return hb
}

func (hb *hungBackend) serve(srv *server.Server, c net.Conn) {
	defer c.Close()
	sc := acceptFake(srv, c)
	if sc == nil {
		return
	}
	fc := &frameConn{conn: sc.Conn.Conn, r: bufio.NewReader(sc.Conn.Conn)}
	for hung := false; ; {
		fc.seq = 0
		cmd, err := fc.readFrame()
		if err != nil || len(cmd) == 0 || cmd[0] == mysql.COM_QUIT {
			return
		}
		q := string(cmd[1:])
		switch {
		case hung:
			continue // busy with the statement: a server reads nothing meanwhile
		case cmd[0] == mysql.COM_QUERY && q == "SELECT hang", cmd[0] == mysql.COM_RESET_CONNECTION && hb.hangOnReset:
			hung = true
			continue
		case cmd[0] == mysql.COM_QUERY && strings.HasPrefix(q, "KILL "):
			hb.kills <- q
		}
		if fc.writePacket(okPkt{status: mysql.SERVER_STATUS_AUTOCOMMIT}.bytes()) != nil {
			return
		}
	}
}

// TestCloseAllEndsHungStatement: the end of a shutdown ends a session whose statement a
// hung backend never answers, and on which its KILL has no effect: the statement is killed
// on the backend, its connection closed, the client gets its connection closed and Serve
// returns.
func TestCloseAllEndsHungStatement(t *testing.T) {
	hb := newHungBackend(t, false)
	srv := testServer(t, hb.ln.Addr().String(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	c, err := client.Connect(srv.Addr().String(), "app", "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := make(chan error, 1)
	go func() { _, err := c.Execute("SELECT hang"); answered <- err }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ss := srv.Sessions(); len(ss) == 1 && ss[0].State == "query" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the statement did not start: %+v", srv.Sessions())
		}
	}

	cancel() // a shutdown lets the statement run
	srv.CloseAll()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after CloseAll while a backend hung on a statement")
	}
	select {
	case err := <-answered:
		if err == nil {
			t.Error("the hung statement succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client's statement got no answer after CloseAll")
	}
	select {
	case q := <-hb.kills:
		if !strings.HasPrefix(q, "KILL CONNECTION ") {
			t.Errorf("the backend got %q, want a KILL CONNECTION of the statement's thread", q)
		}
	default:
		t.Error("the statement was not killed on its backend")
	}
}

// TestSessionEndBoundsItsReset: a session that ends while pinned to a connection (here by a
// GET_LOCK) resets it for the pool; a backend that does not answer the reset holds the
// ending session no longer than backend_connect_timeout, so that it (and a shutdown
// waiting for it) ends.
func TestSessionEndBoundsItsReset(t *testing.T) {
	hb := newHungBackend(t, true)
	srv := testServer(t, hb.ln.Addr().String(), func(o *Options) { o.BackendConnectTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return: a session still waits")
		}
	}()

	c, err := client.Connect(srv.Addr().String(), "app", "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute("SELECT GET_LOCK('job', 0)"); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	began := time.Now()
	for len(srv.Sessions()) > 0 {
		if time.Since(began) > 5*time.Second {
			t.Fatalf("the session still runs 5s after its client left: its reset waits on a backend that does not answer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
