package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tailgate-proxy/tailgate/admin"
	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
	"github.com/tailgate-proxy/tailgate/proxy"
	"github.com/tailgate-proxy/tailgate/router"
)

const (
	adminUser     = "admin"
	adminPassword = "admin-test-secret"
)

// startAdmin serves the admin listener for tg until the test ends, as the app's wiring
// does for [admin]; it returns the listener's address.
func startAdmin(t *testing.T, tg *tailgate) string {
	t.Helper()
	s := admin.New(admin.Options{
		Listen: "127.0.0.1:0", User: adminUser, Password: adminPassword,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "tailgate", Level: hclog.Warn, Output: testWriter{t}}),
	}, tg.app)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, "admin", s.Serve)
	return s.Addr().String()
}

// serveUntilCleanup runs serve until the test ends and checks that it stops cleanly.
func serveUntilCleanup(t *testing.T, what string, serve func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s server stopped with %v", what, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s server did not stop within 15s", what)
		}
	})
}

// mariadbCLI runs the mariadb client against addr and returns its output.
func mariadbCLI(t *testing.T, addr, user, password, sql string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Fatal("no mariadb client (apt-get install -y mariadb-client)")
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--no-defaults", "-h"+host, "-P"+port, "-u"+user, "-p"+password, "-e", sql).CombinedOutput()
	return string(out), err
}

// adminEventually polls cond until it holds or timeout passes.
func adminEventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

// tsv splits the mariadb client's batch output into its header and rows.
func tsv(out string) ([]string, [][]string) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return nil, nil
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Split(l, "\t"))
	}
	return strings.Split(lines[0], "\t"), rows
}

