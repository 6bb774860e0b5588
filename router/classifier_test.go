package router

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// want is the part of a Statement a case checks; Hint/MaxLag are hint_test.go's business.
type want struct {
	kind       Kind
	reason     Reason
	effects    Effect
	tables     []string
	schema     string
	setKey     string
	autocommit bool
	multi      bool
}

func read() want                        { return want{kind: KindRead} }
func readWith(e Effect) want            { return want{kind: KindRead, effects: e} }
func write(r Reason) want               { return want{kind: KindWrite, reason: r} }
func writeWith(r Reason, e Effect) want { return want{kind: KindWrite, reason: r, effects: e} }
func sessionSet(key string) want        { return want{kind: KindSessionSet, setKey: key} }

var classifyCases = []struct {
	sql  string
	want want
}{
	// Plain reads.
	{"select 1", read()},
	{"SELECT c FROM sbtest1 WHERE id=5", read()},
	{"SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c", read()},
	{"SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c", read()},
	{"SELECT * FROM t WHERE a = ?", read()},
	{"select 1;", read()},
	{"WITH c AS (SELECT 1) SELECT * FROM c", read()},
	{"SELECT 1 UNION SELECT 2", read()},
	{"TABLE t", read()},
	{"VALUES ROW(1, 2)", read()},
	{"SELECT SLEEP(1), UUID(), RAND(), NOW()", read()},
	{"SELECT VERSION(), DATABASE(), @@version", read()},
	{"select @@version_comment limit 1", read()},
	{"SELECT @@warning_count, 1", read()}, // not only diagnostics
	{"SELECT warning_count FROM t", read()},
	{"DO 1", read()},
	{"DO SLEEP(1)", read()},
	{"HELP 'select'", read()},
	{"SELECT /*+ MAX_EXECUTION_TIME(1000) */ c FROM t", read()},
	{"/*+ MAX_EXECUTION_TIME(1000) */ SELECT 1", read()},
	{"/* app comment */ SELECT 1", read()},
	{"-- comment\nSELECT 1", read()},
	{"# comment\nSELECT 1", read()},
	{"SELECT 1 -- trailing", read()},
	{"SELECT 'x INTO @a'", read()},

	// Reading user variables is a read that needs them.
	{"SELECT @a", readWith(EffectUsesUserVars)},
	{"SELECT * FROM t WHERE id = @id", readWith(EffectUsesUserVars)},

	// SHOW / DESCRIBE / EXPLAIN.
	{"SHOW TABLES", read()},
	{"SHOW FULL PROCESSLIST", read()},
	{"SHOW VARIABLES LIKE 'max%'", read()},
	{"SHOW CREATE TABLE t", read()},
	{"SHOW SLAVE STATUS", read()},
	{"SHOW REPLICA STATUS", read()},
	{"SHOW ALL SLAVES STATUS", read()},                 // TiDB parser: syntax error; fallback
	{"SHOW BINLOG EVENTS", write(ReasonPrimaryStatus)}, // ditto
	{"SHOW ENGINE INNODB STATUS", read()},              // ditto
	{"/* tailgate:replica */ SHOW SLAVE HOSTS", read()},
	{"SHOW SLAVE HOSTS; DELETE FROM t", write(ReasonUnparsed)}, // no fallback for several statements
	{"DESCRIBE t", read()},
	{"DESC t", read()},
	{"EXPLAIN SELECT 1", read()},
	{"EXPLAIN FORMAT=JSON SELECT * FROM t FOR UPDATE", read()},
	{"EXPLAIN UPDATE t SET a = 1", read()},
	{"EXPLAIN ANALYZE SELECT * FROM t", read()},
	{"EXPLAIN ANALYZE UPDATE t SET a = 1", write(ReasonWrite)},
	{"EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", write(ReasonLockingRead)},

	// Diagnostics of the previous statement.
	{"SHOW WARNINGS", want{kind: KindLastBackend}},
	{"SHOW ERRORS", want{kind: KindLastBackend}},
	{"SHOW COUNT(*) WARNINGS", want{kind: KindLastBackend}},
	{"show count(*) errors", want{kind: KindLastBackend}},
	{"SHOW WARNINGS LIMIT 10", want{kind: KindLastBackend}}, // parser: syntax error; fallback
	{"SHOW ERRORS LIMIT 1, 5", want{kind: KindLastBackend}},
	{"SELECT @@warning_count", want{kind: KindLastBackend}},
	{"select @@session.warning_count", want{kind: KindLastBackend}},
	{"SELECT @@SESSION.ERROR_COUNT AS e, @@warning_count", want{kind: KindLastBackend}},

	// Locking reads.
	{"SELECT c FROM t WHERE id = 1 FOR UPDATE", write(ReasonLockingRead)},
	{"SELECT c FROM t WHERE id = 1 LOCK IN SHARE MODE", write(ReasonLockingRead)},
	{"SELECT c FROM t WHERE id = 1 FOR SHARE", write(ReasonLockingRead)},
	{"SELECT * FROM t FOR UPDATE NOWAIT", write(ReasonLockingRead)},
	{"SELECT * FROM t FOR UPDATE SKIP LOCKED", write(ReasonLockingRead)},
	{"SELECT * FROM t LIMIT 1 FOR UPDATE", write(ReasonLockingRead)},
	{"SELECT 1 UNION SELECT a FROM t FOR UPDATE", write(ReasonLockingRead)},
	{"(SELECT a FROM t FOR UPDATE) UNION SELECT 2", write(ReasonLockingRead)},
	{"SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u FOR UPDATE)", write(ReasonLockingRead)},
	{"WITH c AS (SELECT a FROM t FOR UPDATE) SELECT * FROM c", write(ReasonLockingRead)},

	// SELECT ... INTO.
	{"SELECT * FROM t INTO OUTFILE '/tmp/x'", write(ReasonSelectInto)},
	{"SELECT * FROM t INTO DUMPFILE '/tmp/x'", write(ReasonSelectInto)},    // fallback
	{"SELECT 1 INTO @a", writeWith(ReasonSelectInto, EffectUserVarAssign)}, // fallback
	{"SELECT a, b INTO @a, @`b` FROM t WHERE id = 1", writeWith(ReasonSelectInto, EffectUserVarAssign)},
	{"SELECT GET_LOCK('x', 1) INTO @got", writeWith(ReasonSelectInto, EffectUserVarAssign|EffectGetLock)},
	{"SELECT a INTO @a FROM t WHERE b = @b", writeWith(ReasonSelectInto, EffectUserVarAssign|EffectUsesUserVars)},
	{"SELECT 1 INTO @a; SELECT @a", want{kind: KindWrite, reason: ReasonMultiWrite, effects: EffectUserVarAssign | EffectUsesUserVars, multi: true}},
	{"SELECT 1 INTO @a garbage", writeWith(ReasonSelectInto, EffectUserVarAssign)}, // "garbage" is an alias
	{"SELECT 1 INTO @a FROM WHERE", writeWith(ReasonUnparsed, EffectUserVarAssign)},
	{"SET @@persist_only.max_connections=10", write(ReasonGlobalSet)},

	// SQL_CALC_FOUND_ROWS and session-bound functions, anywhere in the statement.
	{"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", write(ReasonCalcFoundRows)},
	{"SELECT LAST_INSERT_ID()", writeWith(ReasonSessionFunc, EffectLastInsertID)},
	{"SELECT CONNECTION_ID()", writeWith(ReasonSessionFunc, EffectConnectionID)},
	{"select connection_id() AS id, NOW()", writeWith(ReasonSessionFunc, EffectConnectionID)},
	{"SELECT * FROM jobs WHERE owner = CONNECTION_ID()", writeWith(ReasonSessionFunc, EffectConnectionID)},
	{"UPDATE jobs SET owner = CONNECTION_ID() WHERE owner IS NULL LIMIT 1", writeWith(ReasonWrite, EffectConnectionID)},
	{"SELECT LAST_INSERT_ID(5)", writeWith(ReasonSessionFunc, EffectLastInsertID|EffectSetsLastInsertID)},
	{"UPDATE seq SET id = LAST_INSERT_ID(id + 1)", writeWith(ReasonWrite, EffectLastInsertID|EffectSetsLastInsertID)},
	// FOUND_ROWS() and ROW_COUNT() answer about the previous statement: where it ran.
	{"SELECT FOUND_ROWS()", want{kind: KindLastBackend}},
	{"SELECT ROW_COUNT()", want{kind: KindLastBackend}},
	{"SELECT found_rows() AS n, ROW_COUNT() + 1", want{kind: KindLastBackend}},
	{"SELECT FOUND_ROWS(), LAST_INSERT_ID()", writeWith(ReasonSessionFunc, EffectLastInsertID)},
	{"SELECT FOUND_ROWS(), GET_LOCK('a', 1)", writeWith(ReasonSessionFunc, EffectGetLock)},
	{"SELECT FOUND_ROWS() FOR UPDATE", write(ReasonLockingRead)},
	{"SELECT FOUND_ROWS() INTO @n", writeWith(ReasonSelectInto, EffectUserVarAssign)},
	{"SELECT SQL_CALC_FOUND_ROWS FOUND_ROWS()", write(ReasonCalcFoundRows)},
	{"select is_used_lock('a'), IS_FREE_LOCK('b')", write(ReasonSessionFunc)},
	{"select get_lock('a', 1)", writeWith(ReasonSessionFunc, EffectGetLock)},
	{"SELECT RELEASE_LOCK('a')", writeWith(ReasonSessionFunc, EffectReleaseLock)},
	{"SELECT RELEASE_ALL_LOCKS()", writeWith(ReasonSessionFunc, EffectReleaseAllLocks)},
	{"SELECT GET_LOCK('a', 10), RELEASE_LOCK('b')", writeWith(ReasonSessionFunc, EffectGetLock|EffectReleaseLock)},
	{"SELECT * FROM t WHERE id = (SELECT LAST_INSERT_ID())", writeWith(ReasonSessionFunc, EffectLastInsertID)},
	{"SELECT * FROM (SELECT GET_LOCK('a', 1) AS g) x", writeWith(ReasonSessionFunc, EffectGetLock)},
	{"SELECT * FROM t WHERE a IN (SELECT FOUND_ROWS())", want{kind: KindLastBackend}},
	{"WITH c AS (SELECT LAST_INSERT_ID()) SELECT * FROM c", writeWith(ReasonSessionFunc, EffectLastInsertID)},
	{"SELECT 1 UNION SELECT LAST_INSERT_ID()", writeWith(ReasonSessionFunc, EffectLastInsertID)},
	{"SELECT @@last_insert_id", writeWith(ReasonSessionFunc, EffectLastInsertID)},
	{"SELECT @@session.IDENTITY + 0", writeWith(ReasonSessionFunc, EffectLastInsertID)},
	{"SELECT @@last_gtid", write(ReasonSessionFunc)},
	{"SELECT @@insert_id, @@version", read()},
	{"SELECT NEXTVAL(s)", writeWith(ReasonSequence, EffectSequence)},
	// Stored functions and UDFs may write: primary, as MaxScale does; built-ins stay reads,
	// whatever syntax the parser gives them a name for.
	{"SELECT my_func(1)", write(ReasonStoredFunc)},
	{"SELECT shop.price_with_tax(p) FROM products", write(ReasonStoredFunc)},
	{"SELECT * FROM t WHERE a = audit_read(1)", write(ReasonStoredFunc)},
	{"SELECT 1 FROM DUAL WHERE EXISTS (SELECT f(2))", write(ReasonStoredFunc)},
	{"SELECT db.abs(1)", write(ReasonStoredFunc)}, // built-ins take no database
	{"DO log_visit(1)", write(ReasonStoredFunc)},
	{"/* tailgate:replica */ SELECT my_func(1)", read()}, // the application vouches for it
	{"SELECT CHAR(65), MID('abc', 1, 1), SUBSTRING('a' FROM 1), TRIM(LEADING 'a' FROM 'b'), POSITION('a' IN 'b'), INSERT('abc', 1, 1, 'x')", read()},
	{"SELECT DATE_ADD(NOW(), INTERVAL 1 DAY), GET_FORMAT(DATE, 'USA'), CONVERT('a' USING utf8), WEIGHT_STRING('a'), CURRENT_USER, SESSION_USER(), PASSWORD('x')", read()},
	{"SELECT ST_AsText(POINT(1, 1)), ST_Distance_Sphere(POINT(1, 1), POINT(2, 2)), AsText(GeomFromText('POINT(1 1)'))", read()},
	{"SELECT JSON_DETAILED('{}'), COLUMN_CREATE('a', 1), NVL(NULL, 1), SFORMAT('{}', 1), NATURAL_SORT_KEY('a1'), REGEXP_REPLACE('a', 'a', 'b')", read()},
	{"SET @a = my_func(1)", writeWith(ReasonUserVarAssign, EffectUserVarAssign)}, // never replayed on replicas
	// The primary's binary log and replicas, not a replica's.
	{"SHOW MASTER STATUS", write(ReasonPrimaryStatus)},
	{"SHOW BINLOG STATUS", write(ReasonPrimaryStatus)},     // MariaDB's name
	{"SHOW BINARY LOG STATUS", write(ReasonPrimaryStatus)}, // MySQL 8.2's
	{"SHOW BINARY LOGS", write(ReasonPrimaryStatus)},
	{"show master logs", write(ReasonPrimaryStatus)},
	{"SHOW BINLOG EVENTS IN 'mariadb-bin.000001' LIMIT 5", write(ReasonPrimaryStatus)},
	{"SHOW SLAVE HOSTS", write(ReasonPrimaryStatus)},
	{"SHOW REPLICA HOSTS", write(ReasonPrimaryStatus)}, // MariaDB's synonym; fallback
	{"show replica hosts;", write(ReasonPrimaryStatus)},
	{"/* tailgate:replica */ SHOW REPLICA HOSTS", read()},
	{"SHOW REPLICAS", write(ReasonPrimaryStatus)},
	{"SHOW SLAVE STATUS", read()}, // asked of a replica
	// The primary's binlog position, which an application doing its own causal reads waits
	// for on a replica.
	{"SELECT @@gtid_binlog_pos", write(ReasonPrimaryStatus)},
	{"SELECT @@GLOBAL.gtid_current_pos, @@gtid_binlog_state", write(ReasonPrimaryStatus)},
	{"SELECT @@gtid_executed", write(ReasonPrimaryStatus)},             // MySQL
	{"select @@global.GTID_EXECUTED AS g", write(ReasonPrimaryStatus)}, // MySQL
	{"SELECT * FROM t WHERE g = @@gtid_binlog_pos", write(ReasonPrimaryStatus)},
	{"SELECT LAST_INSERT_ID(), @@gtid_binlog_pos", writeWith(ReasonSessionFunc, EffectLastInsertID)},
	{"/* tailgate:replica */ SELECT @@gtid_binlog_pos", read()}, // the replica's own, asked for
	{"SELECT @@gtid_slave_pos, @@gtid_domain_id", read()},       // a replica's replication state
	{"SET @p = @@gtid_binlog_pos", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	// Active roles are session state: replayed wherever the session's next statement runs.
	{"SET ROLE reader", want{kind: KindSessionSet, setKey: "role"}},
	{"SET ROLE NONE", want{kind: KindSessionSet, setKey: "role"}},
	{"SET DEFAULT ROLE reader", write(ReasonUnparsed)}, // an account change (MariaDB syntax)
	{"SELECT NEXT VALUE FOR s", writeWith(ReasonSequence, EffectSequence)},
	{"SELECT LASTVAL(s)", write(ReasonSessionFunc)},
	{"SELECT SETVAL(s, 10)", writeWith(ReasonSequence, EffectSequence)},
	{"INSERT INTO t (id) VALUES (NEXTVAL(s))", writeWith(ReasonWrite, EffectSequence)},
	{"INSERT INTO t (id) VALUES (NEXT VALUE FOR s)", writeWith(ReasonWrite, EffectSequence)},
	{"DO GET_LOCK('x', 0)", writeWith(ReasonSessionFunc, EffectGetLock)},
	{"DO RELEASE_LOCK('x')", writeWith(ReasonSessionFunc, EffectReleaseLock)},

	// User variable assignment inside a statement.
	{"SELECT @a := 1", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SELECT (SELECT @a := 5)", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SELECT @n := @n + 1 FROM t", writeWith(ReasonUserVarAssign, EffectUserVarAssign|EffectUsesUserVars)},
	{"DO @a := 1", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},

	// SET.
	{"SET @a = 1", sessionSet("@a")},
	{"SET @A := 1, @b = 'x'", sessionSet("@a,@b")},
	{"SET @a = 1, @a = 2", sessionSet("@a")},
	{"SET @`a b` = 1", sessionSet("@a b")},
	{"SET @a = @b", want{kind: KindSessionSet, setKey: "@a", effects: EffectUsesUserVars}},
	{"SET NAMES utf8mb4", sessionSet("names")},
	{"SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", sessionSet("names")},
	{"SET CHARACTER SET utf8", sessionSet("names")},
	{"SET CHARSET utf8", sessionSet("names")},
	{"SET sql_mode='ANSI'", sessionSet("sql_mode")},
	{"SET @@session.sql_mode = 'ANSI'", sessionSet("sql_mode")},
	{"SET @@SQL_MODE = 'ANSI'", sessionSet("sql_mode")},
	{"SET SESSION sql_mode = 'ANSI', time_zone = '+00:00', @x = 1", sessionSet("@x,sql_mode,time_zone")},
	{"SET LOCAL sql_mode = DEFAULT", sessionSet("sql_mode")},
	{"SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", sessionSet("sql_mode")},
	{"SET character_set_results = NULL", sessionSet("character_set_results")},
	{"/*!40101 SET NAMES utf8 */", sessionSet("names")},
	{"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;", sessionSet("@old_character_set_client")},
	{"/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY */", sessionSet("@old_note_verbosity")},
	{"SET GLOBAL max_connections=10", write(ReasonGlobalSet)},
	{"SET @@global.max_connections = 10", write(ReasonGlobalSet)},
	{"SET @a = 1, GLOBAL max_connections = 10", write(ReasonGlobalSet)},
	{"SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", write(ReasonGlobalSet)},
	{"SET PERSIST max_connections=10", write(ReasonGlobalSet)},      // parser: syntax error; fallback
	{"SET PERSIST_ONLY max_connections=10", write(ReasonGlobalSet)}, // ditto
	{"SET @@persist.max_connections=10", write(ReasonGlobalSet)},
	{"SET @a = (SELECT max(id) FROM t)", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SET @a = 1, @b = (SELECT 1)", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SET @id = LAST_INSERT_ID()", writeWith(ReasonUserVarAssign, EffectUserVarAssign|EffectLastInsertID)},
	{"SET @l = GET_LOCK('x', 1)", writeWith(ReasonUserVarAssign, EffectUserVarAssign|EffectGetLock)},
	{"SET @r = HEX(RANDOM_BYTES(8))", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SET @sid = @@server_id", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SET @w = @@warning_count", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SET @s = NEXTVAL(seq)", writeWith(ReasonUserVarAssign, EffectUserVarAssign|EffectSequence)},
	{"SET @u = UUID()", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SET @t = NOW()", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SET @a = @b := 1", writeWith(ReasonUserVarAssign, EffectUserVarAssign)},
	{"SET autocommit=0", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit, autocommit: false}},
	{"SET autocommit=1", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit, autocommit: true}},
	{"set autocommit = ON", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit, autocommit: true}},
	{"set autocommit = 'on'", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit, autocommit: true}},
	{"SET autocommit = OFF", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit, autocommit: false}},
	{"SET @@session.autocommit = true", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit, autocommit: true}},
	{"SET SESSION autocommit = FALSE", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit, autocommit: false}},
	{"SET autocommit = DEFAULT", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit, autocommit: true}},
	{"SET autocommit = @x", want{kind: KindSessionSet, setKey: "autocommit", effects: EffectSetAutocommit | EffectUsesUserVars, autocommit: false}},
	{"SET autocommit = 1, sql_mode = ''", want{kind: KindSessionSet, setKey: "autocommit,sql_mode", effects: EffectSetAutocommit, autocommit: true}},
	{"SET TRANSACTION ISOLATION LEVEL READ COMMITTED", want{kind: KindSessionSet, setKey: "tx_isolation_one_shot", effects: EffectSetTransaction}},
	{"set /* next only */ transaction read only", want{kind: KindSessionSet, setKey: "tx_read_only", effects: EffectSetTransaction}},
	// The session forms are session state, replayed like any SET.
	{"SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", sessionSet("tx_isolation")},
	{"SET SESSION TRANSACTION READ ONLY", sessionSet("tx_read_only")},
	{"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE", sessionSet("tx_isolation,tx_read_only")},
	{"SET @@session.tx_isolation = 'READ-COMMITTED'", sessionSet("tx_isolation")},
	{"SET transaction_read_only = 1", sessionSet("transaction_read_only")},
	{"SET transaction_isolation = 'READ-COMMITTED'", sessionSet("transaction_isolation")},
	{"SET PASSWORD = 'secret'", write(ReasonAdminCommand)},
	{"SET ROLE ALL", sessionSet("role")}, // MySQL syntax; MariaDB rejects it, and then nothing is recorded
	{"SET DEFAULT ROLE ALL TO u", write(ReasonAdminCommand)},
	{"SET STATEMENT max_statement_time=1 FOR SELECT c FROM t", read()}, // MariaDB; fallback
	{"SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1", write(ReasonWrite)},
	{"SET STATEMENT max_statement_time=1 FOR SELECT 1 INTO @a", writeWith(ReasonSelectInto, EffectUserVarAssign)},

	// USE.
	{"USE test", want{kind: KindUse, schema: "test"}},
	{"use `My-DB`", want{kind: KindUse, schema: "My-DB"}},

	// Transactions.
	{"BEGIN", want{kind: KindBegin}},
	{"BEGIN WORK", want{kind: KindBegin}}, // parser: syntax error; fallback
	{"START TRANSACTION", want{kind: KindBegin}},
	{"START TRANSACTION READ WRITE", want{kind: KindBegin}},
	{"START TRANSACTION WITH CONSISTENT SNAPSHOT", want{kind: KindBegin}},
	{"START TRANSACTION READ ONLY", want{kind: KindBeginReadOnly}},
	{"start transaction read only", want{kind: KindBeginReadOnly}},
	{"START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT", want{kind: KindBeginReadOnly}}, // fallback
	{"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE", want{kind: KindBegin}},        // fallback
	{"COMMIT", want{kind: KindEndTransaction}},
	{"COMMIT AND CHAIN", want{kind: KindEndTransaction}},
	{"COMMIT WORK", want{kind: KindEndTransaction}}, // fallback
	{"ROLLBACK", want{kind: KindEndTransaction}},
	{"ROLLBACK RELEASE", want{kind: KindEndTransaction}},
	{"ROLLBACK WORK AND NO CHAIN", want{kind: KindEndTransaction}}, // fallback
	{"SAVEPOINT a", write(ReasonWrite)},
	{"ROLLBACK TO SAVEPOINT a", write(ReasonWrite)},
	{"ROLLBACK TO a", write(ReasonWrite)},
	{"ROLLBACK WORK TO SAVEPOINT a", write(ReasonWrite)}, // fallback
	{"RELEASE SAVEPOINT a", write(ReasonWrite)},
	{"XA START 'x'", write(ReasonAdminCommand)}, // fallback

	// Writes.
	{"INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 2, 'c', 'pad')", write(ReasonWrite)},
	{"INSERT INTO t SELECT * FROM u", write(ReasonWrite)},
	{"INSERT INTO t VALUES (GET_LOCK('a', 1))", writeWith(ReasonWrite, EffectGetLock)},
	{"INSERT INTO t VALUES (@a)", writeWith(ReasonWrite, EffectUsesUserVars)},
	{"INSERT INTO child (parent) VALUES (LAST_INSERT_ID())", writeWith(ReasonWrite, EffectLastInsertID)},
	{"UPDATE t SET a = ROW_COUNT()", write(ReasonWrite)},
	{"UPDATE sbtest1 SET k=k+1 WHERE id=5", write(ReasonWrite)},
	{"UPDATE t SET a = (@x := a + 1)", writeWith(ReasonWrite, EffectUserVarAssign)},
	{"WITH c AS (SELECT 1) UPDATE t SET a = 1", write(ReasonWrite)},
	{"DELETE FROM sbtest1 WHERE id=5", write(ReasonWrite)},
	{"REPLACE INTO t VALUES (1)", write(ReasonWrite)},
	{"LOAD DATA INFILE '/tmp/x' INTO TABLE t", write(ReasonWrite)},
	{"LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t", write(ReasonWrite)},
	{"load data local infile \"/tmp/x.csv\" into table db.t fields terminated by ',' ignore 1 lines (a, b)", write(ReasonWrite)},
	{"LOAD DATA LOW_PRIORITY LOCAL INFILE 'x' REPLACE INTO TABLE t", write(ReasonWrite)},
	// The parser rejects CONCURRENT and MariaDB's LOAD XML: unparsed, they are writes all the same.
	{"LOAD DATA CONCURRENT LOCAL INFILE 'x' IGNORE INTO TABLE t CHARACTER SET utf8mb4", write(ReasonUnparsed)},
	{"LOAD XML LOCAL INFILE 'x.xml' INTO TABLE t", write(ReasonUnparsed)},
	{"DELETE FROM t WHERE id = 1 RETURNING id", write(ReasonUnparsed)}, // MariaDB RETURNING: parser rejects it

	// DDL.
	{"CREATE TABLE t (id int primary key)", write(ReasonDDL)},
	{"CREATE TABLE t2 LIKE t", write(ReasonDDL)},
	{"CREATE TEMPORARY TABLE tmp1 (id int)", want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"tmp1"}}},
	{"CREATE TEMPORARY TABLE IF NOT EXISTS db.Tmp2 LIKE t", want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"db.tmp2"}}},
	{"DROP TEMPORARY TABLE tmp1", want{kind: KindWrite, reason: ReasonDDL, effects: EffectDropTable, tables: []string{"tmp1"}}},
	{"DROP TABLE IF EXISTS a, db.B", want{kind: KindWrite, reason: ReasonDDL, effects: EffectDropTable, tables: []string{"a", "db.b"}}},
	{"DROP VIEW v", write(ReasonDDL)},
	{"ALTER TABLE t ADD COLUMN c int", write(ReasonDDL)},
	{"TRUNCATE t", write(ReasonDDL)},
	{"TRUNCATE TABLE t", write(ReasonDDL)},
	{"RENAME TABLE a TO b", want{kind: KindWrite, reason: ReasonDDL, effects: EffectRenameTable, tables: []string{"a", "b"}}},
	{"CREATE INDEX i ON t (a)", write(ReasonDDL)},
	{"DROP INDEX i ON t", write(ReasonDDL)},
	{"CREATE DATABASE d", write(ReasonDDL)},
	{"DROP DATABASE d", write(ReasonDDL)},
	{"CREATE VIEW v AS SELECT 1", write(ReasonDDL)},
	{"CREATE SEQUENCE s", write(ReasonDDL)},
	{"DROP SEQUENCE s", want{kind: KindWrite, reason: ReasonDDL, effects: EffectDropTable, tables: []string{"s"}}}, // a temporary one first
	{"DROP SEQUENCE IF EXISTS a, db.B", want{kind: KindWrite, reason: ReasonDDL, effects: EffectDropTable, tables: []string{"a", "db.b"}}},
	{"CREATE PROCEDURE p() BEGIN SELECT 1; END", write(ReasonDDL)},
	{"DROP PROCEDURE p", write(ReasonDDL)},
	{"CREATE OR REPLACE TABLE t (id int)", write(ReasonUnparsed)}, // MariaDB: parser rejects it
	// MariaDB's temporary tables and sequences the parser rejects: the fallback reads their
	// names, which the session's reads must find on the primary (or no longer need to).
	{"CREATE OR REPLACE TEMPORARY TABLE tmp_cr (a INT)", want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"tmp_cr"}}},
	{"create or replace temporary table Tmp_Cr(a int) engine=Aria", want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"tmp_cr"}}},
	{"/* tailgate:primary */ CREATE OR REPLACE TEMPORARY TABLE db.`t``1` SELECT 1 AS a", want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"db.t`1"}}},
	{"CREATE TEMPORARY TABLE IF NOT EXISTS `db`.`Tmp 2` (a INT) WITH SYSTEM VERSIONING", want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"db.tmp 2"}}},
	{"CREATE TEMPORARY SEQUENCE tmp_sq", want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"tmp_sq"}}},
	{"CREATE OR REPLACE TEMPORARY SEQUENCE IF NOT EXISTS db.Sq START WITH 10 INCREMENT BY 2;", want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"db.sq"}}},
	{"CREATE OR REPLACE TEMPORARY TABLE a, b (x int)", write(ReasonUnparsed)},
	{"CREATE OR REPLACE TEMPORARY TABLE (x int)", write(ReasonUnparsed)},
	{"CREATE OR REPLACE TEMPORARY TABLE `` (x int)", write(ReasonUnparsed)},
	{"CREATE OR REPLACE TEMPORARY VIEW v AS SELECT 1", write(ReasonUnparsed)},
	{"CREATE OR REPLACE SEQUENCE s", write(ReasonUnparsed)},                 // not temporary: nothing to follow
	{"CREATE TEMPORARY SEQUENCE a; SELECT * FROM a", write(ReasonUnparsed)}, // no fallback for several statements
	{"DROP TEMPORARY SEQUENCE tmp_sq", want{kind: KindWrite, reason: ReasonDDL, effects: EffectDropTable, tables: []string{"tmp_sq"}}},
	{"DROP TEMPORARY SEQUENCE IF EXISTS tmp_sq, db.`S2`", want{kind: KindWrite, reason: ReasonDDL, effects: EffectDropTable, tables: []string{"tmp_sq", "db.s2"}}},
	{"DROP TEMPORARY TABLE tmp1 WAIT 5", want{kind: KindWrite, reason: ReasonDDL, effects: EffectDropTable, tables: []string{"tmp1"}}},
	{"DROP TABLE IF EXISTS a, /* kept */ b NOWAIT CASCADE", want{kind: KindWrite, reason: ReasonDDL, effects: EffectDropTable, tables: []string{"a", "b"}}},
	{"DROP TEMPORARY TABLE tmp1 WAIT", write(ReasonUnparsed)},
	{"DROP TEMPORARY SEQUENCE a b", write(ReasonUnparsed)},
	{"DROP TEMPORARY SEQUENCE a,", write(ReasonUnparsed)},
	{"DROP TEMPORARY VIEW v", write(ReasonUnparsed)},

	// CALL, locks and administration.
	{"CALL p()", write(ReasonCall)},
	{"CALL p(@a)", writeWith(ReasonCall, EffectUsesUserVars)},
	{"RENAME TABLE A TO db.b, c TO d", want{kind: KindWrite, reason: ReasonDDL, effects: EffectRenameTable, tables: []string{"a", "db.b", "c", "d"}}},
	{"ALTER TABLE a RENAME TO b", want{kind: KindWrite, reason: ReasonDDL, effects: EffectRenameTable, tables: []string{"a", "b"}}},
	{"ALTER TABLE a ADD COLUMN x INT", write(ReasonDDL)},
	{"LOCK TABLES t WRITE", writeWith(ReasonAdminCommand, EffectLockTables)},
	// MariaDB's forms the parser rejects, and FLUSH TABLES that lock tables.
	{"LOCK TABLES t LOW_PRIORITY WRITE", writeWith(ReasonAdminCommand, EffectLockTables)},
	{"LOCK TABLES t WRITE CONCURRENT", writeWith(ReasonAdminCommand, EffectLockTables)},
	{"lock tables t read wait 5", writeWith(ReasonAdminCommand, EffectLockTables)},
	{"LOCK TABLE t AS a READ", writeWith(ReasonAdminCommand, EffectLockTables)},
	{"FLUSH TABLES t WITH READ LOCK", writeWith(ReasonAdminCommand, EffectLockTables)},
	{"FLUSH TABLES t, u FOR EXPORT", writeWith(ReasonAdminCommand, EffectLockTables)},
	{"FLUSH TABLES WITH READ LOCK", write(ReasonAdminCommand)}, // global: any table may be read
	{"LOCK TABLE t READ, u WRITE", writeWith(ReasonAdminCommand, EffectLockTables)},
	{"UNLOCK TABLES", writeWith(ReasonAdminCommand, EffectUnlockTables)},
	{"FLUSH TABLES", write(ReasonAdminCommand)},
	{"FLUSH PRIVILEGES", write(ReasonAdminCommand)},
	{"SET session_track_system_variables = ''", want{kind: KindSessionSet, setKey: "session_track_system_variables", effects: EffectSessionTracking}},
	{"SET SESSION session_track_gtids = OFF, @a = 1", want{kind: KindSessionSet, setKey: "@a,session_track_gtids", effects: EffectSessionTracking}},
	{"KILL TIDB 5", write(ReasonAdminCommand)},
	{"KILL QUERY ID 5", write(ReasonAdminCommand)},
	{"KILL USER app", write(ReasonAdminCommand)},
	{"KILL HARD USER 'app'@'%'", write(ReasonAdminCommand)},
	{"GRANT SELECT ON db.* TO u", write(ReasonAdminCommand)},
	{"REVOKE SELECT ON db.* FROM u", write(ReasonAdminCommand)},
	{"CREATE USER u IDENTIFIED BY 'x'", write(ReasonAdminCommand)},
	{"DROP USER u", write(ReasonAdminCommand)},
	{"ANALYZE TABLE t", write(ReasonAdminCommand)},
	{"PREPARE s FROM 'SELECT 1'", write(ReasonAdminCommand)},
	{"EXECUTE s", writeWith(ReasonAdminCommand, EffectOpaque)},
	{"EXECUTE s USING @a", writeWith(ReasonAdminCommand, EffectOpaque)},
	{"EXECUTE IMMEDIATE 'SET @x = 1'", writeWith(ReasonUnparsed, EffectOpaque)},
	{"INSERT INTO t (v) VALUES (1) RETURNING id", write(ReasonUnparsed)}, // keeps no connection
	{"DEALLOCATE PREPARE s", write(ReasonAdminCommand)},
	{"SHUTDOWN", write(ReasonAdminCommand)},
	{"HANDLER t OPEN", write(ReasonAdminCommand)}, // fallback

	// Several statements.
	{"select 1; select 2", want{kind: KindRead, multi: true}},
	{"select 1; select @a;", want{kind: KindRead, effects: EffectUsesUserVars, multi: true}},
	{"select 1; delete from t", want{kind: KindWrite, reason: ReasonMultiWrite, multi: true}},
	// Executable comments a server may skip (by its version or flavour): a read that the other
	// reading makes a write goes to the primary.
	{"SELECT @@server_id /*!50700 , ' */ ; DELETE FROM t; -- ' */", want{kind: KindWrite, reason: ReasonMultiWrite, multi: true}},
	{"SELECT 1 /*M!999999 , ' */ ; DELETE FROM t; -- ' */", want{kind: KindWrite, reason: ReasonMultiWrite, multi: true}},
	{"SELECT /*!40001 SQL_NO_CACHE */ * FROM t", read()},
	{"SELECT 1 /*M!100000 , 2 */", read()},
	{"SELECT * FROM t WHERE /*!50000 id = 1 */", read()}, // run by every server: not read twice
	{"SELECT * FROM t t1 /*!40000 STRAIGHT_JOIN */ t t2 ON t1.id = t2.id", read()},
	{"SELECT 1 -- it's\n /*!50700 , ' */; DELETE FROM t; -- ' */", want{kind: KindWrite, reason: ReasonMultiWrite, multi: true}},
	{"SELECT 1 # it's\n /*!80000 , ' */; DELETE FROM t; -- ' */", want{kind: KindWrite, reason: ReasonMultiWrite, multi: true}},
	{"SELECT 1 /* it's */ /*!50700 , ' */; DELETE FROM t; -- ' */", want{kind: KindWrite, reason: ReasonMultiWrite, multi: true}},
	{"SELECT '/*!50700 x */' FROM t", read()},
	{"SELECT 'it''s /*!50700 */', \"a\\\" /*!50700 */\" FROM t /*! LIMIT 3 */", read()},
	{"select 1; show warnings", want{kind: KindWrite, reason: ReasonMultiWrite, multi: true}},
	{"select 1 for update; select 2", want{kind: KindWrite, reason: ReasonMultiWrite, multi: true}},
	{"CREATE TEMPORARY TABLE a (id int); DROP TABLE b; USE d; SET autocommit = 0",
		want{kind: KindWrite, reason: ReasonMultiWrite, effects: EffectCreateTempTable | EffectDropTable | EffectSetAutocommit,
			tables: []string{"a", "b"}, schema: "d", multi: true}},

	// Text the parser cannot parse.
	{"this is not sql", write(ReasonUnparsed)},
	{"", write(ReasonUnparsed)},
	{";", write(ReasonUnparsed)},
	{"/* nothing */", write(ReasonUnparsed)},
	{"SELECT 'unterminated", write(ReasonUnparsed)},
	{"SELECT 1 /* unterminated", write(ReasonUnparsed)},
	{"CHECKSUM TABLE t", write(ReasonUnparsed)},
	{"SELECT PREVIOUS VALUE FOR s", write(ReasonUnparsed)}, // MariaDB: parser rejects it
}

