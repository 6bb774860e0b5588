package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
	"github.com/tailgate-proxy/tailgate/router"
)

// changeMasterTo is the CHANGE MASTER that points a replica at to, by GTID (using is
// "slave_pos" or "current_pos").
func changeMasterTo(to *cluster.Node, using string) string {
	return fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', "+
		"MASTER_PASSWORD='%s', MASTER_USE_GTID=%s, MASTER_CONNECT_RETRY=1", to.Port, cluster.ReplUser, cluster.ReplPassword, using)
}

// waitCaughtUp waits until each node applied the primary's binlog position pos.
func waitCaughtUp(t *testing.T, pos string, nodes ...*cluster.Node) {
	t.Helper()
	for _, r := range nodes {
		db, err := r.RootDB()
		if err != nil {
			t.Fatal(err)
		}
		var ok sql.NullInt64
		err = db.QueryRowContext(context.Background(), "SELECT MASTER_GTID_WAIT(?, 30)", pos).Scan(&ok)
		_ = db.Close()
		if err != nil || !ok.Valid || ok.Int64 != 0 {
			t.Fatalf("%s did not reach %s: %v (%v)", r.Name, pos, ok, err)
		}
	}
}

// waitPrimary waits until tailgate's primary is at addr and returns how long that took.
func waitPrimary(t *testing.T, tg *tailgate, addr string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for tg.app.Server().Backends()[0].Address != addr {
		if time.Since(start) > within {
			t.Fatalf("tailgate's primary is %s %s after the promotion, want %s", tg.app.Server().Backends()[0].Address, within, addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// idWriters insert unique ids into a table through tailgate from several goroutines
// and remember each acknowledged one: no acknowledged write may be lost by a move of
// the primary.
type idWriters struct {
	mu          sync.Mutex
	acked       []int64
	failed      int
	lastFailure error
	after       atomic.Int64 // acknowledged since mark
	marked      atomic.Bool
	stop        context.CancelFunc
	wg          sync.WaitGroup
}

// startWriters starts n writers of INSERT INTO table VALUES (id) on db until the test
// ends or stopAndCheck.
func startWriters(t *testing.T, db *sql.DB, table string, n int) *idWriters {
	ctx, cancel := context.WithCancel(context.Background())
	w := &idWriters{stop: cancel}
	for i := range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for k := int64(1); ctx.Err() == nil; k++ {
				id := int64(i+1)*1_000_000 + k
				_, err := db.ExecContext(context.Background(), "INSERT INTO "+table+" VALUES (?)", id)
				w.mu.Lock()
				if err != nil {
					w.failed++
					w.lastFailure = err
				} else {
					w.acked = append(w.acked, id)
					if w.marked.Load() {
						w.after.Add(1)
					}
				}
				w.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(func() { cancel(); w.wg.Wait() })
	return w
}

// mark starts counting the writes acknowledged from now on (after the move).
func (w *idWriters) mark() { w.marked.Store(true) }

// stopAndCheck waits up to 10 s for 100 writes acknowledged since mark, stops the
// writers and checks that none failed and every acknowledged id is in table on node.
func (w *idWriters) stopAndCheck(t *testing.T, node *cluster.Node, table string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.after.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	w.stop()
	w.wg.Wait()
	t.Logf("writes: %d acknowledged (%d after the move), %d failed (last: %v)", len(w.acked), w.after.Load(), w.failed, w.lastFailure)
	if w.after.Load() < 100 {
		t.Errorf("only %d writes acknowledged within 10 s of the move, want 100", w.after.Load())
	}
	if w.failed > 0 {
		// Refused by the read-only old primary before the move, they wait for it
		// (proxy.primary_wait) and run on the new one.
		t.Errorf("%d autocommit writes failed across the move (last: %v), want none", w.failed, w.lastFailure)
	}
	root, err := node.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	lost := 0
	for _, id := range w.acked {
		var n int
		if err := root.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM tailgate_test."+table+" WHERE id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged writes are not on %s", lost, node.Name)
	}
}

// startPrimaryMove starts what the tests that move the primary share: a primary and two
// replicas with the table tailgate_test.<table> (id BIGINT PRIMARY KEY), and tailgate in
// front from a config file (primary.follow_promotion as follow), its tailer connected.
func startPrimaryMove(t *testing.T, table string, follow bool) (*cluster.Cluster, *config.Config, *tailgate, string, *sql.DB) {
	t.Helper()
	c := cluster.StartT(t, cluster.Options{Replicas: 2, Logf: t.Logf})
	if err := c.Primary.Exec(context.Background(), "CREATE TABLE tailgate_test."+table+" (id BIGINT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, c)
	cfg := freshConfig(c, time.Second, 500*time.Millisecond)
	cfg.Primary.FollowPromotion = follow
	tg, path := startTailgateFromFile(t, cfg)
	waitTailer(t, tg, c)
	db := tg.db(t, "")
	db.SetMaxIdleConns(8)
	return c, cfg, tg, path, db
}

// TestFollowPromotion: with primary.follow_promotion, tailgate moves the primary to a
// replica that was promoted outside it, with no config change:
//   - a writable replica next to a writable primary (a misconfigured replica) takes no
//     writes, nor does a replica writable and stopped since before the primary went
//     read-only;
//   - a switchover under 2 writers (the primary made read-only, replica1 promoted, the others
//     re-pointed): writes resume on replica1 without a reload, none acknowledged is lost,
//     the old primary serves reads under replica1's name, and lag is measured against the
//     new primary;
//   - a reload of the unchanged file keeps the followed primary;
//   - a failover: the new primary killed and replica2 promoted; a write sent while the
//     primary is down waits (primary_wait) and lands on replica2.
func TestFollowPromotion(t *testing.T) {
	c, cfg, tg, path, db := startPrimaryMove(t, "follow", true)
	oldPrimary, newPrimary, other := c.Primary, c.Replicas[0], c.Replicas[1]
	ctx := context.Background()

	// A writable replica that still replicates, and one that stopped replicating while
	// the primary takes writes: neither is followed.
	if err := other.Exec(ctx, "SET GLOBAL read_only = OFF"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // 5 polls and 50 evaluations
	if got := tg.app.Server().Backends()[0].Address; got != oldPrimary.Addr() {
		t.Fatalf("a writable replica that replicates became the primary (%s)", got)
	}
	if err := other.Exec(ctx, "SET GLOBAL read_only = ON"); err != nil {
		t.Fatal(err)
	}
	// A replica writable and stopped (maintenance on a misconfigured replica) since
	// before the primary went read-only: not promoted, not followed.
	if err := other.Exec(ctx, "STOP SLAVE", "SET GLOBAL read_only = OFF"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // beyond promotedWithin (1 s)
	if err := oldPrimary.Exec(ctx, "SET GLOBAL read_only = ON"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := tg.app.Server().Backends()[0].Address; got != oldPrimary.Addr() {
		t.Fatalf("a replica writable and on its own since before the primary went read-only became the primary (%s)", got)
	}
	if err := oldPrimary.Exec(ctx, "SET GLOBAL read_only = OFF"); err != nil {
		t.Fatal(err)
	}
	if err := other.Exec(ctx, "SET GLOBAL read_only = ON", "START SLAVE"); err != nil {
		t.Fatal(err)
	}

	w := startWriters(t, db, "follow", 2)
	time.Sleep(300 * time.Millisecond)

	// The switchover, as root on the servers; tailgate is not told.
	if err := oldPrimary.Exec(ctx, "SET GLOBAL read_only = ON"); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	waitCaughtUp(t, gtidBinlogPos(t, oldPrimary), newPrimary, other)
	if err := newPrimary.Exec(ctx, "STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = OFF"); err != nil {
		t.Fatal(err)
	}
	took := waitPrimary(t, tg, newPrimary.Addr(), 5*time.Second)
	w.mark()
	t.Logf("followed the promotion %s after it (writes refused for %s)", took.Round(time.Millisecond), time.Since(frozen).Round(time.Millisecond))
	for _, s := range []struct {
		node  *cluster.Node
		stmts []string
	}{
		{other, []string{"STOP SLAVE", changeMasterTo(newPrimary, "slave_pos"), "START SLAVE"}},
		{oldPrimary, []string{changeMasterTo(newPrimary, "current_pos"), "START SLAVE"}},
	} {
		if err := s.node.Exec(ctx, s.stmts...); err != nil {
			t.Fatal(err)
		}
	}

	w.stopAndCheck(t, newPrimary, "follow")

	// The old primary took replica1's place: reads reach it under that name, and it is
	// measured against the new primary (it lags when its SQL thread stops).
	for _, b := range tg.app.Server().Backends()[1:] {
		if b.Name == newPrimary.Name && b.Address != oldPrimary.Addr() {
			t.Errorf("backend %s is at %s, want the old primary %s", b.Name, b.Address, oldPrimary.Addr())
		}
	}
	waitState(t, tg, newPrimary.Name, router.StateOnline, 10*time.Second)
	seen := map[int]int{}
	readers := tg.db(t, "") // sessions that wrote nothing: their reads never need the primary
	for range 40 {
		seen[serverID(t, readers, "SELECT @@server_id")]++
	}
	if seen[int(oldPrimary.ServerID)] == 0 || seen[int(other.ServerID)] == 0 || seen[int(newPrimary.ServerID)] != 0 {
		t.Errorf("reads per server %v, want the old primary (%d) and %s (%d) only", seen, oldPrimary.ServerID, other.Name, other.ServerID)
	}
	if err := oldPrimary.Exec(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO follow VALUES (-1)")
	waitState(t, tg, newPrimary.Name, router.StateLagging, 5*time.Second)
	if err := oldPrimary.Exec(ctx, "START SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	waitState(t, tg, newPrimary.Name, router.StateOnline, 10*time.Second)

	// A reload of the file, which still names the old primary: the followed one stays.
	writeConfigFile(t, path, cfg)
	if err := tg.app.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := tg.app.Server().Backends()[0].Address; got != newPrimary.Addr() {
		t.Fatalf("a reload of the unchanged file moved the primary to %s, want %s", got, newPrimary.Addr())
	}

	// A failover: the new primary dies; replica2 is promoted a moment later. A write sent
	// in between waits for a primary and lands on replica2.
	waitCaughtUp(t, gtidBinlogPos(t, newPrimary), oldPrimary, other)
	if err := newPrimary.Kill(); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, "INSERT INTO follow VALUES (-2)")
		wrote <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if err := other.Exec(ctx, "STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = OFF"); err != nil {
		t.Fatal(err)
	}
	took = waitPrimary(t, tg, other.Addr(), 5*time.Second)
	t.Logf("followed the failover %s after the promotion", took.Round(time.Millisecond))
	if err := <-wrote; err != nil {
		t.Errorf("the write sent while the primary was down: %v, want it to wait and succeed", err)
	}
	var n int
	rootOther, err := other.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer rootOther.Close()
	if err := rootOther.QueryRowContext(ctx, "SELECT COUNT(*) FROM tailgate_test.follow WHERE id = -2").Scan(&n); err != nil || n != 1 {
		t.Errorf("the write sent while the primary was down: %d rows on %s (%v), want 1", n, other.Name, err)
	}
	if id := serverID(t, db, "SELECT @@server_id FROM follow WHERE id = -2 FOR UPDATE"); id != int(other.ServerID) {
		t.Errorf("writes go to server %d after the failover, want %s (%d)", id, other.Name, other.ServerID)
	}
}

// TestReadOnlyPrimaryWrites: a primary made read-only with nothing moving it: an
// autocommit write waits proxy.primary_wait for a move, then gets the server's own error
// 1290; a write inside a transaction gets it at once (the transaction stays on its server);
// SHOW STATS counts the waits.
func TestReadOnlyPrimaryWrites(t *testing.T) {
	const wait = 400 * time.Millisecond
	cfg := testConfig(shared)
	cfg.Proxy.PrimaryWait = config.Duration{Duration: wait}
	tg := startTailgate(t, cfg)
	c := conn(t, tg.db(t, ""))
	mustExec(t, c, "CREATE TABLE IF NOT EXISTS ro_primary (id INT PRIMARY KEY)")
	txn := conn(t, tg.db(t, ""))
	mustExec(t, txn, "BEGIN", "SELECT COUNT(*) FROM ro_primary FOR UPDATE")
	if err := shared.Primary.Exec(context.Background(), "SET GLOBAL read_only = ON"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shared.Primary.Exec(context.Background(), "SET GLOBAL read_only = OFF") })

	var myErr *mysql.MySQLError
	start := time.Now()
	_, err := c.ExecContext(context.Background(), "INSERT INTO ro_primary VALUES (1)")
	took := time.Since(start)
	if !errors.As(err, &myErr) || myErr.Number != 1290 {
		t.Fatalf("autocommit write on a read-only primary: %v, want error 1290", err)
	}
	if took < wait || took > wait+time.Second {
		t.Errorf("the autocommit write failed after %s, want primary_wait (%s) first", took, wait)
	}
	start = time.Now()
	_, err = txn.ExecContext(context.Background(), "INSERT INTO ro_primary VALUES (2)")
	if !errors.As(err, &myErr) || myErr.Number != 1290 {
		t.Fatalf("write in a transaction on a read-only primary: %v, want error 1290", err)
	}
	if took := time.Since(start); took > wait/2 {
		t.Errorf("the write in a transaction failed after %s, want at once", took)
	}
	mustExec(t, txn, "ROLLBACK")
	if n := tg.app.Server().Stats().Snapshot().ReadOnlyWaits; n != 1 {
		t.Errorf("primary_read_only_waits = %d, want 1", n)
	}
}