// adminDB opens a go-sql-driver pool on the admin port.
func adminDB(t *testing.T, addr, user, password string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/?timeout=5s", user, password, addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// rowsQueryer is a *sql.DB or a *sql.Conn.
type rowsQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryRows runs a statement (an admin command, a SHOW) and returns its rows as maps by column.
func queryRows(t *testing.T, db rowsQueryer, text string) []map[string]string {
	t.Helper()
	rs, err := db.QueryContext(context.Background(), text)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAdminShowBackendsWithMariaDBClient(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	addr := startAdmin(t, tg)
	out, err := mariadbCLI(t, addr, adminUser, adminPassword, "SHOW BACKENDS")
	if err != nil {
		t.Fatalf("mariadb -e 'SHOW BACKENDS': %v\n%s", err, out)
	}
	header, rows := tsv(out)
	if got, want := strings.Join(header, ","), "name,role,address,state,lag_ms,gtid,weight,connections,queries"; got != want {
		t.Fatalf("SHOW BACKENDS columns %s, want %s", got, want)
	}
	want := [][3]string{
		{"primary", "primary", shared.Primary.Addr()},
		{"replica1", "replica", shared.Replicas[0].Addr()},
		{"replica2", "replica", shared.Replicas[1].Addr()},
	}
	if len(rows) != len(want) {
		t.Fatalf("SHOW BACKENDS:\n%s\nwant primary and 2 replicas", out)
	}
	for i, w := range want {
		r := rows[i]
		if r[0] != w[0] || r[1] != w[1] || r[2] != w[2] || r[3] != admin.StateOnline {
			t.Errorf("row %d = %q, want %s %s %s online", i, r, w[0], w[1], w[2])
		}
	}

	// The other commands read fine with the CLI too.
	out, err = mariadbCLI(t, addr, adminUser, adminPassword, "SHOW STATS; SHOW SESSIONS; SHOW CONFIG; HELP")
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	for _, s := range []string{"queries_replica\t", "fallbacks_primary\t", "users[0].password\t*****", "primary.address\t" + shared.Primary.Addr()} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, cluster.AppPassword) {
		t.Errorf("SHOW CONFIG shows the application password:\n%s", out)
	}

	// Unknown commands: a clear error with the command list, and the CLI exits non-zero.
	out, err = mariadbCLI(t, addr, adminUser, adminPassword, "SELECT * FROM mysql.user")
	if err == nil || !strings.Contains(out, "ERROR 1064") || !strings.Contains(out, "SHOW BACKENDS") {
		t.Errorf("unknown command: %v\n%s", err, out)
	}
}

func TestAdminExplainRoute(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)

	rows := queryRows(t, db, "EXPLAIN ROUTE SELECT 1")
	if len(rows) != 1 {
		t.Fatalf("EXPLAIN ROUTE SELECT 1: %d rows", len(rows))
	}
	r := rows[0]
	if r["target"] != "replica" || (r["backend"] != "replica1" && r["backend"] != "replica2") || r["reason"] != "autocommit_read" {
		t.Errorf("EXPLAIN ROUTE SELECT 1 = %v, want replica, replica1|replica2, autocommit_read", r)
	}
	r = queryRows(t, db, "explain route SELECT * FROM t FOR UPDATE;")[0]
	if r["target"] != "primary" || r["backend"] != "primary" || r["reason"] != "locking_read" {
		t.Errorf("EXPLAIN ROUTE ... FOR UPDATE = %v, want primary, primary, locking_read", r)
	}
	r = queryRows(t, db, "EXPLAIN ROUTE INSERT INTO t VALUES (1)")[0]
	if r["target"] != "primary" || r["reason"] != "write" {
		t.Errorf("EXPLAIN ROUTE INSERT = %v, want primary, write", r)
	}
	r = queryRows(t, db, "EXPLAIN ROUTE KILL QUERY 10001")[0]
	if r["target"] != "tailgate" || r["backend"] != "" || r["reason"] != "kill_tailgate_session" {
		t.Errorf("EXPLAIN ROUTE KILL = %v, want tailgate, \"\", kill_tailgate_session", r)
	}

	// EXPLAIN ROUTE sees what live traffic sees: with both replicas drained a read falls back.
	for _, q := range []string{"SET BACKEND replica1 OFFLINE", "SET BACKEND replica2 OFFLINE"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r = queryRows(t, db, "EXPLAIN ROUTE SELECT 1")[0]
	if r["target"] != "primary" || r["reason"] != "no_eligible_replica" {
		t.Errorf("EXPLAIN ROUTE SELECT 1 with every replica offline = %v, want primary, no_eligible_replica", r)
	}
}

func TestAdminSetBackendOffline(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)
	c := conn(t, tg.db(t, ""))
	r1, r2 := int(shared.Replicas[0].ServerID), int(shared.Replicas[1].ServerID)

	// A read-only transaction running on replica1 when it is drained finishes there.
	var inTxn int
	for range 10 { // the balancer alternates: reach replica1 within a few tries
		mustExec(t, c, "START TRANSACTION READ ONLY")
		if inTxn = serverID(t, c, "SELECT @@server_id"); inTxn == r1 {
			break
		}
		mustExec(t, c, "COMMIT")
	}
	if inTxn != r1 {
		t.Fatalf("no READ ONLY transaction reached replica1 (last on %d)", inTxn)
	}
	if _, err := db.Exec("SET BACKEND replica1 OFFLINE"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if id := serverID(t, c, "SELECT @@server_id"); id != r1 {
			t.Errorf("running transaction moved from replica1 to %d when replica1 was drained", id)
		}
	}
	mustExec(t, c, "COMMIT")

	state := func(name string) string {
		for _, b := range queryRows(t, db, "SHOW BACKENDS") {
			if b["name"] == name {
				return b["state"]
			}
		}
		return ""
	}
	if got := state("replica1"); got != admin.StateOffline {
		t.Errorf("SHOW BACKENDS replica1 state %q, want offline", got)
	}
	got := serverShares(t, c, 40)
	if got[r2] != 40 {
		t.Errorf("40 reads with replica1 offline: %v, want all on replica2 (%d)", got, r2)
	}

	if _, err := db.Exec("SET BACKEND replica1 ONLINE"); err != nil {
		t.Fatal(err)
	}
	if got := state("replica1"); got != admin.StateOnline {
		t.Errorf("SHOW BACKENDS replica1 state %q after ONLINE, want online", got)
	}
	got = serverShares(t, c, 40)
	if got[r1] == 0 || got[r2] == 0 || got[r1]+got[r2] != 40 {
		t.Errorf("40 reads with replica1 back online: %v, want both replicas and nothing else", got)
	}

	// Unknown names and the primary are refused with the reason.
	for q, want := range map[string]string{
		"SET BACKEND nosuch OFFLINE":  `no backend named "nosuch"`,
		"SET BACKEND primary OFFLINE": "the primary cannot be taken offline",
	} {
		_, err := db.Exec(q)
		var me *mysqldrv.MySQLError
		if !errors.As(err, &me) || !strings.Contains(me.Message, want) {
			t.Errorf("%s: %v, want an error saying %q", q, err, want)
		}
	}
}

