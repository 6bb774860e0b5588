// Package netx holds the accept loop the proxy and admin listeners share, and the proxy's
// unix socket listener.
package netx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
)

// AcceptLoop accepts connections on ln until ctx ends (it then closes ln and returns nil),
// calling handle for each. A failing Accept (out of file descriptors, ...) is retried
// with a backoff of up to one second instead of ending the server; only a listener closed
// by someone else ends it with an error.
func AcceptLoop(ctx context.Context, ln net.Listener, log hclog.Logger, handle func(net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err == nil {
			delay = 0
			handle(conn)
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		log.Warn("accept failed; retrying", "address", ln.Addr().String(), "error", err, "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
