package integration

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestLoginChurnWithSilentConnections: 10,000 connect/auth/SELECT 1/quit cycles while 1,000
// silent TCP connections sit in the handshake: the silent ones are closed at
// handshake_timeout, they do not slow legitimate logins (p99 < 100 ms), and goroutines and
// file descriptors return to their baseline.
func TestLoginChurnWithSilentConnections(t *testing.T) {
	const cycles, silent = 10000, 1000
	cfg := testConfig(shared)
	cfg.Proxy.HandshakeTimeout = config.Duration{Duration: 2 * time.Second}
	tg := startTailgate(t, cfg)
	// Warm the pool so the baseline includes its backend connections.
	warm := tg.db(t, "")
	mustExec(t, warm, "SELECT 1")
	_ = warm.Close()
	time.Sleep(100 * time.Millisecond)
	baseG, baseFD, baseConns := runtime.NumGoroutine(), openFDs(t), backendConns(tg)

	silentConns := make([]net.Conn, 0, silent)
	openedAt := time.Now()
	for range silent {
		c, err := net.Dial("tcp", tg.addr)
		if err != nil {
			t.Fatal(err)
		}
		silentConns = append(silentConns, c)
	}
	closedBy := make(chan time.Duration, silent)
	for _, c := range silentConns {
		go func() {
			buf := make([]byte, 512)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				if _, err := c.Read(buf); err != nil {
					closedBy <- time.Since(openedAt)
					return
				}
			}
		}()
	}

	dsn := fmt.Sprintf("%s:%s@tcp(%s)/tailgate_test", cluster.AppUser, cluster.AppPassword, tg.addr)
	lat := make([]time.Duration, cycles)
	var wg sync.WaitGroup
	errs := make(chan error, cycles)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < cycles; i += 8 {
				start := time.Now()
				db, err := sql.Open("mysql", dsn)
				if err == nil {
					var one int
					err = db.QueryRow("SELECT 1").Scan(&one)
					_ = db.Close()
				}
				lat[i] = time.Since(start)
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("login cycle: %v", err)
	}
	slices.Sort(lat)
	p50, p99 := lat[cycles/2], lat[cycles*99/100]

	var latest time.Duration
	for range silent {
		latest = max(latest, <-closedBy)
	}
	for _, c := range silentConns {
		_ = c.Close()
	}
	t.Logf("%d login cycles: p50 %s, p99 %s; %d silent connections all closed by %s", cycles, p50, p99, silent, latest)
	if p99 > 100*time.Millisecond {
		t.Errorf("login p99 %s with %d silent connections open, want < 100ms", p99, silent)
	}
	if latest < 1500*time.Millisecond || latest > 5*time.Second {
		t.Errorf("silent connections closed by %s, want at handshake_timeout (2s)", latest)
	}

	// Goroutines and file descriptors go back to the baseline; the backend connection pool
	// may have grown while 8 clients logged in at once, and those connections stay pooled.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pooled := backendConns(tg) - baseConns
		g, fd := runtime.NumGoroutine(), openFDs(t)
		if g <= baseG+5 && fd <= baseFD+5+pooled {
			t.Logf("goroutines %d (baseline %d), file descriptors %d (baseline %d, +%d pooled backend connections)", g, baseG, fd, baseFD, pooled)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d (baseline %d), file descriptors %d (baseline %d) 10s after the load", g, baseG, fd, baseFD)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// backendConns counts tailgate's open backend connections.
func backendConns(tg *tailgate) int {
	n := int64(0)
	for _, b := range tg.app.Server().Backends() {
		n += b.Connections()
	}
	return int(n)
}
