package integration

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	_ "github.com/go-sql-driver/mysql"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/app"
	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// shared is the primary + 2 replicas most tests run against; tests that break a server
// start their own cluster.
var shared *cluster.Cluster

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	c, err := cluster.Start(ctx, cluster.Options{Replicas: 2, ExtraConfig: []string{"max_allowed_packet=48M"}})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration tests need MariaDB (apt-get install -y mariadb-server mariadb-client): %v\n", err)
		os.Exit(1)
	}
	shared = c
	code := m.Run()
	if err := c.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "cluster teardown: %v\n", err)
	}
	os.Exit(code)
}

// tailgate is one in-process tailgate for a test.
type tailgate struct {
	app  *app.App
	addr string
	cfg  *config.Config
}

// testConfig is a config for c with tailgate listening on a free loopback port.
func testConfig(c *cluster.Cluster) *config.Config {
	cfg := config.Default()
	cfg.Proxy.Listen = "127.0.0.1:0"
	cfg.Users = []config.User{{Name: cluster.AppUser, Password: cluster.AppPassword}}
	cfg.Primary.Address = c.Primary.Addr()
	for _, r := range c.Replicas {
		cfg.Replicas = append(cfg.Replicas, config.Replica{Name: r.Name, Address: r.Addr(), Weight: 1})
	}
	return cfg
}

// startTailgate runs tailgate for cfg until the test ends, logging warnings to the test's log.
func startTailgate(t testing.TB, cfg *config.Config) *tailgate {
	t.Helper()
	return startTailgateLog(t, cfg, testWriter{t})
}

// startTailgateLog is startTailgate with its warnings and errors written to logTo.
func startTailgateLog(t testing.TB, cfg *config.Config, logTo io.Writer) *tailgate {
	t.Helper()
	if err := cfg.Check(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "tailgate", Level: hclog.Warn, Output: logTo})
	a, err := app.New(cfg, log)
	if err != nil {
		t.Fatalf("tailgate: %v", err)
	}
	if err := a.Listen(); err != nil {
		t.Fatalf("tailgate listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tailgate stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("tailgate did not stop within 30s")
		}
	})
	return &tailgate{app: a, addr: a.ProxyAddr().String(), cfg: cfg}
}

// db opens a go-sql-driver pool through tailgate with extra DSN parameters.
func (tg *tailgate) db(t testing.TB, params string) *sql.DB {
	t.Helper()
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s", cluster.AppUser, cluster.AppPassword, tg.addr, "tailgate_test")
	if params != "" {
		dsn += "?" + params
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// conn pins one client connection of db.
func conn(t testing.TB, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("connect through tailgate: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// serverID returns which server answered a statement that selects @@server_id first.
func serverID(t testing.TB, q queryer, query string, args ...any) int {
	t.Helper()
	var id int
	if err := q.QueryRowContext(context.Background(), query, args...).Scan(&id); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return id
}

func mustExec(t testing.TB, c interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := c.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// waitReplicated waits until both replicas applied everything the primary has.
func waitReplicated(t testing.TB, c *cluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReplicated(ctx); err != nil {
		t.Fatalf("replication did not catch up: %v", err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitSeenReplicated waits until the replicas applied everything the primary has and
// tailgate's monitor has seen them do it (read-your-writes keeps a session's reads on the
// primary until then).
func waitSeenReplicated(t testing.TB, tg *tailgate, c *cluster.Cluster) {
	t.Helper()
	waitReplicated(t, c)
	pos := gtidBinlogPos(t, c.Primary)
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range c.Replicas {
		for !tg.app.Monitor().HasApplied(r.Name, pos) {
			if time.Now().After(deadline) {
				t.Fatalf("tailgate did not see %s apply %s", r.Name, pos)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// gtidBinlogPos returns n's @@gtid_binlog_pos, read as root.
func gtidBinlogPos(t testing.TB, n *cluster.Node) string {
	t.Helper()
	db, err := n.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pos string
	if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatalf("%s @@gtid_binlog_pos: %v", n.Name, err)
	}
	return pos
}

// freePort returns a loopback address with a port free right now.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// tailgateBinary builds cmd/tailgate once per test run (for tests that signal or kill the
// process) and returns its path.
func tailgateBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tailgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "tailgate")
		out, err := exec.Command("go", "build", "-o", buildPath, "../cmd/tailgate").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/tailgate: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// writeConfigFile writes cfg as TOML to path.
func writeConfigFile(t *testing.T, path string, cfg *config.Config) {
	t.Helper()
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startTailgateFromFile writes cfg to a file and runs tailgate loaded from it, so that
// the test can change the file and reload. It returns the file's path.
func startTailgateFromFile(t *testing.T, cfg *config.Config) (*tailgate, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	writeConfigFile(t, path, cfg)
	loaded, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return startTailgate(t, loaded), path
}

// int64Column runs query and returns its first column.
func int64Column(t testing.TB, db *sql.DB, query string, args ...any) []int64 {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
