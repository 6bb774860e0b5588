package integration

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
	"github.com/tailgate-proxy/tailgate/router"
)

// serverShares sends n autocommit SELECT @@server_id through c and counts who answered.
func serverShares(t *testing.T, c *sql.Conn, n int) map[int]int {
	t.Helper()
	got := map[int]int{}
	for range n {
		got[serverID(t, c, "SELECT @@server_id")]++
	}
	return got
}

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.3f, want %.3f +- %.3f", what, got, want, tol)
	}
}

func TestReadsSpreadOverReplicas(t *testing.T) {
	primaryID, r1, r2 := int(shared.Primary.ServerID), int(shared.Replicas[0].ServerID), int(shared.Replicas[1].ServerID)

	t.Run("equal weights", func(t *testing.T) {
		tg := startTailgate(t, testConfig(shared))
		got := serverShares(t, conn(t, tg.db(t, "")), 1000)
		t.Logf("1000 reads: %v", got)
		if got[primaryID] != 0 {
			t.Errorf("primary served %d autocommit reads, want 0", got[primaryID])
		}
		within(t, "replica1 share", float64(got[r1])/1000, 0.5, 0.05)
		within(t, "replica2 share", float64(got[r2])/1000, 0.5, 0.05)
	})
	t.Run("weights 3:1", func(t *testing.T) {
		cfg := testConfig(shared)
		cfg.Replicas[0].Weight = 3
		tg := startTailgate(t, cfg)
		got := serverShares(t, conn(t, tg.db(t, "")), 1000)
		t.Logf("1000 reads: %v", got)
		if got[primaryID] != 0 {
			t.Errorf("primary served %d autocommit reads, want 0", got[primaryID])
		}
		within(t, "replica1 share", float64(got[r1])/1000, 0.75, 0.05)
	})
}

// ownGTIDs returns the binlog GTIDs a replica wrote itself (server id other than the
// primary's): any of them means a write ran on that replica.
func ownGTIDs(t *testing.T, n *cluster.Node, primaryID uint32) []string {
	t.Helper()
	pos := gtidBinlogPos(t, n)
	var own []string
	for _, g := range strings.Split(pos, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) == 3 && parts[1] != fmt.Sprint(primaryID) {
			own = append(own, g)
		}
	}
	return own
}

func TestWritesGoToPrimary(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	mustExec(t, c,
		"DROP TABLE IF EXISTS writes",
		"CREATE TABLE writes (id INT AUTO_INCREMENT PRIMARY KEY, v INT, sid INT)",
		"INSERT INTO writes (v, sid) VALUES (1, @@server_id), (2, @@server_id)",
		"UPDATE writes SET v = v + 10, sid = @@server_id WHERE id = 1",
		"REPLACE INTO writes (id, v, sid) VALUES (3, 3, @@server_id)",
		"DELETE FROM writes WHERE id = 2",
		"ALTER TABLE writes ADD COLUMN note VARCHAR(10)",
		"CREATE INDEX writes_v ON writes (v)",
		"TRUNCATE TABLE writes",
		"INSERT INTO writes (v, sid) VALUES (5, @@server_id)",
	)
	var sid int
	if err := c.QueryRowContext(context.Background(), "/* tailgate:primary */ SELECT sid FROM writes WHERE v = 5").Scan(&sid); err != nil {
		t.Fatal(err)
	}
	if sid != int(shared.Primary.ServerID) {
		t.Errorf("INSERT ran on server %d, want the primary %d", sid, shared.Primary.ServerID)
	}
	waitReplicated(t, shared)
	for _, r := range shared.Replicas {
		if own := ownGTIDs(t, r, shared.Primary.ServerID); len(own) > 0 {
			t.Errorf("%s wrote its own binlog events %v: a write ran on a replica", r.Name, own)
		}
	}

	primary := int(shared.Primary.ServerID)
	if id := serverID(t, c, "SELECT @@server_id FROM writes LIMIT 1 FOR UPDATE"); id != primary {
		t.Errorf("SELECT ... FOR UPDATE ran on %d, want the primary", id)
	}
	if id := serverID(t, c, "SELECT @@server_id FROM writes LIMIT 1 LOCK IN SHARE MODE"); id != primary {
		t.Errorf("SELECT ... LOCK IN SHARE MODE ran on %d, want the primary", id)
	}
	mustExec(t, c, "BEGIN")
	for range 5 {
		if id := serverID(t, c, "SELECT @@server_id"); id != primary {
			t.Errorf("SELECT inside BEGIN ran on %d, want the primary", id)
		}
	}
	mustExec(t, c, "COMMIT")
	eventuallyOnReplica(t, c, "after COMMIT")

	// Transactions opened through the API (go-sql-driver's BeginTx sends START TRANSACTION).
	tx, err := c.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if id := serverID(t, tx, "SELECT @@server_id"); id != primary {
		t.Errorf("read in BeginTx transaction ran on %d, want the primary", id)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	// autocommit=0 keeps everything on the primary until it is turned back on.
	mustExec(t, c, "SET autocommit = 0")
	if id := serverID(t, c, "SELECT @@server_id"); id != primary {
		t.Errorf("read with autocommit=0 ran on %d, want the primary", id)
	}
	mustExec(t, c, "COMMIT", "SET autocommit = 1")
	eventuallyOnReplica(t, c, "after SET autocommit=1")
}

func TestReadOnlyTransactionOnReplica(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	mustExec(t, c, "START TRANSACTION READ ONLY")
	first := serverID(t, c, "SELECT @@server_id")
	if first == int(shared.Primary.ServerID) {
		t.Fatalf("READ ONLY transaction ran on the primary")
	}
	for range 5 {
		if id := serverID(t, c, "SELECT @@server_id"); id != first {
			t.Fatalf("READ ONLY transaction moved from server %d to %d", first, id)
		}
	}
	mustExec(t, c, "COMMIT")
}

// TestSessionFunctionsLeaveReadOnlyTransaction: inside START TRANSACTION READ ONLY, held on
// a replica, a read of what belongs to the session's primary connection (LAST_INSERT_ID(),
// user locks) or to the primary (its binlog position) runs on the primary as it would
// outside the transaction, which stays on its replica: the lock excludes other sessions,
// and the session still holds it after COMMIT.
func TestSessionFunctionsLeaveReadOnlyTransaction(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := tg.db(t, "")
	c, other := conn(t, db), conn(t, db)
	ctx := context.Background()
	primary := int(shared.Primary.ServerID)
	const lock = "tailgate_rotx_lock"
	mustExec(t, c, "DROP TABLE IF EXISTS rotx", "CREATE TABLE rotx (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	res, err := c.ExecContext(ctx, "INSERT INTO rotx (v) VALUES (42)")
	if err != nil {
		t.Fatal(err)
	}
	insertID, _ := res.LastInsertId()
	waitSeenReplicated(t, tg, shared) // read-your-writes would start the transaction on the primary

	mustExec(t, c, "START TRANSACTION READ ONLY")
	txn := serverID(t, c, "SELECT @@server_id")
	if txn == primary {
		t.Fatalf("READ ONLY transaction ran on the primary")
	}
	var lid int64
	if err := c.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&lid); err != nil || lid != insertID {
		t.Errorf("LAST_INSERT_ID() in the read-only transaction = %d, %v; want %d", lid, err, insertID)
	}
	if got := serverID(t, c, "SELECT GET_LOCK('"+lock+"', 0)"); got != 1 {
		t.Fatalf("GET_LOCK in the read-only transaction = %d, want 1", got)
	}
	var pos string
	if err := c.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	if want := gtidBinlogPos(t, shared.Primary); pos != want {
		t.Errorf("@@gtid_binlog_pos in the read-only transaction = %q, want the primary's %q", pos, want)
	}
	if id := serverID(t, c, "SELECT @@server_id"); id != txn {
		t.Errorf("the read-only transaction moved from server %d to %d", txn, id)
	}
	if got := serverID(t, other, "SELECT GET_LOCK('"+lock+"', 0)"); got != 0 {
		t.Errorf("another session took the lock held by the read-only transaction's session: GET_LOCK = %d", got)
	}
	mustExec(t, c, "COMMIT")

	var holder sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT IS_USED_LOCK('"+lock+"')").Scan(&holder); err != nil || !holder.Valid {
		t.Errorf("IS_USED_LOCK after COMMIT = %v, %v; want the session's primary thread", holder, err)
	}
	if id := serverID(t, c, "SELECT @@server_id"); id != primary {
		t.Errorf("read while holding the lock ran on %d, want the primary", id)
	}
	if got := serverID(t, c, "SELECT RELEASE_LOCK('"+lock+"')"); got != 1 {
		t.Errorf("RELEASE_LOCK after COMMIT = %d, want 1 (the session's own lock)", got)
	}
}

