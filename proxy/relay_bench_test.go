package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/tailgate-proxy/tailgate/router"
)

// fakeBackend is an in-process MySQL server for the relay benchmark: go-mysql's server
// does the handshake, then every COM_QUERY is answered with the same precomputed result
// set (rows text rows), and anything else with OK, so that it allocates nothing per query.
type fakeBackend struct {
	ln    net.Listener
	reply []byte // the whole result set, framed, sequence numbers from 1
	ok    []byte
	// prepared answers COM_STMT_PREPARE (statement 1: one parameter, one column) and
	// binReply every COM_STMT_EXECUTE, with the same rows in the binary protocol.
	prepared []byte
	binReply []byte
}

func newFakeBackend(tb testing.TB, rows int) *fakeBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	fb := &fakeBackend{ln: ln}
	var seq byte
	frame := func(dst, payload []byte) []byte {
		n := len(payload)
		dst = append(dst, byte(n), byte(n>>8), byte(n>>16), seq)
		seq++
		return append(dst, payload...)
	}
	col := []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'c', 1, 'c', 0x0c, 0x21, 0, 0xff, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0}
	eof := []byte{0xfe, 0, 0, 2, 0}
	resultSet := func(binary bool) []byte {
		seq = 1
		out := frame(nil, []byte{1}) // one column
		out = frame(out, col)
		out = frame(out, eof)
		for i := range rows {
			v := fmt.Sprintf("row-%06d-payload-of-a-small-result", i)
			row := []byte{byte(len(v))}
			if binary {
				row = []byte{0, 0, byte(len(v))} // row header, NULL bitmap of one column
			}
			out = frame(out, append(row, v...))
		}
		return frame(out, eof)
	}
	fb.reply, fb.binReply = resultSet(false), resultSet(true)
	seq = 1
	param := []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, '?', 0, 0x0c, 0x3f, 0, 0x15, 0, 0, 0, 0x08, 0x80, 0, 0, 0, 0}
	fb.prepared = frame(nil, []byte{0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0}) // statement 1, 1 column, 1 parameter
	fb.prepared = frame(frame(fb.prepared, param), eof)
	fb.prepared = frame(frame(fb.prepared, col), eof)
	fb.ok = []byte{7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}
	srv := server.NewServer("8.0.11-fake", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	serveFake(tb, ln, func(c net.Conn) { fb.serve(srv, c) })
	return fb
}

// serveFake serves each connection ln accepts with serve, in a goroutine of its own, until
// the test ends.
func serveFake(tb testing.TB, ln net.Listener, serve func(net.Conn)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	tb.Cleanup(func() { _ = ln.Close(); <-done })
}

// testServer returns a listening Server in front of the backend at addr, for the account
// app/secret; tune adjusts its options.
func testServer(tb testing.TB, addr string, tune func(*Options)) *Server {
	opts := Options{
		Listen:                "127.0.0.1:0",
		MaxAllowedPacket:      64 << 20,
		HandshakeTimeout:      5 * time.Second,
		BackendConnectTimeout: 5 * time.Second,
		Users:                 []User{{Name: "app", Password: "secret"}},
		Primary:               BackendConfig{Name: router.PrimaryName, Address: addr},
		ServerVersion:         "8.0.11-fake",
	}
	if tune != nil {
		tune(&opts)
	}
	srv := New(opts, router.New(router.Options{}), router.NewClassifier(1000))
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	return srv
}

// acceptFake runs a fake backend's side of the handshake for the account app/secret;
// nil when it fails.
func acceptFake(srv *server.Server, c net.Conn) *server.Conn {
	auth := server.NewInMemoryAuthenticationHandler(mysql.AUTH_NATIVE_PASSWORD)
	if err := auth.AddUser("app", "secret"); err != nil {
		return nil
	}
	sc, err := srv.NewCustomizedConn(c, auth, server.EmptyHandler{})
	if err != nil {
		return nil
	}
	return sc
}

