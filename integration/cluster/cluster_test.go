package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The helpers below stand in for testify, whose dependencies have no go.sum entries yet.

func must(t *testing.T, err error, what ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprint(what...), err)
	}
}

func check(t *testing.T, err error, what ...any) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", fmt.Sprint(what...), err)
	}
}

func equal[T comparable](t *testing.T, want, got T, what ...any) {
	t.Helper()
	if want != got {
		t.Errorf("%s: got %v, want %v", fmt.Sprint(what...), got, want)
	}
}

func errorContains(t *testing.T, err error, sub string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), sub) {
		t.Errorf("error %v; want one containing %q", err, sub)
	}
}

func gone(t *testing.T, pid int, what string) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("%s (pid %d) still exists: kill(0) = %v", what, pid, err)
	}
}

func openApp(t *testing.T, n *Node) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", n.DSN(AppUser, AppPassword, TestDatabase))
	must(t, err, "open ", n.Name)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := StartT(t, Options{Replicas: 2, Logf: t.Logf})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if len(c.Replicas) != 2 || len(c.Nodes()) != 3 {
		t.Fatalf("%d replicas, %d nodes; want 2 and 3", len(c.Replicas), len(c.Nodes()))
	}

	t.Run("Identity", func(t *testing.T) {
		for i, n := range c.Nodes() {
			var id uint32
			must(t, openApp(t, n).QueryRowContext(ctx, "SELECT @@server_id").Scan(&id), n.Name)
			equal(t, uint32(i+1), id, n.Name, " @@server_id")
			equal(t, n.ServerID, id, n.Name, " ServerID")
		}
		equal(t, "primary", c.Primary.Name, "primary name")
		equal(t, "replica2", c.Replicas[1].Name, "second replica name")
	})

	t.Run("BinlogHoldsOnlyTheDatabases", func(t *testing.T) {
		// Accounts were created with sql_log_bin=0; only the two CREATE DATABASEs are binlogged.
		var pos string
		must(t, openApp(t, c.Primary).QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos))
		equal(t, "0-1-2", pos, "primary @@gtid_binlog_pos")
	})

	t.Run("MonitorAccount", func(t *testing.T) {
		for _, q := range []struct {
			n    *Node
			stmt string
		}{{c.Primary, "SHOW BINARY LOGS"}, {c.Primary, "SHOW MASTER STATUS"}, {c.Replicas[0], "SHOW SLAVE STATUS"}} {
			db, err := sql.Open("mysql", q.n.DSN(MonitorUser, MonitorPassword, ""))
			must(t, err)
			rows, err := db.QueryContext(ctx, q.stmt)
			if err == nil {
				err = rows.Close()
			}
			check(t, err, q.n.Name, ": ", q.stmt, " as ", MonitorUser)
			db.Close()
		}
	})

	t.Run("TLS", func(t *testing.T) {
		pem, err := os.ReadFile(c.TLSCert)
		must(t, err, "read TLSCert")
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("%s holds no certificate", c.TLSCert)
		}
		for _, n := range c.Nodes() {
			cfg, err := mysql.ParseDSN(n.DSN(AppUser, AppPassword, ""))
			must(t, err)
			cfg.TLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
			conn, err := mysql.NewConnector(cfg)
			must(t, err)
			db := sql.OpenDB(conn)
			var name, cipher string
			check(t, db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher), n.Name, " over verified TLS")
			if cipher == "" {
				t.Errorf("%s: no TLS cipher on a TLS connection", n.Name)
			}
			db.Close()
		}
	})

	t.Run("WriteReachesReplicas", func(t *testing.T) {
		p := openApp(t, c.Primary)
		_, err := p.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
		must(t, err)
		_, err = p.ExecContext(ctx, "INSERT INTO t VALUES (1, 'one')")
		must(t, err)
		must(t, c.WaitReplicated(ctx), "WaitReplicated")
		for _, r := range c.Replicas {
			var v string
			must(t, openApp(t, r).QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v), r.Name)
			equal(t, "one", v, r.Name)
		}
	})

	t.Run("ReplicasAreReadOnly", func(t *testing.T) {
		var ro int
		must(t, openApp(t, c.Primary).QueryRowContext(ctx, "SELECT @@read_only").Scan(&ro))
		equal(t, 0, ro, "primary @@read_only")
		for _, r := range c.Replicas {
			db := openApp(t, r)
			must(t, db.QueryRowContext(ctx, "SELECT @@read_only").Scan(&ro))
			equal(t, 1, ro, r.Name, " @@read_only")
			_, err := db.ExecContext(ctx, "INSERT INTO t VALUES (99, 'diverged')")
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1290 {
				t.Errorf("%s: write as %s: %v; want ER_OPTION_PREVENTS_STATEMENT (1290)", r.Name, AppUser, err)
			}
		}
	})

	t.Run("KillAndStartReplica", func(t *testing.T) {
		r := c.Replicas[0]
		pid := r.pid
		if got := r.Pid(); got != pid || pid == 0 {
			t.Errorf("Pid() = %d while running as %d", got, pid)
		}
		must(t, r.Kill(), "Kill")
		if r.Running() {
			t.Error("Running after Kill")
		}
		if got := r.Pid(); got != 0 {
			t.Errorf("Pid() = %d after Kill, want 0", got)
		}
		gone(t, pid, "killed mariadbd")

		_, err := openApp(t, c.Primary).ExecContext(ctx, "INSERT INTO t VALUES (2, 'while down')")
		must(t, err)
		began := time.Now()
		must(t, r.Start(ctx), "Start after Kill")
		if got := r.Pid(); got == 0 || got == pid {
			t.Errorf("Pid() = %d after Start, want the new process's (old %d)", got, pid)
		}
		t.Logf("replica restart after SIGKILL: %s", time.Since(began).Round(time.Millisecond))
		must(t, c.WaitReplicated(ctx), "WaitReplicated")
		var v string
		must(t, openApp(t, r).QueryRowContext(ctx, "SELECT v FROM t WHERE id = 2").Scan(&v))
		equal(t, "while down", v, r.Name)
		st, err := r.ReplicaStatus(ctx)
		must(t, err)
		equal(t, "Yes", st["Slave_IO_Running"], "Slave_IO_Running")
		equal(t, "Yes", st["Slave_SQL_Running"], "Slave_SQL_Running")
		if err := r.Start(ctx); err == nil {
			t.Error("Start of a running node succeeded")
		}
	})

	t.Run("StopAndStartReplica", func(t *testing.T) {
		r := c.Replicas[1]
		must(t, r.Stop(), "Stop")
		must(t, r.Stop(), "Stop of a stopped node")
		_, err := openApp(t, c.Primary).ExecContext(ctx, "INSERT INTO t VALUES (3, 'while stopped')")
		must(t, err)
		must(t, r.Start(ctx), "Start after Stop")
		must(t, c.WaitReplicated(ctx), "WaitReplicated")
	})

	t.Run("PauseResume", func(t *testing.T) {
		r := c.Replicas[0]
		db := openApp(t, r)
		must(t, db.PingContext(ctx))
		must(t, r.Pause(), "Pause")
		pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer pcancel()
		var one int
		if err := db.QueryRowContext(pctx, "SELECT 1").Scan(&one); err == nil {
			t.Error("a paused server answered")
		}
		must(t, r.Resume(), "Resume")
		must(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&one), "query after Resume")
		must(t, c.WaitReplicated(ctx), "WaitReplicated")
	})
}

