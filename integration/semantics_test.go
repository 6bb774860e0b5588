package integration

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// semanticsScripts are statement sequences whose every result depends on the session: its
// earlier statements, variables, diagnostics and transaction. Each runs on one connection
// directly to the primary and on one connection through tailgate, which spreads the reads
// over the replicas and pools the primary connections; the results must be identical.
// A statement with arguments (args[i]) goes through go-sql-driver's server-side prepared
// statements (COM_STMT_PREPARE / EXECUTE / CLOSE).
var semanticsScripts = []struct {
	name   string
	stmts  []string
	args   map[int][]any
	params string // go-sql-driver DSN parameters, on both connections
}{
	{"counts of the previous read", []string{ // before any write: the reads go to the replicas
		"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'tailgate_test' AND TABLE_NAME LIKE 'sem%' ORDER BY 1",
		"SELECT FOUND_ROWS(), ROW_COUNT()",
		"SELECT 1 UNION SELECT 2 UNION SELECT 3",
		"SELECT FOUND_ROWS()",
		"SELECT COUNT(*) FROM sem",
		"SELECT ROW_COUNT(), FOUND_ROWS()",
	}, nil, ""},
	{"variables that build on earlier ones", []string{
		"SET @n = 1",
		"SET @n = @n + 1",
		"SELECT @n",
		"SET @a = 5",
		"SET @b = @a * 2",
		"SET @a = 0",
		"SELECT @a, @b",
		"SET sql_mode = 'NO_ZERO_DATE'",
		"SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
		"SELECT @@sql_mode",
		"SELECT COUNT(*) INTO @cnt FROM sem", // MariaDB's form, which the parser rejects
		"SELECT @cnt",
		"SET sql_mode = 'NO_BACKSLASH_ESCAPES'",
		`SET @p = 'a\'`,
		"SET sql_mode = 'NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES'",
		"SELECT @p, @@sql_mode",
		"SET sql_mode = DEFAULT",
		"SELECT COUNT(*) FROM sem",
		"SET @sid = @@server_id, @port = @@port",
		"SELECT @sid, @port",
		"SELECT COUNT(*) FROM sem",
		"SELECT @n, @b, @p",
	}, nil, ""},
	{"sequences, procedures, table locks", []string{
		"CREATE OR REPLACE SEQUENCE semseq",
		"SELECT LASTVAL(semseq)",
		"SELECT NEXTVAL(semseq)",
		"SELECT COUNT(*) FROM sem",
		"SELECT LASTVAL(semseq), PREVIOUS VALUE FOR semseq",
		"INSERT INTO sem (v) VALUES (NEXTVAL(semseq))",
		"SELECT COUNT(*) FROM sem_child",
		"SELECT LASTVAL(semseq)",
		"CREATE OR REPLACE PROCEDURE semproc(IN a INT, OUT b INT) BEGIN SET b = a * 2; SET @inside = 'set in proc'; END",
		"CALL semproc(5, @b)",
		"SELECT @b, @inside",
		"LOCK TABLES sem WRITE CONCURRENT",
		"SELECT COUNT(*) FROM sem",
		"SELECT COUNT(*) FROM sem_child",
		"UNLOCK TABLES",
		"SELECT COUNT(*) FROM sem_child",
		"DROP PROCEDURE semproc",
		"DROP SEQUENCE semseq",
	}, nil, ""},
	{"temporary tables tailgate reads wrongly or not at all", []string{
		"CREATE TEMPORARY TABLE semtmp (a INT)",
		"INSERT INTO semtmp VALUES (1)",
		"DROP TEMPORARY TABLE IF EXISTS sem_no_such_db.semtmp", // drops nothing
		"SELECT COUNT(*) FROM semtmp",
		"ALTER TABLE semtmp RENAME TO semtmp2",
		"DROP TABLE IF EXISTS semtmp",
		"SELECT COUNT(*) FROM semtmp2",
		"DROP TEMPORARY TABLE semtmp2",
		"EXECUTE IMMEDIATE 'CREATE TEMPORARY TABLE semtmp3 (a INT)'",
		"SELECT COUNT(*) FROM semtmp3",
		"DROP TEMPORARY TABLE semtmp3",
		"SELECT COUNT(*) FROM semtmp3",
	}, nil, ""},
	{"statements that end a read-only transaction", []string{
		"START TRANSACTION READ ONLY",
		"SELECT COUNT(*) FROM sem",
		"BEGIN",
		"INSERT INTO sem (v) VALUES (771)",
		"SELECT @@in_transaction, @@tx_read_only",
		"COMMIT",
		"SELECT COUNT(*) FROM sem WHERE v = 771",
		"START TRANSACTION READ ONLY",
		"SELECT COUNT(*) FROM sem",
		"CREATE TABLE sem_ddl (a INT)",
		"SELECT @@in_transaction",
		"DROP TABLE sem_ddl",
		"SET @v0 = -7",
		"START TRANSACTION READ ONLY",
		"SELECT @v0 := 63",
		"SELECT @v0",
		"COMMIT",
		"SELECT @v0",
	}, nil, ""},
	{"the session's database dropped", []string{
		"CREATE DATABASE sem_lock_db",
		"USE sem_lock_db",
		"DROP DATABASE sem_lock_db",
		"SELECT DATABASE()",
		"SELECT COUNT(*) FROM sem",
		"USE tailgate_test",
		"SELECT DATABASE(), COUNT(*) FROM sem",
	}, nil, ""},
	{"read-only transactions and session state", []string{
		"SELECT @uv := 7",
		"START TRANSACTION READ ONLY",
		"SELECT @uv",
		"SET autocommit = 0",
		"COMMIT",
		"SELECT @@autocommit",
		"INSERT INTO sem (v) VALUES (42)",
		"ROLLBACK",
		"SELECT COUNT(*) FROM sem WHERE v = 42",
		"SET autocommit = 1",
	}, nil, ""},
	{"prepared SETs", []string{
		"SET @ps = ?",
		"SELECT @ps",
		"SELECT COUNT(*) FROM sem WHERE v = @ps",
		"SET time_zone = ?",
		"SELECT @@time_zone, FROM_UNIXTIME(0)",
		"SELECT COUNT(*) FROM sem",
	}, map[int][]any{0: {5}, 3: {"+04:00"}}, ""},
	{"row counts and ids", []string{
		"INSERT INTO sem (v) VALUES (1), (2), (3)",
		"SELECT ROW_COUNT(), LAST_INSERT_ID(), @@last_insert_id, @@identity",
		"SELECT v FROM sem ORDER BY v",
		"UPDATE sem SET v = v + 10 WHERE v >= 2",
		"SELECT ROW_COUNT()",
		"DELETE FROM sem WHERE v = 1",
		"SELECT ROW_COUNT()",
		"SELECT SQL_CALC_FOUND_ROWS v FROM sem ORDER BY v LIMIT 1",
		"SELECT FOUND_ROWS()",
		"SELECT LAST_INSERT_ID(77)",
		"SELECT LAST_INSERT_ID()",
		"INSERT INTO sem (v) VALUES (5)",
		"SELECT LAST_INSERT_ID(), ROW_COUNT()",
		"INSERT INTO sem_child (parent) VALUES (LAST_INSERT_ID())",
		"SELECT parent FROM sem_child",
	}, nil, ""},
	{"session variables", []string{
		"SET SESSION div_precision_increment = 2",
		"SELECT 1/3",
		"SET time_zone = '+05:00'",
		"SELECT FROM_UNIXTIME(0), @@session.time_zone",
		"SET SESSION group_concat_max_len = 4",
		"INSERT INTO sem (v) VALUES (123), (456)",
		"SELECT GROUP_CONCAT(v ORDER BY v) FROM sem",
		"SET sql_mode = ''",
		"INSERT INTO sem (v, s) VALUES (9, 'toolongvalue')",
		"SHOW WARNINGS",
		"SELECT s FROM sem WHERE v = 9",
		"SET sql_mode = 'STRICT_ALL_TABLES'",
		"INSERT INTO sem (v, s) VALUES (10, 'toolongvalue')",
		"SELECT COUNT(*) FROM sem WHERE v = 10",
		"SET NAMES latin1",
		"SELECT CHARSET('x'), @@character_set_client, @@character_set_results",
		"SET NAMES utf8mb4",
		"SELECT CHARSET('x')",
	}, nil, ""},
	{"user variables", []string{
		"SET @a = 41",
		"SELECT @a + 1",
		"SELECT @b := 5",
		"SELECT @b * 2, @a",
		"SET @a = NULL",
		"SELECT @a IS NULL",
	}, nil, ""},
	{"diagnostics", []string{
		"SELECT CAST('1x' AS SIGNED)",
		"SELECT @@warning_count",
		"SHOW WARNINGS",
		"SELECT COUNT(*) FROM sem", // uses a table: clears them (MariaDB keeps them after SELECT 1)
		"SHOW WARNINGS",
		"SELECT * FROM no_such_table",
		"SHOW ERRORS",
		"SELECT @@error_count",
	}, nil, ""},
	{"transactions", []string{
		"SET autocommit = 0",
		"INSERT INTO sem (v) VALUES (100)",
		"SELECT COUNT(*) FROM sem WHERE v = 100",
		"ROLLBACK",
		"SELECT COUNT(*) FROM sem WHERE v = 100",
		"SET autocommit = 1",
		"START TRANSACTION READ ONLY",
		"SELECT COUNT(*) FROM sem",
		"COMMIT",
		"BEGIN",
		"INSERT INTO sem (v) VALUES (101)",
		"SAVEPOINT s1",
		"INSERT INTO sem (v) VALUES (102)",
		"ROLLBACK TO SAVEPOINT s1",
		"COMMIT",
		"SELECT v FROM sem WHERE v > 100 ORDER BY v",
		"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
		"SELECT @@tx_isolation",
		// An error does not end a transaction (an ERR packet carries no status).
		"START TRANSACTION READ ONLY",
		"SELECT COUNT(*) FROM sem",
		"SELECT * FROM no_such_table",
		"SELECT @@in_transaction, COUNT(*) FROM sem",
		"SELECT @@in_transaction",
		"COMMIT",
		"SELECT @@in_transaction",
		"BEGIN",
		"INSERT INTO sem (v) VALUES (103)",
		"INSERT INTO no_such_table VALUES (1)",
		"SELECT @@in_transaction, COUNT(*) FROM sem WHERE v = 103",
		"ROLLBACK",
		"SELECT COUNT(*) FROM sem WHERE v = 103",
		"INSERT INTO no_such_table VALUES (1)",
		"SELECT @@autocommit",
	}, nil, ""},
	{"NO_BACKSLASH_ESCAPES", []string{
		"SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
		"SELECT 'C:\\', LENGTH('\\n')",
		"INSERT INTO sem (v, s) VALUES (1, 'a\\')",
		"SELECT s FROM sem WHERE s = 'a\\'",
		"SET sql_mode = DEFAULT",
		"SELECT 'C:\\\\', LENGTH('\\n')",
	}, nil, ""},
	{"temporary tables and SQL prepared statements", []string{
		"CREATE TEMPORARY TABLE sem_tmp (x INT)",
		"INSERT INTO sem_tmp VALUES (1), (2)",
		"SELECT COUNT(*) FROM sem_tmp",
		"DROP TEMPORARY TABLE sem_tmp",
		"PREPARE p FROM 'SELECT ? + 1'",
		"SET @x = 1",
		"EXECUTE p USING @x",
		"DEALLOCATE PREPARE p",
		"SELECT DATABASE()",
		"CREATE TEMPORARY TABLE sem (x INT)", // shadows the table of that name
		"INSERT INTO sem VALUES (42)",
		"SELECT * FROM sem",
		"DROP TEMPORARY TABLE sem",
		"SELECT COUNT(*) FROM sem",
	}, nil, ""},
	{"locks, variables from queries, schemas", []string{
		"SELECT GET_LOCK('sem_lock', 0)",
		"SELECT IS_USED_LOCK('sem_lock') IS NOT NULL, IS_FREE_LOCK('sem_lock')",
		"SELECT RELEASE_LOCK('sem_lock')",
		"LOCK TABLES sem READ",
		"SELECT COUNT(*) FROM sem",
		"SELECT COUNT(*) FROM sem_child",
		"UNLOCK TABLES",
		"INSERT INTO sem (v) VALUES (7), (8)",
		"SELECT COUNT(*) INTO @n FROM sem",
		"SELECT @n",
		"SET @m = (SELECT MAX(v) FROM sem)",
		"SELECT @m",
		"INSERT INTO sem (id, v) VALUES (1, 70) ON DUPLICATE KEY UPDATE v = 70",
		"SELECT ROW_COUNT()",
		"SET NAMES utf8mb4 COLLATE utf8mb4_bin",
		"SELECT 'a' = 'A', @@collation_connection",
		"SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
		"SELECT 'a' = 'A'",
		"SET SESSION sql_mode = 'ANSI_QUOTES'",
		"SELECT \"v\" FROM sem ORDER BY 1 LIMIT 1",
		"SET SESSION sql_mode = DEFAULT",
		"USE information_schema",
		"SELECT DATABASE(), COUNT(*) > 0 FROM SCHEMATA",
		"USE tailgate_test",
		"SELECT DATABASE(), COUNT(*) FROM sem",
		"SET STATEMENT max_statement_time = 10 FOR SELECT COUNT(*) FROM sem",
	}, nil, ""},
	{"multi-statements", []string{
		"SELECT 1 AS a; SELECT 2 AS b",
		"INSERT INTO sem (v) VALUES (1); SELECT LAST_INSERT_ID(), ROW_COUNT()",
		"SET @m1 = 1; SET @m2 = 2",
		"SELECT @m1 + @m2",
		"SET NAMES latin1; SELECT CHARSET('x')",
		"SELECT CHARSET('x'), @@character_set_results",
		"SET time_zone = '+02:00'; SELECT 1",
		"SELECT FROM_UNIXTIME(0)",
		"USE information_schema; SELECT DATABASE()",
		"SELECT DATABASE()",
		"USE tailgate_test",
		"CREATE TEMPORARY TABLE mt (x INT); INSERT INTO mt VALUES (1), (2)",
		"SELECT COUNT(*) FROM mt",
		"BEGIN; INSERT INTO sem (v) VALUES (50)",
		"SELECT @@in_transaction, COUNT(*) FROM sem WHERE v = 50",
		"ROLLBACK; SELECT COUNT(*) FROM sem WHERE v = 50",
		"SELECT 1; SELECT * FROM no_such_table; SELECT 3",
		"SHOW WARNINGS",
		"SET time_zone = '+03:00'; SELECT * FROM no_such_table; SET time_zone = '+04:00'",
		"SELECT FROM_UNIXTIME(0)", // the SET before the error ran, the one after it did not
		"SELECT COUNT(*) FROM sem; SELECT COUNT(*) FROM sem_child",
	}, nil, "multiStatements=true"},
	{"prepared statements", []string{
		"INSERT INTO sem (v, s) VALUES (?, ?)",
		"SELECT ROW_COUNT(), LAST_INSERT_ID()",
		"SELECT v, s FROM sem WHERE v = ?",
		"SET @p = 3",
		"SELECT ? + @p",
		"UPDATE sem SET v = v + ? WHERE v > ?",
		"SELECT ROW_COUNT()",
		"SELECT SQL_CALC_FOUND_ROWS v FROM sem WHERE v > ? LIMIT 1",
		"SELECT FOUND_ROWS()",
		"SELECT CAST(? AS SIGNED)",
		"SHOW WARNINGS",
		"BEGIN",
		"INSERT INTO sem (v) VALUES (?)",
		"SELECT COUNT(*) FROM sem WHERE v = ?",
		"ROLLBACK",
		"SELECT COUNT(*) FROM sem WHERE v = ?",
	}, map[int][]any{
		0: {5, "abcd"}, 2: {5}, 4: {1}, 5: {100, 1}, 7: {0}, 9: {"3x"}, 12: {999}, 13: {999}, 15: {999},
	}, ""},
}

