package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
	"github.com/tailgate-proxy/tailgate/router"
)

// TestSwitchover: a planned switchover as an operator runs it (the primary made read-only,
// replica1 promoted once it caught up, the old primary and replica2 re-pointed at it), then
// primary.address changed in the file and the config reloaded, under 4 writer threads:
//   - a transaction open on the old primary across the reload stays there: its COMMIT gets
//     the old primary's read-only error, never an OK from a fresh connection to the new one
//     (which would acknowledge a commit whose rows are gone);
//   - writes resume on the new primary without a restart, and no acknowledged write is lost;
//   - the binlog tailer follows the new primary: the old primary, now a replica, is seen
//     lagging when its SQL thread stops;
//   - tailgate's connections to the old primary close once the sessions let go of them.
func TestSwitchover(t *testing.T) {
	c, cfg, tg, path, db := startPrimaryMove(t, "switch", false)
	oldPrimary, newPrimary, other := c.Primary, c.Replicas[0], c.Replicas[1]
	ctx := context.Background()

	// A transaction open on the old primary when the switchover starts.
	txn := conn(t, db)
	mustExec(t, txn, "BEGIN")
	mustExec(t, txn, "INSERT INTO switch VALUES (-1)")
	if id := serverID(t, txn, "SELECT @@server_id"); id != int(oldPrimary.ServerID) {
		t.Fatalf("the transaction runs on server %d, want the primary (%d)", id, oldPrimary.ServerID)
	}

	w := startWriters(t, db, "switch", 4)
	time.Sleep(500 * time.Millisecond)

	// The application connections open on the old primary now: tailgate's, as the primary.
	rootOld, err := oldPrimary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer rootOld.Close()
	before := int64Column(t, rootOld, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", cluster.AppUser)
	if len(before) == 0 {
		t.Fatal("tailgate has no connection open to the primary under 4 writers and an open transaction")
	}

	frozen := switchover(t, oldPrimary, newPrimary, other)

	// The operator's config change: the new primary, the old one as a replica.
	cfg.Primary.Address = newPrimary.Addr()
	cfg.Replicas = []config.Replica{
		{Name: "old-primary", Address: oldPrimary.Addr(), Weight: 1},
		{Name: other.Name, Address: other.Addr(), Weight: 1},
	}
	writeConfigFile(t, path, cfg)
	if err := tg.app.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	w.mark()
	t.Logf("writes refused for %s (read_only until the reload)", time.Since(frozen).Round(time.Millisecond))
	if got := tg.app.Server().Backends()[0].Address; got != newPrimary.Addr() {
		t.Errorf("after the reload the primary is %s, want %s", got, newPrimary.Addr())
	}

	// The open transaction: still on the old primary, which refuses to commit it.
	var myErr *mysql.MySQLError
	if _, err := txn.ExecContext(ctx, "COMMIT"); !errors.As(err, &myErr) || myErr.Number != 1290 {
		t.Errorf("COMMIT of the transaction opened on the old primary: %v, want error 1290 from the old primary (read-only)", err)
	}
	mustExec(t, txn, "ROLLBACK")
	mustExec(t, txn, "INSERT INTO switch VALUES (-2)")
	if id := serverID(t, txn, "SELECT @@server_id FROM switch WHERE id = -2 FOR UPDATE"); id != int(newPrimary.ServerID) {
		t.Errorf("after its transaction the session writes to server %d, want the new primary (%d)", id, newPrimary.ServerID)
	}

	// Writes go on through the new primary.
	w.stopAndCheck(t, newPrimary, "switch")
	root, err := newPrimary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var n int
	if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM tailgate_test.switch WHERE id = -1").Scan(&n); err != nil || n != 0 {
		t.Errorf("the refused transaction's row: %d rows (%v), want none", n, err)
	}

	// Lag is measured against the new primary: the old one, now a replica, lags when its
	// SQL thread stops (a tailer left on the old primary would see no new transactions).
	waitState(t, tg, "old-primary", router.StateOnline, 10*time.Second)
	if err := oldPrimary.Exec(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO switch VALUES (-3)")
	took := waitState(t, tg, "old-primary", router.StateLagging, 5*time.Second)
	t.Logf("old primary seen lagging %s after the write it missed", took.Round(time.Millisecond))
	if st := tg.app.Monitor().ReplicaStatus(other.Name); st.State != router.StateOnline {
		t.Errorf("%s, replicating from the new primary, is %s, want online", other.Name, st.State)
	}
	if err := oldPrimary.Exec(ctx, "START SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	waitState(t, tg, "old-primary", router.StateOnline, 10*time.Second)

	// Every connection tailgate had open to the old primary as the primary is closed once
	// its session lets go of it (the old-primary replica has new ones).
	_ = txn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := 0
		for _, id := range before {
			var n int
			if err := rootOld.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			left += n
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d connections tailgate had open to the old primary are still open 5 s after its sessions let go", left, len(before))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDemotedPrimaryOnlineWhileIdle: after a switchover with no writes since, the old
// primary, now a replica, has everything the new primary has (its own transactions, which
// the new primary replicated), though its @@gtid_slave_pos is empty: it is online with lag
// 0, after the reload that moves the primary and in fresh starts, whichever of tailgate's
// binlog streams connects first.
func TestDemotedPrimaryOnlineWhileIdle(t *testing.T) {
	c, cfg, tg, path, _ := startPrimaryMove(t, "demoted", false)
	oldPrimary, newPrimary, other := c.Primary, c.Replicas[0], c.Replicas[1]
	switchover(t, oldPrimary, newPrimary, other)
	cfg.Primary.Address = newPrimary.Addr()
	cfg.Replicas = []config.Replica{
		{Name: "old-primary", Address: oldPrimary.Addr(), Weight: 1},
		{Name: other.Name, Address: other.Addr(), Weight: 1},
	}
	writeConfigFile(t, path, cfg)
	primaryPos := gtidBinlogPos(t, newPrimary)
	// Counted as having the new primary's position, not merely online at first: one taken
	// to lack it would turn lagging once lag.max passed with no write to apply.
	hasAll := func(what string, tg *tailgate) {
		t.Helper()
		began := time.Now()
		for !positionReached(tg.app.Monitor().Position("old-primary"), primaryPos) {
			if time.Since(began) > 5*time.Second {
				st := tg.app.Monitor().ReplicaStatus("old-primary")
				t.Fatalf("%s: the old primary is not counted as having the new primary's %s within 5s (position %q, %+v)",
					what, primaryPos, tg.app.Monitor().Position("old-primary"), st)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st := tg.app.Monitor().ReplicaStatus("old-primary"); st.State != router.StateOnline {
			t.Errorf("%s: the old primary is %+v, want online", what, st)
		}
	}
	if err := tg.app.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	hasAll("after the reload", tg)
	for i := range 3 {
		hasAll(fmt.Sprintf("fresh start %d", i+1), startTailgate(t, cfg))
	}
}

// switchover runs a planned switchover as an operator does, as root on the servers: the
// primary made read-only, newPrimary promoted once it and other caught up, other and the old
// primary re-pointed at it. It returns when the primary went read-only.
func switchover(t *testing.T, oldPrimary, newPrimary, other *cluster.Node) (frozen time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := oldPrimary.Exec(ctx, "SET GLOBAL read_only = ON"); err != nil {
		t.Fatal(err)
	}
	frozen = time.Now()
	waitCaughtUp(t, gtidBinlogPos(t, oldPrimary), newPrimary, other)
	for _, s := range []struct {
		node  *cluster.Node
		stmts []string
	}{
		{newPrimary, []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = OFF"}},
		{other, []string{"STOP SLAVE", changeMasterTo(newPrimary, "slave_pos"), "START SLAVE"}},
		{oldPrimary, []string{changeMasterTo(newPrimary, "current_pos"), "START SLAVE"}},
	} {
		if err := s.node.Exec(ctx, s.stmts...); err != nil {
			t.Fatal(err)
		}
	}
	return frozen
}