func TestAdminSessionsAndStats(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)
	c := conn(t, tg.db(t, ""))
	serverShares(t, c, 5)

	// The session publishes "idle" just after its response reaches the client.
	var sessions []map[string]string
	if !adminEventually(3*time.Second, func() bool {
		sessions = queryRows(t, db, "SHOW SESSIONS")
		return len(sessions) == 1 && sessions[0]["state"] == "idle"
	}) || sessions[0]["user"] != cluster.AppUser || sessions[0]["since"] == "" || sessions[0]["in_transaction"] != "0" {
		t.Errorf("SHOW SESSIONS = %v, want the one app session, idle", sessions)
	}
	stats := map[string]string{}
	for _, r := range queryRows(t, db, "SHOW STATS") {
		stats[r["name"]] = r["value"]
	}
	if stats[admin.StatQueriesReplica] != "5" || stats[admin.StatClientConnections] != "1" {
		t.Errorf("SHOW STATS = %v, want 5 replica queries and 1 client connection", stats)
	}
}

func TestAdminRefusesOtherAccounts(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	addr := startAdmin(t, tg)
	for _, login := range [][2]string{{cluster.AppUser, cluster.AppPassword}, {adminUser, "wrong"}, {"root", ""}} {
		err := adminDB(t, addr, login[0], login[1]).Ping()
		var me *mysqldrv.MySQLError
		if !errors.As(err, &me) || me.Number != 1045 {
			t.Errorf("admin login as %s: %v, want error 1045", login[0], err)
		}
	}
	out, err := mariadbCLI(t, addr, cluster.AppUser, cluster.AppPassword, "SHOW BACKENDS")
	if err == nil || !strings.Contains(out, "ERROR 1045") {
		t.Errorf("mariadb as the application user on the admin port: %v\n%s", err, out)
	}
	// The application account still works on the proxy port, and admin credentials do not.
	if err := tg.db(t, "").Ping(); err != nil {
		t.Errorf("application login on the proxy port: %v", err)
	}
}

func TestAdminReloadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	write := func(weight int, extra string) {
		t.Helper()
		text := fmt.Sprintf(`%s
[proxy]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"
password = %q

[[users]]
name = %q
password = %q

[primary]
address = %q

[[replicas]]
name = "replica1"
address = %q
weight = %d

[[replicas]]
name = "replica2"
address = %q
`, extra, adminPassword, cluster.AppUser, cluster.AppPassword, shared.Primary.Addr(), shared.Replicas[0].Addr(), weight, shared.Replicas[1].Addr())
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tg := startTailgate(t, cfg)
	db := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)

	if rows := queryRows(t, db, "RELOAD CONFIG"); len(rows) != 0 {
		t.Errorf("RELOAD CONFIG of an unchanged file: %v, want no changes", rows)
	}
	write(3, "")
	rows := queryRows(t, db, "RELOAD CONFIG")
	if len(rows) != 1 || rows[0]["change"] != "replicas[replica1].weight 1 -> 3" {
		t.Errorf("RELOAD CONFIG after a weight change: %v", rows)
	}
	for _, b := range queryRows(t, db, "SHOW BACKENDS") {
		if b["name"] == "replica1" && b["weight"] != "3" {
			t.Errorf("SHOW BACKENDS replica1 weight %s after reload, want 3", b["weight"])
		}
	}

	write(3, "bogus_key = 1")
	_, err = db.Exec("RELOAD CONFIG")
	var me *mysqldrv.MySQLError
	if !errors.As(err, &me) || !strings.Contains(me.Message, "bogus_key") || !strings.Contains(me.Message, "running configuration stays") {
		t.Errorf("RELOAD CONFIG of an invalid file: %v, want the reason and that the old config stays", err)
	}
	for _, r := range queryRows(t, db, "SHOW CONFIG") {
		if r["key"] == "replicas[0].weight" && r["value"] != "3" {
			t.Errorf("SHOW CONFIG replicas[0].weight = %s after a refused reload, want 3", r["value"])
		}
	}
}

// startMetrics serves /metrics, /healthz and /readyz for tg until the test ends, as the
// app's wiring does for [metrics]; it returns the base URL.
func startMetrics(t *testing.T, tg *tailgate, reg *prometheus.Registry) string {
	t.Helper()
	h := admin.NewHTTP(admin.HTTPOptions{
		Listen: "127.0.0.1:0", Ready: tg.app.ClientListenerReady,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "tailgate", Level: hclog.Warn, Output: testWriter{t}}),
	}, tg.app, reg)
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, "metrics", h.Serve)
	return "http://" + h.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// metricValue returns the value of the series name{labels} in fams (a histogram's
