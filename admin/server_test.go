package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/hashicorp/go-hclog"
)

const (
	testUser     = "admin"
	testPassword = "admin-secret"
)

func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startAdmin serves an admin listener for src on a free loopback port until the test ends.
func startAdmin(t *testing.T, src Source) *Server {
	t.Helper()
	s := New(Options{Listen: "127.0.0.1:0", User: testUser, Password: testPassword, Logger: testLogger(t)}, src)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	serveUntilEnd(t, s.Serve)
	return s
}

// serveUntilEnd runs serve until the test ends, then checks that it returns, without error,
// within 10s of the end of its context.
func serveUntilEnd(t *testing.T, serve func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10s of the end of its context")
		}
	})
}

func openDB(t *testing.T, addr, user, password string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/?timeout=5s", user, password, addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// adminConn is one admin connection as the admin user.
func adminConn(t *testing.T, s *Server) *sql.Conn {
	t.Helper()
	c, err := openDB(t, s.Addr().String(), testUser, testPassword).Conn(context.Background())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// query runs text and returns its columns and rows as strings (NULL as "NULL").
func query(t *testing.T, c *sql.Conn, text string) ([]string, [][]string) {
	t.Helper()
	cols, rows, err := tryQuery(c, text)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return cols, rows
}

func tryQuery(c *sql.Conn, text string) ([]string, [][]string, error) {
	rs, err := c.QueryContext(context.Background(), text)
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	return cols, out, rs.Err()
}

// mysqlError returns the server error number of err, or 0.
func mysqlError(err error) (uint16, string) {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number, me.Message
	}
	return 0, ""
}

func TestCommandResults(t *testing.T) {
	src := newFakeSource()
	c := adminConn(t, startAdmin(t, src))

	tests := []struct {
		query string
		cols  []string
		rows  [][]string
	}{
		{"SHOW BACKENDS", backendColumns, [][]string{
			{"primary", "primary", "127.0.0.1:3306", "online", "0", "0-1-42", "0", "3", "100"},
			{"replica1", "replica", "127.0.0.1:3307", "lagging", "1500", "0-1-40", "2", "1", "7"},
		}},
		{"  show   backends ;; ", backendColumns, nil},
		{"EXPLAIN ROUTE SELECT * FROM t WHERE a = 'x;y' ;", []string{"target", "backend", "reason"}, [][]string{{"replica", "replica1", "autocommit_read"}}},
		{"SHOW STATS", []string{"name", "value"}, [][]string{
			{"queries_primary", "100"}, {"queries_replica", "7"}, {"fallbacks_primary", "5"}, {"client_connections", "2"}, {"tailer_reconnects", "3"},
		}},
		{"show sessions", []string{"id", "user", "client", "state", "pinned", "in_transaction", "since"}, [][]string{
			{"7", "app", "127.0.0.1:5000", "idle", "", "0", "2025-01-02 03:04:05"},
			{"9", "app", "127.0.0.1:5001", "query", "primary", "1", "2025-01-02 03:04:06"},
		}},
		{"RELOAD CONFIG", []string{"change"}, [][]string{{"lag.max 1s -> 2s"}}},
		{"SELECT @@version_comment LIMIT 1", []string{"@@version_comment"}, [][]string{{"tailgate admin"}}},
		{"select 1", []string{"1"}, [][]string{{"1"}}},
		{"SELECT DATABASE(), @@max_allowed_packet", []string{"DATABASE()", "@@max_allowed_packet"}, [][]string{{"NULL", "16777216"}}},
		{"SHOW WARNINGS", []string{"Level", "Code", "Message"}, nil},
	}
	for _, tt := range tests {
		cols, rows := query(t, c, tt.query)
		if !reflect.DeepEqual(cols, tt.cols) {
			t.Errorf("%s: columns %q, want %q", tt.query, cols, tt.cols)
		}
		if tt.rows != nil && !reflect.DeepEqual(rows, tt.rows) {
			t.Errorf("%s: rows\n%q\nwant\n%q", tt.query, rows, tt.rows)
		}
	}
	if got, want := src.explained, []string{"SELECT * FROM t WHERE a = 'x;y'"}; !reflect.DeepEqual(got, want) {
		t.Errorf("EXPLAIN ROUTE passed %q to the source, want %q", got, want)
	}

	_, help := query(t, c, "HELP")
	if len(help) != len(commandList) {
		t.Errorf("HELP has %d rows, want %d", len(help), len(commandList))
	}
}

func TestShowConfigMasksSecrets(t *testing.T) {
	src := newFakeSource()
	c := adminConn(t, startAdmin(t, src))
	cols, rows := query(t, c, "SHOW CONFIG")
	if !reflect.DeepEqual(cols, []string{"key", "value"}) {
		t.Fatalf("columns %q", cols)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r[0]] = r[1]
		if strings.Contains(r[1], "secret") {
			t.Errorf("SHOW CONFIG shows a secret: %s = %s", r[0], r[1])
		}
	}
	for k, want := range map[string]string{
		"proxy.listen":                  "127.0.0.1:6033",
		"proxy.max_allowed_packet":      "64MiB",
		"admin.user":                    "admin",
		"admin.password":                "*****",
		"users[0].name":                 "app",
		"users[0].password":             "*****",
		"users[0].backend_password":     "",
		"replicas[0].name":              "replica1",
		"replicas[0].weight":            "2",
		"lag.max":                       "1s",
		"lag.on_all_stale":              "primary",
		"consistency.read_your_writes":  "true",
		"proxy.proxy_protocol_networks": "[]", // an empty list is still listed
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("SHOW CONFIG %s = %q (present %v), want %q", k, v, ok, want)
		}
	}
	if _, ok := got["metrics.listen"]; ok {
		t.Errorf("SHOW CONFIG lists metrics.listen, but [metrics] is absent")
	}
}