// TestReadOnlyTransactionStatusOnPrimaryReads: the answer of a read that leaves a read-only
// transaction for the primary still says the transaction is open (SERVER_STATUS_IN_TRANS),
// as the replica would: a driver that trusts the flag must not skip the COMMIT.
func TestReadOnlyTransactionStatusOnPrimaryReads(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	rc := rawLogin(t, tg.addr)
	inTrans := func(what string, want bool) {
		t.Helper()
		if got := rc.status&gmysql.SERVER_STATUS_IN_TRANS != 0; got != want {
			t.Errorf("%s: SERVER_STATUS_IN_TRANS %v (status %#04x), want %v", what, got, rc.status, want)
		}
	}
	if _, err := rc.query("START TRANSACTION READ ONLY"); err != nil {
		t.Fatal(err)
	}
	inTrans("START TRANSACTION READ ONLY", true)
	txn := rc.queryValue("SELECT @@server_id").s
	if txn == fmt.Sprint(shared.Primary.ServerID) {
		t.Fatalf("the read-only transaction runs on the primary")
	}
	for _, q := range []string{"SELECT GET_LOCK('tailgate_rotx_status', 0)", "SELECT LAST_INSERT_ID()", "SELECT @@gtid_binlog_pos"} {
		rc.queryValue(q)
		inTrans(q, true)
	}
	if id := rc.queryValue("SELECT @@server_id").s; id != txn {
		t.Errorf("the transaction moved from server %s to %s", txn, id)
	}
	if _, err := rc.query("COMMIT"); err != nil {
		t.Fatal(err)
	}
	inTrans("COMMIT", false)
	if v := rc.queryValue("SELECT RELEASE_LOCK('tailgate_rotx_status')"); v.s != "1" {
		t.Errorf("RELEASE_LOCK = %+v, want 1: the session's lock on the primary", v)
	}
	inTrans("after the transaction", false)
}

// TestMariaDBTemporaryTablesOnPrimary: temporary tables and sequences created with MariaDB
// syntax the parser rejects live on the session's primary connection like any other: the
// session's reads of them find them there, and once dropped the session's reads go back to
// the replicas.
func TestMariaDBTemporaryTablesOnPrimary(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	ctx := context.Background()
	mustExec(t, c, "CREATE OR REPLACE TEMPORARY TABLE tmp_cr (a INT)", "INSERT INTO tmp_cr VALUES (1)")
	var n int
	if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM tmp_cr").Scan(&n); err != nil || n != 1 {
		t.Fatalf("read of a CREATE OR REPLACE TEMPORARY TABLE: %d, %v", n, err)
	}
	mustExec(t, c, "DROP TEMPORARY TABLE tmp_cr", "CREATE TEMPORARY SEQUENCE tmp_sq")
	var next int
	if err := c.QueryRowContext(ctx, "SELECT next_not_cached_value FROM tmp_sq").Scan(&next); err != nil || next != 1 {
		t.Fatalf("read of a CREATE TEMPORARY SEQUENCE: %d, %v", next, err)
	}
	mustExec(t, c, "DROP TEMPORARY SEQUENCE tmp_sq")
	eventuallyOnReplica(t, c, "after DROP TEMPORARY SEQUENCE")
}

func TestSessionStateFollowsTheSession(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	primary := int(shared.Primary.ServerID)
	mustExec(t, c,
		"SET @@session.sql_mode = 'ANSI_QUOTES,STRICT_TRANS_TABLES'",
		"SET @v = 42, @w = 'tailgate'",
		"SET NAMES latin1",
		"SET SESSION time_zone = '+03:00'",
	)
	for range 10 { // both replicas serve some of these
		var mode, w, cs, tz string
		var v, id int
		err := c.QueryRowContext(context.Background(),
			"SELECT @@server_id, @@session.sql_mode, @v, @w, @@character_set_client, @@session.time_zone").Scan(&id, &mode, &v, &w, &cs, &tz)
		if err != nil {
			t.Fatal(err)
		}
		if id == primary {
			t.Fatalf("read went to the primary")
		}
		if !strings.Contains(mode, "ANSI_QUOTES") || v != 42 || w != "tailgate" || cs != "latin1" || tz != "+03:00" {
			t.Fatalf("server %d sees sql_mode=%q @v=%d @w=%q charset=%q tz=%q: session state not applied", id, mode, v, w, cs, tz)
		}
	}
	// A later SET replaces the earlier value everywhere.
	mustExec(t, c, "SET @v = 43")
	for range 4 {
		var v int
		if err := c.QueryRowContext(context.Background(), "SELECT @v").Scan(&v); err != nil || v != 43 {
			t.Fatalf("@v = %d, %v after SET @v = 43", v, err)
		}
	}
	// USE follows the session too.
	mustExec(t, c, "CREATE DATABASE IF NOT EXISTS other_db")
	waitReplicated(t, shared)
	mustExec(t, c, "USE other_db")
	for range 4 {
		var db string
		if err := c.QueryRowContext(context.Background(), "SELECT DATABASE()").Scan(&db); err != nil || db != "other_db" {
			t.Fatalf("DATABASE() = %q, %v after USE other_db", db, err)
		}
	}
}