func TestClassify(t *testing.T) {
	c := NewClassifier(1000)
	for _, tc := range classifyCases {
		t.Run(tc.sql, func(t *testing.T) {
			got := c.Classify(tc.sql)
			checkStatement(t, got, tc.want)
		})
	}
}

func checkStatement(t *testing.T, got *Statement, w want) {
	t.Helper()
	if got.Kind != w.kind || got.Reason != w.reason {
		t.Errorf("kind, reason = %v, %q; want %v, %q", got.Kind, got.Reason, w.kind, w.reason)
	}
	if got.Effects != w.effects {
		t.Errorf("effects = %#x; want %#x", got.Effects, w.effects)
	}
	if !slices.Equal(got.Tables, w.tables) {
		t.Errorf("tables = %q; want %q", got.Tables, w.tables)
	}
	if got.Schema != w.schema || got.SetKey != w.setKey {
		t.Errorf("schema, set key = %q, %q; want %q, %q", got.Schema, got.SetKey, w.schema, w.setKey)
	}
	if got.Autocommit != w.autocommit || got.Multi != w.multi {
		t.Errorf("autocommit, multi = %v, %v; want %v, %v", got.Autocommit, got.Multi, w.autocommit, w.multi)
	}
	if got.Kind != KindWrite && got.Reason != "" {
		t.Errorf("reason %q on a %v statement", got.Reason, got.Kind)
	}
	if got.Kind == KindWrite && got.Reason == "" {
		t.Error("write without a reason")
	}
}