func (fb *fakeBackend) serve(srv *server.Server, c net.Conn) {
	defer c.Close()
	sc := acceptFake(srv, c)
	if sc == nil {
		return
	}
	conn := sc.Conn.Conn
	r := bufio.NewReader(conn)
	var hdr [4]byte
	buf := make([]byte, 64<<10)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return
		}
		out := fb.ok
		switch {
		case buf[0] == mysql.COM_QUIT:
			return
		case buf[0] == mysql.COM_STMT_CLOSE:
			continue // no answer
		case buf[0] == mysql.COM_STMT_PREPARE:
			out = fb.prepared
		case buf[0] == mysql.COM_STMT_EXECUTE:
			out = fb.binReply
		case buf[0] == mysql.COM_QUERY && string(buf[1:4]) != "SET":
			out = fb.reply
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// benchProxy starts a Server in front of a fake backend and returns a raw client
// connection that has logged in.
func benchProxy(b *testing.B, rows int) (net.Conn, *bufio.Reader) {
	conn := fakeProxy(b, rows, nil).Conn.Conn
	return conn, bufio.NewReaderSize(conn, 64<<10)
}

// fakeProxy starts a Server (with obs, when not nil) in front of a fake backend that answers
// rows rows, and returns a client logged in through it.
func fakeProxy(tb testing.TB, rows int, obs Observer) *client.Conn {
	fb := newFakeBackend(tb, rows)
	srv := testServer(tb, fb.ln.Addr().String(), func(o *Options) { o.Observer = obs })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx) }()
	c, err := client.Connect(srv.Addr().String(), "app", "secret", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = c.Close()
		cancel()
		<-done
	})
	return c
}

// benchClient is the client side of a relay benchmark: raw packets, nothing allocated per
// query.
type benchClient struct {
	b       *testing.B
	conn    net.Conn
	r       *bufio.Reader
	hdr     [4]byte
	payload []byte
}

func newBenchClient(b *testing.B, rows int) *benchClient {
	conn, r := benchProxy(b, rows)
	return &benchClient{b: b, conn: conn, r: r, payload: make([]byte, 64<<10)}
}

// command frames payload as a command (sequence 0) into a reusable packet.
func command(payload ...byte) []byte {
	pkt := make([]byte, 4, 4+len(payload))
	pkt = append(pkt, payload...)
	binary.LittleEndian.PutUint32(pkt, uint32(len(pkt)-4))
	return pkt
}

func (c *benchClient) send(pkt []byte) {
	if _, err := c.conn.Write(pkt); err != nil {
		c.b.Fatal(err)
	}
}

// read reads one packet and returns its first byte and length.
func (c *benchClient) read() (byte, int) {
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		c.b.Fatal(err)
	}
	n := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
	if _, err := io.ReadFull(c.r, c.payload[:n]); err != nil {
		c.b.Fatal(err)
	}
	return c.payload[0], n
}

// readRows reads a result set of one column and fails unless it has want rows.
func (c *benchClient) readRows(want int) {
	c.read() // column count
	c.read() // column definition
	c.read() // EOF
	got := 0
	for {
		first, n := c.read()
		if first == 0xfe && n < 9 {
			break
		}
		got++
	}
	if got != want {
		c.b.Fatalf("got %d rows, want %d", got, want)
	}
}

// measure times b.N round trips of pkt, each answered with rows rows.
func (c *benchClient) measure(pkt []byte, rows int) {
	c.b.ReportAllocs()
	c.b.ResetTimer()
	for range c.b.N {
		c.send(pkt)
		c.readRows(rows)
	}
	c.b.StopTimer()
	c.b.ReportMetric(float64(rows), "rows/query")
}

// BenchmarkRelay sends COM_QUERY through the proxy and reads the whole result set as raw
// bytes: the allocations reported are the proxy's (the fake backend and this client
// allocate nothing per query).
func BenchmarkRelay(b *testing.B) {
	for _, rows := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			c := newBenchClient(b, rows)
			c.measure(command(append([]byte{mysql.COM_QUERY}, "SELECT c FROM sbtest1 WHERE id=1"...)...), rows)
		})
	}
}

// BenchmarkRelayPrepared prepares a statement once and executes it through the proxy, as
// sysbench's prepared-statement runs do: COM_STMT_EXECUTE with its parameter type and value,
// a binary result set back.
func BenchmarkRelayPrepared(b *testing.B) {
	for _, rows := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			c := newBenchClient(b, rows)
			c.send(command(append([]byte{mysql.COM_STMT_PREPARE}, "SELECT c FROM sbtest1 WHERE id=?"...)...))
			if first, n := c.read(); first != 0 || n != 12 {
				b.Fatalf("COM_STMT_PREPARE answered %#x (%d bytes), want a prepare OK", first, n)
			}
			id := binary.LittleEndian.Uint32(c.payload[1:5])
			for range 4 { // parameter, EOF, column, EOF
				c.read()
			}
			c.measure(command(mysql.COM_STMT_EXECUTE, byte(id), byte(id>>8), byte(id>>16), byte(id>>24),
				0, 1, 0, 0, 0, // no cursor, one iteration
				0, 1, mysql.MYSQL_TYPE_LONGLONG, 0, // no NULL, types bound: BIGINT
				42, 0, 0, 0, 0, 0, 0, 0), rows)
		})
	}
}