func TestSetBackend(t *testing.T) {
	src := newFakeSource()
	c := adminConn(t, startAdmin(t, src))
	state := func() string {
		_, rows := query(t, c, "SHOW BACKENDS")
		return rows[1][3]
	}
	if _, err := c.ExecContext(context.Background(), "set backend replica1 offline;"); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != StateOffline {
		t.Errorf("after OFFLINE: state %q, want offline", got)
	}
	if _, err := c.ExecContext(context.Background(), "SET BACKEND `replica1` ONLINE"); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != StateLagging {
		t.Errorf("after ONLINE: state %q, want the source's own state lagging", got)
	}
	// Client chatter is accepted.
	for _, q := range []string{"SET NAMES utf8mb4", "SET autocommit=1", "set sql_mode = 'STRICT_ALL_TABLES'"} {
		if _, err := c.ExecContext(context.Background(), q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

func TestKill(t *testing.T) {
	src := newFakeSource()
	c := adminConn(t, startAdmin(t, src))
	for _, q := range []string{"KILL QUERY 9", "kill 7", "KILL CONNECTION 9"} {
		if _, err := c.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	src.mu.Lock()
	killed := slices.Clone(src.killed)
	src.mu.Unlock()
	if want := []string{"query 9", "7", "9"}; !slices.Equal(killed, want) {
		t.Errorf("killed %q, want %q", killed, want)
	}
	if _, rows := query(t, c, "SHOW SESSIONS"); len(rows) != 0 {
		t.Errorf("SHOW SESSIONS after killing both: %q", rows)
	}
	_, _, err := tryQuery(c, "KILL 7")
	if code, msg := mysqlError(err); code != mysql.ER_NO_SUCH_THREAD || !strings.Contains(msg, "Unknown thread id: 7") {
		t.Errorf("KILL of a gone session: %d %q, want 1094", code, msg)
	}
}

func TestCommandErrors(t *testing.T) {
	src := newFakeSource()
	src.explainErrs = map[string]error{"SELECT 2": errors.New("no replica is fresh enough: replica1 lagging")}
	c := adminConn(t, startAdmin(t, src))

	tests := []struct {
		query string
		code  uint16
		msg   []string // substrings of the message
	}{
		{"SELECT * FROM users", 1064, []string{"unknown command", "SHOW BACKENDS", "EXPLAIN ROUTE <sql>", "SET BACKEND <name> OFFLINE", "RELOAD CONFIG"}},
		{"DROP TABLE t", 1064, []string{"unknown command", "SHOW SESSIONS"}},
		{"SHOW BACKENDS NOW", 1064, []string{"unknown command"}},
		{"SET BACKEND", 1064, []string{"usage: SET BACKEND <name> OFFLINE|ONLINE"}},
		{"SET BACKEND replica1", 1064, []string{"usage: SET BACKEND"}},
		{"SET BACKEND replica1 SIDEWAYS", 1064, []string{"usage: SET BACKEND"}},
		{"SET BACKEND '' OFFLINE", 1064, []string{"usage: SET BACKEND"}},
		{"EXPLAIN ROUTE", 1064, []string{"usage: EXPLAIN ROUTE <sql>"}},
		{"explain route ;", 1064, []string{"usage: EXPLAIN ROUTE"}},
		{"EXPLAIN SELECT 1", 1064, []string{"unknown command"}},
		{"KILL me", 1064, []string{"usage: KILL [CONNECTION | QUERY] <id>"}},
		{"SET BACKEND nosuch OFFLINE", 1105, []string{`no backend named "nosuch"`}},
		{"EXPLAIN ROUTE SELECT 2", 1105, []string{"would fail to route", "no replica is fresh enough"}},
		{" ; ", 1065, []string{"Query was empty"}},
	}
	for _, tt := range tests {
		_, _, err := tryQuery(c, tt.query)
		code, msg := mysqlError(err)
		if code != tt.code {
			t.Errorf("%q: error %v, want code %d", tt.query, err, tt.code)
			continue
		}
		for _, m := range tt.msg {
			if !strings.Contains(msg, m) {
				t.Errorf("%q: message %q lacks %q", tt.query, msg, m)
			}
		}
	}

	src.set(func(f *fakeSource) { f.reloadErr = errors.New("config: tailgate.toml: lag.max: must be positive") })
	_, _, err := tryQuery(c, "RELOAD CONFIG")
	if code, msg := mysqlError(err); code != 1105 || !strings.Contains(msg, "lag.max: must be positive") || !strings.Contains(msg, "running configuration stays") {
		t.Errorf("refused reload: %v", err)
	}

	// A panicking command fails alone; the connection stays usable.
	src.set(func(f *fakeSource) { f.panicStats = true })
	_, _, err = tryQuery(c, "SHOW STATS")
	if code, _ := mysqlError(err); code != 1105 {
		t.Errorf("panicking SHOW STATS: %v, want error 1105", err)
	}
	if _, rows := query(t, c, "SHOW BACKENDS"); len(rows) != 2 {
		t.Errorf("after a panic: %d backends", len(rows))
	}

	// Prepared statements are refused with a clear error.
	_, err = c.QueryContext(context.Background(), "SHOW BACKENDS", nil)
	_, err2 := c.QueryContext(context.Background(), "EXPLAIN ROUTE SELECT ?", 1)
	if code, msg := mysqlError(err2); code != 1295 || !strings.Contains(msg, "prepared statements") {
		t.Errorf("prepared statement: %v (and %v)", err2, err)
	}
}

func TestAuthentication(t *testing.T) {
	s := startAdmin(t, newFakeSource())
	tests := []struct{ user, password string }{
		{testUser, "wrong"},
		{testUser, ""},
		{"app", "app-secret"}, // an application account
		{"root", testPassword},
		{"", testPassword},
	}
	for _, tt := range tests {
		err := openDB(t, s.Addr().String(), tt.user, tt.password).Ping()
		if code, msg := mysqlError(err); code != 1045 || !strings.Contains(msg, "Access denied") {
			t.Errorf("login %q/%q: %v, want error 1045 Access denied", tt.user, tt.password, err)
		}
	}
	if err := openDB(t, s.Addr().String(), testUser, testPassword).Ping(); err != nil {
		t.Errorf("admin login: %v", err)
	}
}

func TestSetCredentials(t *testing.T) {
	s := startAdmin(t, newFakeSource())
	if err := s.SetCredentials("ops", ""); !errors.Is(err, ErrNoPassword) {
		t.Errorf("SetCredentials with an empty password = %v, want ErrNoPassword", err)
	}
	if err := s.SetCredentials("ops", "new-secret"); err != nil {
		t.Fatal(err)
	}
	for _, login := range [][2]string{{testUser, testPassword}, {"ops", testPassword}, {testUser, "new-secret"}} {
		if code, _ := mysqlError(openDB(t, s.Addr().String(), login[0], login[1]).Ping()); code != 1045 {
			t.Errorf("login %s/%s after the account changed: error %d, want 1045", login[0], login[1], code)
		}
	}
	if err := openDB(t, s.Addr().String(), "ops", "new-secret").Ping(); err != nil {
		t.Errorf("login with the new account: %v", err)
	}
}

func TestListenRefusesUnsafeSetups(t *testing.T) {
	tests := []struct {
		opts Options
		want error
	}{
		{Options{Listen: "127.0.0.1:0", User: "admin"}, ErrNoPassword},
		{Options{Listen: "0.0.0.0:0", User: "admin", Password: "pw"}, ErrRemote},
		{Options{Listen: ":0", User: "admin", Password: "pw"}, ErrRemote},
		{Options{Listen: "db.example.com:0", User: "admin", Password: "pw"}, ErrRemote},
		{Options{Listen: "0.0.0.0:0", User: "admin", Password: "pw", AllowRemote: true}, nil},
		{Options{Listen: "localhost:0", User: "admin", Password: "pw"}, nil},
		{Options{Listen: "127.0.0.1:0", User: "admin", Password: "pw"}, nil},
	}
	for _, tt := range tests {
		s := New(tt.opts, newFakeSource())
		err := s.Listen()
		if !errors.Is(err, tt.want) {
			t.Errorf("Listen(%+v) = %v, want %v", tt.opts, err, tt.want)
		}
		if err == nil {
			_ = s.ln.Close()
		}
	}
	// Serve without Listen checks too.
	s := New(Options{Listen: "0.0.0.0:0", User: "admin", Password: "pw"}, newFakeSource())
	if err := s.Serve(context.Background()); !errors.Is(err, ErrRemote) {
		t.Errorf("Serve on 0.0.0.0 = %v, want ErrRemote", err)
	}
}

func TestServeClosesConnectionsAtShutdown(t *testing.T) {
	s := New(Options{Listen: "127.0.0.1:0", User: testUser, Password: testPassword, Logger: testLogger(t)}, newFakeSource())
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	c := adminConn(t, s)
	query(t, c, "SHOW BACKENDS")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return with an idle admin connection open")
	}
	if _, _, err := tryQuery(c, "SHOW BACKENDS"); err == nil {
		t.Error("the admin connection still answers after shutdown")
	}
}

// TestMariaDBClient checks that the mariadb command-line client reads the results.
func TestMariaDBClient(t *testing.T) {
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Skip("no mariadb client installed")
	}
	s := startAdmin(t, newFakeSource())
	port := s.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]
	out, err := exec.Command(bin, "--no-defaults", "-h127.0.0.1", "-P"+port, "-u"+testUser, "-p"+testPassword,
		"-e", "SHOW BACKENDS; EXPLAIN ROUTE SELECT 1; SHOW SESSIONS; SHOW CONFIG; SET BACKEND replica1 OFFLINE; RELOAD CONFIG").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"name\trole\taddress\tstate\tlag_ms\tgtid\tweight\tconnections\tqueries",
		"replica1\treplica\t127.0.0.1:3307\tlagging\t1500\t0-1-40\t2\t1\t7",
		"target\tbackend\treason", "replica\treplica1\tautocommit_read",
		"admin.password\t*****",
		"lag.max 1s -> 2s",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("mariadb output lacks %q:\n%s", want, text)
		}
	}
	out, err = exec.Command(bin, "--no-defaults", "-h127.0.0.1", "-P"+port, "-u"+testUser, "-p"+testPassword, "-e", "SHOW TABLES").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "1064") || !strings.Contains(string(out), "SHOW BACKENDS") {
		t.Errorf("mariadb -e 'SHOW TABLES': %v\n%s", err, out)
	}
}

