package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/tailgate-proxy/tailgate/router"
)

// bareServer is a Server for tests of session code that needs no listener or backends.
func bareServer(opts Options) *Server {
	s := &Server{opts: opts}
	s.tuned.Store(&s.opts)
	return s
}

// serveNoBackend runs a server with opts over defaults for login tests: no backend can be
// reached, so an accepted login gets error 1218 and a refused one 1045. It returns the
// server; it stops when the test ends.
func serveNoBackend(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.Listen, opts.ServerVersion = "127.0.0.1:0", "8.0.11-test"
	opts.HandshakeTimeout, opts.BackendConnectTimeout = time.Second, 200*time.Millisecond
	opts.Primary = BackendConfig{Name: router.PrimaryName, Address: "127.0.0.1:1"}
	s := New(opts, router.New(router.Options{}), router.NewClassifier(10))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}
