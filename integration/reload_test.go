package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/app"
	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// TestReloadUnderLoad: 8 client threads read and write for 30 s while the config is
// reloaded every second (a replica removed and re-added, lag.max changed, every fifth
// file invalid): no client error, invalid files are refused with their error and leave
// the running config unchanged.
func TestReloadUnderLoad(t *testing.T) {
	duration := 30 * time.Second
	if testing.Short() {
		duration = 10 * time.Second
	}
	base := freshConfig(shared, time.Second, 500*time.Millisecond)
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	write := func(cfg *config.Config, extra string) {
		t.Helper()
		var b strings.Builder
		if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(base, "")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "tailgate", Level: hclog.Warn, Output: testWriter{t}})
	a, err := app.New(cfg, log)
	if err != nil {
		t.Fatalf("tailgate: %v", err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("tailgate stopped with %v", err)
		}
	}()
	tg := &tailgate{app: a, addr: a.ProxyAddr().String(), cfg: cfg}
	db := tg.db(t, "")
	mustExec(t, db, "CREATE TABLE IF NOT EXISTS reload_rows (id INT AUTO_INCREMENT PRIMARY KEY, w INT)")

	loadCtx, stopLoad := context.WithTimeout(context.Background(), duration)
	defer stopLoad()
	var ops, clientErrors atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := db.Conn(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; loadCtx.Err() == nil; i++ {
				var err error
				if i%4 == 0 {
					_, err = c.ExecContext(context.Background(), "INSERT INTO reload_rows (w) VALUES (?)", w)
				} else {
					var n int
					err = c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM reload_rows WHERE w = ?", w).Scan(&n)
				}
				ops.Add(1)
				if err != nil {
					clientErrors.Add(1)
					t.Errorf("client %d: %v", w, err)
				}
			}
		}()
	}

	var applied, refused int
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 1; loadCtx.Err() == nil; i++ {
		select {
		case <-loadCtx.Done():
		case <-tick.C:
		}
		if loadCtx.Err() != nil {
			break
		}
		next := *base
		next.Replicas = append([]config.Replica(nil), base.Replicas...)
		if i%2 == 1 {
			next.Replicas = next.Replicas[:1] // replica2 removed, re-added next time
		}
		next.Lag.Max = config.Duration{Duration: time.Duration(1+i%3) * time.Second}
		if i%5 == 0 {
			before := a.Config()
			write(&next, "\n[lag]\nmax = \"soon\"\n") // a duplicate table and a bad duration
			err := a.Reload()
			if err == nil {
				t.Fatalf("reload %d of an invalid file succeeded", i)
			}
			if !reflect.DeepEqual(before, a.Config()) {
				t.Fatalf("reload %d of an invalid file changed the running config", i)
			}
			refused++
			continue
		}
		write(&next, "")
		if err := a.Reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if got := len(a.Router().Replicas()); got != len(next.Replicas) {
			t.Fatalf("reload %d: router has %d replicas, want %d", i, got, len(next.Replicas))
		}
		applied++
	}
	wg.Wait()
	t.Logf("%d statements by 8 clients during %d reloads and %d refused invalid files: %d client errors",
		ops.Load(), applied, refused, clientErrors.Load())
	if refused == 0 || applied == 0 {
		t.Fatalf("applied %d, refused %d: the test did not exercise both", applied, refused)
	}
}

// TestReloadRotatesReplicationAccount: a new replication.user and password, reloaded (a
// credential rotation), are what the binlog tailer, the replicas' binlog streams and the
// position polls log in with from their next connection. After the old account's
// connections are killed, tailgate's connections come back under the new account only, and
// the tailer and every replica are healthy again.
func TestReloadRotatesReplicationAccount(t *testing.T) {
	const user, pass = "tailgate_rotated", "rotated-secret"
	ctx := context.Background()
	nodes := append([]*cluster.Node{shared.Primary}, shared.Replicas...)
	for _, n := range nodes {
		if err := n.Exec(ctx, "SET SESSION sql_log_bin=0",
			fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'127.0.0.1' IDENTIFIED BY '%s'", user, pass),
			fmt.Sprintf("GRANT REPLICATION SLAVE, BINLOG MONITOR, SLAVE MONITOR, REPLICATION CLIENT ON *.* TO '%s'@'127.0.0.1'", user)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Exec(ctx, "SET SESSION sql_log_bin=0", fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", user))
		}
	})
	cfg := freshConfig(shared, time.Second, 500*time.Millisecond)
	tg, path := startTailgateFromFile(t, cfg)
	waitTailer(t, tg, shared)

	cfg.Replication.User, cfg.Replication.Password = user, pass
	writeConfigFile(t, path, cfg)
	if err := tg.app.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	// connections counts, per account, the connections on every node.
	connections := func() map[string]int {
		t.Helper()
		counts := map[string]int{}
		for _, n := range nodes {
			db, err := n.RootDB()
			if err != nil {
				t.Fatal(err)
			}
			rows, err := db.QueryContext(ctx, "SELECT USER, ID FROM information_schema.PROCESSLIST WHERE USER IN (?, ?)", cluster.MonitorUser, user)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var u string
				var id int64
				if err := rows.Scan(&u, &id); err != nil {
					t.Fatal(err)
				}
				counts[u]++
				if u == cluster.MonitorUser {
					// The old account is retired: its connections end.
					_, _ = db.ExecContext(ctx, fmt.Sprintf("KILL %d", id))
				}
			}
			_ = rows.Close()
			_ = db.Close()
		}
		return counts
	}
	if got := connections(); got[cluster.MonitorUser] == 0 {
		t.Fatalf("no connection of %s before the rotation took effect: %v", cluster.MonitorUser, got)
	}
	// A stream, a poll and (on the primary) the tailer per node come back under the new
	// account; none under the old one.
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := connections()
		if got[cluster.MonitorUser] == 0 && got[user] >= 2*len(nodes)-1 {
			t.Logf("connections after the rotation: %v", got)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the reload and the kills: connections by account %v, want none of %s and %d or more of %s",
				got, cluster.MonitorUser, 2*len(nodes)-1, user)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitTailer(t, tg, shared)
}