// PrimarySession marks the calls whose answer is the primary connection's or server's, not
// the previous statement's: a read-only transaction on a replica leaves only those to the
// primary.
func TestClassifyPrimarySession(t *testing.T) {
	c := NewClassifier(1000)
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"SELECT GET_LOCK('job', 0)", true},
		{"SELECT RELEASE_LOCK('job')", true},
		{"DO RELEASE_ALL_LOCKS()", true},
		{"SELECT IS_USED_LOCK('job'), IS_FREE_LOCK('job')", true},
		{"SELECT LAST_INSERT_ID()", true},
		{"SELECT * FROM t WHERE id = (SELECT LAST_INSERT_ID())", true},
		{"SELECT @@identity", true},
		{"SELECT @@last_gtid", true},
		{"SELECT CONNECTION_ID()", true},
		{"SELECT GET_LOCK('job', 0) INTO @got", true},
		{"SELECT GET_LOCK('job', 0) FOR UPDATE", true},
		{"SET @id = LAST_INSERT_ID()", true},
		{"SET NAMES utf8mb4; SELECT GET_LOCK('job', 0)", true},
		{"SELECT FOUND_ROWS()", false},
		{"SELECT ROW_COUNT()", false},
		{"SELECT @@gtid_binlog_pos", false}, // ReasonPrimaryStatus says it
		{"SELECT NEXTVAL(s)", false},
		{"SELECT LASTVAL(s)", true},
		{"SELECT 1", false},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			if got := c.Classify(tc.sql).PrimarySession; got != tc.want {
				t.Errorf("PrimarySession = %v, want %v", got, tc.want)
			}
		})
	}
}