// TestSessionSemanticsMatchDirect runs semanticsScripts directly and through tailgate (with
// lag tracking and read-your-writes) and compares every result, error and warning.
func TestSessionSemanticsMatchDirect(t *testing.T) {
	tg := startTailgate(t, freshConfig(shared, time.Second, 500*time.Millisecond))
	waitTailer(t, tg, shared)
	direct := primaryDB(t)
	before := statusCounts(t, shared, "Com_select")
	for _, sc := range semanticsScripts {
		t.Run(sc.name, func(t *testing.T) {
			const schema = "tailgate_test"
			semTables(t, direct, schema)
			want := runScript(t, primaryDB(t, sc.params), schema, "sem_lock", sc.stmts, sc.args)
			semTables(t, direct, schema)
			got := runScript(t, tg.db(t, sc.params), schema, "sem_lock", sc.stmts, sc.args)
			for i := range sc.stmts {
				if got[i] != want[i] {
					t.Errorf("%q\n through tailgate: %s\n directly:         %s", sc.stmts[i], got[i], want[i])
				}
			}
		})
	}
	// The comparison means something only if tailgate did send reads to the replicas.
	selects := delta(statusCounts(t, shared, "Com_select"), before)
	t.Logf("Com_select per server during the scripts: %v", selects)
	for _, r := range shared.Replicas {
		if selects[r.Name] == 0 {
			t.Errorf("%s served no SELECT: the scripts did not exercise routing", r.Name)
		}
	}
}

