package integration

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// startProcess runs the tailgate binary with cfg written to a file; the test's cleanup
// kills it if it is still running.
func startProcess(t *testing.T, cfg *config.Config) (*exec.Cmd, string) {
	t.Helper()
	cfg.Proxy.Listen = freePort(t)
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := toml.NewEncoder(f).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	cmd := exec.Command(tailgateBinary(t), "-config", path)
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", cfg.Proxy.Listen, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tailgate did not listen on %s: %v", cfg.Proxy.Listen, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd, cfg.Proxy.Listen
}

// TestSIGTERMDrains: SIGTERM during a 200 ms transaction: the transaction commits, new
// connections are refused, idle sessions are closed and the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.ShutdownTimeout = config.Duration{Duration: 10 * time.Second}
	cmd, addr := startProcess(t, cfg)
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/tailgate_test", cluster.AppUser, cluster.AppPassword, addr)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "CREATE TABLE IF NOT EXISTS drained (id INT PRIMARY KEY)", "DELETE FROM drained")
	idle := conn(t, db)
	mustExec(t, idle, "SELECT 1")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO drained VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	signaled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused at once.
	time.Sleep(50 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("a new connection was accepted after SIGTERM")
	}
	// The idle session was closed: its next statement fails.
	if _, err := idle.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Errorf("an idle session still ran a statement after SIGTERM")
	}
	// The transaction goes on and commits.
	if _, err := tx.Exec("DO SLEEP(0.2)"); err != nil {
		t.Fatalf("statement in the open transaction after SIGTERM: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("COMMIT after SIGTERM: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tailgate exited with %v, want status 0", err)
		}
	case <-time.After(cfg.Proxy.ShutdownTimeout.Duration + 5*time.Second):
		t.Fatalf("tailgate did not exit within shutdown_timeout")
	}
	t.Logf("exited 0 %s after SIGTERM", time.Since(signaled).Round(time.Millisecond))
	primary, err := sql.Open("mysql", shared.Primary.DSN(cluster.AppUser, cluster.AppPassword, "tailgate_test"))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	var n int
	if err := primary.QueryRow("SELECT COUNT(*) FROM drained WHERE id = 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the transaction's row: %d, %v; want it committed", n, err)
	}
}