func TestCloseRemovesTempDirAndStopsServers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Replicas: 1, Logf: t.Logf})
	must(t, err, "Start")
	var pids []int
	for _, n := range c.Nodes() {
		if !n.Running() {
			t.Fatalf("%s not running after Start", n.Name)
		}
		pids = append(pids, n.pid)
	}
	must(t, c.Replicas[0].Pause(), "Pause (Close must stop a paused node too)")
	must(t, c.Close(), "Close")
	must(t, c.Close(), "second Close")
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s still there: %v", c.Dir, err)
	}
	for i, pid := range pids {
		gone(t, pid, c.Nodes()[i].Name)
	}
}

func TestRestartExistingDir(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()

	c1, err := Start(ctx, Options{Replicas: 1, Dir: dir, Logf: t.Logf})
	must(t, err, "first Start")
	_, err = openApp(t, c1.Primary).ExecContext(ctx, "CREATE TABLE kept (id INT PRIMARY KEY)")
	if err == nil {
		_, err = openApp(t, c1.Primary).ExecContext(ctx, "INSERT INTO kept VALUES (7)")
	}
	if err == nil {
		err = c1.WaitReplicated(ctx)
	}
	check(t, err, "write")
	must(t, c1.Close(), "Close")
	_, err = os.Stat(filepath.Join(dir, manifestName))
	must(t, err, "a caller's Dir is kept")
	if t.Failed() {
		t.FailNow()
	}

	_, err = Start(ctx, Options{Replicas: 2, Dir: dir})
	errorContains(t, err, "holds a cluster with 1 replicas")

	// New fixed ports: the replica must be pointed at the primary's new port.
	ports, err := FreePorts(2)
	must(t, err)
	began := time.Now()
	c2 := StartT(t, Options{Replicas: 1, Dir: dir, Ports: ports, Logf: t.Logf})
	t.Logf("restart of an existing 2-node cluster on new ports: %s", time.Since(began).Round(time.Millisecond))
	equal(t, ports[0], c2.Primary.Port, "primary port")

	_, err = Start(ctx, Options{Replicas: 1, Dir: dir})
	errorContains(t, err, "is in use by another process")
	if n := c2.Primary; !n.Running() {
		t.Fatal("a refused second Start stopped the running primary")
	}

	r := c2.Replicas[0]
	var id int
	must(t, openApp(t, r).QueryRowContext(ctx, "SELECT id FROM kept").Scan(&id), "old row on the replica")
	equal(t, 7, id, "old row")
	_, err = openApp(t, c2.Primary).ExecContext(ctx, "INSERT INTO kept VALUES (8)")
	must(t, err)
	must(t, c2.WaitReplicated(ctx), "WaitReplicated")
	must(t, openApp(t, r).QueryRowContext(ctx, "SELECT MAX(id) FROM kept").Scan(&id), "new row on the replica")
	equal(t, 8, id, "new row")
	st, err := r.ReplicaStatus(ctx)
	must(t, err)
	equal(t, strconv.Itoa(ports[0]), st["Master_Port"], "replica's Master_Port")
}

