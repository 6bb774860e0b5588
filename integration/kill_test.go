package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// killTailgate is a tailgate with a second account for the KILL tests; clients connect with
// go-mysql's client, which tells the connection id of tailgate's handshake.
type killTailgate struct {
	t  *testing.T
	tg *tailgate
}

const killOtherUser = "app_other"

func newKillTailgate(t *testing.T) *killTailgate {
	cfg := testConfig(shared)
	cfg.Users = append(cfg.Users, config.User{Name: killOtherUser, Password: "other-secret",
		BackendUser: cluster.AppUser, BackendPassword: cluster.AppPassword})
	k := &killTailgate{t: t, tg: startTailgate(t, cfg)}
	c := k.connect(cluster.AppUser, cluster.AppPassword)
	for _, q := range []string{"DROP TABLE IF EXISTS kill_t", "CREATE TABLE kill_t (id INT PRIMARY KEY)"} {
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return k
}

func (k *killTailgate) connect(user, password string) *client.Conn {
	k.t.Helper()
	c, err := client.Connect(k.tg.addr, user, password, cluster.TestDatabase)
	if err != nil {
		k.t.Fatalf("connect through tailgate as %s: %v", user, err)
	}
	k.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (k *killTailgate) app() *client.Conn { return k.connect(cluster.AppUser, cluster.AppPassword) }

// result of a statement run in the background.
type result struct {
	res  *mysql.Result
	err  error
	took time.Duration
}

func runAsync(c *client.Conn, query string) <-chan result {
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		res, err := c.Execute(query)
		done <- result{res, err, time.Since(start)}
	}()
	return done
}

// serverThread waits until a statement whose text contains marker runs on node and returns
// its thread id there.
func serverThread(t *testing.T, node *cluster.Node, marker string) int64 {
	t.Helper()
	db := rootDB(t, node)
	var id int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.QueryRow("SELECT id FROM information_schema.processlist WHERE info LIKE CONCAT('%', ?, '%') AND info NOT LIKE '%processlist%'", marker).Scan(&id)
		if err == nil {
			return id
		}
		if !errors.Is(err, sql.ErrNoRows) || time.Now().After(deadline) {
			t.Fatalf("statement %q not running on %s: %v", marker, node.Name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// threadGone reports whether thread id disappears from node's process list within 5 s.
func threadGone(t *testing.T, node *cluster.Node, id int64) bool {
	t.Helper()
	db := rootDB(t, node)
	return adminEventually(5*time.Second, func() bool {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

func rootDB(t *testing.T, node *cluster.Node) *sql.DB {
	t.Helper()
	db, err := node.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// wait returns the background statement's result, failing if it takes more than 10 s.
func wait(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the statement did not end within 10 s of the KILL")
	}
	return result{}
}

func errCode(err error) uint16 {
	var myErr *mysql.MyError
	if errors.As(err, &myErr) {
		return myErr.Code
	}
	return 0
}

// KILL ids are tailgate's connection ids, as every client learns them from the handshake;
// tailgate stops the backend thread running that session's statement.
func TestKillQuery(t *testing.T) {
	k := newKillTailgate(t)
	victim, killer := k.app(), k.app()

	// A read on a replica.
	done := runAsync(victim, "SELECT SLEEP(20) AS kill_query_read")
	serverThread(t, replicaRunning(t, "kill_query_read"), "kill_query_read")
	if _, err := killer.Execute(fmt.Sprintf("KILL QUERY %d", victim.GetConnectionID())); err != nil {
		t.Fatalf("KILL QUERY: %v", err)
	}
	r := wait(t, done)
	if r.err == nil && r.res.Values[0][0].AsInt64() != 1 || r.err != nil && errCode(r.err) != mysql.ER_QUERY_INTERRUPTED || r.took > 10*time.Second {
		t.Fatalf("killed SLEEP(20) on a replica: %v after %s; want it interrupted (1317 or 1)", r.err, r.took)
	}
	if _, err := victim.Execute("SELECT 1"); err != nil {
		t.Fatalf("the session must go on after KILL QUERY: %v", err)
	}

	// A statement on the primary inside a transaction: the statement stops, the
	// transaction stays open, as on a server.
	for _, q := range []string{"BEGIN", "INSERT INTO kill_t VALUES (1)"} {
		if _, err := victim.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	done = runAsync(victim, "SELECT SLEEP(20) AS kill_query_txn")
	serverThread(t, shared.Primary, "kill_query_txn")
	if _, err := killer.Execute(fmt.Sprintf("KILL QUERY %d", victim.GetConnectionID())); err != nil {
		t.Fatalf("KILL QUERY: %v", err)
	}
	if r := wait(t, done); r.err == nil && r.res.Values[0][0].AsInt64() != 1 || r.err != nil && errCode(r.err) != mysql.ER_QUERY_INTERRUPTED {
		t.Fatalf("killed SLEEP(20) in a transaction: %v; want it interrupted", r.err)
	}
	if _, err := victim.Execute("COMMIT"); err != nil {
		t.Fatalf("COMMIT after KILL QUERY: %v", err)
	}
	var n int
	if err := rootDB(t, shared.Primary).QueryRow("SELECT COUNT(*) FROM tailgate_test.kill_t WHERE id = 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the transaction's insert after KILL QUERY: %d rows, %v; want it committed", n, err)
	}

	// Nothing running: nothing to do, as on a server.
	if _, err := killer.Execute(fmt.Sprintf("KILL QUERY %d", victim.GetConnectionID())); err != nil {
		t.Fatalf("KILL QUERY of an idle session: %v", err)
	}
	if _, err := victim.Execute("SELECT 1"); err != nil {
		t.Fatalf("an idle session after KILL QUERY: %v", err)
	}
}

// replicaRunning returns the replica that runs a statement containing marker.
func replicaRunning(t *testing.T, marker string) *cluster.Node {
	t.Helper()
	var found *cluster.Node
	if !adminEventually(10*time.Second, func() bool {
		for _, r := range shared.Replicas {
			var n int
			_ = rootDB(t, r).QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE CONCAT('%', ?, '%') AND info NOT LIKE '%processlist%'", marker).Scan(&n)
			if n > 0 {
				found = r
				return true
			}
		}
		return false
	}) {
		t.Fatalf("%q runs on no replica", marker)
	}
	return found
}

// KILL CONNECTION ends the session: its client connection closes, the statement it ran is
// stopped on the server and its transaction rolled back.
func TestKillConnection(t *testing.T) {
	k := newKillTailgate(t)
	killer := k.app()

	victim := k.app()
	for _, q := range []string{"BEGIN", "INSERT INTO kill_t VALUES (2)"} {
		if _, err := victim.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	done := runAsync(victim, "SELECT SLEEP(20) AS kill_conn_txn")
	thread := serverThread(t, shared.Primary, "kill_conn_txn")
	if _, err := killer.Execute(fmt.Sprintf("KILL %d", victim.GetConnectionID())); err != nil {
		t.Fatalf("KILL: %v", err)
	}
	if r := wait(t, done); r.err == nil {
		t.Fatalf("the killed session's statement returned %v; want its connection closed", r.res.Values)
	}
	if !threadGone(t, shared.Primary, thread) {
		t.Fatalf("backend thread %d still runs the killed session's statement", thread)
	}
	var n int
	if err := rootDB(t, shared.Primary).QueryRow("SELECT COUNT(*) FROM tailgate_test.kill_t WHERE id = 2").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the killed session's transaction: %d rows, %v; want it rolled back", n, err)
	}

	// An idle session: its next statement finds the connection closed.
	idle := k.app()
	if _, err := killer.Execute(fmt.Sprintf("KILL CONNECTION %d", idle.GetConnectionID())); err != nil {
		t.Fatalf("KILL CONNECTION of an idle session: %v", err)
	}
	if _, err := idle.Execute("SELECT 1"); err == nil {
		t.Fatal("a killed idle session still runs statements")
	}

	// The old command form (COM_PROCESS_KILL), as some drivers send it.
	idle = k.app()
	if err := processKill(killer, idle.GetConnectionID()); err != nil {
		t.Fatalf("COM_PROCESS_KILL: %v", err)
	}
	if _, err := idle.Execute("SELECT 1"); err == nil {
		t.Fatal("a session killed with COM_PROCESS_KILL still runs statements")
	}
	if _, err := killer.Execute("SELECT 1"); err != nil {
		t.Fatalf("the killer's session: %v", err)
	}
}

// processKill sends COM_PROCESS_KILL for id and reads the answer.
func processKill(c *client.Conn, id uint32) error {
	c.ResetSequence()
	pkt := []byte{0, 0, 0, 0, mysql.COM_PROCESS_KILL, byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24)}
	if err := c.WritePacket(pkt); err != nil {
		return err
	}
	answer, err := c.ReadPacket()
	if err != nil {
		return err
	}
	if answer[0] != mysql.OK_HEADER {
		return fmt.Errorf("answer 0x%02x: %q", answer[0], answer)
	}
	return nil
}

// A KILL never reaches a server with an id it would read as one of its own threads: the
// backend thread of another session is not killed, whatever id the client sends.
func TestKillNeverNamesBackendThreads(t *testing.T) {
	k := newKillTailgate(t)
	other, killer := k.app(), k.app()
	done := runAsync(other, "/* tailgate:primary */ SELECT SLEEP(2) AS kill_backend_id")
	thread := serverThread(t, shared.Primary, "kill_backend_id")
	for _, q := range []string{fmt.Sprintf("KILL QUERY %d", thread), fmt.Sprintf("KILL HARD %d", thread)} {
		_, err := killer.Execute(q)
		if errCode(err) != mysql.ER_NO_SUCH_THREAD {
			t.Errorf("%s (a backend thread id): %v; want error 1094 (no tailgate connection has it)", q, err)
		}
	}
	r := wait(t, done)
	if r.err != nil || r.res.Values[0][0].AsInt64() != 0 {
		t.Fatalf("the other session's SLEEP(2): %v %v; want it to finish undisturbed (0)", r.err, r.res)
	}

	self := killer.GetConnectionID()
	for _, tc := range []struct {
		sql  string
		code uint16
	}{
		{"KILL 4000000000", mysql.ER_NO_SUCH_THREAD},
		{"KILL QUERY 4000000000", mysql.ER_NO_SUCH_THREAD},
		{"KILL 1+1", mysql.ER_NOT_SUPPORTED_YET},
		{"KILL CONNECTION_ID()", mysql.ER_NOT_SUPPORTED_YET},
		{fmt.Sprintf("SELECT 1; KILL %d", other.GetConnectionID()), mysql.ER_NOT_SUPPORTED_YET},
		{fmt.Sprintf("KILL QUERY %d", self), mysql.ER_QUERY_INTERRUPTED},
	} {
		if _, err := killer.Execute(tc.sql); errCode(err) != tc.code {
			t.Errorf("%s: %v; want error %d", tc.sql, err, tc.code)
		}
	}
	if _, err := killer.Prepare(fmt.Sprintf("KILL %d", other.GetConnectionID())); errCode(err) != mysql.ER_UNSUPPORTED_PS {
		t.Errorf("preparing KILL: %v; want error 1295", err)
	}

	// Another account's session: refused, and it goes on.
	stranger := k.connect(killOtherUser, "other-secret")
	if _, err := stranger.Execute(fmt.Sprintf("KILL %d", other.GetConnectionID())); errCode(err) != mysql.ER_KILL_DENIED_ERROR {
		t.Errorf("KILL of another account's session: %v; want error 1095", err)
	}
	if _, err := other.Execute("SELECT 1"); err != nil {
		t.Fatalf("a session another account tried to kill: %v", err)
	}

	// Its own connection: ended with the server's error.
	if _, err := killer.Execute(fmt.Sprintf("KILL %d", self)); errCode(err) != erConnectionKilledCode {
		t.Errorf("KILL of its own connection: %v; want error 1927", err)
	}
	if _, err := killer.Execute("SELECT 1"); err == nil {
		t.Error("a session that killed itself still runs statements")
	}
}

const erConnectionKilledCode = 1927

// The mysql client's Ctrl-C sends KILL QUERY with the handshake's id on a new connection.
func TestKillCtrlCInMariaDBClient(t *testing.T) {
	k := newKillTailgate(t)
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Fatal("no mariadb client (apt-get install -y mariadb-client)")
	}
	host, port, _ := net.SplitHostPort(k.tg.addr)
	cmd := exec.Command(bin, "--no-defaults", "-h"+host, "-P"+port, "-u"+cluster.AppUser, "-p"+cluster.AppPassword,
		"-e", "SELECT SLEEP(20) AS kill_ctrl_c")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serverThread(t, replicaRunning(t, "kill_ctrl_c"), "kill_ctrl_c")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { <-ctx.Done(); _ = cmd.Process.Kill() }()
	_ = cmd.Wait()
	took := time.Since(start)
	if !strings.Contains(out.String(), "1317") || took > 10*time.Second {
		t.Fatalf("Ctrl-C after %s: %q; want the query interrupted (ERROR 1317)", took, out.String())
	}
}

// KILL QUERY races the end of the victim's statement: pooled backend connections pass from
// session to session between statements, and a KILL must never stop the statement of the
// session that took the victim's connection next.
func TestKillQueryNeverHitsTheNextBorrower(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.MaxBackendConnections = 3 // victim, bystanders and killer share three per server
	k := &killTailgate{t: t, tg: startTailgate(t, cfg)}
	victim, killer := k.app(), k.app()
	const bystanders, rounds = 4, 300

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type tally struct{ ok, interrupted int }
	loop := func(c *client.Conn, out chan<- tally) {
		var n tally
		for ctx.Err() == nil {
			// Statements short enough for the KILLs to land around their ends, on the
			// primary and the replicas alike.
			_, err := c.Execute("SELECT SLEEP(0.001)")
			switch {
			case err == nil:
				n.ok++
			case errCode(err) == mysql.ER_QUERY_INTERRUPTED:
				n.interrupted++
			default:
				t.Errorf("statement failed: %v", err)
			}
		}
		out <- n
	}
	victimDone, bystandersDone := make(chan tally, 1), make(chan tally, bystanders)
	go loop(victim, victimDone)
	for range bystanders {
		go loop(k.app(), bystandersDone)
	}
	for range rounds {
		if _, err := killer.Execute(fmt.Sprintf("KILL QUERY %d", victim.GetConnectionID())); err != nil {
			t.Errorf("KILL QUERY: %v", err) // not Fatal: the loops still report
			break
		}
	}
	cancel()
	v := <-victimDone
	var others tally
	for range bystanders {
		n := <-bystandersDone
		others.ok += n.ok
		others.interrupted += n.interrupted
	}
	t.Logf("victim: %d ran, %d interrupted; bystanders: %d ran, %d interrupted", v.ok, v.interrupted, others.ok, others.interrupted)
	if v.interrupted == 0 {
		t.Errorf("none of %d KILL QUERY stopped the victim's statements", rounds)
	}
	if others.interrupted > 0 || others.ok == 0 {
		t.Errorf("bystanders: %d statements interrupted by KILLs of another session (%d ran)", others.interrupted, others.ok)
	}
}

// An operator kills client sessions from the admin interface with SHOW SESSIONS' ids; the
// backend KILL runs with the session's own login.
func TestAdminKill(t *testing.T) {
	k := newKillTailgate(t)
	adm := adminDB(t, startAdmin(t, k.tg), adminUser, adminPassword)
	victim := k.app()
	listed := false
	for _, r := range queryRows(t, adm, "SHOW SESSIONS") {
		listed = listed || r["id"] == fmt.Sprint(victim.GetConnectionID())
	}
	if !listed {
		t.Fatalf("SHOW SESSIONS does not list session %d", victim.GetConnectionID())
	}

	done := runAsync(victim, "SELECT SLEEP(20) AS admin_kill_query")
	serverThread(t, replicaRunning(t, "admin_kill_query"), "admin_kill_query")
	if _, err := adm.Exec(fmt.Sprintf("KILL QUERY %d", victim.GetConnectionID())); err != nil {
		t.Fatalf("admin KILL QUERY: %v", err)
	}
	if r := wait(t, done); errCode(r.err) != mysql.ER_QUERY_INTERRUPTED {
		t.Fatalf("SLEEP(20) after the admin's KILL QUERY: %v; want error 1317", r.err)
	}

	for _, q := range []string{"BEGIN", "INSERT INTO kill_t VALUES (3)"} {
		if _, err := victim.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	done = runAsync(victim, "SELECT SLEEP(20) AS admin_kill_conn")
	thread := serverThread(t, shared.Primary, "admin_kill_conn")
	if _, err := adm.Exec(fmt.Sprintf("KILL %d", victim.GetConnectionID())); err != nil {
		t.Fatalf("admin KILL: %v", err)
	}
	if r := wait(t, done); r.err == nil {
		t.Fatal("the statement of a session the admin killed returned rows")
	}
	if !threadGone(t, shared.Primary, thread) {
		t.Fatalf("backend thread %d still runs after the admin's KILL", thread)
	}
	var n int
	if err := rootDB(t, shared.Primary).QueryRow("SELECT COUNT(*) FROM tailgate_test.kill_t WHERE id = 3").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the killed session's transaction: %d rows, %v; want it rolled back", n, err)
	}
	if _, err := adm.Exec(fmt.Sprintf("KILL %d", victim.GetConnectionID())); err == nil || !strings.Contains(err.Error(), "1094") {
		t.Fatalf("admin KILL of a gone session: %v; want error 1094", err)
	}
}