// KILL names a connection id a client got from tailgate: tailgate runs it, and never lets a
// server read the id as one of its own threads.
func TestClassifyKill(t *testing.T) {
	const multi, expr = killInMulti, killNumberOnly
	for _, c := range []*Classifier{NewClassifier(100), NewClassifier(100).ForMode(ModeNoBackslashEscapes), NewClassifier(100).ForMode(ModeANSIQuotes)} {
		for _, tc := range []struct {
			sql  string
			want Kill
		}{
			{"KILL 10005", Kill{ID: 10005}},
			{"kill connection 10005;", Kill{ID: 10005}},
			{"KILL QUERY 10005", Kill{ID: 10005, Query: true}},
			{"/* tailgate:replica */ KILL QUERY 7", Kill{ID: 7, Query: true}},
			{"KILL HARD QUERY 10005", Kill{ID: 10005, Query: true}},
			{"KILL SOFT CONNECTION 10005", Kill{ID: 10005}},
			{"KILL HARD 12", Kill{ID: 12}},
			{"KILL CONNECTION_ID()", Kill{Unsupported: expr}},
			{"KILL 1+1", Kill{Unsupported: expr}},
			{"KILL QUERY (SELECT 5)", Kill{Unsupported: expr}},
			{"KILL", Kill{Unsupported: expr}},
			{"KILL 99999999999999999999999", Kill{Unsupported: expr}},
			{"KILL 5; SELECT 1", Kill{Unsupported: multi}},
			{"SELECT 1; KILL QUERY 5", Kill{Unsupported: multi}},
			{"SELECT 1; KILL HARD 5", Kill{Unsupported: multi}},
		} {
			st := c.Classify(tc.sql)
			if st.Kind != KindKill || st.Kill != tc.want || st.Reason != "" {
				t.Errorf("Classify(%q) = %v %q %+v; want kill %+v", tc.sql, st.Kind, st.Reason, st.Kill, tc.want)
			}
		}
	}
}

