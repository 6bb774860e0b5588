package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
	"github.com/tailgate-proxy/tailgate/router"
)

// TestReplicaKilledReadsRetried: kill -9 one replica during 8-thread autocommit reads,
// half of them prepared statements: no read fails, reads move to the other replica within 1 s, and the killed replica,
// restarted, is back in rotation within 5 s.
func TestReplicaKilledReadsRetried(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{Replicas: 2, Logf: t.Logf})
	tg := startTailgate(t, freshConfig(c, time.Second, 500*time.Millisecond))
	victim := c.Replicas[0]
	for _, r := range c.Replicas {
		waitState(t, tg, r.Name, router.StateOnline, 5*time.Second)
	}
	db := tg.db(t, "")
	db.SetMaxOpenConns(8)

	var reads, failed atomic.Int64
	var lastVictimRead atomic.Int64 // unix nanos of the last read the victim served
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var id int
				var err error
				if i%2 == 0 {
					err = db.QueryRowContext(context.Background(), "SELECT @@server_id").Scan(&id)
				} else { // a prepared statement (go-sql-driver prepares a query with arguments)
					err = db.QueryRowContext(context.Background(), "SELECT @@server_id + ?", 0).Scan(&id)
				}
				reads.Add(1)
				if err != nil {
					failed.Add(1)
					t.Logf("read failed: %v", err)
					continue
				}
				if id == int(victim.ServerID) {
					lastVictimRead.Store(time.Now().UnixNano())
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	if lastVictimRead.Load() == 0 {
		t.Fatalf("%s served none of %d reads before the kill: nothing to take out of rotation", victim.Name, reads.Load())
	}
	killed := time.Now()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	movedAfter := time.Duration(lastVictimRead.Load() - killed.UnixNano())
	if err := victim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	back := time.Duration(0)
	for time.Since(restarted) < 10*time.Second {
		if time.Duration(lastVictimRead.Load()-restarted.UnixNano()) > 0 {
			back = time.Since(restarted)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("%d reads, %d failed; last read on the killed replica %s after the kill; back %s after restart; retries %d",
		reads.Load(), failed.Load(), movedAfter, back, tg.app.Server().Stats().Snapshot().Retries)
	if failed.Load() != 0 {
		t.Errorf("%d reads failed; a read that received nothing must be retried elsewhere", failed.Load())
	}
	if movedAfter > time.Second {
		t.Errorf("the killed replica served reads until %s after the kill, want <= 1s", movedAfter)
	}
	if back == 0 || back > 5*time.Second {
		t.Errorf("the restarted replica was back in rotation after %s, want <= 5s", back)
	}
}

// TestPrimaryRestartedWithinPrimaryWait: the primary is killed and restarted under 4
// writer threads inserting unique ids: no id is written twice, no acknowledged insert is
// lost, every failure is reported to the client, and writes resume.
func TestPrimaryRestartedWithinPrimaryWait(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{Replicas: 2, Logf: t.Logf})
	cfg := freshConfig(c, time.Second, 500*time.Millisecond)
	tg := startTailgate(t, cfg)
	db := tg.db(t, "")
	mustExec(t, db, "CREATE TABLE ids (id BIGINT PRIMARY KEY, w INT)")

	var mu sync.Mutex
	acked := map[int64]bool{}
	var next, failures, dups, afterRestart atomic.Int64
	var restarted atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				id := next.Add(1)
				_, err := db.ExecContext(context.Background(), "INSERT INTO ids VALUES (?, ?)", id, w)
				var me *mysqldriver.MySQLError
				switch {
				case err == nil:
					mu.Lock()
					acked[id] = true
					mu.Unlock()
					if restarted.Load() {
						afterRestart.Add(1)
					}
				case errors.As(err, &me) && me.Number == 1062:
					dups.Add(1) // only a resent insert can collide: ids are unique
				default:
					failures.Add(1) // outcome unknown: reported to the client, never retried
				}
			}
		}()
	}
	time.Sleep(time.Second)
	if err := c.Primary.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := c.Primary.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted.Store(true)
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()

	direct, err := sql.Open("mysql", c.Primary.DSN(cluster.AppUser, cluster.AppPassword, "tailgate_test"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	rows, err := direct.Query("SELECT id FROM ids")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	lost := 0
	for id := range acked {
		if !stored[id] {
			lost++
		}
	}
	t.Logf("%d inserts acknowledged (%d after the restart), %d failed with an error, %d rows stored, %d duplicate-key errors",
		len(acked), afterRestart.Load(), failures.Load(), len(stored), dups.Load())
	if lost > 0 {
		t.Errorf("%d acknowledged inserts are missing", lost)
	}
	if dups.Load() > 0 {
		t.Errorf("%d duplicate-key errors: an insert was sent twice", dups.Load())
	}
	if afterRestart.Load() == 0 {
		t.Errorf("no insert succeeded after the primary came back")
	}
}

// TestAuthFailuresThrottled: after max_auth_failures failed logins from a host, its new
// connections are refused with 1129 while other hosts still get in.
func TestAuthFailuresThrottled(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.MaxAuthFailures = 3
	tg := startTailgate(t, cfg)
	login := func(network, password string) error {
		db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@%s(%s)/tailgate_test", cluster.AppUser, password, network, tg.addr))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Ping()
	}
	for i := range 3 {
		var me *mysqldriver.MySQLError
		if err := login("tcp", "wrong"); !errors.As(err, &me) || me.Number != 1045 {
			t.Fatalf("wrong password %d: %v, want 1045", i, err)
		}
	}
	var me *mysqldriver.MySQLError
	if err := login("tcp", cluster.AppPassword); !errors.As(err, &me) || me.Number != 1129 {
		t.Fatalf("login after 3 failures: %v, want 1129 (host blocked)", err)
	}
	// Another client host (127.0.0.2) is not affected.
	mysqldriver.RegisterDialContext("from127002", func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		return d.DialContext(ctx, "tcp", addr)
	})
	if err := login("from127002", cluster.AppPassword); err != nil {
		t.Fatalf("login from another host: %v", err)
	}
}