// sample count), 0 when absent.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// observedProxy runs a second proxy server on tg's router with m as its observer, so
// the query counters are fed by real traffic before app.go passes the Metrics to its
// own proxy (the Observer is a construction-time option).
func observedProxy(t *testing.T, tg *tailgate, m *admin.Metrics) string {
	t.Helper()
	opts := proxy.Options{
		Listen:                "127.0.0.1:0",
		MaxConnections:        100,
		HandshakeTimeout:      10 * time.Second,
		MaxAllowedPacket:      64 << 20,
		BackendConnectTimeout: 3 * time.Second,
		Users:                 []proxy.User{{Name: cluster.AppUser, Password: cluster.AppPassword}},
		Primary:               proxy.BackendConfig{Name: router.PrimaryName, Address: shared.Primary.Addr()},
		ReadYourWrites:        true,
		Observer:              m,
		Logger:                hclog.New(&hclog.LoggerOptions{Name: "observed", Level: hclog.Warn, Output: testWriter{t}}),
	}
	for _, r := range shared.Replicas {
		opts.Replicas = append(opts.Replicas, proxy.BackendConfig{Name: r.Name, Address: r.Addr()})
	}
	srv := proxy.New(opts, tg.app.Router(), router.NewClassifier(1000))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, "observed proxy", srv.Serve)
	return srv.Addr().String()
}

func TestMetricsQueryCounters(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	reg := prometheus.NewRegistry()
	m := admin.NewMetrics(tg.app, reg)
	base := startMetrics(t, tg, reg)
	addr := observedProxy(t, tg, m)

	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/%s", cluster.AppUser, cluster.AppPassword, addr, cluster.TestDatabase))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	c := conn(t, db)

	type key struct{ target, result string }
	before := scrapeMetrics(t, base)
	count := func(fams map[string]*dto.MetricFamily, k key) float64 {
		return metricValue(t, fams, "tailgate_queries_total", "target", k.target, "result", k.result)
	}
	// Reads first: after a write, read-your-writes may send reads to the primary.
	const reads, badReads, missingReads, writes = 12, 3, 2, 5
	serverShares(t, c, reads)
	for range badReads {
		if _, err := c.ExecContext(context.Background(), "SELECT no_such_column FROM DUAL"); err == nil {
			t.Fatal("SELECT of a missing column succeeded")
		}
	}
	// A table the replica lacks may be new: the read runs again on the primary, whose
	// error the client gets.
	for range missingReads {
		if _, err := c.ExecContext(context.Background(), "SELECT * FROM no_such_table"); err == nil {
			t.Fatal("SELECT from a missing table succeeded")
		}
	}
	mustExec(t, c, "CREATE TABLE IF NOT EXISTS metrics_probe (id INT AUTO_INCREMENT PRIMARY KEY)")
	for range writes {
		mustExec(t, c, "INSERT INTO metrics_probe () VALUES ()")
	}
	after := scrapeMetrics(t, base)

	for k, want := range map[key]float64{
		{"replica", "ok"}:    reads,
		{"replica", "error"}: badReads,
		{"primary", "ok"}:    1 + writes,
		{"primary", "error"}: missingReads,
	} {
		if got := count(after, k) - count(before, k); got != want {
			t.Errorf("tailgate_queries_total{target=%q,result=%q} grew by %v, want %v", k.target, k.result, got, want)
		}
	}
	total := metricValue(t, after, "tailgate_query_duration_seconds", "target", "primary") +
		metricValue(t, after, "tailgate_query_duration_seconds", "target", "replica")
	if want := float64(reads + badReads + missingReads + 1 + writes); total != want {
		t.Errorf("tailgate_query_duration_seconds counted %v statements, want %v", total, want)
	}

	// Scrape-time gauges come from the app.
	for _, b := range []string{"primary", "replica1", "replica2"} {
		if v := metricValue(t, after, "tailgate_backend_state", "backend", b, "state", "online"); v != 1 {
			t.Errorf("tailgate_backend_state{backend=%q,state=online} = %v, want 1", b, v)
		}
	}
	if _, ok := after["tailgate_replica_lag_milliseconds"]; !ok {
		t.Error("no tailgate_replica_lag_milliseconds")
	}
	if _, ok := after["tailgate_fallbacks_total"]; !ok {
		t.Error("no tailgate_fallbacks_total")
	}
}

