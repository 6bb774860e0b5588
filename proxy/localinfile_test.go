package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// infileBackend is an in-process server that answers "LOAD <mode>" with a LOCAL INFILE
// request for the file <mode>, whatever the connection negotiated (a real server asks only
// when CLIENT_LOCAL_FILES was negotiated; this one stands for one that cannot be trusted),
// and every other command with OK. It reports what it received of each file on events.
//
// Modes: "missing" answers the file with ERR, "multi" with two OK packets (the first with
// SERVER_MORE_RESULTS_EXISTS), "drop" closes the connection after the file's first frame;
// any other answers OK with the number of bytes received as affected rows.
type infileBackend struct {
	ln     net.Listener
	events chan infileEvent
}

// infileEvent is what the backend saw of one LOCAL INFILE transfer.
type infileEvent struct {
	caps   uint32 // capability flags of the connection's handshake response
	frames []int  // lengths of the frames received, the ending empty one included
	data   []byte // the file's content
	err    error  // reading the file failed: the connection ended mid-transfer
}

func newInfileBackend(t *testing.T) *infileBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &infileBackend{ln: ln, events: make(chan infileEvent, 16)}
	srv := server.NewServer("10.11.0-MariaDB-fake", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	if err := srv.SetCapability(mysql.CLIENT_LOCAL_FILES); err != nil {
		t.Fatal(err)
	}
	serveFake(t, ln, func(c net.Conn) { fb.serve(srv, c) })
	return fb
}

// frameConn reads and writes frames on one side of a test connection, checking sequence
// numbers strictly.
type frameConn struct {
	conn net.Conn
	r    *bufio.Reader
	seq  uint8
}

func (c *frameConn) readFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[3] != c.seq {
		return nil, fmt.Errorf("sequence %d, want %d", hdr[3], c.seq)
	}
	c.seq++
	p := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
	_, err := io.ReadFull(c.r, p)
	return p, err
}

// writePacket writes one packet, in as many frames as its length needs.
func (c *frameConn) writePacket(p []byte) error {
	var out []byte
	for {
		n := min(len(p), maxPayload)
		out = append(out, frameHeader(c.seq, n)...)
		out = append(out, p[:n]...)
		c.seq++
		p = p[n:]
		if n < maxPayload {
			break
		}
	}
	_, err := c.conn.Write(out)
	return err
}

func (fb *infileBackend) serve(srv *server.Server, c net.Conn) {
	defer c.Close()
	sc := acceptFake(srv, c)
	if sc == nil {
		return
	}
	caps := sc.Capability()
	fc := &frameConn{conn: sc.Conn.Conn, r: bufio.NewReader(sc.Conn.Conn)}
	ok := func(affected uint64, status uint16) error {
		return fc.writePacket(okPkt{affected: affected, status: status}.bytes())
	}
	for {
		fc.seq = 0
		cmd, err := fc.readFrame()
		if err != nil || len(cmd) == 0 || cmd[0] == mysql.COM_QUIT {
			return
		}
		mode, load := strings.CutPrefix(string(cmd[1:]), "LOAD ")
		if cmd[0] != mysql.COM_QUERY || !load {
			if ok(0, mysql.SERVER_STATUS_AUTOCOMMIT) != nil {
				return
			}
			continue
		}
		if fc.writePacket(append([]byte{mysql.LocalInFile_HEADER}, mode...)) != nil {
			return
		}
		ev := infileEvent{caps: caps}
		for first := true; ; {
			p, err := fc.readFrame()
			if err != nil {
				ev.err = err
				fb.events <- ev
				return
			}
			ev.frames = append(ev.frames, len(p))
			ev.data = append(ev.data, p...)
			if mode == "drop" {
				fb.events <- ev
				return
			}
			if first && len(p) == 0 {
				break
			}
			first = len(p) < maxPayload
		}
		fb.events <- ev
		switch mode {
		case "missing":
			err = fc.writePacket(appendErr(nil, 2, "HY000", "File 'missing' not found"))
		case "multi":
			if err = ok(0, mysql.SERVER_STATUS_AUTOCOMMIT|mysql.SERVER_MORE_RESULTS_EXISTS); err == nil {
				err = ok(1, mysql.SERVER_STATUS_AUTOCOMMIT)
			}
		default:
			err = ok(uint64(len(ev.data)), mysql.SERVER_STATUS_AUTOCOMMIT)
		}
		if err != nil {
			return
		}
	}
}

// event waits for the backend's report of a transfer.
func (fb *infileBackend) event(t *testing.T) infileEvent {
	t.Helper()
	select {
	case ev := <-fb.events:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("the backend saw no LOCAL INFILE transfer")
		return infileEvent{}
	}
}