// TestPausedReplica: SIGSTOP a replica for 10 s under 8 reader threads with
// backend_read_timeout = 1s: no read fails and none waits longer than the read timeout plus
// one retry; goroutines return to their baseline afterwards.
func TestPausedReplica(t *testing.T) {
	const readTimeout = time.Second
	c := cluster.StartT(t, cluster.Options{Replicas: 2, Logf: t.Logf})
	cfg := freshConfig(c, time.Second, 500*time.Millisecond)
	cfg.Proxy.BackendReadTimeout = config.Duration{Duration: readTimeout}
	tg := startTailgate(t, cfg)
	for _, r := range c.Replicas {
		waitState(t, tg, r.Name, router.StateOnline, 5*time.Second)
	}
	db := tg.db(t, "")
	db.SetMaxOpenConns(8)
	mustExec(t, db, "SELECT 1")
	baseG := runtime.NumGoroutine()

	var failed atomic.Int64
	var worst atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				var id int
				err := db.QueryRowContext(context.Background(), "SELECT @@server_id").Scan(&id)
				for d := int64(time.Since(start)); ; {
					w := worst.Load()
					if d <= w || worst.CompareAndSwap(w, d) {
						break
					}
				}
				if err != nil {
					failed.Add(1)
					t.Logf("read failed: %v", err)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	victim := c.Replicas[0]
	if err := victim.Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	if err := victim.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	t.Logf("worst read %s, %d failed; retries %d", time.Duration(worst.Load()), failed.Load(), tg.app.Server().Stats().Snapshot().Retries)
	if failed.Load() != 0 {
		t.Errorf("%d reads failed while a replica was paused", failed.Load())
	}
	// The replica was paused under load with no writes (its lag cannot show it): the
	// reads it held must have timed out and been retried elsewhere.
	if n := tg.app.Server().Stats().Snapshot().Retries; n == 0 {
		t.Errorf("no read was retried: the paused replica never held one, so the test proved nothing")
	}
	if w := time.Duration(worst.Load()); w > readTimeout+500*time.Millisecond {
		t.Errorf("a read waited %s, want <= backend_read_timeout (%s) plus one retry", w, readTimeout)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseG+5 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d, baseline %d", runtime.NumGoroutine(), baseG)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