func TestOptionsCheck(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		err  string
	}{
		{Options{Replicas: 2}, ""},
		{Options{Replicas: 1, Ports: []int{23306, 23307}}, ""},
		{Options{Replicas: -1}, "want 0 or more"},
		{Options{Replicas: 2, Ports: []int{23306, 23307}}, "2 ports for 3 nodes"},
		{Options{Replicas: 1, Ports: []int{23306, 23306}}, "given twice"},
		{Options{Replicas: 0, Ports: []int{70000}}, "out of range"},
	} {
		err := tc.opts.check()
		if tc.err == "" {
			check(t, err, "check ", tc.opts)
		} else {
			errorContains(t, err, tc.err)
		}
	}
}

func TestDSNAndRedact(t *testing.T) {
	n := &Node{Port: 23306}
	equal(t, "127.0.0.1:23306", n.Addr(), "Addr")
	equal(t, "app:app-secret@tcp(127.0.0.1:23306)/tailgate_test", n.DSN(AppUser, AppPassword, TestDatabase), "DSN")
	equal(t, "CREATE USER 'a'@'%' IDENTIFIED BY '***'", redact("CREATE USER 'a'@'%' IDENTIFIED BY 'pw'"), "redact")
	equal(t, "CHANGE MASTER TO MASTER_USER='repl', MASTER_PASSWORD= '***', MASTER_USE_GTID=slave_pos",
		redact("CHANGE MASTER TO MASTER_USER='repl', MASTER_PASSWORD='repl-secret', MASTER_USE_GTID=slave_pos"), "redact")
}