// Hints are recorded with the classification, and never change what the statement is.
func TestClassifyRecordsHints(t *testing.T) {
	c := NewClassifier(100)
	for _, tc := range []struct {
		sql    string
		kind   Kind
		hint   Hint
		maxLag time.Duration
	}{
		{"/* tailgate:primary */ SELECT 1", KindRead, HintPrimary, 0},
		{"/* tailgate:replica,max_lag=2s */ SELECT 1", KindRead, HintReplica, 2 * time.Second},
		{"/* tailgate:replica */ UPDATE t SET a = 1", KindWrite, HintReplica, 0},
		{"/* tailgate:max_lag=500ms */ SHOW SLAVE STATUS", KindRead, HintNone, 500 * time.Millisecond},
		{"/* tailgate:primary */ SELECT 1 INTO @a", KindWrite, HintPrimary, 0},
		{"/* tailgate:primary */ this is not sql", KindWrite, HintPrimary, 0},
		{"SELECT /* tailgate:primary */ 1", KindRead, HintNone, 0},
	} {
		got := c.Classify(tc.sql)
		if got.Kind != tc.kind || got.Hint != tc.hint || got.MaxLag != tc.maxLag {
			t.Errorf("Classify(%q) = kind %v hint %v max_lag %v; want %v %v %v",
				tc.sql, got.Kind, got.Hint, got.MaxLag, tc.kind, tc.hint, tc.maxLag)
		}
	}
	// Same statement, different hints: different cache entries.
	if a, b := c.Classify("/* tailgate:primary */ SELECT 2"), c.Classify("/* tailgate:replica */ SELECT 2"); a.Hint == b.Hint {
		t.Errorf("hints of two texts collapsed into one: %v", a.Hint)
	}
}