// TestSessionSemanticsConcurrent runs every script in 6 sessions at once through one
// tailgate (48 sessions sharing at most 12 connections per backend, each script copy in its
// own database, all clients logged in to the same one so that they share pools) and compares
// each with the script run directly: no session state may leak from one session to
// another through a pooled connection. ROW_COUNT(), and FOUND_ROWS() but after
// SQL_CALC_FOUND_ROWS, are left out here: under contention another session may have
// borrowed the connection that ran the statement before it (a documented limitation).
func TestSessionSemanticsConcurrent(t *testing.T) {
	const copies = 6
	cfg := freshConfig(shared, time.Second, 500*time.Millisecond)
	cfg.Proxy.MaxBackendConnections = 12 // 48 sessions: connections change hands all the time
	tg := startTailgate(t, cfg)
	waitTailer(t, tg, shared)
	direct := primaryDB(t)
	schema := func(copy, script int) string { return fmt.Sprintf("sem_c%d_s%d", copy, script) }
	lock := func(copy, script int) string { return fmt.Sprintf("sem_lock_%d_%d", copy, script) }
	want := make([][]string, len(semanticsScripts))
	for i, sc := range semanticsScripts {
		for k := range copies + 1 {
			mustExec(t, direct, "CREATE DATABASE IF NOT EXISTS "+schema(k, i))
			semTables(t, direct, schema(k, i))
		}
		want[i] = runScript(t, primaryDB(t, sc.params), schema(0, i), lock(0, i), sc.stmts, sc.args)
		for j := range want[i] {
			want[i][j] = strings.NewReplacer(schema(0, i), "DB", lock(0, i), "LOCK").Replace(want[i][j])
		}
	}
	t.Cleanup(func() {
		for i := range semanticsScripts {
			for k := range copies + 1 {
				_, _ = direct.Exec("DROP DATABASE IF EXISTS " + schema(k, i))
			}
		}
	})
	waitReplicated(t, shared)

	proxied := map[string]*sql.DB{}
	for _, sc := range semanticsScripts {
		if proxied[sc.params] == nil {
			proxied[sc.params] = tg.db(t, sc.params)
		}
	}
	var wg sync.WaitGroup
	var compared atomic.Int64
	start := make(chan struct{})
	for k := 1; k <= copies; k++ {
		for i, sc := range semanticsScripts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := runStatements(proxied[sc.params], schema(k, i), lock(k, i), sc.stmts, sc.args)
				if err != nil {
					t.Errorf("copy %d of %q: %v", k, sc.name, err)
					return
				}
				norm := strings.NewReplacer(schema(k, i), "DB", lock(k, i), "LOCK")
				for j, q := range sc.stmts {
					// FOUND_ROWS() is exact under contention only after SQL_CALC_FOUND_ROWS,
					// which holds its connection over.
					if strings.Contains(q, "ROW_COUNT()") ||
						strings.Contains(q, "FOUND_ROWS()") && (j == 0 || !strings.Contains(sc.stmts[j-1], "SQL_CALC_FOUND_ROWS")) {
						continue
					}
					compared.Add(1)
					if g := norm.Replace(got[j]); g != want[i][j] {
						t.Errorf("copy %d of %q: %q\n through tailgate: %s\n directly:         %s", k, sc.name, q, g, want[i][j])
					}
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	threads := backendThreads(tg)
	t.Logf("%d results compared from %d concurrent sessions; backend connections now %v", compared.Load(), copies*len(semanticsScripts), threads)
	if compared.Load() == 0 {
		t.Fatal("nothing compared")
	}
	for name, n := range threads {
		if n > int64(cfg.Proxy.MaxBackendConnections) {
			t.Errorf("%s: %d backend connections, more than max_backend_connections %d", name, n, cfg.Proxy.MaxBackendConnections)
		}
	}
}

// primaryDB is a pool of direct connections to the shared cluster's primary, with
// go-sql-driver DSN parameters if given.
func primaryDB(t *testing.T, params ...string) *sql.DB {
	t.Helper()
	dsn := shared.Primary.DSN(cluster.AppUser, cluster.AppPassword, "tailgate_test")
	if p := strings.Join(params, "&"); p != "" {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + p
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// semTables recreates the scripts' tables in schema, directly on the primary.
func semTables(t *testing.T, primary *sql.DB, schema string) {
	t.Helper()
	mustExec(t, primary, "DROP TABLE IF EXISTS "+schema+".sem", "DROP TABLE IF EXISTS "+schema+".sem_child",
		"CREATE TABLE "+schema+".sem (id INT AUTO_INCREMENT PRIMARY KEY, v INT, s VARCHAR(4))",
		"CREATE TABLE "+schema+".sem_child (id INT AUTO_INCREMENT PRIMARY KEY, parent INT)")
}

// runScript waits until the replicas have the tables, then runs the script (see
// runStatements) and fails the test on a client-side error.
func runScript(t *testing.T, db *sql.DB, schema, lock string, stmts []string, args map[int][]any) []string {
	t.Helper()
	waitReplicated(t, shared)
	out, err := runStatements(db, schema, lock, stmts, args)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runStatements runs stmts on one connection of db, in schema (the scripts' tailgate_test
// and sem_lock stand for schema and lock), and returns each result as text.
func runStatements(db *sql.DB, schema, lock string, stmts []string, args map[int][]any) ([]string, error) {
	c, err := db.Conn(context.Background())
	if err != nil {
		return nil, err
	}
	defer func() {
		// Close the client connection (not back to database/sql's pool): the session
		// ends and gives its backend connections back.
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
		_ = c.Close()
	}()
	if _, err := c.ExecContext(context.Background(), "USE "+schema); err != nil {
		return nil, err
	}
	local := strings.NewReplacer("tailgate_test", schema, "sem_lock", lock)
	out := make([]string, len(stmts))
	for i, q := range stmts {
		out[i] = resultText(c, local.Replace(q), args[i]...)
	}
	return out, nil
}

// resultText is a statement's outcome as one comparable line: the columns and rows, or
// the affected rows, or the server error.
func resultText(c *sql.Conn, q string, args ...any) string {
	rows, err := c.QueryContext(context.Background(), q, args...)
	if err != nil {
		return errText(err)
	}
	defer rows.Close()
	var b strings.Builder
	for set := 0; ; set++ {
		cols, err := rows.Columns()
		if err != nil {
			return errText(err)
		}
		if set > 0 {
			b.WriteString(" | ")
		}
		fmt.Fprintf(&b, "%v:", cols)
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return errText(err)
			}
			b.WriteString(" (")
			for i, v := range vals {
				if i > 0 {
					b.WriteString(", ")
				}
				if v.Valid {
					b.WriteString(v.String)
				} else {
					b.WriteString("NULL")
				}
			}
			b.WriteString(")")
		}
		if !rows.NextResultSet() { // the results of a multi-statement, one by one
			break
		}
	}
	if err := rows.Err(); err != nil {
		return b.String() + " " + errText(err)
	}
	return b.String()
}

func errText(err error) string {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("error %d: %s", me.Number, me.Message)
	}
	return "error: " + err.Error()
}

// TestAutocommitOffSurvivesLostConnection: a session's autocommit=0 is its own, like its
// other settings: when the server closes its primary connection (here KILLed while idle),
// the next connection runs with autocommit=0 too, so the statements after the error still
// wait for the session's COMMIT or ROLLBACK instead of each committing on its own.
func TestAutocommitOffSurvivesLostConnection(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	ctx := context.Background()
	mustExec(t, c, "DROP TABLE IF EXISTS ac_lost", "CREATE TABLE ac_lost (id INT PRIMARY KEY)",
		"SET autocommit=0", "SET time_zone = '+03:00'", "INSERT INTO ac_lost VALUES (1)", "COMMIT")
	var thread int64
	if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&thread); err != nil {
		t.Fatal(err)
	}
	root := primaryDB(t)
	if _, err := root.Exec(fmt.Sprintf("KILL %d", thread)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // idle long enough for tailgate to check the connection
	if _, err := c.ExecContext(ctx, "INSERT INTO ac_lost VALUES (2)"); err != nil {
		t.Logf("first statement after the kill: %v", err) // an error is fine: the transaction is gone
	}
	mustExec(t, c, "INSERT INTO ac_lost VALUES (3)")
	var autocommit int
	var tz string
	if err := c.QueryRowContext(ctx, "SELECT @@autocommit, @@time_zone").Scan(&autocommit, &tz); err != nil {
		t.Fatal(err)
	}
	if autocommit != 0 || tz != "+03:00" {
		t.Errorf("after the lost connection: @@autocommit = %d, @@time_zone = %s; want 0 and +03:00", autocommit, tz)
	}
	mustExec(t, c, "ROLLBACK")
	if ids := int64Column(t, root, "SELECT id FROM "+cluster.TestDatabase+".ac_lost ORDER BY id"); !slices.Equal(ids, []int64{1}) {
		t.Errorf("rows committed: %v, want [1]: the inserts after the lost connection were rolled back with the session's ROLLBACK", ids)
	}
}

// TestLastInsertIDWithoutOK: an insert that sets LAST_INSERT_ID() without an OK packet
// saying so (INSERT ... RETURNING answers with rows, a CALL's OK reports 0) leaves the
// session the server's value, as on a direct connection, in a transaction and out of one.
func TestLastInsertIDWithoutOK(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	root := primaryDB(t)
	mustExec(t, root, "DROP TABLE IF EXISTS lid_hidden", "CREATE TABLE lid_hidden (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
		"CREATE OR REPLACE PROCEDURE lid_hidden_ins() INSERT INTO lid_hidden (v) VALUES (5)")
	c := conn(t, tg.db(t, ""))
	ctx := context.Background()
	lastID := func(what string) int64 {
		t.Helper()
		var id int64
		if err := c.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&id); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return id
	}
	for _, txn := range []bool{false, true} {
		if txn {
			mustExec(t, c, "BEGIN")
		}
		var id int64
		if err := c.QueryRowContext(ctx, "INSERT INTO lid_hidden (v) VALUES (1) RETURNING id").Scan(&id); err != nil {
			t.Fatal(err)
		}
		if got := lastID("after RETURNING"); got != id {
			t.Errorf("transaction %v: LAST_INSERT_ID() after INSERT ... RETURNING id = %d: %d, want %d", txn, id, got, id)
		}
		if txn {
			mustExec(t, c, "COMMIT")
		}
	}
	mustExec(t, c, "CALL lid_hidden_ins()")
	var want int64
	if err := root.QueryRow("SELECT MAX(id) FROM " + cluster.TestDatabase + ".lid_hidden").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if got := lastID("after CALL"); got != want {
		t.Errorf("LAST_INSERT_ID() after a CALL that inserted id %d: %d", want, got)
	}
}

// TestLostConnectionBeforeLastInsertID: a primary connection lost under the LAST_INSERT_ID()
// replay gives the statement one error, and the next statements their own answers.
func TestLostConnectionBeforeLastInsertID(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, ""))
	ctx := context.Background()
	var locked, thread int64
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK('tailgate_lid_lost', 0), CONNECTION_ID()").Scan(&locked, &thread); err != nil || locked != 1 {
		t.Fatalf("GET_LOCK: %d, %v", locked, err)
	}
	if _, err := primaryDB(t).Exec(fmt.Sprintf("KILL CONNECTION %d", thread)); err != nil {
		t.Fatal(err)
	}
	// Before tailgate's idle check (1 s): the replay meets the closed connection.
	if _, err := c.ExecContext(ctx, "DO LAST_INSERT_ID()"); err == nil {
		t.Errorf("a statement on the killed connection succeeded")
	}
	for i := 1; i <= 3; i++ {
		var v int
		if err := c.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&v); err != nil || v != i {
			t.Errorf("SELECT %d after the lost connection: %d, %v (an answer of another statement)", i, v, err)
		}
	}
}
