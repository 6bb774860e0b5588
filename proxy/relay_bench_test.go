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
}

func newFakeBackend(tb testing.TB, rows int) *fakeBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	fb := &fakeBackend{ln: ln}
	var seq byte = 1
	frame := func(dst, payload []byte) []byte {
		n := len(payload)
		dst = append(dst, byte(n), byte(n>>8), byte(n>>16), seq)
		seq++
		return append(dst, payload...)
	}
	fb.reply = frame(fb.reply, []byte{1}) // one column
	col := []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'c', 1, 'c', 0x0c, 0x21, 0, 0xff, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0}
	fb.reply = frame(fb.reply, col)
	fb.reply = frame(fb.reply, []byte{0xfe, 0, 0, 2, 0})
	for i := range rows {
		v := fmt.Sprintf("row-%06d-payload-of-a-small-result", i)
		fb.reply = frame(fb.reply, append([]byte{byte(len(v))}, v...))
	}
	fb.reply = frame(fb.reply, []byte{0xfe, 0, 0, 2, 0})
	fb.ok = []byte{7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}
	srv := server.NewServer("8.0.11-fake", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go fb.serve(srv, c)
		}
	}()
	tb.Cleanup(func() { _ = ln.Close() })
	return fb
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
	fb := newFakeBackend(b, rows)
	srv := New(Options{
		Listen:                "127.0.0.1:0",
		MaxAllowedPacket:      64 << 20,
		HandshakeTimeout:      5 * time.Second,
		BackendConnectTimeout: 5 * time.Second,
		Users:                 []User{{Name: "app", Password: "secret"}},
		Primary:               BackendConfig{Name: router.PrimaryName, Address: fb.ln.Addr().String()},
		ServerVersion:         "8.0.11-fake",
	}, router.New(router.Options{}), router.NewClassifier(1000))
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx) }()
	c, err := client.Connect(srv.Addr().String(), "app", "secret", "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = c.Close()
		cancel()
		<-done
	})
	conn := c.Conn.Conn
	return conn, bufio.NewReaderSize(conn, 64<<10)
}

// BenchmarkRelay sends COM_QUERY through the proxy and reads the whole result set as raw
// bytes: the allocations reported are the proxy's (the fake backend and this client
// allocate nothing per query).
func BenchmarkRelay(b *testing.B) {
	for _, rows := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			conn, r := benchProxy(b, rows)
			query := []byte("SELECT c FROM sbtest1 WHERE id=1")
			pkt := make([]byte, 4, 4+1+len(query))
			pkt = append(append(pkt, mysql.COM_QUERY), query...)
			binary.LittleEndian.PutUint32(pkt, uint32(len(pkt)-4)) // sequence 0
			var hdr [4]byte
			payload := make([]byte, 64<<10)
			read := func() (byte, int) {
				if _, err := io.ReadFull(r, hdr[:]); err != nil {
					b.Fatal(err)
				}
				n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
				if _, err := io.ReadFull(r, payload[:n]); err != nil {
					b.Fatal(err)
				}
				return payload[0], n
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(pkt); err != nil {
					b.Fatal(err)
				}
				read() // column count
				read() // column definition
				read() // EOF
				got := 0
				for {
					first, n := read()
					if first == 0xfe && n < 9 {
						break
					}
					got++
				}
				if got != rows {
					b.Fatalf("got %d rows, want %d", got, rows)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(rows), "rows/query")
		})
	}
}