func TestClassifyBytes(t *testing.T) {
	c := NewClassifier(100)
	buf := []byte("USE shop")
	got := c.ClassifyBytes(buf)
	if got.Kind != KindUse || got.Schema != "shop" {
		t.Fatalf("ClassifyBytes(%q) = %+v", buf, got)
	}
	copy(buf, "XXXXXXXX") // the caller reuses its buffer
	if got.Schema != "shop" {
		t.Fatalf("schema aliases the caller's buffer: %q", got.Schema)
	}
	if again := c.Classify("USE shop"); again != got {
		t.Fatal("Classify after ClassifyBytes of the same text missed the cache")
	}
	if again := c.ClassifyBytes([]byte("USE shop")); again != got {
		t.Fatal("second ClassifyBytes missed the cache")
	}
}

func TestClassifyCacheHitReturnsSamePointer(t *testing.T) {
	c := NewClassifier(10)
	a := c.Classify("SELECT c FROM sbtest1 WHERE id=1")
	b := c.Classify("SELECT c FROM sbtest1 WHERE id=1")
	if a != b {
		t.Fatal("second Classify of the same text returned a new *Statement")
	}
	if c.Classify("SELECT c FROM sbtest2 WHERE id=1") == a {
		t.Fatal("statements of different shapes share a *Statement")
	}
}

