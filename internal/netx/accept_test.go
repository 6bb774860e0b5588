package netx

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// flakyListener fails its first Accepts with EMFILE, then accepts from the real listener.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func TestAcceptLoopSurvivesErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(3)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- AcceptLoop(ctx, fl, hclog.NewNullLogger(), func(c net.Conn) { _ = c.Close(); got <- struct{}{} })
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after EMFILE errors")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("AcceptLoop after cancel = %v, want nil", err)
	}

	// A listener closed by someone else ends the loop with an error.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { time.Sleep(50 * time.Millisecond); _ = ln2.Close() }()
	if err := AcceptLoop(context.Background(), ln2, hclog.NewNullLogger(), func(net.Conn) {}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("AcceptLoop on a closed listener = %v, want net.ErrClosed", err)
	}
}