func TestMetricsHealthAndReadiness(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	base := startMetrics(t, tg, prometheus.NewRegistry())
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the primary up: %d %s", code, body)
	}
	// Probes in quick succession share one login to the primary per second.
	root, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	root.SetMaxOpenConns(1)
	logins := func() int {
		var name string
		var n int
		if err := root.QueryRow("SHOW GLOBAL STATUS LIKE 'Connections'").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, began := logins(), time.Now()
	for range 20 {
		if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz with the primary up: %d %s", code, body)
		}
	}
	if n, most := logins()-before, int(time.Since(began)/time.Second)+1; n > most {
		t.Errorf("20 /readyz probes in %s logged in to the primary %d times, want at most %d (one per second)", time.Since(began).Round(time.Millisecond), n, most)
	}

	// A tailgate whose primary does not answer is alive but not ready.
	cfg := testConfig(shared)
	cfg.Primary.Address = freePort(t)
	dead := startTailgate(t, cfg)
	reg := prometheus.NewRegistry()
	admin.NewMetrics(dead.app, reg)
	base = startMetrics(t, dead, reg)
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with the primary down: %d %s", code, body)
	}
	code, body := httpGet(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "primary unreachable") {
		t.Errorf("/readyz with the primary down: %d %s, want 503 primary unreachable", code, body)
	}
	fams := scrapeMetrics(t, base)
	if v := metricValue(t, fams, "tailgate_backend_state", "backend", "primary", "state", "down"); v != 1 {
		t.Errorf("tailgate_backend_state{backend=primary,state=down} = %v with the primary down, want 1", v)
	}
}

func TestMetricsBinlogTailer(t *testing.T) {
	tg := startTailgate(t, freshConfig(shared, time.Second, 500*time.Millisecond))
	reg := prometheus.NewRegistry()
	admin.NewMetrics(tg.app, reg)
	base := startMetrics(t, tg, reg)
	db := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)

	if !adminEventually(10*time.Second, func() bool {
		return metricValue(t, scrapeMetrics(t, base), "tailgate_binlog_connected") == 1
	}) {
		t.Fatal("tailgate_binlog_connected is not 1 within 10s")
	}
	before := metricValue(t, scrapeMetrics(t, base), "tailgate_binlog_position")
	if before == 0 { // the shared cluster has run transactions before this test
		t.Errorf("tailgate_binlog_position is 0 at start: it should be the primary's position")
	}
	mustExec(t, conn(t, tg.db(t, "")),
		"CREATE TABLE IF NOT EXISTS metrics_tailer (id INT AUTO_INCREMENT PRIMARY KEY)",
		"INSERT INTO metrics_tailer () VALUES ()")
	if !adminEventually(10*time.Second, func() bool {
		return metricValue(t, scrapeMetrics(t, base), "tailgate_binlog_position") > before
	}) {
		t.Errorf("tailgate_binlog_position did not grow past %v after a write", before)
	}
	fams := scrapeMetrics(t, base)
	for _, name := range []string{"tailgate_binlog_reconnects_total", "tailgate_replica_lag_milliseconds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s with the tailer running", name)
		}
	}
	stats := map[string]string{}
	for _, r := range queryRows(t, db, "SHOW STATS") {
		stats[r["name"]] = r["value"]
	}
	if stats[admin.StatTailerConnected] != "1" || stats[admin.StatTailerPosition] == "" {
		t.Errorf("SHOW STATS = %v, want the tailer's stats", stats)
	}
	if b := queryRows(t, db, "SHOW BACKENDS")[0]; b["name"] != "primary" || b["gtid"] == "" {
		t.Errorf("SHOW BACKENDS primary row %v, want the primary's GTID position", b)
	}
}

