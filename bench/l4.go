package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// l4Proc is HAProxy in TCP mode (layer 4) running as a child process: the same extra hop as
// tailgate without any parsing, so it shows what any proxy costs on this machine. It listens
// twice, as an L4 read/write split does: port leads to the primary, readPort to the replicas,
// balanced round robin per connection (tailgate spreads reads over the same servers, per query).
type l4Proc struct {
	child
	addr     string
	port     int
	readPort int
	maxConn  int
}

// errNoHAProxy is returned when the l4 target is on and haproxy is not installed.
var errNoHAProxy = errors.New("haproxy not found: install the Debian package haproxy (make bench's deps target does), or run with -l4=false")

// l4MaxConn is the global maxconn the l4 target asks for; sysbench opens at most a few dozen.
const l4MaxConn = 10000

// maxConnFor returns l4MaxConn, or less when the RLIMIT_NOFILE hard limit cannot hold it:
// HAProxy needs two descriptors per connection plus a few of its own, cannot raise the hard
// limit without CAP_SYS_RESOURCE, and with strict-limits (its default) refuses to start when
// setrlimit fails (20,017 descriptors for 10,000 connections against a container's 20,000).
func maxConnFor(hardLimit uint64) int {
	const reserve = 100 // listeners, pollers, logs, with room to spare
	if hardLimit >= 2*l4MaxConn+reserve {
		return l4MaxConn
	}
	if hardLimit < 2*100+reserve {
		return 100
	}
	return int((hardLimit - reserve) / 2)
}

// haproxyConfig is the generated configuration: a TCP frontend for the primary and one for the
// replicas (round robin per connection), no health checks (nothing fails during a bench).
func haproxyConfig(listen, readListen, primary string, replicas []string, maxConn int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by tailgate's bench (make bench): the l4 target.\n")
	// No daemon and no nbthread: the process runs in the foreground (-db) with HAProxy's default
	// thread count.
	fmt.Fprintf(&b, "global\n    maxconn %d\n\n", maxConn)
	fmt.Fprintf(&b, "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n\n")
	fmt.Fprintf(&b, "frontend mysql\n    bind %s\n    default_backend primary\n\n", listen)
	fmt.Fprintf(&b, "frontend mysql_reads\n    bind %s\n    default_backend replicas\n\n", readListen)
	fmt.Fprintf(&b, "backend primary\n    server primary %s\n\n", primary)
	fmt.Fprintf(&b, "backend replicas\n    balance roundrobin\n")
	for i, r := range replicas {
		fmt.Fprintf(&b, "    server replica%d %s\n", i+1, r)
	}
	return b.String()
}

// startL4 writes a config into dir, starts haproxy in the foreground and waits until its ports
// accept TCP connections.
func startL4(ctx context.Context, bin, primary string, replicas []string, dir string) (*l4Proc, error) {
	ports, err := cluster.FreePorts(2)
	if err != nil {
		return nil, err
	}
	p := &l4Proc{
		child:    child{name: "haproxy", logPath: filepath.Join(dir, "haproxy.log")},
		addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		port:     ports[0],
		readPort: ports[1],
		maxConn:  l4MaxConn,
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		p.maxConn = maxConnFor(lim.Max)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(haproxyConfig(p.addr, p.readAddr(), primary, replicas, p.maxConn)), 0o600); err != nil {
		return nil, err
	}
	// -db: foreground, no master-worker, so the pid is the process that relays (and whose CPU
	// time we read). SIGTERM is HAProxy's hard stop: the bench is over, no session is worth
	// waiting for.
	if err := p.start(bin, "-db", "-f", cfgPath); err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, 15*time.Second); err != nil {
		_ = p.stop(5 * time.Second)
		return nil, fmt.Errorf("haproxy did not come up: %w\n--- %s (tail) ---\n%s", err, p.logPath, p.logTail(20))
	}
	return p, nil
}

func (p *l4Proc) readAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.readPort)) }

// waitReady dials the frontends until they accept a TCP connection, haproxy exits, or timeout.
func (p *l4Proc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	pending := []string{p.addr, p.readAddr()}
	for {
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", pending[0])
		dcancel()
		if err == nil {
			if err := conn.Close(); err != nil {
				return err
			}
			if pending = pending[1:]; len(pending) == 0 {
				return nil
			}
			continue
		}
		select {
		case <-p.done:
			return fmt.Errorf("haproxy exited: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last dial: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

var reDefaultThreads = regexp.MustCompile(`multi-threading support \(MAX_THREADS=\d+, default=(\d+)\)`)

// haproxyDefaultThreads reads the nbthread HAProxy uses when none is configured from `haproxy -vv`
// ("Built with multi-threading support (MAX_THREADS=64, default=2)."); 0 when it says nothing.
func haproxyDefaultThreads(vv string) int {
	m := reDefaultThreads.FindStringSubmatch(vv)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