func TestLastInsertIDAndSessionPins(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	primary := int(shared.Primary.ServerID)
	mustExec(t, c, "DROP TABLE IF EXISTS ids", "CREATE TABLE ids (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	for i := range 20 {
		res, err := c.ExecContext(context.Background(), "INSERT INTO ids (v) VALUES (?)", i)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := res.LastInsertId()
		var got int64
		if err := c.QueryRowContext(context.Background(), "SELECT LAST_INSERT_ID()").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want || got == 0 {
			t.Fatalf("LAST_INSERT_ID() = %d after an insert with id %d", got, want)
		}
	}

	// Temporary tables live on the primary: the session stays there while one exists.
	mustExec(t, c, "CREATE TEMPORARY TABLE tmp1 (id INT)", "INSERT INTO tmp1 VALUES (7)")
	var n int
	if err := c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM tmp1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("temporary table read: %d, %v", n, err)
	}
	if id := serverID(t, c, "SELECT @@server_id"); id != primary {
		t.Errorf("read with a temporary table ran on %d, want the primary", id)
	}
	mustExec(t, c, "DROP TEMPORARY TABLE tmp1")
	eventuallyOnReplica(t, c, "after DROP TEMPORARY TABLE")

	// A GET_LOCK lock keeps the session on the primary until released.
	if id := serverID(t, c, "SELECT GET_LOCK('tailgate_test_lock', 1)"); id != 1 {
		t.Fatalf("GET_LOCK returned %d", id)
	}
	if id := serverID(t, c, "SELECT @@server_id"); id != primary {
		t.Errorf("read while holding a user lock ran on %d, want the primary", id)
	}
	var held int
	if err := c.QueryRowContext(context.Background(), "SELECT IS_USED_LOCK('tailgate_test_lock') IS NOT NULL").Scan(&held); err != nil || held != 1 {
		t.Fatalf("lock not held on the primary: %d, %v", held, err)
	}
	mustExec(t, c, "DO RELEASE_LOCK('tailgate_test_lock')")
	eventuallyOnReplica(t, c, "after RELEASE_LOCK")
}

// TestConnectionIDStaysTheSessions: CONNECTION_ID() answers as on a server: the same value
// for the whole session, the thread on the primary that runs the session's writes (rows
// stamped with it are found by it later), while other sessions take pooled connections in
// between.
func TestConnectionIDStaysTheSessions(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := tg.db(t, "")
	c := conn(t, db)
	mustExec(t, c, "DROP TABLE IF EXISTS cid_jobs", "CREATE TABLE cid_jobs (id INT AUTO_INCREMENT PRIMARY KEY, owner BIGINT)")
	var first int64
	if err := c.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&first); err != nil {
		t.Fatal(err)
	}
	others := make([]*sql.Conn, 6)
	for i := range others {
		others[i] = conn(t, db)
	}
	for round := range 10 {
		for _, o := range others { // borrow and give back pooled primary and replica connections
			mustExec(t, o, "INSERT INTO cid_jobs (owner) VALUES (-1)")
			serverID(t, o, "SELECT @@server_id")
		}
		var id int64
		if err := c.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		if id != first {
			t.Fatalf("round %d: CONNECTION_ID() = %d, first %d: it changed within the session", round, id, first)
		}
		mustExec(t, c, "INSERT INTO cid_jobs (owner) VALUES (CONNECTION_ID())")
		var mine int
		if err := c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM cid_jobs WHERE owner = CONNECTION_ID()").Scan(&mine); err != nil {
			t.Fatal(err)
		}
		if mine != round+1 {
			t.Fatalf("round %d: the session finds %d of its %d rows by CONNECTION_ID()", round, mine, round+1)
		}
	}
	var onPrimary int
	if err := primaryDB(t).QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", first).Scan(&onPrimary); err != nil || onPrimary != 1 {
		t.Errorf("CONNECTION_ID() %d is not a thread on the primary (%d, %v)", first, onPrimary, err)
	}
	// It keeps its primary connection, not its reads: they go to replicas again (once they
	// have its writes, read-your-writes).
	eventuallyOnReplica(t, c, "after CONNECTION_ID()")
}