func TestClassifyWithoutCache(t *testing.T) {
	c := NewClassifier(0)
	a := c.Classify("SELECT 1 FOR UPDATE")
	b := c.Classify("SELECT 1 FOR UPDATE")
	if a == b {
		t.Fatal("cache disabled, yet the same pointer came back")
	}
	if a.Reason != ReasonLockingRead || b.Reason != ReasonLockingRead {
		t.Fatalf("reasons = %q, %q", a.Reason, b.Reason)
	}
	if n, m := c.cache.len(), c.shapes.len(); n != 0 || m != 0 {
		t.Fatalf("disabled caches hold %d texts and %d shapes", n, m)
	}
}

func TestClassifyLongTextIsNotCached(t *testing.T) {
	c := NewClassifier(10)
	// No literal to take out: the shape is as long as the text, too long for either level.
	long := "SELECT " + strings.Repeat("c, ", maxCachedLen/3) + "c FROM t"
	if a, b := c.Classify(long), c.Classify(long); a == b || a.Kind != KindRead {
		t.Fatalf("long text: same pointer %v, kind %v", a == b, a.Kind)
	}
	if n, m := c.cache.len(), c.shapes.len(); n != 0 || m != 0 {
		t.Fatalf("caches hold %d texts and %d shapes after a long text", n, m)
	}
	// A long literal: the text is not cached, its short shape is.
	blob := "INSERT INTO t VALUES (1, '" + strings.Repeat("x", maxCachedLen) + "')"
	if a, b := c.Classify(blob), c.Classify(blob); a != b || a.Kind != KindWrite {
		t.Fatalf("long literal: same pointer %v, kind %v", a == b, a.Kind)
	}
	if n, m := c.cache.len(), c.shapes.len(); n != 0 || m != 1 {
		t.Fatalf("caches hold %d texts and %d shapes after a long literal; want 0 and 1", n, m)
	}
}

func TestClassifyCacheStaysBounded(t *testing.T) {
	const size = 64
	c := NewClassifier(size)
	for i := range 2000 {
		// A new table each time: a new shape, so both levels fill.
		c.Classify(fmt.Sprintf("SELECT c FROM sbtest%d WHERE id=%d", i, i))
		if n, m := c.cache.len(), c.shapes.len(); n > size || m > size {
			t.Fatalf("after %d statements the caches hold %d texts and %d shapes; bound %d", i+1, n, m, size)
		}
	}
	if n, m := c.cache.len(), c.shapes.len(); n < size/2 || m < size/2 {
		t.Fatalf("caches hold only %d texts and %d shapes; eviction dropped too much", n, m)
	}
	// Still correct after evictions.
	if st := c.Classify("SELECT c FROM sbtest1 WHERE id=5 FOR UPDATE"); st.Reason != ReasonLockingRead {
		t.Fatalf("after eviction: %+v", st)
	}
}

func TestClassifyCachedAllocatesNothing(t *testing.T) {
	c := NewClassifier(1000)
	for _, sql := range sysbenchMix {
		c.Classify(sql)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		c.Classify(sysbenchMix[i%len(sysbenchMix)])
		i++
	})
	if allocs > 0 {
		t.Fatalf("a cache hit allocates %.1f times", allocs)
	}
	buf := []byte(sysbenchMix[0])
	if allocs := testing.AllocsPerRun(1000, func() { c.ClassifyBytes(buf) }); allocs > 0 {
		t.Fatalf("a ClassifyBytes cache hit allocates %.1f times", allocs)
	}
}

