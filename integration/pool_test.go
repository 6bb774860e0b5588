package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// statusCounts reads a global status counter (Com_stmt_execute...) on every server.
func statusCounts(t *testing.T, c *cluster.Cluster, name string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range c.Nodes() {
		db, err := n.RootDB()
		if err != nil {
			t.Fatal(err)
		}
		var k string
		var v int
		if err := db.QueryRow(fmt.Sprintf("SHOW GLOBAL STATUS LIKE '%s'", name)).Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		out[n.Name] = v
	}
	return out
}

func delta(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// TestPreparedStatementsRouted: server-side prepared reads execute on the replicas,
// prepared writes and everything in a transaction on the primary.
func TestPreparedStatementsRouted(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := tg.db(t, "") // go-sql-driver prepares server-side without interpolateParams
	mustExec(t, db, "DROP TABLE IF EXISTS pst", "CREATE TABLE pst (id INT AUTO_INCREMENT PRIMARY KEY, v INT, sid INT)")
	waitSeenReplicated(t, tg, shared)

	before := statusCounts(t, shared, "Com_stmt_execute")
	sel, err := db.Prepare("SELECT @@server_id, ? + 1")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	seen := map[int]int{}
	for i := range 200 {
		var sid, v int
		if err := sel.QueryRow(i).Scan(&sid, &v); err != nil {
			t.Fatal(err)
		}
		if v != i+1 {
			t.Fatalf("prepared read returned %d for %d", v, i)
		}
		seen[sid]++
	}
	split := delta(statusCounts(t, shared, "Com_stmt_execute"), before)
	t.Logf("200 prepared reads: server_ids %v; Com_stmt_execute per server %v", seen, split)
	if seen[int(shared.Primary.ServerID)] != 0 || split[shared.Primary.Name] != 0 {
		t.Errorf("the primary executed %d prepared reads (Com_stmt_execute +%d)", seen[int(shared.Primary.ServerID)], split[shared.Primary.Name])
	}
	for _, r := range shared.Replicas {
		if seen[int(r.ServerID)] < 50 {
			t.Errorf("%s executed only %d of 200 prepared reads", r.Name, seen[int(r.ServerID)])
		}
		// Executed as prepared statements there (binary protocol), not rewritten as text.
		if split[r.Name] != seen[int(r.ServerID)] {
			t.Errorf("%s: Com_stmt_execute +%d for the %d prepared reads it served", r.Name, split[r.Name], seen[int(r.ServerID)])
		}
	}

	ins, err := db.Prepare("INSERT INTO pst (v, sid) VALUES (?, @@server_id)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	for i := range 20 {
		if _, err := ins.Exec(i); err != nil {
			t.Fatal(err)
		}
	}
	var wrong int
	if err := db.QueryRow("/* tailgate:primary */ SELECT COUNT(*) FROM pst WHERE sid <> @@server_id").Scan(&wrong); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d prepared inserts ran on a replica", wrong)
	}

	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		var sid, v int
		if err := tx.Stmt(sel).QueryRow(i).Scan(&sid, &v); err != nil {
			t.Fatal(err)
		}
		if sid != int(shared.Primary.ServerID) {
			t.Errorf("prepared read inside a transaction ran on %d, want the primary", sid)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// execPacket builds a COM_STMT_EXECUTE for one BIGINT parameter.
func execPacket(id uint32, flags byte, v int64, withTypes bool) []byte {
	p := binary.LittleEndian.AppendUint32(nil, id)
	p = append(p, flags)
	p = binary.LittleEndian.AppendUint32(p, 1) // iteration count
	p = append(p, 0)                           // NULL bitmap for 1 parameter
	if withTypes {
		p = append(p, 1, gmysql.MYSQL_TYPE_LONGLONG, 0)
	} else {
		p = append(p, 0)
	}
	return binary.LittleEndian.AppendUint64(p, uint64(v))
}

// readResult reads a (binary) result set reply, returning the row count and final status.
func (rc *rawClient) readResult(what string) (rows int, status uint16) {
	rc.t.Helper()
	p, err := rc.readPacket()
	if err != nil {
		rc.t.Fatalf("%s: %v", what, err)
	}
	if p[0] == gmysql.ERR_HEADER {
		rc.t.Fatalf("%s: %v", what, decodeErr(p))
	}
	if p[0] == gmysql.OK_HEADER {
		return 0, 0
	}
	cols, _, _ := gmysql.LengthEncodedInt(p)
	for i := uint64(0); i <= cols; i++ { // definitions and their EOF
		if p, err = rc.readPacket(); err != nil {
			rc.t.Fatalf("%s: %v", what, err)
		}
	}
	if st := binary.LittleEndian.Uint16(p[3:]); st&gmysql.SERVER_STATUS_CURSOR_EXISTS != 0 {
		return 0, st
	}
	for {
		if p, err = rc.readPacket(); err != nil {
			rc.t.Fatalf("%s: %v", what, err)
		}
		if isEOFPacket(p) {
			return rows, binary.LittleEndian.Uint16(p[3:])
		}
		if p[0] == gmysql.ERR_HEADER {
			rc.t.Fatalf("%s: %v", what, decodeErr(p))
		}
		rows++
	}
}

// prepareRaw prepares q and returns the statement id tailgate handed out.
func (rc *rawClient) prepareRaw(q string) uint32 {
	rc.t.Helper()
	rc.send(gmysql.COM_STMT_PREPARE, []byte(q))
	p, err := rc.readPacket()
	if err != nil || p[0] != gmysql.OK_HEADER {
		rc.t.Fatalf("prepare %q: % x %v", q, p, err)
	}
	id := binary.LittleEndian.Uint32(p[1:])
	cols, params := binary.LittleEndian.Uint16(p[5:]), binary.LittleEndian.Uint16(p[7:])
	for _, n := range []uint16{params, cols} {
		for i := 0; n > 0 && i <= int(n); i++ {
			if _, err := rc.readPacket(); err != nil {
				rc.t.Fatal(err)
			}
		}
	}
	return id
}

// TestPreparedProtocolEdges: re-execute without re-sent parameter types (libmariadb does
// this) on connections that never saw the types, cursors fetched in steps, long data.
func TestPreparedProtocolEdges(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.MaxAllowedPacket = 8 << 20
	tg := startTailgate(t, cfg)
	db := tg.db(t, "")
	mustExec(t, db, "DROP TABLE IF EXISTS pse", "CREATE TABLE pse (id BIGINT PRIMARY KEY, b LONGBLOB)")
	for i := 1; i <= 10; i++ {
		mustExec(t, db, fmt.Sprintf("INSERT INTO pse VALUES (%d, NULL)", i))
	}
	waitReplicated(t, shared)

	rc := rawLogin(t, tg.addr)
	id := rc.prepareRaw("SELECT id FROM pse WHERE id <= ?")
	rc.send(gmysql.COM_STMT_EXECUTE, execPacket(id, 0, 3, true))
	if n, _ := rc.readResult("execute with types"); n != 3 {
		t.Fatalf("execute with types: %d rows, want 3", n)
	}
	// The reads alternate between the replicas: at least one execute lands on a connection
	// that never received the types, and must still see them.
	for i := int64(4); i <= 9; i++ {
		rc.send(gmysql.COM_STMT_EXECUTE, execPacket(id, 0, i, false))
		if n, _ := rc.readResult("execute without types"); n != int(i) {
			t.Fatalf("execute without types (v=%d): %d rows", i, n)
		}
	}

	// A read-only cursor, fetched 4 rows at a time, stays on its connection.
	rc.send(gmysql.COM_STMT_EXECUTE, execPacket(id, 1, 10, true))
	if _, st := rc.readResult("execute with cursor"); st&gmysql.SERVER_STATUS_CURSOR_EXISTS == 0 {
		t.Fatalf("no cursor opened (status %#x)", st)
	}
	total := 0
	for range 10 {
		rc.send(gmysql.COM_STMT_FETCH, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, id), 4))
		var last bool
		for {
			p, err := rc.readPacket()
			if err != nil {
				t.Fatal(err)
			}
			if p[0] == gmysql.ERR_HEADER {
				t.Fatalf("fetch: %v", decodeErr(p))
			}
			if isEOFPacket(p) {
				last = binary.LittleEndian.Uint16(p[3:])&0x80 != 0
				break
			}
			total++
		}
		if last {
			break
		}
	}
	if total != 10 {
		t.Fatalf("fetched %d rows through the cursor, want 10", total)
	}
	rc.ping()

	// Long data for a write, sent in two chunks before the execute.
	up := rc.prepareRaw("UPDATE pse SET b = ? WHERE id = 1")
	for _, chunk := range []string{"hello ", "long data"} {
		rc.send(gmysql.COM_STMT_SEND_LONG_DATA, append(binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint32(nil, up), 0), chunk...))
	}
	p := binary.LittleEndian.AppendUint32(nil, up)
	p = append(p, 0, 1, 0, 0, 0, 0, 1, gmysql.MYSQL_TYPE_BLOB, 0)
	rc.send(gmysql.COM_STMT_EXECUTE, p)
	if reply, err := rc.readPacket(); err != nil || reply[0] != gmysql.OK_HEADER {
		t.Fatalf("execute with long data: % x %v", reply, err)
	}
	var b string
	if err := db.QueryRow("/* tailgate:primary */ SELECT b FROM pse WHERE id = 1").Scan(&b); err != nil || b != "hello long data" {
		t.Fatalf("long data stored %q, %v", b, err)
	}
	// 6 MiB of long data in 1.5 MiB chunks (replayed in smaller ones), then more than
	// proxy.max_allowed_packet (8 MiB): that execute fails with 1153 and the next works.
	sendLong := func(chunks int) {
		for i := range chunks {
			chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 3<<19)
			rc.send(gmysql.COM_STMT_SEND_LONG_DATA, append(binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint32(nil, up), 0), chunk...))
		}
		rc.send(gmysql.COM_STMT_EXECUTE, p)
	}
	sendLong(4)
	if reply, err := rc.readPacket(); err != nil || reply[0] != gmysql.OK_HEADER {
		t.Fatalf("execute with 6 MiB of long data: % x %v", reply[:min(len(reply), 64)], err)
	}
	var n int
	var first, last string
	if err := db.QueryRow("/* tailgate:primary */ SELECT LENGTH(b), LEFT(b, 1), RIGHT(b, 1) FROM pse WHERE id = 1").Scan(&n, &first, &last); err != nil || n != 4*(3<<19) || first != "a" || last != "d" {
		t.Fatalf("6 MiB of long data stored as %d bytes (%q..%q), %v", n, first, last, err)
	}
	sendLong(6)
	if reply, _ := rc.readPacket(); reply[0] != gmysql.ERR_HEADER || decodeErr(reply).Code != gmysql.ER_NET_PACKET_TOO_LARGE {
		t.Fatalf("execute with 9 MiB of long data: % x, want error 1153", reply[:min(len(reply), 64)])
	}
	sendLong(1)
	if reply, err := rc.readPacket(); err != nil || reply[0] != gmysql.OK_HEADER {
		t.Fatalf("execute after the refused one: % x %v", reply[:min(len(reply), 64)], err)
	}
	// Closing and executing an unknown statement is an error, not a crash.
	rc.send(gmysql.COM_STMT_CLOSE, binary.LittleEndian.AppendUint32(nil, up))
	rc.send(gmysql.COM_STMT_EXECUTE, execPacket(up, 0, 1, true))
	if reply, _ := rc.readPacket(); reply[0] != gmysql.ERR_HEADER || decodeErr(reply).Code != gmysql.ER_UNKNOWN_STMT_HANDLER {
		t.Fatalf("execute after close: % x", reply)
	}
	rc.ping()
	// A fetch from an unknown statement gets the server's own error.
	fetchUnknown := func(addr string) string {
		c := rawLogin(t, addr)
		c.send(gmysql.COM_STMT_FETCH, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 4242), 1))
		reply, err := c.readPacket()
		if err != nil || reply[0] != gmysql.ERR_HEADER {
			t.Fatalf("fetch from an unknown statement on %s: % x, %v", addr, reply, err)
		}
		e := decodeErr(reply)
		return fmt.Sprintf("%d %s %s", e.Code, e.State, e.Message)
	}
	if got, want := fetchUnknown(tg.addr), fetchUnknown(shared.Primary.Addr()); got != want {
		t.Errorf("fetch from an unknown statement: %q through tailgate, %q directly", got, want)
	}
}

