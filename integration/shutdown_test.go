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

// process is a tailgate binary started by a test. One goroutine waits for it: exited is
// closed when it has, and err is then cmd.Wait's error.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startProcess runs the tailgate binary with cfg written to a file; the test's cleanup
// kills it if it is still running.
func startProcess(t *testing.T, cfg *config.Config) (*process, string) {
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
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
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
	return p, cfg.Proxy.Listen
}

// startProcessDB starts the tailgate binary in front of the shared cluster with
// shutdown_timeout set, and opens a database handle on it, closed when the test ends.
func startProcessDB(t *testing.T, shutdownTimeout time.Duration) (*process, string, *sql.DB) {
	t.Helper()
	cfg := testConfig(shared)
	cfg.Proxy.ShutdownTimeout = config.Duration{Duration: shutdownTimeout}
	p, addr := startProcess(t, cfg)
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/tailgate_test", cluster.AppUser, cluster.AppPassword, addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return p, addr, db
}

// TestSIGTERMDrains: SIGTERM during a 200 ms transaction: the transaction commits, new
// connections are refused, idle sessions are closed and the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	const shutdownTimeout = 10 * time.Second
	p, addr, db := startProcessDB(t, shutdownTimeout)
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
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
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
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("tailgate exited with %v, want status 0", p.err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("tailgate did not exit within shutdown_timeout")
	}
	t.Logf("exited 0 %s after SIGTERM", time.Since(signaled).Round(time.Millisecond))
	primary := primaryDB(t)
	var n int
	if err := primary.QueryRow("SELECT COUNT(*) FROM drained WHERE id = 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the transaction's row: %d, %v; want it committed", n, err)
	}
}

// TestSIGTERMEndsRunningStatements: SIGTERM while an autocommit SELECT SLEEP(30) and a
// transaction's DO SLEEP(30) run: once shutdown_timeout passed, both clients get an error
// and the process exits 0 within a few seconds, without waiting for the statements; they are
// stopped on their servers (no orphaned statement, the transaction rolled back).
func TestSIGTERMEndsRunningStatements(t *testing.T) {
	const shutdownTimeout = 2 * time.Second
	p, _, db := startProcessDB(t, shutdownTimeout)
	// The read's session writes nothing, so that it runs on a replica: the KILLs go to two
	// servers.
	read, inTxn := conn(t, db), conn(t, db)
	mustExec(t, inTxn, "CREATE TABLE IF NOT EXISTS cut_off (id INT PRIMARY KEY)", "DELETE FROM cut_off",
		"BEGIN", "INSERT INTO cut_off VALUES (1)")

	const (
		readSQL = "SELECT SLEEP(30) AS cut_off_read"
		txnSQL  = "DO SLEEP(30) /* cut_off_txn */"
	)
	errs := make(chan error, 2)
	go func() { _, err := read.ExecContext(context.Background(), readSQL); errs <- err }()
	go func() { _, err := inTxn.ExecContext(context.Background(), txnSQL); errs <- err }()
	nodes := append([]*cluster.Node{shared.Primary}, shared.Replicas...)
	running := func() []string {
		var out []string
		for _, n := range nodes {
			rdb, err := n.RootDB()
			if err != nil {
				t.Fatal(err)
			}
			rows, err := rdb.Query("SELECT info FROM information_schema.processlist WHERE info LIKE '%SLEEP(30)%cut_off%' AND info NOT LIKE '%processlist%'")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var info string
				if err := rows.Scan(&info); err != nil {
					t.Fatal(err)
				}
				out = append(out, n.Name+": "+info)
			}
			_ = rows.Close()
			_ = rdb.Close()
		}
		return out
	}
	for deadline := time.Now().Add(10 * time.Second); len(running()) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the statements did not start: %v", running())
		}
	}

	signaled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	limit := shutdownTimeout + 3*time.Second
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("tailgate exited with %v, want status 0", p.err)
		}
	case <-time.After(limit):
		t.Fatalf("tailgate did not exit within %s of SIGTERM (shutdown_timeout %s) while statements ran",
			limit, shutdownTimeout)
	}
	took := time.Since(signaled)
	if took < shutdownTimeout {
		t.Errorf("exited %s after SIGTERM, before shutdown_timeout: the statements were not given their time", took)
	}
	t.Logf("exited 0 %s after SIGTERM", took.Round(time.Millisecond))
	for range 2 {
		select {
		case err := <-errs:
			if err == nil {
				t.Errorf("a statement cut off by the shutdown succeeded")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("a client got no answer after tailgate exited")
		}
	}
	// The servers end a killed thread within moments; a statement tailgate only walked away
	// from would run for its 30 s.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := running()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statements still running on the servers after tailgate exited: %v", left)
		}
	}
	primary := primaryDB(t)
	var n int
	if err := primary.QueryRow("SELECT COUNT(*) FROM cut_off").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows of the cut-off transaction: %d, %v; want it rolled back", n, err)
	}
}