// startInfileProxy runs a Server in front of fb.
func startInfileProxy(t *testing.T, fb *infileBackend, localInfile bool, readTimeout time.Duration) *Server {
	srv := testServer(t, fb.ln.Addr().String(), func(o *Options) {
		o.BackendReadTimeout, o.LocalInfile = readTimeout, localInfile
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}

// infileClient logs in to srv, asking for CLIENT_LOCAL_FILES when local is set, and
// returns the connection for raw packets.
func infileClient(t *testing.T, srv *Server, local bool) *frameConn {
	var opts []client.Option
	if local {
		opts = append(opts, func(c *client.Conn) error { return c.SetCapability(mysql.CLIENT_LOCAL_FILES) })
	}
	c, err := client.Connect(srv.Addr().String(), "app", "secret", "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	conn := c.Conn.Conn
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	return &frameConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
}

// query sends a COM_QUERY.
func (c *frameConn) query(t *testing.T, sql string) {
	t.Helper()
	c.seq = 0
	if err := c.writePacket(append([]byte{mysql.COM_QUERY}, sql...)); err != nil {
		t.Fatal(err)
	}
}

// expect reads one packet and checks its first byte.
func (c *frameConn) expect(t *testing.T, first byte) []byte {
	t.Helper()
	p, err := c.readFrame()
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if len(p) == 0 || p[0] != first {
		t.Fatalf("got packet %q, want one starting with 0x%02x", p[:min(len(p), 80)], first)
	}
	return p
}

// expectErr reads an ERR packet and checks its code.
func (c *frameConn) expectErr(t *testing.T, code uint16) *mysql.MyError {
	t.Helper()
	e := parseErr(c.expect(t, mysql.ERR_HEADER))
	if e.Code != code {
		t.Fatalf("error %d %q, want code %d", e.Code, e.Message, code)
	}
	return e
}

// expectOK reads an OK packet.
func (c *frameConn) expectOK(t *testing.T) okPacket {
	t.Helper()
	ok, err := parseOK(c.expect(t, mysql.OK_HEADER))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestLocalInfileRelay: a client that negotiated CLIENT_LOCAL_FILES gets the backend's
// request, and its file reaches the backend frame for frame (a packet above 16 MiB, one of
// exactly 16 MiB - 1 that an empty frame continues), with each side's sequence numbers;
// the backend's OK, ERR, or OK with more results, reaches the client.
func TestLocalInfileRelay(t *testing.T) {
	fb := newInfileBackend(t)
	srv := startInfileProxy(t, fb, true, 0)
	c := infileClient(t, srv, true)

	c.query(t, "LOAD data.tsv")
	if p := c.expect(t, mysql.LocalInFile_HEADER); string(p[1:]) != "data.tsv" {
		t.Fatalf("request for %q, want data.tsv", p[1:])
	}
	packets := [][]byte{[]byte("1\tone\n"), pattern(100_000, 1), pattern(maxPayload+1000, 2), pattern(maxPayload, 3), nil}
	var want []byte
	for _, p := range packets {
		want = append(want, p...)
		if err := c.writePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	ok := c.expectOK(t)
	ev := fb.event(t)
	if ev.caps&mysql.CLIENT_LOCAL_FILES == 0 {
		t.Error("the backend connection did not negotiate CLIENT_LOCAL_FILES")
	}
	wantFrames := []int{6, 100_000, maxPayload, 1000, maxPayload, 0, 0}
	if fmt.Sprint(ev.frames) != fmt.Sprint(wantFrames) || ev.err != nil {
		t.Errorf("backend got frames %v (%v), want %v", ev.frames, ev.err, wantFrames)
	}
	if !bytes.Equal(ev.data, want) || ok.affectedRows != uint64(len(want)) {
		t.Errorf("backend got %d bytes (OK says %d), want the %d sent", len(ev.data), ok.affectedRows, len(want))
	}

	// The client has no file: it answers with an empty packet at once.
	c.query(t, "LOAD missing")
	c.expect(t, mysql.LocalInFile_HEADER)
	if err := c.writePacket(nil); err != nil {
		t.Fatal(err)
	}
	c.expectErr(t, 2)
	if ev := fb.event(t); len(ev.frames) != 1 || ev.err != nil {
		t.Errorf("backend got frames %v (%v), want one empty", ev.frames, ev.err)
	}

	// More results follow the file's OK.
	c.query(t, "LOAD multi")
	c.expect(t, mysql.LocalInFile_HEADER)
	if err := c.writePacket([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.writePacket(nil); err != nil {
		t.Fatal(err)
	}
	if ok := c.expectOK(t); ok.status&mysql.SERVER_MORE_RESULTS_EXISTS == 0 {
		t.Error("the first OK lost SERVER_MORE_RESULTS_EXISTS")
	}
	if ok := c.expectOK(t); ok.affectedRows != 1 {
		t.Errorf("second OK: %d affected rows, want 1", ok.affectedRows)
	}
	fb.event(t)

	c.query(t, "SELECT 1")
	c.expectOK(t)
}

// TestLocalInfileRefused: a client that did not negotiate CLIENT_LOCAL_FILES (tailgate did
// not offer it, or the client did not take it) never sees a backend's request: it gets an
// error, the backend connection waiting for the file is closed, and the session goes on.
func TestLocalInfileRefused(t *testing.T) {
	for _, tc := range []struct {
		name               string
		option, clientAsks bool
	}{
		{"option off, client asks", false, true},
		{"option on, client does not ask", true, false},
		{"option off, client does not ask", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := newInfileBackend(t)
			srv := startInfileProxy(t, fb, tc.option, 0)
			c := infileClient(t, srv, tc.clientAsks)
			c.query(t, "LOAD /etc/passwd")
			if e := c.expectErr(t, mysql.ER_NOT_ALLOWED_COMMAND); !strings.Contains(e.Message, "did not enable local files") {
				t.Errorf("error %q does not say why", e.Message)
			}
			ev := fb.event(t)
			if ev.caps&mysql.CLIENT_LOCAL_FILES != 0 {
				t.Error("the backend connection negotiated CLIENT_LOCAL_FILES for a client without it")
			}
			if ev.err == nil || len(ev.frames) != 0 {
				t.Errorf("backend got frames %v (%v), want none and a closed connection", ev.frames, ev.err)
			}
			c.query(t, "SELECT 1")
			c.expectOK(t)
		})
	}
}

// TestLocalInfilePoolsApart: a backend connection that negotiated CLIENT_LOCAL_FILES for
// one client is not handed to a client without it.
func TestLocalInfilePoolsApart(t *testing.T) {
	fb := newInfileBackend(t)
	srv := startInfileProxy(t, fb, true, 0)
	a := infileClient(t, srv, true)
	a.query(t, "LOAD a")
	a.expect(t, mysql.LocalInFile_HEADER)
	if err := a.writePacket(nil); err != nil {
		t.Fatal(err)
	}
	a.expectOK(t)
	fb.event(t)

	b := infileClient(t, srv, false)
	b.query(t, "LOAD b")
	b.expectErr(t, mysql.ER_NOT_ALLOWED_COMMAND)
	if ev := fb.event(t); ev.caps&mysql.CLIENT_LOCAL_FILES != 0 {
		t.Error("a client without CLIENT_LOCAL_FILES got a backend connection with it")
	}
}

// TestLocalInfileClientFails: a client that goes away mid-transfer ends its session, and
// the backend connection, which waits for the rest of the file, is closed.
func TestLocalInfileClientFails(t *testing.T) {
	fb := newInfileBackend(t)
	srv := startInfileProxy(t, fb, true, 0)
	c := infileClient(t, srv, true)
	c.query(t, "LOAD data")
	c.expect(t, mysql.LocalInFile_HEADER)
	if err := c.writePacket([]byte("1\tone\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.Close()
	if ev := fb.event(t); ev.err == nil {
		t.Errorf("backend got frames %v and no error, want its connection closed", ev.frames)
	}
	if n := srv.Backends()[0].Connections(); n != 0 {
		t.Errorf("%d backend connections open, want 0", n)
	}
}

// TestLocalInfileBackendFails: a backend that goes away mid-transfer gets the client an
// error, after which the session ends (the statement is a write: never retried).
func TestLocalInfileBackendFails(t *testing.T) {
	fb := newInfileBackend(t)
	srv := startInfileProxy(t, fb, true, 0)
	c := infileClient(t, srv, true)
	c.query(t, "LOAD drop")
	c.expect(t, mysql.LocalInFile_HEADER)
	for _, p := range [][]byte{[]byte("1\tone\n"), nil} {
		if err := c.writePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	fb.event(t)
	if e := c.expectErr(t, erBackendLost); e.State != stateLinkFailure || !strings.Contains(e.Message, "lost connection to") {
		t.Errorf("error %d (%s) %q, want state %s and tailgate's lost-connection message", e.Code, e.State, e.Message, stateLinkFailure)
	}
	if _, err := c.readFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("after the error: %v, want the session closed", err)
	}
}

// TestLocalInfileSlowUpload: the backend read timeout bounds the server's answer after the
// upload, not the upload itself.
func TestLocalInfileSlowUpload(t *testing.T) {
	const timeout = 200 * time.Millisecond
	fb := newInfileBackend(t)
	srv := startInfileProxy(t, fb, true, timeout)
	c := infileClient(t, srv, true)
	c.query(t, "LOAD data")
	c.expect(t, mysql.LocalInFile_HEADER)
	if err := c.writePacket([]byte("1\tone\n")); err != nil {
		t.Fatal(err)
	}
	<-time.After(3 * timeout) // a client reading a slow disk
	if err := c.writePacket(nil); err != nil {
		t.Fatal(err)
	}
	if ok := c.expectOK(t); ok.affectedRows != 6 {
		t.Errorf("OK with %d affected rows, want 6", ok.affectedRows)
	}
	fb.event(t)
}
