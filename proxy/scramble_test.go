package proxy

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/server"
)

// recordingConn keeps what the server wrote.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// scrambleHandler captures handshakeScramble at the end of a login.
type scrambleHandler struct {
	server.EmptyHandler
	got []byte
}

func (h *scrambleHandler) GetCredential(string) (server.Credential, bool, error) {
	return server.Credential{Passwords: []string{"secret"}, AuthPluginName: "mysql_native_password"}, true, nil
}
func (h *scrambleHandler) OnAuthSuccess(c *server.Conn) error {
	h.got = handshakeScramble(c)
	return nil
}
func (h *scrambleHandler) OnAuthFailure(*server.Conn, error) {}

// TestHandshakeScramble: handshakeScramble reads the scramble go-mysql's server put in its
// greeting (COM_CHANGE_USER answers are checked against it). It reads an unexported field
// of go-mysql v1.16; this fails if a go-mysql upgrade moves it.
func TestHandshakeScramble(t *testing.T) {
	serverSide, clientSide := net.Pipe()
	rec := &recordingConn{Conn: serverSide}
	h := &scrambleHandler{}
	done := make(chan error, 1)
	go func() {
		_, err := server.NewDefaultServer().NewCustomizedConn(rec, h, h)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.ConnectWithDialer(ctx, "tcp", "pipe", "app", "secret", "",
		func(context.Context, string, string) (net.Conn, error) { return clientSide, nil })
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer c.Close()
	if err := <-done; err != nil {
		t.Fatalf("server side: %v", err)
	}
	// The greeting: header, protocol 10, version NUL, id (4), scramble part 1 (8), filler,
	// flags (2), charset, status (2), flags (2), scramble length, 10 reserved, part 2 + NUL.
	rec.mu.Lock()
	g := rec.written.Bytes()
	rec.mu.Unlock()
	v := bytes.IndexByte(g[5:], 0)
	if len(g) < 5 || g[4] != 10 || v < 0 {
		t.Fatalf("not a greeting: % x", g)
	}
	p1 := 5 + v + 1 + 4
	p2 := p1 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	want := append(append([]byte(nil), g[p1:p1+8]...), g[p2:p2+12]...)
	if !bytes.Equal(h.got, want) {
		t.Fatalf("handshakeScramble = %q, want the greeting's %q", h.got, want)
	}
}