// TestAdminShowsLaggingReplica goes through the app's own wiring of [admin]: after STOP
// SLAVE SQL_THREAD plus writes, SHOW BACKENDS shows the replica lagging with its lag.
func TestAdminShowsLaggingReplica(t *testing.T) {
	cfg := freshConfig(shared, time.Second, 500*time.Millisecond)
	cfg.Admin = &config.Admin{Listen: "127.0.0.1:0", User: adminUser, Password: adminPassword}
	tg := startTailgate(t, cfg)
	addr := tg.app.AdminAddr().String()
	victim := shared.Replicas[0]
	waitState(t, tg, victim.Name, router.StateOnline, 5*time.Second)
	writeEvery(t, shared, 20*time.Millisecond)
	sqlThread(t, victim, false)
	waitState(t, tg, victim.Name, router.StateLagging, 5*time.Second)
	out, err := mariadbCLI(t, addr, adminUser, adminPassword, "SHOW BACKENDS")
	if err != nil {
		t.Fatalf("mariadb -e 'SHOW BACKENDS': %v\n%s", err, out)
	}
	_, rows := tsv(out)
	var found bool
	for _, r := range rows {
		if r[0] != victim.Name {
			continue
		}
		found = true
		lag, _ := strconv.Atoi(r[4])
		if r[3] != "lagging" || lag < 1000 {
			t.Errorf("%s: state %s lag_ms %s, want lagging with lag_ms >= 1000\n%s", victim.Name, r[3], r[4], out)
		}
	}
	if !found {
		t.Fatalf("SHOW BACKENDS has no %s:\n%s", victim.Name, out)
	}
	t.Logf("SHOW BACKENDS:\n%s", out)
}

// TestAdminDigests: SHOW DIGESTS counts what ran through tailgate by statement shape:
// text reads with different literals and the prepared form of the same statement share a
// digest, and each digest says where its executions ran and how many failed.
func TestAdminDigests(t *testing.T) {
	if err := shared.Primary.Exec(context.Background(), "CREATE TABLE IF NOT EXISTS tailgate_test.digest_t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, shared)
	tg := startTailgate(t, testConfig(shared))
	adm := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)
	reader := conn(t, tg.db(t, ""))
	for i := range 20 {
		var n int
		err := reader.QueryRowContext(context.Background(), fmt.Sprintf("SELECT COUNT(*) FROM digest_t WHERE id = %d", i)).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		var n int
		if err := reader.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM digest_t WHERE id = ?", i).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reader.ExecContext(context.Background(), "SELECT * FROM no_such_table_digest"); err == nil {
		t.Fatal("a read of a missing table succeeded")
	}
	writer := conn(t, tg.db(t, ""))
	for i := range 5 {
		mustExec(t, writer, fmt.Sprintf("REPLACE INTO digest_t VALUES (%d)", 1000+i))
	}

	check := func(digest string, want map[string]string) {
		t.Helper()
		r := digestRow(t, adm, digest)
		for k, v := range want {
			if r[k] != v {
				t.Errorf("%q: %s = %s, want %s (row %v)", digest, k, r[k], v, r)
			}
		}
	}
	check("SELECT COUNT(*) FROM digest_t WHERE id = ?", map[string]string{"class": "read", "count": "30", "replica": "30", "primary": "0", "errors": "0"})
	check("SELECT * FROM no_such_table_digest", map[string]string{"count": "1", "errors": "1"})
	check("REPLACE INTO digest_t VALUES (?)", map[string]string{"class": "write/write", "count": "5", "primary": "5", "replica": "0"})
}

// TestSlowStatements: with log.slow_statement set, a statement that takes longer is
// counted (SHOW STATS slow_statements) and one that does not is not; a reload turns it off.
func TestSlowStatements(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Log.SlowStatement = config.Duration{Duration: 80 * time.Millisecond}
	tg, path := startTailgateFromFile(t, cfg)
	adm := adminDB(t, startAdmin(t, tg), adminUser, adminPassword)
	slow := func() string {
		t.Helper()
		for _, r := range queryRows(t, adm, "SHOW STATS") {
			if r["name"] == admin.StatSlowStatements {
				return r["value"]
			}
		}
		return "missing"
	}
	c := conn(t, tg.db(t, ""))
	mustExec(t, c, "SELECT 1", "SELECT SLEEP(0.1)", "SELECT 2", "DO SLEEP(0.12)")
	if got := slow(); got != "2" {
		t.Errorf("slow_statements = %s after two statements of 100 ms and more and two fast ones, want 2", got)
	}
	cfg.Log.SlowStatement = config.Duration{}
	writeConfigFile(t, path, cfg)
	if err := tg.app.Reload(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "SELECT SLEEP(0.1)")
	if got := slow(); got != "2" {
		t.Errorf("slow_statements = %s after the reload turned it off, want still 2", got)
	}
}

// digestRow is SHOW DIGESTS' row for digest; the test fails without one.
func digestRow(t *testing.T, adm *sql.DB, digest string) map[string]string {
	t.Helper()
	rows := queryRows(t, adm, "SHOW DIGESTS")
	for _, r := range rows {
		if r["digest"] == digest {
			return r
		}
	}
	t.Fatalf("SHOW DIGESTS has no %q; it has %v", digest, rows)
	return nil
}