// Run with -race: parsers are pooled and the cache is shared.
func TestClassifyConcurrent(t *testing.T) {
	c := NewClassifier(32) // small: evictions race with lookups
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				tc := classifyCases[(g*31+i)%len(classifyCases)]
				got := c.Classify(tc.sql)
				if got.Kind != tc.want.kind || got.Reason != tc.want.reason || got.Effects != tc.want.effects {
					t.Errorf("Classify(%q) = %v %q %#x; want %v %q %#x", tc.sql,
						got.Kind, got.Reason, got.Effects, tc.want.kind, tc.want.reason, tc.want.effects)
					return
				}
				fresh := fmt.Sprintf("SELECT %d FROM t WHERE g = %d", i, g)
				if c.Classify(fresh).Kind != KindRead {
					t.Errorf("Classify(%q) is not a read", fresh)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, m := c.cache.len(), c.shapes.len(); n > 32 || m > 32 {
		t.Fatalf("caches hold %d texts and %d shapes; bound 32", n, m)
	}
}

func TestCutSelectInto(t *testing.T) {
	for _, tc := range []struct {
		sql, cut string
		vars, ok bool
	}{
		{"SELECT 1 INTO @a", "SELECT 1  ", true, true},
		{"SELECT a, b INTO @a, @'b' FROM t", "SELECT a, b   FROM t", true, true},
		{"SELECT a INTO DUMPFILE '/x' FROM t", "SELECT a   FROM t", false, true},
		{"SELECT 'INTO @a' FROM t", "", false, false},
		{"SELECT `INTO` FROM t /* INTO @a */", "", false, false},
		{"INSERT INTO t VALUES (1)", "", false, false},
		{"SELECT a INTO OUTFILE '/x' FROM t", "", false, false},
		{"SELECT 1 INTO @a; SELECT 2 INTO @b", "SELECT 1  ; SELECT 2  ", true, true},
	} {
		cut, vars, ok := cutSelectInto(tc.sql)
		if ok != tc.ok || vars != tc.vars || ok && strings.Join(strings.Fields(cut), " ") != strings.Join(strings.Fields(tc.cut), " ") {
			t.Errorf("cutSelectInto(%q) = %q, %v, %v; want %q, %v, %v", tc.sql, cut, vars, ok, tc.cut, tc.vars, tc.ok)
		}
	}
}

func TestNextToken(t *testing.T) {
	sql := "SELECT/*c*/'it''s', \"a\\\"b\", `x``y`, @v, @'w', @@session.x -- c\n# c\n;"
	var got []string
	for tok := nextToken(sql, 0); tok.kind != tokEOF; tok = nextToken(sql, tok.end) {
		got = append(got, fmt.Sprintf("%d:%s", tok.kind, tok.text))
	}
	want := []string{"1:SELECT", "2:'it''s'", "6:,", `2:"a\"b"`, "6:,", "3:`x``y`", "6:,", "4:@v", "6:,",
		"4:@'w'", "6:,", "5:@@session.x", "6:;"}
	if !slices.Equal(got, want) {
		t.Fatalf("tokens\n got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"'open", "`open", "/* open", "@'open"} {
		if tok := nextToken(bad, 0); tok.kind != tokBad {
			t.Errorf("nextToken(%q) kind = %d; want tokBad", bad, tok.kind)
		}
	}
}

func TestExpandMariaDBComments(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                       "SELECT 1",
		"/*M!100100 SET @a = 1 */":       "/*!        SET @a = 1 */",
		"/*M! SELECT 1 */ /*M!50000 2*/": "/*!  SELECT 1 */ /*!       2*/",
	} {
		if got := expandMariaDBComments(in); got != want {
			t.Errorf("expandMariaDBComments(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzClassify: any text classifies without panicking, writes carry a reason, and the lexical
// helpers stay in bounds.
func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add(tc.sql)
	}
	f.Add("/* tailgate:max_lag=-1s, replica primary */ SELECT 1")
	f.Add("SET STATEMENT a=(1 FOR SELECT 1")
	f.Add("SELECT 1 INTO @")
	c := NewClassifier(100)
	f.Fuzz(func(t *testing.T, sql string) {
		st := c.Classify(sql)
		if st.Kind == KindWrite && st.Reason == "" {
			t.Fatalf("Classify(%q): write without a reason", sql)
		}
		if st.MaxLag < 0 {
			t.Fatalf("Classify(%q): negative max_lag", sql)
		}
		fresh := NewClassifier(0).Classify(sql)
		if fresh.Kind != st.Kind || fresh.Reason != st.Reason || fresh.Effects != st.Effects ||
			fresh.Hint != st.Hint || fresh.MaxLag != st.MaxLag || !slices.Equal(fresh.Tables, st.Tables) {
			t.Fatalf("Classify(%q) is not deterministic: %+v then %+v", sql, st, fresh)
		}
	})
}

// TestNoBackslashEscapes: the same text is one read with backslash escapes and a read plus
// an INSERT without them; the NO_BACKSLASH_ESCAPES classifier reads it the second way.
func TestNoBackslashEscapes(t *testing.T) {
	c := NewClassifier(100)
	const text = `SELECT 'x\' AS a; INSERT INTO t VALUES (1); -- '`
	if st := c.Classify(text); st.Kind != KindRead || st.Multi {
		t.Errorf("default mode: %+v, want one read", st)
	}
	nbe := c.ForMode(ModeNoBackslashEscapes)
	for range 2 { // parsed, then cached
		if st := nbe.Classify(text); st.Kind != KindWrite || !st.Multi || st.Reason != ReasonMultiWrite {
			t.Errorf("NO_BACKSLASH_ESCAPES: %+v, want a multi-statement write", st)
		}
	}
	if st := nbe.Classify(`SELECT 'C:\'`); st.Kind != KindRead {
		t.Errorf("NO_BACKSLASH_ESCAPES: SELECT 'C:\\' = %+v, want a read", st)
	}
	if st := nbe.ClassifyBytes([]byte(`SELECT 'it\'s'`)); st.Reason != ReasonUnparsed {
		t.Errorf("NO_BACKSLASH_ESCAPES: an unterminated string = %+v, want unparsed", st)
	}
	if nbe.ForMode(ModeNoBackslashEscapes) != nbe || nbe.ForMode(0) != c {
		t.Error("ForMode of the NO_BACKSLASH_ESCAPES classifier does not lead to the same classifiers")
	}
}

// TestANSIQuotes: with ANSI_QUOTES, "t" is a table, not a string; and a backslash inside
// double quotes ends nothing for the server, though it escapes the quote for the parser.
func TestANSIQuotes(t *testing.T) {
	c := NewClassifier(100)
	for _, m := range []SQLMode{ModeANSIQuotes, ModeANSIQuotes | ModeNoBackslashEscapes} {
		ansi := c.ForMode(m)
		for _, tc := range []struct {
			sql  string
			want want
		}{
			{`SELECT "a", "b" FROM "t" WHERE "c" = 'x'`, read()},
			{`SELECT * FROM "t" FOR UPDATE`, write(ReasonLockingRead)},
			{`INSERT INTO "t" ("a") VALUES ('x')`, write(ReasonWrite)},
			{`CREATE TEMPORARY TABLE "Tmp" ("a" int)`, want{kind: KindWrite, reason: ReasonDDL, effects: EffectCreateTempTable, tables: []string{"tmp"}}},
			{`SELECT "a\" FROM t; DELETE FROM t; -- "`, write(ReasonUnparsed)},
			{`SELECT 'it''s' FROM "t" WHERE "a" = 'C:\'`, write(ReasonUnparsed)},
			{`SELECT 'x\y' FROM t`, read()}, // a backslash and no double quote
		} {
			for range 2 { // parsed, then cached
				checkStatement(t, ansi.Classify(tc.sql), tc.want)
			}
		}
		// The fallbacks the parser needs for MariaDB's forms, but under NO_BACKSLASH_ESCAPES,
		// whose backslashes their tokenizer would misread: unparsed there (the primary).
		fallback := m&ModeNoBackslashEscapes == 0
		for _, tc := range []struct {
			sql  string
			want want
		}{
			{`SELECT k INTO @v FROM "t" ORDER BY id LIMIT 1`, writeWith(ReasonSelectInto, EffectUserVarAssign)},
			{`LOCK TABLES "t" WRITE CONCURRENT`, writeWith(ReasonAdminCommand, EffectLockTables)},
		} {
			if !fallback {
				tc.want = write(ReasonUnparsed)
			}
			for range 2 { // parsed, then cached
				checkStatement(t, ansi.Classify(tc.sql), tc.want)
			}
		}
		if st := ansi.Classify(`KILL 10005 /* "\" */`); st.Kind != KindKill || st.Kill.ID != 10005 {
			t.Errorf("mode %d: a KILL with both a quote and a backslash = %+v, want tailgate's KILL", m, st)
		}
	}
	// The default mode reads "t" as a string, which a FROM clause does not take.
	if st := c.Classify(`SELECT * FROM "t"`); st.Reason != ReasonUnparsed {
		t.Errorf(`default mode: SELECT * FROM "t" = %+v, want unparsed`, st)
	}
}

// TestMultiStatementSets: the replayable SETs of a multi-statement text, with their own text
// (no ';', no leading comment space) and position.
func TestMultiStatementSets(t *testing.T) {
	c := NewClassifier(10)
	st := c.Classify("SET NAMES latin1;  SELECT 1; /* c */ SET @a = 1, time_zone = '+02:00' ;SET autocommit = 0; SET @b = (SELECT 1); SET TRANSACTION READ ONLY")
	want := []SetPart{
		{Index: 0, Key: "names", SQL: "SET NAMES latin1"},
		{Index: 2, Key: "@a,time_zone", SQL: "/* c */ SET @a = 1, time_zone = '+02:00'"},
	}
	if !st.Multi || st.Kind != KindWrite || st.Reason != ReasonMultiWrite || !slices.Equal(st.Sets, want) {
		t.Errorf("got %+v\nwant Sets %+v", st, want)
	}
	st = c.Classify("SET NAMES utf8mb4; SET session_track_system_variables = ''")
	if len(st.Sets) != 2 || st.Sets[0].Tracking || !st.Sets[1].Tracking || !st.Effects.Has(EffectSessionTracking) {
		t.Errorf("a multi-statement setting session tracking: %+v", st)
	}
	// Only SETs, USE and reads: session state, not a multi-statement write.
	st = c.Classify("SET NAMES latin1; USE db; SELECT 1; SET time_zone = '+02:00'")
	if st.Kind != KindWrite || st.Reason != ReasonSessionState || len(st.Sets) != 2 || st.Schema != "db" {
		t.Errorf("SETs, USE and a read: %+v", st)
	}
	if st := c.Classify("SELECT 1; SELECT 2"); len(st.Sets) != 0 || st.Kind != KindRead {
		t.Errorf("two reads: %+v", st)
	}
}

// TestMayWrite: statements whose result set may hide a write's GTID (the proxy then reads
// the primary's position) against reads kept on the primary for their session effects.
func TestMayWrite(t *testing.T) {
	c := NewClassifier(0)
	for sql, want := range map[string]bool{
		"INSERT INTO t (v) VALUES (1) RETURNING id": true, // unparsed by TiDB's parser
		"DELETE FROM t WHERE id = 1 RETURNING id":   true,
		"UPDATE t SET v = 1":                        true,
		"CALL p()":                                  true,
		"INSERT INTO t VALUES (1); SELECT 1":        true,
		"EXECUTE stmt":                              true,
		"SELECT NEXTVAL(s)":                         true,
		"SELECT 1":                                  false,
		"SELECT LAST_INSERT_ID()":                   false,
		"SELECT * FROM t FOR UPDATE":                false,
		"SELECT @a := 1":                            false,
		"SELECT SQL_CALC_FOUND_ROWS * FROM t":       false,
		"SELECT GET_LOCK('a', 1)":                   false,
		"SET @a = 1":                                false,
	} {
		if got := c.Classify(sql).MayWrite(); got != want {
			st := c.Classify(sql)
			t.Errorf("%q (%s, %s): MayWrite() = %v, want %v", sql, st.Kind, st.Reason, got, want)
		}
	}
}