// backendThreads counts the connections tailgate holds to each server.
func backendThreads(tg *tailgate) map[string]int64 {
	out := map[string]int64{}
	for _, b := range tg.app.Server().Backends() {
		out[b.Name] = b.Connections()
	}
	return out
}

// TestIdleClientsShareBackendConnections: 5,000 mostly idle clients plus 8 busy ones hold
// at most 64 backend connections per server.
func TestIdleClientsShareBackendConnections(t *testing.T) {
	const idle, busy = 5000, 8
	cfg := testConfig(shared)
	cfg.Proxy.MaxBackendConnections = 64
	tg := startTailgate(t, cfg)
	db := tg.db(t, "")
	db.SetMaxIdleConns(idle + busy)
	db.SetMaxOpenConns(idle + busy)
	var conns []*sql.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, idle)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < idle; i += 16 {
				c, err := db.Conn(context.Background())
				if err == nil {
					err = c.PingContext(context.Background())
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("opening idle clients: %v", err)
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	// Each idle client ran one statement, then sits idle.
	for i, c := range conns {
		if i%10 == 0 {
			mustExec(t, c, "SELECT 1")
		}
	}
	mustExec(t, db, "CREATE TABLE IF NOT EXISTS ticks (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))")
	busyDB := tg.db(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var peak map[string]int64
	var bw sync.WaitGroup
	var reads, writes, replicaReads atomic.Int64
	busyErrs := make(chan error, busy)
	for range busy {
		bw.Add(1)
		go func() {
			defer bw.Done()
			busyErrs <- func() error {
				c, err := busyDB.Conn(ctx)
				if err != nil {
					return err
				}
				defer c.Close()
				for {
					var sid int
					err := c.QueryRowContext(ctx, "SELECT @@server_id").Scan(&sid)
					if err == nil {
						reads.Add(1)
						if sid != int(shared.Primary.ServerID) {
							replicaReads.Add(1)
						}
						_, err = c.ExecContext(ctx, "INSERT INTO ticks (at) VALUES (NOW(6))")
					}
					if ctx.Err() != nil {
						return nil // the run is over; a statement cut off by it does not count
					}
					if err != nil {
						return err
					}
					writes.Add(1)
				}
			}()
		}()
	}
	for ctx.Err() == nil {
		now := backendThreads(tg)
		if peak == nil {
			peak = now
		}
		for k, v := range now {
			peak[k] = max(peak[k], v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	bw.Wait()
	close(busyErrs)
	for err := range busyErrs {
		if err != nil {
			t.Errorf("busy client: %v", err)
		}
	}
	sessions := len(tg.app.Server().Sessions())
	t.Logf("%d client sessions; peak backend connections per server %v; busy clients: %d reads (%d on replicas), %d inserts",
		sessions, peak, reads.Load(), replicaReads.Load(), writes.Load())
	if sessions < idle {
		t.Fatalf("only %d sessions open", sessions)
	}
	// (Their reads mostly follow their own inserts to the primary: read-your-writes.)
	if writes.Load() < busy*10 || reads.Load() < busy*10 {
		t.Errorf("the busy clients did %d reads and %d inserts in 5 s: too few to load the pools", reads.Load(), writes.Load())
	}
	// The idle clients still work after sharing connections with the busy ones.
	for i := 0; i < len(conns); i += 97 {
		var sid int
		if err := conns[i].QueryRowContext(context.Background(), "SELECT @@server_id").Scan(&sid); err != nil {
			t.Fatalf("idle client %d after the busy phase: %v", i, err)
		}
	}
	for name, n := range peak {
		if n > 64 {
			t.Errorf("%s: %d backend connections, want <= 64", name, n)
		}
	}
}

// TestPreparedStatementsKeepTheirDatabase: the server resolves a prepared statement's
// unqualified table names in the default database at prepare time. Session A prepares
// SELECT v FROM pt in database sem_pa; later session B, in sem_pb, executes the same text
// on the backend connection A used (the pool hands it over); B must read sem_pb.pt. And a
// session that prepares in one database and executes after USE of another reads the first,
// as it does directly.
func TestPreparedStatementsKeepTheirDatabase(t *testing.T) {
	cfg := testConfig(shared)
	// One backend with two connections at most: the hand-overs below are deterministic
	// (with more, a holder could take a connection left idle by an earlier session).
	cfg.Replicas = nil
	cfg.Proxy.MaxBackendConnections = 2
	tg := startTailgate(t, cfg)
	primary := primaryDB(t)
	for _, db := range []string{"sem_pa", "sem_pb"} {
		mustExec(t, primary, "CREATE DATABASE IF NOT EXISTS "+db, "DROP TABLE IF EXISTS "+db+".pt",
			"CREATE TABLE "+db+".pt (id INT PRIMARY KEY, v VARCHAR(10))",
			fmt.Sprintf("INSERT INTO %s.pt VALUES (1, '%s')", db, db))
	}
	const query = "SELECT v FROM pt WHERE id = ?"
	db := tg.db(t, "")
	read := func(c *sql.Conn, use string) string {
		t.Helper()
		if use != "" {
			mustExec(t, c, "USE "+use)
		}
		var v string
		if err := c.QueryRowContext(context.Background(), query, 1).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	connID := func(c interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int64 {
		t.Helper()
		var id int64
		if err := c.QueryRowContext(context.Background(), "SELECT @@pseudo_thread_id").Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	hold := func() *sql.Tx {
		t.Helper()
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("UPDATE sem_pa.pt SET v = v WHERE id = -1"); err != nil {
			t.Fatal(err)
		}
		return tx
	}

	a := conn(t, db)
	if v := read(a, "sem_pa"); v != "sem_pa" {
		t.Fatalf("session A read %q", v)
	}
	y := connID(a)
	discard(t, a) // its connection, with the statement prepared in sem_pa, goes back to the pool
	waitSessions(t, tg, 0)

	h1 := hold() // takes that connection
	b := conn(t, db)
	mustExec(t, b, "USE sem_pb")
	stmt, err := b.PrepareContext(context.Background(), query) // on a new connection
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	h2 := hold()                          // takes B's connection
	if err := h1.Rollback(); err != nil { // gives A's connection back
		t.Fatal(err)
	}
	var v string
	if err := stmt.QueryRowContext(context.Background(), 1).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "sem_pb" {
		t.Errorf("session B in sem_pb read %q: it ran the statement session A prepared in sem_pa", v)
	}
	if got := connID(b); got != y {
		t.Errorf("session B ran on connection %d, not A's %d: the test did not hand it over", got, y)
	}
	if err := h2.Rollback(); err != nil { // both connections free for the part below
		t.Fatal(err)
	}

	// One session: prepare in sem_pa, USE sem_pb, execute (through tailgate on another
	// connection, where the text was never prepared); directly and through tailgate.
	const query2 = query + " AND 1 = 1"
	for name, pool := range map[string]*sql.DB{"directly": primaryDB(t), "through tailgate": db} {
		c := conn(t, pool)
		mustExec(t, c, "USE sem_pa")
		st, err := c.PrepareContext(context.Background(), query2)
		if err != nil {
			t.Fatal(err)
		}
		prepConn := connID(c)
		mustExec(t, c, "USE sem_pb")
		if pool == db {
			h := hold() // takes the connection the session prepared on
			defer func() { _ = h.Rollback() }()
		}
		if err := st.QueryRowContext(context.Background(), 1).Scan(&v); err != nil {
			t.Fatal(err)
		}
		execConn := connID(c)
		_ = st.Close()
		t.Logf("prepared in sem_pa on connection %d, executed after USE sem_pb on %d, %s: %q", prepConn, execConn, name, v)
		if v != "sem_pa" {
			t.Errorf("%s: prepared in sem_pa, executed after USE sem_pb: read %q, want sem_pa", name, v)
		}
		if pool == db && execConn == prepConn {
			t.Errorf("through tailgate: executed on the connection it was prepared on: the test did not move it")
		}
		var cur string
		if err := c.QueryRowContext(context.Background(), "SELECT DATABASE()").Scan(&cur); err != nil || cur != "sem_pb" {
			t.Errorf("%s: DATABASE() after the execute = %q, %v; want sem_pb", name, cur, err)
		}
	}
}

// waitSessions waits until tailgate has n client sessions.
func waitSessions(t *testing.T, tg *tailgate, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(tg.app.Server().Sessions()) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, want %d", len(tg.app.Server().Sessions()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- what one client leaves on a pooled backend connection ----

// TestLocksEndWithTheClient: a client that disconnects while holding LOCK TABLES and a
// GET_LOCK lock leaves neither behind, as with a direct connection. The pool prefers clean
// connections, so the next clients get others: the one the client held must not go back
// to the pool still holding its locks.
func TestLocksEndWithTheClient(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Replicas = nil
	tg := startTailgate(t, cfg)
	primary := primaryDB(t)
	mustExec(t, primary, "DROP TABLE IF EXISTS lock_leak", "CREATE TABLE lock_leak (id INT PRIMARY KEY) ENGINE=InnoDB")
	db := tg.db(t, "")
	db.SetMaxIdleConns(0) // each client connection closes when the test is done with it
	ctx := context.Background()

	// Two clean primary connections in the pool: two transactions at once.
	var txs []*sql.Tx
	for range 2 {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("SELECT * FROM lock_leak FOR UPDATE"); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	c := conn(t, db)
	mustExec(t, c, "LOCK TABLES lock_leak WRITE")
	var got int
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK('tailgate_lock_leak', 0)").Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK = %d, %v; want 1", got, err)
	}
	_ = c.Close()
	waitSessions(t, tg, 0)

	var holder sql.NullInt64
	if err := primary.QueryRow("SELECT IS_USED_LOCK('tailgate_lock_leak')").Scan(&holder); err != nil {
		t.Fatal(err)
	}
	if holder.Valid {
		t.Errorf("after its client disconnected, GET_LOCK's lock is still held by backend thread %d", holder.Int64)
	}
	d := conn(t, primary)
	mustExec(t, d, "SET SESSION lock_wait_timeout = 1")
	if _, err := d.ExecContext(ctx, "INSERT INTO lock_leak VALUES (1)"); err != nil {
		t.Errorf("after its client disconnected, its LOCK TABLES ... WRITE still holds: a direct INSERT: %v", err)
	}
	next := conn(t, db)
	if err := next.QueryRowContext(ctx, "SELECT GET_LOCK('tailgate_lock_leak', 0)").Scan(&got); err != nil || got != 1 {
		t.Errorf("the next client's GET_LOCK = %d, %v; want 1", got, err)
	}
	mustExec(t, next, "DO RELEASE_LOCK('tailgate_lock_leak')")
}

// TestLastInsertIDIsTheSessionsOwn: LAST_INSERT_ID() is 0 for a client that never inserted,
// also right after an INSERT IGNORE that inserted nothing (the usual "did it insert?" test),
// whatever the previous client of its pooled connection inserted.
func TestLastInsertIDIsTheSessionsOwn(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Replicas = nil
	cfg.Proxy.MaxBackendConnections = 1 // each client gets the connection of the one before
	tg := startTailgate(t, cfg)
	mustExec(t, primaryDB(t), "DROP TABLE IF EXISTS lid_leak",
		"CREATE TABLE lid_leak (id INT AUTO_INCREMENT PRIMARY KEY, u INT UNIQUE)")
	db := tg.db(t, "")
	db.SetMaxIdleConns(0) // each client connection closes when the test is done with it
	ctx := context.Background()
	lastID := func(c *sql.Conn) int64 {
		t.Helper()
		var id int64
		if err := c.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	insert := func(c *sql.Conn, q string) int64 {
		t.Helper()
		res, err := c.ExecContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		return id
	}

	a := conn(t, db)
	id := insert(a, "INSERT INTO lid_leak (u) VALUES (1)")
	if got := lastID(a); got != id || id == 0 {
		t.Fatalf("client A: LAST_INSERT_ID() = %d after inserting id %d", got, id)
	}
	_ = a.Close()
	waitSessions(t, tg, 0)

	b := conn(t, db)
	if got := lastID(b); got != 0 {
		t.Errorf("a new client's LAST_INSERT_ID() = %d, want 0 (%d is the previous client's)", got, id)
	}
	_ = b.Close()
	waitSessions(t, tg, 0)

	c := conn(t, db)
	insert(c, "INSERT IGNORE INTO lid_leak (u) VALUES (1)") // a duplicate: inserts nothing
	if got := lastID(c); got != 0 {
		t.Errorf("a new client's LAST_INSERT_ID() after an INSERT IGNORE of nothing = %d, want 0", got)
	}
	// Its own insert, then an INSERT IGNORE of nothing: LAST_INSERT_ID() stays its insert's.
	own := insert(c, "INSERT INTO lid_leak (u) VALUES (2)")
	insert(c, "INSERT IGNORE INTO lid_leak (u) VALUES (2)")
	if got := lastID(c); got != own {
		t.Errorf("LAST_INSERT_ID() after the client's insert of %d and an INSERT IGNORE of nothing = %d", own, got)
	}
}

// multiStatement runs a text of statements that each answer OK (DO ...) and reads every
// answer; an ERR packet is the error.
func (rc *rawClient) multiStatement(q string) error {
	rc.t.Helper()
	rc.send(gmysql.COM_QUERY, []byte(q))
	for {
		p, err := rc.readPacket()
		if err != nil {
			rc.t.Fatalf("%s: %v", q, err)
		}
		switch p[0] {
		case gmysql.ERR_HEADER:
			return decodeErr(p)
		case gmysql.OK_HEADER:
		default:
			rc.t.Fatalf("%s: unexpected answer % x", q, p)
		}
		_, _, n1 := gmysql.LengthEncodedInt(p[1:])
		_, _, n2 := gmysql.LengthEncodedInt(p[1+n1:])
		if binary.LittleEndian.Uint16(p[1+n1+n2:])&gmysql.SERVER_MORE_RESULTS_EXISTS == 0 {
			return nil
		}
	}
}

// setMultiStatements sends COM_SET_OPTION.
func (rc *rawClient) setMultiStatements(on bool) {
	rc.t.Helper()
	opt := []byte{1, 0} // MYSQL_OPTION_MULTI_STATEMENTS_OFF
	if on {
		opt[0] = 0
	}
	if p, err := rc.simple(gmysql.COM_SET_OPTION, opt); err != nil || p[0] != gmysql.EOF_HEADER {
		rc.t.Fatalf("COM_SET_OPTION(% x) = % x, %v; want EOF", opt, p, err)
	}
}

// TestMultiStatementsOption: the multi-statement option (the CLIENT_MULTI_STATEMENTS
// capability, then COM_SET_OPTION) is a connection's own, and COM_RESET_CONNECTION leaves
// it as it is on MariaDB and MySQL. Through tailgate it must behave as directly, and one
// client turning it off must not turn it off for the next clients of its pooled connection.
func TestMultiStatementsOption(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Replicas = nil
	cfg.Proxy.MaxBackendConnections = 1 // each client gets the connection of the one before
	tg := startTailgate(t, cfg)
	const multi = "DO 1; DO 2"
	isParseError := func(err error) bool {
		var me *gmysql.MyError
		return errors.As(err, &me) && me.Code == gmysql.ER_PARSE_ERROR
	}
	login := func(addr string, caps uint32) *rawClient {
		t.Helper()
		rc := dialRaw(t, addr)
		rc.extraCaps = caps
		if err := rc.login(cluster.AppUser, cluster.AppPassword, gmysql.AUTH_NATIVE_PASSWORD); err != nil {
			t.Fatalf("raw login: %v", err)
		}
		return rc
	}
	for _, where := range []struct{ name, addr string }{{"directly", shared.Primary.Addr()}, {"through tailgate", tg.addr}} {
		rc := login(where.addr, gmysql.CLIENT_MULTI_STATEMENTS)
		rc.setMultiStatements(false)
		if _, err := rc.simple(gmysql.COM_RESET_CONNECTION, nil); err != nil {
			t.Fatal(err)
		}
		if err := rc.multiStatement(multi); !isParseError(err) {
			t.Errorf("%s: a multi-statement after OFF and COM_RESET_CONNECTION: %v; want error 1064 (the option stays off)", where.name, err)
		}
		rc.setMultiStatements(true)
		if err := rc.multiStatement(multi); err != nil {
			t.Errorf("%s: a multi-statement after OFF, COM_RESET_CONNECTION and ON: %v", where.name, err)
		}
		_ = rc.conn.Close()
		// Without the capability, the option starts off and COM_SET_OPTION turns it on.
		rc = login(where.addr, 0)
		if err := rc.multiStatement(multi); !isParseError(err) {
			t.Errorf("%s: a multi-statement without CLIENT_MULTI_STATEMENTS: %v; want error 1064", where.name, err)
		}
		rc.setMultiStatements(true)
		if err := rc.multiStatement(multi); err != nil {
			t.Errorf("%s: a multi-statement without CLIENT_MULTI_STATEMENTS, after COM_SET_OPTION(ON): %v", where.name, err)
		}
		_ = rc.conn.Close()
	}
	waitSessions(t, tg, 0)

	// Client A turns the option off and leaves a variable on the connection (which the next
	// client's session resets); the next clients have it on, as they connected.
	a := login(tg.addr, gmysql.CLIENT_MULTI_STATEMENTS)
	a.setMultiStatements(false)
	if _, err := a.query("SET @x = 1"); err != nil {
		t.Fatal(err)
	}
	_ = a.conn.Close()
	waitSessions(t, tg, 0)
	for i := range 3 {
		b := login(tg.addr, gmysql.CLIENT_MULTI_STATEMENTS)
		if err := b.multiStatement(multi); err != nil {
			t.Errorf("new client %d: a multi-statement: %v (the previous client turned the option off)", i+1, err)
		}
		_ = b.conn.Close()
		waitSessions(t, tg, 0)
	}
}

// TestPreparedDirectExecuteAfterFailedPrepare: MariaDB's direct execute (Connector/C's
// mariadb_stmt_execute_direct sends COM_STMT_PREPARE and a COM_STMT_EXECUTE of statement
// 0xffffffff together) whose prepare fails gets the server's unknown-statement error: the
// statement prepared before it must not run again. After a prepare that works, 0xffffffff
// is that statement again.
func TestPreparedDirectExecuteAfterFailedPrepare(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	primary := primaryDB(t)
	mustExec(t, primary, "DROP TABLE IF EXISTS psdirect", "CREATE TABLE psdirect (id INT AUTO_INCREMENT PRIMARY KEY)")
	waitSeenReplicated(t, tg, shared)

	execLast := append(binary.LittleEndian.AppendUint32(nil, 0xffffffff), 0, 1, 0, 0, 0) // no cursor, one iteration
	// direct prepares and executes q pipelined, and returns the prepare's error (nil when it
	// worked) and the execute's answer.
	direct := func(rc *rawClient, q string) (*gmysql.MyError, []byte) {
		rc.send(gmysql.COM_STMT_PREPARE, []byte(q))
		rc.seq = 0
		if err := rc.writePacket(append([]byte{gmysql.COM_STMT_EXECUTE}, execLast...)); err != nil {
			t.Fatal(err)
		}
		rc.seq = 1
		p, err := rc.readPacket()
		if err != nil {
			t.Fatal(err)
		}
		var prepErr *gmysql.MyError
		if p[0] == gmysql.ERR_HEADER {
			prepErr = decodeErr(p)
		} else {
			cols, params := binary.LittleEndian.Uint16(p[5:]), binary.LittleEndian.Uint16(p[7:])
			for _, n := range []uint16{params, cols} {
				for i := 0; n > 0 && i <= int(n); i++ {
					if _, err := rc.readPacket(); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		rc.seq = 1
		if p, err = rc.readPacket(); err != nil {
			t.Fatal(err)
		}
		return prepErr, p
	}
	run := func(addr string) (string, int) {
		mustExec(t, primary, "DELETE FROM psdirect")
		rc := rawLogin(t, addr)
		if prepErr, p := direct(rc, "INSERT INTO psdirect VALUES (NULL)"); prepErr != nil || p[0] != gmysql.OK_HEADER {
			t.Fatalf("direct execute of an INSERT: prepare %v, execute % x", prepErr, p)
		}
		var got string
		prepErr, p := direct(rc, "SELECT * FROM psdirect_no_such_table")
		if prepErr == nil || prepErr.Code != gmysql.ER_NO_SUCH_TABLE {
			t.Fatalf("prepare of a missing table: %v, want error 1146", prepErr)
		}
		if p[0] == gmysql.ERR_HEADER {
			e := decodeErr(p)
			got = fmt.Sprintf("%d #%s %s", e.Code, e.State, e.Message)
		} else {
			got = fmt.Sprintf("% x", p)
		}
		// A prepare that works makes 0xffffffff name its statement.
		if prepErr, p := direct(rc, "INSERT INTO psdirect VALUES (NULL)"); prepErr != nil || p[0] != gmysql.OK_HEADER {
			t.Fatalf("direct execute after the failed one: prepare %v, execute % x", prepErr, p)
		}
		rc.ping()
		var rows int
		if err := primary.QueryRow("SELECT COUNT(*) FROM psdirect").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		return got, rows
	}
	want, wantRows := run(shared.Primary.Addr())
	if want != "1243 #HY000 Unknown prepared statement handler (4294967295) given to mysqld_stmt_execute" || wantRows != 2 {
		t.Fatalf("directly: the execute answered %s, %d rows inserted", want, wantRows)
	}
	if got, rows := run(tg.addr); got != want || rows != wantRows {
		t.Errorf("through tailgate: the execute answered %s, %d rows inserted; directly: %s, %d rows", got, rows, want, wantRows)
	}
}

// fetchInts sends COM_STMT_FETCH of n rows and returns the rows' single BIGINT column.
func (rc *rawClient) fetchInts(id uint32, n uint32) []int64 {
	rc.t.Helper()
	rc.send(gmysql.COM_STMT_FETCH, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, id), n))
	var out []int64
	for {
		p, err := rc.readPacket()
		if err != nil {
			rc.t.Fatalf("fetch from statement %d: %v", id, err)
		}
		switch {
		case isEOFPacket(p):
			return out
		case p[0] == gmysql.ERR_HEADER:
			rc.t.Fatalf("fetch from statement %d: %v", id, decodeErr(p))
		case len(p) < 10: // row header, NULL bitmap of one column, the value
			rc.t.Fatalf("fetch from statement %d: bad row % x", id, p)
		}
		out = append(out, int64(binary.LittleEndian.Uint64(p[2:])))
	}
}

// TestPreparedSameTextOwnCursors: two statements prepared with the same text each read
// their own cursor, as they do directly on the server. (Tailgate shares a server statement
// among the statements of one text on a backend connection: not one with an open cursor.)
// In a transaction both run on the primary connection; in autocommit on a replica, or two.
func TestPreparedSameTextOwnCursors(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	values := ""
	for i := 1; i <= 20; i++ {
		values += fmt.Sprintf(",(%d)", i)
	}
	mustExec(t, primaryDB(t), "DROP TABLE IF EXISTS pscur", "CREATE TABLE pscur (id BIGINT PRIMARY KEY)",
		"INSERT INTO pscur VALUES "+values[1:])
	waitSeenReplicated(t, tg, shared)

	const query = "SELECT id FROM pscur WHERE id > ? ORDER BY id"
	run := func(addr string, txn bool) string {
		rc := rawLogin(t, addr)
		if txn {
			if _, err := rc.query("BEGIN"); err != nil {
				t.Fatal(err)
			}
		}
		a, b := rc.prepareRaw(query), rc.prepareRaw(query)
		for _, e := range []struct {
			id   uint32
			from int64
		}{{a, 0}, {b, 10}} {
			rc.send(gmysql.COM_STMT_EXECUTE, execPacket(e.id, 1, e.from, true)) // CURSOR_TYPE_READ_ONLY
			if _, st := rc.readResult("execute with a cursor"); st&gmysql.SERVER_STATUS_CURSOR_EXISTS == 0 {
				t.Fatalf("no cursor opened (status %#x)", st)
			}
		}
		got := fmt.Sprint("A ", rc.fetchInts(a, 3), " B ", rc.fetchInts(b, 3), " A ", rc.fetchInts(a, 3))
		if txn {
			if _, err := rc.query("COMMIT"); err != nil {
				t.Fatal(err)
			}
		}
		rc.ping()
		return got
	}
	for _, txn := range []bool{true, false} {
		want := run(shared.Primary.Addr(), txn)
		if want != "A [1 2 3] B [11 12 13] A [4 5 6]" {
			t.Fatalf("directly (transaction %v): %s", txn, want)
		}
		for i := range 4 { // in autocommit the executes may meet on one replica, or not
			if got := run(tg.addr, txn); got != want {
				t.Errorf("through tailgate (transaction %v, run %d): %s; directly: %s", txn, i, got, want)
			}
		}
	}
}