// TestSessionFunctionsOnPooledConnections: ROW_COUNT() and LAST_INSERT_ID() through pooled
// primary connections. ROW_COUNT() after INSERT/UPDATE/DELETE is the statement's own (the
// session gets its connection back from the pool). When other sessions hold that connection
// (open transactions), LAST_INSERT_ID() is still the session's own on another connection, in
// a read (also of @@last_insert_id), in an INSERT ... VALUES (LAST_INSERT_ID()) (also prepared)
// and in SET @v = LAST_INSERT_ID().
func TestSessionFunctionsOnPooledConnections(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := tg.db(t, "")
	c := conn(t, db)
	mustExec(t, c, "DROP TABLE IF EXISTS rc_parent", "DROP TABLE IF EXISTS rc_child",
		"CREATE TABLE rc_parent (id INT AUTO_INCREMENT PRIMARY KEY, conn BIGINT)",
		"CREATE TABLE rc_child (id INT AUTO_INCREMENT PRIMARY KEY, parent INT, conn BIGINT)")
	rowCount := func(after string) int {
		t.Helper()
		mustExec(t, c, after)
		var n int
		if err := c.QueryRowContext(context.Background(), "SELECT ROW_COUNT()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		sql  string
		want int
	}{
		{"INSERT INTO rc_parent (conn) VALUES (1), (2), (3)", 3},
		{"UPDATE rc_parent SET conn = conn + 10 WHERE conn <= 2", 2},
		{"DELETE FROM rc_parent WHERE conn = 3", 1},
		{"INSERT INTO rc_parent (conn) VALUES (@@pseudo_thread_id)", 1},
	} {
		if got := rowCount(tc.sql); got != tc.want {
			t.Errorf("ROW_COUNT() after %q = %d, want %d", tc.sql, got, tc.want)
		}
	}

	// Other sessions take every idle primary connection into open transactions, so the
	// next statement of c runs on a connection that did not run its insert.
	var holders []*sql.Tx
	defer func() {
		for _, tx := range holders {
			_ = tx.Rollback()
		}
	}()
	hold := func(n int) {
		for range n {
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			holders = append(holders, tx)
			if _, err := tx.Exec("UPDATE rc_parent SET conn = conn WHERE id = -1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	// "set" and "select-expr" pin the session to its primary connection (the value then
	// lives only there): each runs on a connection of its own, after the others.
	for trial, how := range []string{"insert", "select", "prepared", "sysvar", "update-expr", "insert", "select", "set", "select-expr"} {
		if how == "set" || how == "select-expr" {
			c = conn(t, db)
		}
		res, err := c.ExecContext(context.Background(), "INSERT INTO rc_parent (conn) VALUES (@@pseudo_thread_id)")
		if err != nil {
			t.Fatal(err)
		}
		parent, _ := res.LastInsertId()
		if how == "update-expr" {
			// The sequence idiom: the OK packet of the UPDATE carries the value set.
			mustExec(t, c, fmt.Sprintf("UPDATE rc_parent SET id = LAST_INSERT_ID(id + 1000) WHERE id = %d", parent))
			parent += 1000
		}
		hold(4)
		switch how {
		case "select-expr":
			// No OK packet tells this value: the session must stay where it was set, even
			// when others would take that connection.
			mustExec(t, c, fmt.Sprintf("SELECT LAST_INSERT_ID(id + 2000) FROM rc_parent WHERE id = %d", parent),
				fmt.Sprintf("UPDATE rc_parent SET id = id + 2000 WHERE id = %d", parent))
			hold(8)
			mustExec(t, c, "INSERT INTO rc_child (parent, conn) VALUES (LAST_INSERT_ID(), @@pseudo_thread_id)")
			parent += 2000
		case "insert", "update-expr":
			mustExec(t, c, "INSERT INTO rc_child (parent, conn) VALUES (LAST_INSERT_ID(), @@pseudo_thread_id)")
		case "prepared": // COM_STMT_EXECUTE (go-sql-driver prepares when given arguments)
			if _, err := c.ExecContext(context.Background(), "INSERT INTO rc_child (parent, conn) VALUES (LAST_INSERT_ID() + ?, @@pseudo_thread_id)", 0); err != nil {
				t.Fatal(err)
			}
		case "set":
			mustExec(t, c, "SET @p = LAST_INSERT_ID()", "INSERT INTO rc_child (parent, conn) VALUES (@p, @@pseudo_thread_id)")
		case "select", "sysvar":
			q := "SELECT LAST_INSERT_ID()"
			if how == "sysvar" {
				q = "SELECT @@last_insert_id"
			}
			var got int64
			if err := c.QueryRowContext(context.Background(), q).Scan(&got); err != nil {
				t.Fatal(err)
			}
			mustExec(t, c, fmt.Sprintf("INSERT INTO rc_child (parent, conn) VALUES (%d, @@pseudo_thread_id)", got))
		}
		var got, parentConn, childConn int64
		if err := c.QueryRowContext(context.Background(),
			"/* tailgate:primary */ SELECT c.parent, p.conn, c.conn FROM rc_child c JOIN rc_parent p ON p.id = ? ORDER BY c.id DESC LIMIT 1", parent).
			Scan(&got, &parentConn, &childConn); err != nil {
			t.Fatal(err)
		}
		if got != parent {
			t.Errorf("trial %d (%s): LAST_INSERT_ID() on another connection = %d, want %d", trial, how, got, parent)
		}
		if parentConn == childConn {
			t.Errorf("trial %d (%s): the insert and the LAST_INSERT_ID() read shared connection %d: the test did not move it", trial, how, parentConn)
		}
	}
}

// TestDiagnosticsStayInTheirSession: session A leaves an error or a warning on a pooled
// primary connection, then moves on to a replica, so that connection goes back to the pool;
// session B gets it next, and its SHOW WARNINGS, SHOW ERRORS and @@warning_count /
// @@error_count must be empty, not A's.
func TestDiagnosticsStayInTheirSession(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := tg.db(t, "")
	const connID = "/* tailgate:primary */ SELECT @@pseudo_thread_id"
	for _, leave := range []string{"SELECT * FROM no_such_table", "SELECT CAST('1x' AS SIGNED)"} {
		a, b := conn(t, db), conn(t, db)
		var aID, bID int64
		if err := a.QueryRowContext(context.Background(), connID).Scan(&aID); err != nil {
			t.Fatal(err)
		}
		_, _ = a.ExecContext(context.Background(), "/* tailgate:primary */ "+leave)
		if got := resultText(a, "SHOW WARNINGS"); !strings.Contains(got, "(") {
			t.Fatalf("session A after %q: SHOW WARNINGS = %s, want its message", leave, got)
		}
		if id := serverID(t, a, "SELECT @@server_id"); id == int(shared.Primary.ServerID) {
			t.Fatalf("session A's read ran on the primary: it did not move on")
		}
		for _, q := range []string{"SHOW WARNINGS", "SHOW ERRORS", "SELECT @@warning_count, @@error_count", connID} {
			got := resultText(b, q)
			t.Logf("after %q in session A: session B %s -> %s", leave, q, got)
			switch q {
			case "SHOW WARNINGS", "SHOW ERRORS":
				if got != "[Level Code Message]:" {
					t.Errorf("after %q in another session: %s = %s, want empty", leave, q, got)
				}
			case "SELECT @@warning_count, @@error_count":
				if got != "[@@warning_count @@error_count]: (0, 0)" {
					t.Errorf("after %q in another session: %s = %s", leave, q, got)
				}
			default:
				_, _ = fmt.Sscanf(got, "[@@pseudo_thread_id]: (%d)", &bID)
			}
		}
		if bID != aID {
			t.Errorf("session B ran on backend connection %d, A on %d: the test did not hand the connection over", bID, aID)
		}
		discard(t, a)
		discard(t, b)
	}
}

// discard closes c's client connection instead of returning it to the pool.
func discard(t *testing.T, c *sql.Conn) {
	t.Helper()
	if err := c.Raw(func(any) error { return driver.ErrBadConn }); !errors.Is(err, driver.ErrBadConn) {
		t.Fatal(err)
	}
	_ = c.Close()
}

// TestNoBackslashEscapes: with NO_BACKSLASH_ESCAPES in sql_mode, 'x\' ends at its second
// quote, so SELECT 'x\' AS a; INSERT ...; -- ' is a read and an INSERT to the server (and
// one read with backslash escapes). Tailgate learns the mode from the status flags and must
// send it to the primary, where the INSERT succeeds (a replica refuses it: read_only).
func TestNoBackslashEscapes(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	primary := primaryDB(t)
	mustExec(t, primary, "CREATE TABLE IF NOT EXISTS nbe (x INT)", "DELETE FROM nbe")
	waitReplicated(t, shared)
	db := tg.db(t, "multiStatements=true")
	for i := range 4 { // both replicas would have had a turn
		// A session that has not written yet (read-your-writes would keep its reads on
		// the primary anyway).
		c := conn(t, db)
		mustExec(t, c, "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
		rows, err := c.QueryContext(context.Background(), fmt.Sprintf(`SELECT 'x\' AS a; INSERT INTO nbe VALUES (%d); -- '`, i))
		if err != nil {
			t.Fatalf("statement %d: %v", i, err)
		}
		for rows.Next() {
		}
		for rows.NextResultSet() {
			for rows.Next() {
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("statement %d: %v", i, err)
		}
		_ = rows.Close()
		discard(t, c)
	}
	var n int
	if err := primary.QueryRow("SELECT COUNT(*) FROM nbe").Scan(&n); err != nil || n != 4 {
		t.Fatalf("rows inserted on the primary: %d, %v; want 4", n, err)
	}
	// Another session, in the default mode: a read with a backslash in a string goes to a
	// replica (this one's reads follow its inserts to the primary: read-your-writes).
	other := conn(t, tg.db(t, ""))
	if id := serverID(t, other, `SELECT @@server_id FROM (SELECT 'x\\' AS a) t`); id == int(shared.Primary.ServerID) {
		t.Errorf("a plain read in a session in the default mode ran on the primary")
	}
}

// TestANSIQuotes: with ANSI_QUOTES in sql_mode (set by the session, or the servers' default),
// "t" is a table: reads that quote names so go to the replicas like any read. And "a\" is
// an identifier ending at its second quote, where a parser with backslash escapes reads on:
// SELECT "a\" FROM t; INSERT ...; -- " is a read and an INSERT, which must reach the primary.
func TestANSIQuotes(t *testing.T) {
	primary := primaryDB(t)
	primary.SetMaxOpenConns(1) // one session: the SET holds for the CREATE
	mustExec(t, primary, "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", "DROP TABLE IF EXISTS ansi",
		`CREATE TABLE ansi ("a\" INT, "b" INT)`)
	waitReplicated(t, shared)
	readsOnReplicas := func(t *testing.T, c *sql.Conn) {
		t.Helper()
		for range 4 {
			if id := serverID(t, c, `SELECT @@server_id AS "id" FROM DUAL WHERE (SELECT COUNT("b") FROM "ansi") >= 0`); id == int(shared.Primary.ServerID) {
				t.Fatal("a read quoting names with ANSI_QUOTES ran on the primary")
			}
		}
	}
	insert := func(t *testing.T, c *sql.Conn, v int) {
		t.Helper()
		rows, err := c.QueryContext(context.Background(), fmt.Sprintf(`SELECT "a\" FROM ansi; INSERT INTO ansi (b) VALUES (%d); -- "`, v))
		if err == nil {
			for rows.NextResultSet() {
			}
			err = rows.Err()
			_ = rows.Close()
		}
		if err != nil {
			t.Fatalf("a read and an INSERT in ANSI_QUOTES: %v", err)
		}
	}

	tg := startTailgate(t, testConfig(shared))
	t.Run("session", func(t *testing.T) {
		c := conn(t, tg.db(t, "multiStatements=true"))
		mustExec(t, c, "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')")
		readsOnReplicas(t, c)
		mustExec(t, c, "SET sql_mode = DEFAULT") // "..." is a string again
		if id := serverID(t, c, `SELECT @@server_id FROM (SELECT "x" AS a) t`); id == int(shared.Primary.ServerID) {
			t.Error("a plain read after leaving ANSI_QUOTES ran on the primary")
		}
		mustExec(t, c, "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')")
		insert(t, c, 1)
	})

	t.Run("others keep the default", func(t *testing.T) {
		// A session in ANSI_QUOTES sets its own session tracking, and tailgate restores its
		// tracking there: the sql_mode that reports is the session's, not the servers'
		// default that new sessions start in. The session holds its primary connection (a
		// transaction) and a clean one waits in the pool, so the next login checks out that
		// one and no connection starts afresh in between.
		c := conn(t, tg.db(t, ""))
		mustExec(t, c, "BEGIN")
		conn(t, tg.db(t, "")) // its login check leaves a clean primary connection idle
		mustExec(t, c, "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", "SET session_track_system_variables = 'autocommit'",
			"DO 1") // answered once the session is done with the SET (the restore follows its OK)
		other := conn(t, tg.db(t, ""))
		if id := serverID(t, other, `SELECT @@server_id FROM (SELECT "a\"b" AS a) t`); id == int(shared.Primary.ServerID) {
			t.Error("a new session read a string with an escaped quote in another session's ANSI_QUOTES mode (on the primary)")
		}
		mustExec(t, c, "ROLLBACK")
	})

	t.Run("server default", func(t *testing.T) {
		for _, n := range shared.Nodes() {
			if err := n.Exec(context.Background(), "SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',ANSI_QUOTES')"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := n.Exec(context.Background(), "SET GLOBAL sql_mode = REPLACE(@@GLOBAL.sql_mode, 'ANSI_QUOTES', '')"); err != nil {
					t.Error(err)
				}
			})
		}
		// A new tailgate: its first connections see the new default.
		c := conn(t, startTailgate(t, testConfig(shared)).db(t, "multiStatements=true"))
		readsOnReplicas(t, c)
		insert(t, c, 2)
	})
	var n int
	if err := primary.QueryRow(`SELECT COUNT(*) FROM ansi`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows inserted on the primary: %d, %v; want 2", n, err)
	}
}

// TestMultiStatementSetsFollowTheSession: SETs sent together as one multi-statement (as some
// drivers do at connect) run on the primary and are replayed on the replicas, whose reads then
// see them; the session is not kept on the primary for it.
func TestMultiStatementSetsFollowTheSession(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, "multiStatements=true"))
	mustExec(t, c, "SET NAMES latin1; SET time_zone = '+02:00'; SET @tag = 'multi'")
	shares := map[int]int{}
	for range 10 {
		var sid int
		var tz, cs, tag string
		if err := c.QueryRowContext(context.Background(), "SELECT @@server_id, @@time_zone, @@character_set_client, @tag").Scan(&sid, &tz, &cs, &tag); err != nil {
			t.Fatal(err)
		}
		shares[sid]++
		if tz != "+02:00" || cs != "latin1" || tag != "multi" {
			t.Errorf("server %d: time_zone %q, character_set_client %q, @tag %q; want +02:00, latin1, multi", sid, tz, cs, tag)
		}
	}
	t.Logf("reads per server_id after the SETs: %v", shares)
	for _, r := range shared.Replicas {
		if shares[int(r.ServerID)] == 0 {
			t.Errorf("%s served none of the reads: the session stayed on the primary", r.Name)
		}
	}
	// Nor does it hold on to a primary connection (as after a multi-statement write).
	for _, si := range tg.app.Server().Sessions() {
		if si.Pinned != "" {
			t.Errorf("session %d pinned to %s after a multi-statement of SETs", si.ID, si.Pinned)
		}
	}
}

func TestShowWarningsFollowsTheStatement(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	for range 6 {
		var x sql.NullInt64
		if err := c.QueryRowContext(context.Background(), "SELECT 1/0").Scan(&x); err != nil {
			t.Fatal(err)
		}
		var count int
		if err := c.QueryRowContext(context.Background(), "SELECT @@warning_count").Scan(&count); err != nil {
			t.Fatal(err)
		}
		if count != 1 {
			t.Fatalf("@@warning_count after SELECT 1/0 = %d, want 1 (asked a different backend?)", count)
		}
	}
}

// eventuallyOnReplica checks that autocommit reads return to the replicas once they have
// applied the session's writes (read-your-writes keeps them on the primary until then).
func eventuallyOnReplica(t *testing.T, c *sql.Conn, when string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if serverID(t, c, "SELECT @@server_id") != int(shared.Primary.ServerID) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("reads %s still go to the primary after 3s", when)
}

// TestStoredFunctionsOnPrimary: a stored function may write, so a SELECT that calls one runs
// on the primary (on a read_only replica its write would fail, on a writable one it would
// land there), and the session's next read sees what it wrote although a result set carries
// no GTID; with /* tailgate:replica */ the application vouches that a function only reads.
// Every function MariaDB lists as built in is known as one (else its reads would all go to
// the primary).
func TestStoredFunctionsOnPrimary(t *testing.T) {
	root, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	mustExec(t, root,
		"DROP TABLE IF EXISTS tailgate_test.visits",
		"CREATE TABLE tailgate_test.visits (id INT AUTO_INCREMENT PRIMARY KEY, sid INT)",
		"DROP FUNCTION IF EXISTS tailgate_test.log_visit",
		"CREATE FUNCTION tailgate_test.log_visit() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO tailgate_test.visits (sid) VALUES (@@server_id); RETURN @@server_id; END",
		"DROP FUNCTION IF EXISTS tailgate_test.double_it",
		"CREATE FUNCTION tailgate_test.double_it(x INT) RETURNS INT DETERMINISTIC NO SQL RETURN 2 * x",
	)
	c := lagOneReplica(t, "", "stored_fn_dummy") // replica1 stopped but "online"
	ctx := context.Background()
	primary := int(shared.Primary.ServerID)
	for i := 1; i <= 20; i++ {
		if id := serverID(t, c, "SELECT log_visit()"); id != primary {
			t.Fatalf("SELECT log_visit() ran on server %d, want the primary (%d)", id, primary)
		}
		var n int
		if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM visits").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i {
			t.Fatalf("after %d calls the session reads %d visits: it missed its own write", i, n)
		}
	}
	sqlThread(t, shared.Replicas[0], true)
	waitReplicated(t, shared)
	for _, r := range shared.Replicas {
		if own := ownGTIDs(t, r, shared.Primary.ServerID); len(own) > 0 {
			t.Errorf("%s wrote its own binlog events %v: a stored function ran there", r.Name, own)
		}
	}
	hinted := func() int {
		t.Helper()
		var v, sid int
		if err := c.QueryRowContext(ctx, "/* tailgate:replica */ SELECT double_it(21), @@server_id").Scan(&v, &sid); err != nil || v != 42 {
			t.Fatalf("double_it(21) = %d, %v", v, err)
		}
		return sid
	}
	// Until tailgate has seen the replicas apply the last log_visit(), read-your-writes
	// keeps the session's reads on the primary.
	for deadline := time.Now().Add(5 * time.Second); hinted() == primary; {
		if time.Now().After(deadline) {
			t.Fatal("no hinted read reached a replica within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := map[int]int{}
	for range 20 {
		got[hinted()]++
	}
	if got[primary] != 0 {
		t.Errorf("with the replica hint, reads by server %v: want none on the primary", got)
	}

	var names []string
	rows, err := root.Query("SELECT LOWER(FUNCTION) FROM information_schema.SQL_FUNCTIONS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		if !router.BuiltinFunction(n) {
			names = append(names, n)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) > 0 {
		t.Errorf("functions MariaDB has built in that tailgate takes for stored ones (add them to router/builtins.go): %v", names)
	}
}

// TestSetRoleFollowsTheSession: SET ROLE changes the session's privileges, so it is session
// state like a SET: replayed on the replicas that serve its reads, and gone from pooled
// connections that another session of the same user borrows. One backend connection per
// server makes both sessions share them.
func TestSetRoleFollowsTheSession(t *testing.T) {
	root, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Close() }) // after the cleanup below, which uses it
	mustExec(t, root,
		"DROP TABLE IF EXISTS tailgate_test.role_rows",
		"CREATE TABLE tailgate_test.role_rows (id INT PRIMARY KEY)",
		"INSERT INTO tailgate_test.role_rows VALUES (1), (2)",
		"DROP USER IF EXISTS role_user@'%'",
		"DROP ROLE IF EXISTS tg_reader",
		"CREATE ROLE tg_reader",
		"GRANT SELECT ON tailgate_test.* TO tg_reader",
		"CREATE USER role_user@'%' IDENTIFIED BY 'role-secret'",
		"GRANT tg_reader TO role_user@'%'",
		// Some privilege in the database of its own, so that a login naming it works.
		"CREATE TABLE IF NOT EXISTS tailgate_test.role_probe (id INT)",
		"GRANT SELECT ON tailgate_test.role_probe TO role_user@'%'",
	)
	t.Cleanup(func() {
		_, _ = root.Exec("DROP USER IF EXISTS role_user@'%'")
		_, _ = root.Exec("DROP ROLE IF EXISTS tg_reader")
	})
	waitReplicated(t, shared)

	cfg := testConfig(shared)
	cfg.Users = append(cfg.Users, config.User{Name: "role_user", Password: "role-secret"})
	cfg.Proxy.MaxBackendConnections = 1
	tg := startTailgate(t, cfg)
	open := func() *sql.Conn {
		db, err := sql.Open("mysql", fmt.Sprintf("role_user:role-secret@tcp(%s)/", tg.addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return conn(t, db)
	}
	ctx := context.Background()
	// count reads role_rows, answering the server that ran it, or 0 when refused (1142).
	count := func(c *sql.Conn) (sid int, denied bool) {
		t.Helper()
		var n int
		err := c.QueryRowContext(ctx, "SELECT COUNT(*), @@server_id FROM tailgate_test.role_rows").Scan(&n, &sid)
		var myErr *mysql.MySQLError
		if errors.As(err, &myErr) && myErr.Number == 1142 {
			return 0, true
		}
		if err != nil || n != 2 {
			t.Fatalf("read role_rows: %d rows, %v", n, err)
		}
		return sid, false
	}
	withRole, other := open(), open()
	if _, denied := count(withRole); !denied {
		t.Fatal("role_user reads role_rows before SET ROLE: the test's grants are wrong")
	}
	mustExec(t, withRole, "SET ROLE tg_reader")
	servers := map[int]int{}
	for i := range 20 {
		sid, denied := count(withRole)
		if denied {
			t.Fatalf("read %d after SET ROLE refused: the role did not follow the session", i)
		}
		servers[sid]++
		if i%3 != 0 { // not every time: round robin would give each session one replica
			continue
		}
		// CURRENT_ROLE(), not a refused read: a statement that fails keeps its connection
		// (for SHOW WARNINGS), which would leave the other session none.
		var role sql.NullString
		if err := other.QueryRowContext(ctx, "SELECT CURRENT_ROLE()").Scan(&role); err != nil {
			t.Fatal(err)
		}
		if role.Valid {
			t.Fatalf("read %d: the other session has role %q: SET ROLE leaked through a pooled connection", i, role.String)
		}
	}
	if servers[int(shared.Replicas[0].ServerID)] == 0 || servers[int(shared.Replicas[1].ServerID)] == 0 {
		t.Errorf("reads with the role by server %v: want both replicas", servers)
	}
	mustExec(t, withRole, "SET ROLE NONE")
	if _, denied := count(withRole); !denied {
		t.Error("read after SET ROLE NONE succeeded")
	}

	// A client's COM_RESET_CONNECTION (pools send one as a connection comes back) while the
	// session holds the connection that ran SET ROLE (a transaction): tailgate must not give
	// that connection to another session as clean, since MariaDB's reset keeps the role. Two
	// raw sessions with the same login and database share the primary's one connection.
	rawRoleUser := func() *rawClient {
		rc := dialRaw(t, tg.addr)
		if err := rc.login("role_user", "role-secret", gmysql.AUTH_NATIVE_PASSWORD); err != nil {
			t.Fatal(err)
		}
		return rc
	}
	rc, next := rawRoleUser(), rawRoleUser()
	for _, q := range []string{"BEGIN", "SET ROLE tg_reader", "SELECT COUNT(*) FROM tailgate_test.role_rows"} {
		if _, err := rc.query(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if p, err := rc.simple(gmysql.COM_RESET_CONNECTION, nil); err != nil || p[0] != gmysql.OK_HEADER {
		t.Fatalf("COM_RESET_CONNECTION = % x, %v; want OK", p, err)
	}
	if v := next.queryValue("/* tailgate:primary */ SELECT CURRENT_ROLE()"); v.valid {
		t.Errorf("after another session's SET ROLE and COM_RESET_CONNECTION, a session on the primary has role %q", v.s)
	}
	if v := rc.queryValue("/* tailgate:primary */ SELECT CURRENT_ROLE()"); v.valid {
		t.Errorf("the reset session itself still has role %q", v.s)
	}
}

// TestPrimaryStatusFromPrimary: SHOW MASTER STATUS (and BINLOG STATUS, BINARY LOGS) ask for
// the primary's binary log: tailgate answers the primary's, not a replica's own.
func TestPrimaryStatusFromPrimary(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	root, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	// column is one column of every row of a SHOW.
	column := func(q rowsQueryer, query, name string) []string {
		t.Helper()
		var out []string
		for _, row := range queryRows(t, q, query) {
			out = append(out, row[name])
		}
		return out
	}
	// The servers name their logs alike: rotate the primary's (not replicated) so that its
	// list differs from the replicas'.
	mustExec(t, root, "FLUSH NO_WRITE_TO_BINLOG BINARY LOGS", "FLUSH NO_WRITE_TO_BINLOG BINARY LOGS")
	want := column(root, "SHOW BINARY LOGS", "Log_name")
	var replicaLogs []string
	for _, r := range shared.Replicas {
		rdb, err := r.RootDB()
		if err != nil {
			t.Fatal(err)
		}
		replicaLogs = append(replicaLogs, strings.Join(column(rdb, "SHOW BINARY LOGS", "Log_name"), ","))
		_ = rdb.Close()
	}
	if slices.Contains(replicaLogs, strings.Join(want, ",")) {
		t.Fatalf("a replica has the primary's binary log names %v: the test cannot tell them apart", want)
	}
	for range 4 { // round robin would reach both replicas
		for _, q := range []string{"SHOW BINARY LOGS", "SHOW MASTER LOGS"} {
			if got := column(c, q, "Log_name"); !slices.Equal(got, want) {
				t.Errorf("%s through tailgate = %v, want the primary's %v", q, got, want)
			}
		}
		for _, q := range []string{"SHOW MASTER STATUS", "SHOW BINLOG STATUS"} {
			if got := column(c, q, "File"); len(got) != 1 || got[0] != want[len(want)-1] {
				t.Errorf("%s through tailgate: file %v, want the primary's current %s", q, got, want[len(want)-1])
			}
		}
	}
}

// TestReadThatWritesLearned: a read that writes without the statement showing it (a view
// calling a writing function) runs into a replica's read-only error. Tailgate runs it on
// the primary instead, transparently (once: the function's row is written once, never on a
// replica), and sends its digest's reads there from then on (EXPLAIN ROUTE and SHOW
// DIGESTS say so); a prepared execution likewise; the session reads its own write.
func TestReadThatWritesLearned(t *testing.T) {
	root, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	mustExec(t, root,
		"DROP TABLE IF EXISTS tailgate_test.view_visits",
		"CREATE TABLE tailgate_test.view_visits (id INT AUTO_INCREMENT PRIMARY KEY, sid INT)",
		"DROP FUNCTION IF EXISTS tailgate_test.view_log",
		"CREATE FUNCTION tailgate_test.view_log() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO tailgate_test.view_visits (sid) VALUES (@@server_id); RETURN @@server_id; END",
		"CREATE OR REPLACE VIEW tailgate_test.visiting AS SELECT tailgate_test.view_log() AS sid",
		"CREATE OR REPLACE VIEW tailgate_test.visiting2 AS SELECT tailgate_test.view_log() AS sid, 2 AS k",
	)
	waitReplicated(t, shared)
	tg := startTailgate(t, freshConfig(shared, time.Second, 500*time.Millisecond))
	waitTailer(t, tg, shared)
	adm := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)
	route := func(sql string) string {
		t.Helper()
		return queryRows(t, adm, "EXPLAIN ROUTE "+sql)[0]["reason"]
	}
	if r := route("SELECT sid FROM visiting"); r != string(router.ReasonRead) {
		t.Fatalf("before any run, EXPLAIN ROUTE says %s: the view's write must not be visible to the classifier for this test", r)
	}
	c := conn(t, tg.db(t, ""))
	ctx := context.Background()
	primary := int(shared.Primary.ServerID)
	for i := 1; i <= 5; i++ {
		if id := serverID(t, c, "SELECT sid FROM visiting"); id != primary {
			t.Fatalf("call %d: the view's function ran on server %d, want the primary (%d)", i, id, primary)
		}
		var n int
		if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM view_visits").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i {
			t.Fatalf("after %d reads of the view the session sees %d rows: want one per read (none lost, none twice)", i, n)
		}
	}
	if r := route("SELECT sid FROM visiting"); r != string(router.ReasonWroteOnReplica) {
		t.Errorf("after the first run, EXPLAIN ROUTE says %s, want %s", r, router.ReasonWroteOnReplica)
	}
	if d := digestRow(t, adm, "SELECT sid FROM visiting"); d["class"] != "read/wrote_on_replica" || d["count"] != "5" || d["primary"] != "5" || d["errors"] != "0" {
		t.Errorf("SHOW DIGESTS row %v, want class read/wrote_on_replica, 5 on the primary, no error", d)
	}

	// Prepared: the first execution runs into the error on a replica and runs again on
	// the primary, as do the next ones.
	stmt, err := c.PrepareContext(ctx, "SELECT sid, k FROM visiting2 WHERE k = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	var sid, k int
	failures := 0
	for range 4 {
		if err := stmt.QueryRowContext(ctx, 2).Scan(&sid, &k); err != nil {
			failures++
			continue
		}
		if sid != primary {
			t.Errorf("a prepared read of the view ran on server %d, want the primary", sid)
		}
	}
	if failures > 0 {
		t.Errorf("%d of 4 prepared executions failed, want none", failures)
	}
	if r := route("SELECT sid, k FROM visiting2 WHERE k = ?"); r != string(router.ReasonWroteOnReplica) {
		t.Errorf("after the prepared runs, EXPLAIN ROUTE of its text says %s, want %s", r, router.ReasonWroteOnReplica)
	}

	waitReplicated(t, shared)
	for _, r := range shared.Replicas {
		if own := ownGTIDs(t, r, shared.Primary.ServerID); len(own) > 0 {
			t.Errorf("%s wrote its own binlog events %v: the view's function wrote there", r.Name, own)
		}
	}
	// The operator fixed the view: RESET DIGESTS sends its reads to the replicas again.
	mustExec(t, root, "CREATE OR REPLACE VIEW tailgate_test.visiting AS SELECT 7 AS sid")
	waitReplicated(t, shared)
	if _, err := adm.Exec("RESET DIGESTS"); err != nil {
		t.Fatal(err)
	}
	if r := route("SELECT sid FROM visiting"); r != string(router.ReasonRead) {
		t.Errorf("after RESET DIGESTS, EXPLAIN ROUTE says %s, want %s", r, router.ReasonRead)
	}
	if v := serverID(t, conn(t, tg.db(t, "")), "SELECT sid FROM visiting"); v != 7 {
		t.Fatalf("the fixed view reads %d, want 7", v)
	}
	if d := digestRow(t, adm, "SELECT sid FROM visiting"); d["class"] != "read" || d["replica"] != "1" || d["count"] != "1" {
		t.Errorf("after RESET DIGESTS and one read: %v, want one read, on a replica", d)
	}
	mustExec(t, root, "DROP VIEW tailgate_test.visiting, tailgate_test.visiting2", "DROP FUNCTION tailgate_test.view_log", "DROP TABLE tailgate_test.view_visits")
}

// TestRoutingRules: [[rules]] route by digest what the application's SQL cannot be changed
// for: a read calling a (read-only) stored function goes to the replicas, reads of a table
// stay on the primary; EXPLAIN ROUTE names the rule; a reload that removes the rules
// takes effect at once for texts already cached.
func TestRoutingRules(t *testing.T) {
	root, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	mustExec(t, root,
		"CREATE OR REPLACE FUNCTION tailgate_test.rules_fn(x INT) RETURNS INT DETERMINISTIC NO SQL RETURN x + 1",
		"CREATE TABLE IF NOT EXISTS tailgate_test.rules_report (id INT PRIMARY KEY)")
	defer mustExec(t, root, "DROP FUNCTION tailgate_test.rules_fn", "DROP TABLE tailgate_test.rules_report")
	waitReplicated(t, shared)
	cfg := testConfig(shared)
	cfg.Rules = []config.Rule{
		{Name: "fn-on-replicas", Match: `^SELECT rules_fn\(\?\)`, Target: config.RuleTargetReplica},
		{Name: "report-on-primary", Match: `FROM rules_report\b`, Target: config.RuleTargetPrimary},
	}
	tg, path := startTailgateFromFile(t, cfg)
	adm := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)
	c := conn(t, tg.db(t, ""))
	primary := int(shared.Primary.ServerID)
	servers := func(query string) map[int]int {
		t.Helper()
		got := map[int]int{}
		for i := range 20 {
			var v, sid int
			if err := c.QueryRowContext(context.Background(), fmt.Sprintf(query, i)).Scan(&v, &sid); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			got[sid]++
		}
		return got
	}
	const fnRead, reportRead = "SELECT rules_fn(%d), @@server_id", "SELECT COUNT(*) + %d, @@server_id FROM rules_report"
	if got := servers(fnRead); got[primary] != 0 || len(got) != 2 {
		t.Errorf("with the replica rule, reads calling the function ran on %v: want both replicas, not the primary", got)
	}
	if got := servers(reportRead); got[primary] != 20 {
		t.Errorf("with the primary rule, reads of the table ran on %v: want the primary only", got)
	}
	if r := queryRows(t, adm, "EXPLAIN ROUTE SELECT rules_fn(3), @@server_id")[0]["reason"]; r != "rule_replica (fn-on-replicas)" {
		t.Errorf("EXPLAIN ROUTE reason %q, want the rule named", r)
	}

	cfg.Rules = nil
	writeConfigFile(t, path, cfg)
	changes, err := tg.app.ReloadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(changes, "rule fn-on-replicas removed") {
		t.Errorf("reload reported %q, want the rules' removal", changes)
	}
	if got := servers(fnRead); got[primary] != 20 {
		t.Errorf("without the rules, reads calling the function ran on %v: want the primary (stored_function)", got)
	}
	if got := servers(reportRead); got[primary] != 0 {
		t.Errorf("without the rules, reads of the table ran on %v: want the replicas", got)
	}
}

// TestVersionGatedCommentsOnPrimary: MariaDB skips MySQL 5.7+ executable comments
// (/*!50700 ... */), which the parser runs. Text whose other reading hides a write, as MariaDB
// reads it, goes to the primary: the DELETE runs there, and nothing is refused by a replica.
func TestVersionGatedCommentsOnPrimary(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	primary := primaryDB(t)
	mustExec(t, primary, "DROP TABLE IF EXISTS gated", "CREATE TABLE gated (id INT PRIMARY KEY)", "INSERT INTO gated VALUES (1), (2)")
	waitSeenReplicated(t, tg, shared)
	c := conn(t, tg.db(t, "multiStatements=true"))
	// MariaDB: SELECT @@server_id; DELETE FROM gated WHERE id = 1 (the comment and the
	// quotes around it are skipped). The parser: one SELECT of @@server_id and a string.
	if _, err := c.ExecContext(context.Background(), "SELECT @@server_id /*!50700 , ' */ ; DELETE FROM gated WHERE id = 1; -- ' */"); err != nil {
		t.Fatalf("the statement failed (sent to a read-only replica?): %v", err)
	}
	var n int
	if err := primary.QueryRow("SELECT COUNT(*) FROM gated").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows on the primary after the hidden DELETE: %d, %v; want 1", n, err)
	}
}
