package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// changeUserScript runs COM_CHANGE_USER (libmariadb's mysql_change_user, through Python's
// MySQLdb) on one connection: to another user and back, then three failures (a wrong
// password, a database that does not exist, an unknown user) and one more change, printing
// after each what the session is. After the first change it prints "paused" and waits for
// a line.
const changeUserScript = `
import sys, MySQLdb
host, port, app, app_pw, other, other_pw, db = sys.argv[1:8]
def q(c, sql):
    cur = c.cursor(); cur.execute(sql); return cur.fetchall()
def show(label, c):
    print(label, "->", q(c, "SELECT CURRENT_USER(), DATABASE(), @v, @@in_transaction"))
c = MySQLdb.connect(host=host, port=int(port), user=app, passwd=app_pw, db=db)
q(c, "SET @v = 5"); q(c, "CREATE TEMPORARY TABLE cu_tmp (a INT)"); q(c, "BEGIN"); q(c, "INSERT INTO cu_rows VALUES (1)")
show("before", c)
steps = [("other user", (other, other_pw, "")), ("back", (app, app_pw, db)),
         ("wrong password", (app, "wrong", "")), ("unknown database", (app, app_pw, "no_such_db")),
         ("unknown user", ("nobody", "x", "")), ("after 3 failures", (other, other_pw, ""))]
for i, (label, args) in enumerate(steps):
    try:
        c.change_user(*args); print(label, "ok")
    except MySQLdb.Error as e:
        print(label, "error", e.args[0], e.args[1])
    show(label, c)
    if i == 0:
        print("paused", flush=True); sys.stdin.readline()
for sql in ("SELECT COUNT(*) FROM cu_rows", "SELECT * FROM cu_tmp"):
    try:
        print(sql, q(c, sql))
    except MySQLdb.Error as e:
        print(sql, "error", e.args[0], e.args[1])
`

// TestChangeUser: COM_CHANGE_USER through tailgate answers as MariaDB does, line for line
// (the same script against the primary directly and through tailgate): the session starts
// afresh (variables, temporary table and transaction gone, its row never committed),
// another user's login and database take effect, a failed change keeps the user and
// database with the server's error, and after three failures the command is refused. SHOW
// SESSIONS shows the new user.
func TestChangeUser(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import MySQLdb").Run(); err != nil {
		t.Fatalf("this test needs Python's MySQLdb: apt-get install -y python3-mysqldb (%v)", err)
	}
	root, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	mustExec(t, root, "CREATE TABLE IF NOT EXISTS tailgate_test.cu_rows (a INT)", "DELETE FROM tailgate_test.cu_rows")
	waitReplicated(t, shared)
	cfg := testConfig(shared)
	cfg.Users = append(cfg.Users, config.User{Name: cluster.MonitorUser, Password: cluster.MonitorPassword})
	tg := startTailgate(t, cfg)
	cfg2 := testConfig(shared)
	cfg2.Users = append(cfg2.Users, config.User{Name: "sha", Password: "sha-secret", AuthPlugin: "caching_sha2_password",
		BackendUser: cluster.AppUser, BackendPassword: cluster.AppPassword})
	tg2 := startTailgate(t, cfg2)
	script := filepath.Join(t.TempDir(), "change_user.py")
	if err := os.WriteFile(script, []byte(changeUserScript), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(addr string, paused func()) []string {
		t.Helper()
		host, port, _ := strings.Cut(addr, ":")
		cmd := exec.Command(python, script, host, port, cluster.AppUser, cluster.AppPassword,
			cluster.MonitorUser, cluster.MonitorPassword, cluster.TestDatabase)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "paused" {
				paused()
				_, _ = stdin.Write([]byte("\n"))
				continue
			}
			lines = append(lines, sc.Text())
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("script against %s: %v\n%s", addr, err, stderr.String())
		}
		return lines
	}
	direct := run(shared.Primary.Addr(), func() {})
	var sessionUsers []string
	proxied := run(tg.addr, func() {
		for _, s := range tg.app.Sessions() {
			sessionUsers = append(sessionUsers, s.User)
		}
	})
	t.Logf("direct:\n%s", strings.Join(direct, "\n"))
	if strings.Join(direct, "\n") != strings.Join(proxied, "\n") {
		t.Errorf("through tailgate:\n%s\nwant what MariaDB answers (above)", strings.Join(proxied, "\n"))
	}
	if len(direct) < 10 || !strings.Contains(direct[1], "other user ok") {
		t.Errorf("the script did not run its steps against MariaDB: %q", direct)
	}
	if len(sessionUsers) != 1 || sessionUsers[0] != cluster.MonitorUser {
		t.Errorf("SHOW SESSIONS users after the change: %q, want [%s]", sessionUsers, cluster.MonitorUser)
	}
	var n int
	if err := root.QueryRow("SELECT COUNT(*) FROM tailgate_test.cu_rows").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows of the transaction the change rolled back: %d (%v), want 0", n, err)
	}

	// To and from a caching_sha2_password user (an auth switch each way: the client
	// answered for the other method).
	sha := filepath.Join(t.TempDir(), "change_user_sha2.py")
	if err := os.WriteFile(sha, []byte(changeUserSHA2Script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, sha, strings.Split(tg2.addr, ":")[1], cluster.AppPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("caching_sha2 script: %v\n%s", err, out)
	}
	want := "sha2 user ok app@127.0.0.1\nwrong password 1045\nback to app ok app@127.0.0.1\n"
	if string(out) != want {
		t.Errorf("COM_CHANGE_USER with a caching_sha2_password user:\n%s\nwant\n%s", out, want)
	}
}

// changeUserSHA2Script changes from a mysql_native_password user to a caching_sha2_password
// one ("sha", logging in to the servers as app) and back.
const changeUserSHA2Script = `
import sys, MySQLdb
port, app_pw = int(sys.argv[1]), sys.argv[2]
def who(c):
    cur = c.cursor(); cur.execute("SELECT CURRENT_USER()"); return cur.fetchall()[0][0]
c = MySQLdb.connect(host="127.0.0.1", port=port, user="app", passwd=app_pw, db="tailgate_test")
c.change_user("sha", "sha-secret", "tailgate_test"); print("sha2 user ok", who(c))
try:
    c.change_user("sha", "wrong", "tailgate_test")
except MySQLdb.Error as e:
    print("wrong password", e.args[0])
c.change_user("app", app_pw, "tailgate_test"); print("back to app ok", who(c))
`