func TestShowDigests(t *testing.T) {
	src := newFakeSource()
	src.digests = []DigestInfo{
		{Digest: "SELECT c FROM sbtest1 WHERE id=?", Class: "read", Count: 3, Primary: 1, Replica: 2, Total: 1500 * time.Microsecond},
		{Digest: "UPDATE t SET a=?s", Class: "write/write", Count: 1, Primary: 1, Errors: 1, Total: 250 * time.Microsecond},
	}
	c := adminConn(t, startAdmin(t, src))
	cols, rows := query(t, c, "SHOW DIGESTS")
	if want := []string{"digest", "class", "count", "primary", "replica", "errors", "total_ms", "avg_us"}; !slices.Equal(cols, want) {
		t.Errorf("columns %q, want %q", cols, want)
	}
	want := [][]string{
		{"SELECT c FROM sbtest1 WHERE id=?", "read", "3", "1", "2", "0", "1.500", "500.0"},
		{"UPDATE t SET a=?s", "write/write", "1", "1", "0", "1", "0.250", "250.0"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("SHOW DIGESTS = %q, want %q", rows, want)
	}
	if _, err := c.ExecContext(context.Background(), "RESET DIGESTS"); err != nil {
		t.Fatal(err)
	}
	if _, rows := query(t, c, "SHOW DIGESTS"); len(rows) != 0 {
		t.Errorf("SHOW DIGESTS after RESET DIGESTS = %q, want none", rows)
	}
}

// A client that never logs in is cut off after the handshake timeout, which a reload changes
// for the next connections.
func TestHandshakeTimeoutSet(t *testing.T) {
	s := startAdmin(t, newFakeSource())
	s.SetHandshakeTimeout(200 * time.Millisecond)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	began := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil { // the greeting, then EOF when tailgate gives up
		t.Fatalf("read: %v (after %s), want EOF", err, time.Since(began))
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("closed after %s, want about 200ms", d)
	}
}
