package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
	"github.com/tailgate-proxy/tailgate/router"
)

// socketDB opens a pool through tailgate's unix socket.
func socketDB(t *testing.T, socket, user, password string) *sql.DB {
	t.Helper()
	cfg := gomysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName = "unix", socket, user, password, "tailgate_test"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestUnixSockets: tailgate on the servers' host with everything over unix sockets:
// clients on proxy.socket; the pools, position polls, binlog tailer and replica streams on
// the servers' sockets. Position polls are 10 s apart, so only the streams can show a
// replica's progress in time. Writes reach the primary, reads spread over the replicas, a
// session reads its own writes, a stopped replica leaves rotation and returns, and a
// caching_sha2_password user logs in over the socket.
func TestUnixSockets(t *testing.T) {
	cfg := freshConfig(shared, time.Second, 500*time.Millisecond)
	cfg.Lag.PollInterval = config.Duration{Duration: 10 * time.Second}
	cfg.Proxy.Socket = filepath.Join(t.TempDir(), "tg.sock")
	cfg.Primary.Address = shared.Primary.Socket
	for i, r := range shared.Replicas {
		cfg.Replicas[i].Address = r.Socket
	}
	cfg.Users = append(cfg.Users, config.User{Name: "sha_app", Password: "sha-secret", AuthPlugin: config.AuthCachingSHA2Password,
		BackendUser: cluster.AppUser, BackendPassword: cluster.AppPassword})
	tg := startTailgate(t, cfg)
	waitTailer(t, tg, shared)

	c := conn(t, socketDB(t, cfg.Proxy.Socket, cluster.AppUser, cluster.AppPassword))
	mustExec(t, c, "CREATE TABLE IF NOT EXISTS socket_rows (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	mustExec(t, c, "TRUNCATE socket_rows")
	primaryID := int(shared.Primary.ServerID)
	for i := 1; i <= 20; i++ {
		var id int
		if err := c.QueryRowContext(context.Background(), "INSERT INTO socket_rows (v) VALUES (?) RETURNING @@server_id", i).Scan(&id); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
		if id != primaryID {
			t.Fatalf("insert %d ran on server %d, want the primary (%d)", i, id, primaryID)
		}
		var n int
		if err := c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM socket_rows").Scan(&n); err != nil || n != i {
			t.Fatalf("read after insert %d: %d rows, %v; want %d (read-your-writes)", i, n, err, i)
		}
	}

	waitSeenReplicated(t, tg, shared)
	got := serverShares(t, c, 400)
	t.Logf("400 reads over the socket: %v", got)
	if got[primaryID] != 0 || got[int(shared.Replicas[0].ServerID)] < 100 || got[int(shared.Replicas[1].ServerID)] < 100 {
		t.Errorf("reads by server %v: want none on the primary (%d) and both replicas in rotation", got, primaryID)
	}

	victim := shared.Replicas[0]
	w := writeEvery(t, shared, 20*time.Millisecond)
	sqlThread(t, victim, false)
	took := waitState(t, tg, victim.Name, router.StateLagging, 5*time.Second)
	t.Logf("stopped replica seen lagging after %s", took)
	for range 50 {
		if id := serverID(t, c, "SELECT @@server_id"); id == int(victim.ServerID) {
			t.Fatalf("a read went to the lagging replica %s", victim.Name)
		}
	}
	sqlThread(t, victim, true)
	took = waitState(t, tg, victim.Name, router.StateOnline, 3*time.Second)
	t.Logf("replica back online %s after START (position polls are 10 s apart)", took)
	w.stop()

	sha := socketDB(t, cfg.Proxy.Socket, "sha_app", "sha-secret")
	for i := range 2 { // the first login is a full authentication (the password in clear)
		var user string
		if err := sha.QueryRow("SELECT CURRENT_USER()").Scan(&user); err != nil {
			t.Fatalf("caching_sha2_password login %d over the socket: %v", i, err)
		}
		if !strings.HasPrefix(user, cluster.AppUser+"@") {
			t.Errorf("CURRENT_USER() = %q, want the backend account %s", user, cluster.AppUser)
		}
		sha.SetMaxIdleConns(0) // the next query logs in again
	}
	err := socketDB(t, cfg.Proxy.Socket, "sha_app", "wrong").Ping()
	var myErr *gomysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != 1045 || myErr.Message != fmt.Sprintf("Access denied for user '%s'@'localhost' (using password: YES)", "sha_app") {
		t.Errorf("wrong password over the socket: %v, want 1045 for 'sha_app'@'localhost'", err)
	}
}
