package integration

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// The deployment docker-compose.yml ships (two active-active tailgates behind a round-robin
// HAProxy), run here as processes on loopback: one tailgate is killed with SIGKILL under
// write load, and every client must carry on through the other one.
const (
	haClients  = 8                // client goroutines, each with one connection through HAProxy
	haKillAt   = 10 * time.Second // when the victim tailgate gets SIGKILL
	haRunUntil = 20 * time.Second // when the clients stop
)

// TestExamplesValid loads every shipped configuration: examples/*.toml and the compose
// stack's deploy/tailgate/*.toml (what `tailgate -check` does).
func TestExamplesValid(t *testing.T) {
	root := haModuleRoot(t)
	var files []string
	for _, pattern := range []string{"examples/*.toml", "deploy/tailgate/*.toml"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d example configs (%v): examples/ or deploy/tailgate/ moved?", len(files), files)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			if _, err := config.Load(f); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
}

// TestHAFailover: 8 clients insert unique ids through HAProxy (round robin over two tailgate
// processes, health-checked on /readyz); at 10 s one tailgate gets SIGKILL; at 20 s the
// clients stop. Every acknowledged insert must be on the primary, each client may lose its
// session (and the one insert in flight) at most once and open at most one new session, and
// every client must get inserts acknowledged after the kill, all through the survivor.
func TestHAFailover(t *testing.T) {
	haproxyBin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatalf("TestHAFailover needs HAProxy: apt-get install -y haproxy (%v)", err)
	}
	bin := haBuildTailgate(t)
	dir := t.TempDir()

	primary, err := sql.Open("mysql", shared.Primary.DSN(cluster.AppUser, cluster.AppPassword, cluster.TestDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	mustExec(t, primary, "DROP TABLE IF EXISTS ha_ids", "CREATE TABLE ha_ids (id BIGINT PRIMARY KEY)")
	t.Cleanup(func() { _, _ = primary.Exec("DROP TABLE IF EXISTS ha_ids") })

	ports := haFreePorts(t, 6)
	tgs := make([]*haTailgate, 2)
	for i := range tgs {
		tg := &haTailgate{
			name:    fmt.Sprintf("tailgate%d", i+1),
			proxy:   fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			metrics: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
		}
		cfgPath := filepath.Join(dir, tg.name+".toml")
		// Distinct replication.server_id per instance: the primary drops a binlog dump
		// whose server id another one registers with.
		if err := os.WriteFile(cfgPath, []byte(haTailgateConfig(shared, tg, 4200101+uint32(i))), 0o644); err != nil {
			t.Fatal(err)
		}
		tg.proc = haStart(t, tg.name, filepath.Join(dir, tg.name+".log"), bin, "-config", cfgPath)
		tgs[i] = tg
	}
	for _, tg := range tgs {
		haWaitReady(t, tg)
	}

	front := fmt.Sprintf("127.0.0.1:%d", ports[4])
	stats := fmt.Sprintf("127.0.0.1:%d", ports[5])
	hcfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(hcfg, []byte(haHAProxyConfig(front, stats, tgs)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxyBin, "-c", "-q", "-f", hcfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c rejects the generated config: %v\n%s", err, out)
	}
	haStart(t, "haproxy", filepath.Join(dir, "haproxy.log"), haproxyBin, "-f", hcfg, "-db")
	haWaitServers(t, stats, map[string]string{"tailgate1": "UP", "tailgate2": "UP"}, 15*time.Second)

	// Clients: one pool each with no idle connections, so a reconnect always dials HAProxy
	// afresh instead of reusing a connection that died with the victim.
	clients := make([]*haClient, haClients)
	start := time.Now()
	end := start.Add(haRunUntil)
	var killed atomic.Bool
	var wg sync.WaitGroup
	for i := range clients {
		c := &haClient{id: i + 1}
		clients[i] = c
		db := haOpen(t, front)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(db, end, &killed)
		}()
	}
	t.Cleanup(wg.Wait) // a failed assertion below must not leave clients running

	victim, survivor := tgs[0], tgs[1]
	time.Sleep(time.Until(start.Add(haKillAt)))
	before := [2]float64{haGauge(t, victim, "tailgate_client_connections"), haGauge(t, survivor, "tailgate_client_connections")}
	t.Logf("at %s: client sessions %s=%v %s=%v; SIGKILL %s (pid %d)", time.Since(start).Round(time.Millisecond),
		victim.name, before[0], survivor.name, before[1], victim.name, victim.proc.cmd.Process.Pid)
	if before[0] < 1 {
		t.Errorf("%s served no client before the kill: the test would prove nothing (round robin broken?)", victim.name)
	}
	killed.Store(true)
	killedAt := time.Now()
	victim.proc.kill(t)
	t.Logf("%s gone %s after SIGKILL", victim.name, time.Since(killedAt).Round(time.Millisecond))

	// HAProxy's health check takes the dead instance out of rotation (fall 2 x inter 200ms).
	haWaitServers(t, stats, map[string]string{"tailgate1": "DOWN", "tailgate2": "UP"}, 5*time.Second)
	time.Sleep(time.Until(end.Add(-time.Second)))
	serving := haGauge(t, survivor, "tailgate_client_connections")
	wg.Wait()

	ids := map[int64]bool{}
	for _, id := range int64Column(t, primary, "SELECT id FROM ha_ids") {
		ids[id] = true
	}

	var acked, unknown int
	for _, c := range clients {
		var lost []int64
		for _, id := range c.acked {
			if !ids[id] {
				lost = append(lost, id)
			}
		}
		acked += len(c.acked)
		unknown += len(c.failedInserts)
		gap := "-"
		if c.gap > 0 {
			gap = c.gap.Round(time.Millisecond).String()
		}
		reconnects := c.sessions - 1
		t.Logf("client %d: %d acknowledged (%d after the kill), %d reconnects, %d failed inserts (unknown outcome), %d failed connects, failover gap %s",
			c.id, len(c.acked), c.ackedAfterKill, reconnects, len(c.failedInserts), len(c.failedConnects), gap)
		for _, e := range append(c.failedInserts, c.failedConnects...) {
			t.Logf("client %d: %s after the kill: %s", c.id, e.at.Sub(killedAt).Round(time.Millisecond), e.err)
		}
		if len(lost) > 0 {
			t.Errorf("client %d: %d acknowledged inserts are not on the primary, e.g. %v", c.id, len(lost), lost[:min(len(lost), 5)])
		}
		if reconnects > 1 || len(c.failedInserts) > 1 {
			t.Errorf("client %d: %d reconnects, %d failed inserts; at most one of each expected", c.id, reconnects, len(c.failedInserts))
		}
		// A connect that HAProxy sends to the victim while the kernel tears it down (its
		// listener still completes handshakes for a few ms) is reset before the greeting;
		// HAProxy cannot retry that in TCP mode, so the client retries. Later than that,
		// every connect must reach the survivor.
		for _, e := range c.failedConnects {
			if e.at.Before(killedAt) || e.at.Sub(killedAt) > time.Second {
				t.Errorf("client %d: connect failed %s after the kill, outside the victim's death: %s", c.id, e.at.Sub(killedAt).Round(time.Millisecond), e.err)
			}
		}
		if len(c.failedConnects) > 3 {
			t.Errorf("client %d: %d failed connects; at most 3 expected", c.id, len(c.failedConnects))
		}
		if c.ackedBeforeKill == 0 {
			t.Errorf("client %d got no insert acknowledged before the kill", c.id)
		}
		if c.ackedAfterKill == 0 {
			t.Errorf("client %d got no insert acknowledged after the kill at %s", c.id, killedAt.Sub(start).Round(time.Millisecond))
		}
	}
	t.Logf("%d inserts acknowledged, all on the primary unless reported above; %d unknown outcomes; %d rows in ha_ids",
		acked, unknown, len(ids))
	if int(serving) != haClients {
		t.Errorf("%s had %v client sessions at the end, want all %d clients", survivor.name, serving, haClients)
	}
	if t.Failed() {
		for _, tg := range tgs {
			t.Logf("%s log (tail):\n%s", tg.name, haTail(tg.proc.log, 30))
		}
		t.Logf("haproxy log (tail):\n%s", haTail(filepath.Join(dir, "haproxy.log"), 30))
	}
}

// haClient inserts unique ids over one session, opening a new one after an error.
type haClient struct {
	id              int
	acked           []int64 // ids whose INSERT was acknowledged
	ackedBeforeKill int     // of those, sent before the kill
	ackedAfterKill  int     // of those, sent after the kill
	sessions        int     // sessions opened (logged in through HAProxy): 1 + reconnects
	// failedInserts lost their session; each one's outcome is unknown (it may have committed).
	failedInserts []haEvent
	// failedConnects are attempts that got no session (retried at once).
	failedConnects []haEvent
	gap            time.Duration // from the first failure to the next acknowledged insert
}

type haEvent struct {
	at  time.Time
	err string
}

func (c *haClient) run(db *sql.DB, end time.Time, killed *atomic.Bool) {
	var (
		conn     *sql.Conn
		seq      int64
		failedAt time.Time
	)
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for time.Now().Before(end) {
		if conn == nil {
			cn, err := db.Conn(context.Background())
			if err != nil {
				c.failedConnects = append(c.failedConnects, haEvent{time.Now(), err.Error()})
				if failedAt.IsZero() {
					failedAt = time.Now()
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			conn = cn
			c.sessions++
		}
		seq++
		id := int64(c.id)*1_000_000_000 + seq
		after := killed.Load()
		if _, err := conn.ExecContext(context.Background(), "INSERT INTO ha_ids VALUES (?)", id); err != nil {
			c.failedInserts = append(c.failedInserts, haEvent{time.Now(), fmt.Sprintf("insert %d: %v", id, err)})
			if failedAt.IsZero() {
				failedAt = time.Now()
			}
			_ = conn.Close()
			conn = nil
			continue
		}
		c.acked = append(c.acked, id)
		if !failedAt.IsZero() && c.gap == 0 {
			c.gap = time.Since(failedAt)
		}
		if after {
			c.ackedAfterKill++
		} else {
			c.ackedBeforeKill++
		}
	}
}

// haOpen is a client pool through HAProxy that keeps no idle connections.
func haOpen(t *testing.T, addr string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = cluster.AppUser, cluster.AppPassword
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", addr, cluster.TestDatabase
	cfg.InterpolateParams = true
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(0)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// haTailgate is one tailgate process.
type haTailgate struct {
	name, proxy, metrics string
	proc                 *haProc
}

func haTailgateConfig(c *cluster.Cluster, tg *haTailgate, serverID uint32) string {
	var b strings.Builder
	// HAProxy connects from haSource and sends the PROXY protocol, as make demo-ha sets it up.
	fmt.Fprintf(&b, "[proxy]\nlisten = %q\nshutdown_timeout = \"1s\"\nproxy_protocol_networks = [%q]\n\n", tg.proxy, haSource)
	fmt.Fprintf(&b, "[metrics]\nlisten = %q\n\n", tg.metrics)
	fmt.Fprintf(&b, "[[users]]\nname = %q\npassword = %q\n\n", cluster.AppUser, cluster.AppPassword)
	fmt.Fprintf(&b, "[primary]\naddress = %q\n\n", c.Primary.Addr())
	for _, r := range c.Replicas {
		fmt.Fprintf(&b, "[[replicas]]\nname = %q\naddress = %q\n\n", r.Name, r.Addr())
	}
	fmt.Fprintf(&b, "[replication]\nuser = %q\npassword = %q\nserver_id = %d\n", cluster.MonitorUser, cluster.MonitorPassword, serverID)
	return b.String()
}

// haSource is the address HAProxy connects to the tailgates from: their only
// proxy_protocol_networks entry, so that clients on 127.0.0.1 can still connect directly.
const haSource = "127.0.0.2"

// haHAProxyConfig balances front over the tailgates round robin, checking each one's
// /readyz, and sends each client's address with the PROXY protocol; stats serves HAProxy's
// view of them as CSV.
func haHAProxyConfig(front, stats string, tgs []*haTailgate) string {
	var b strings.Builder
	b.WriteString(`global
    maxconn 512
    log stderr format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    # A connection to an instance that just died is retried once, then sent to another.
    retries 2
    option redispatch 1

frontend mysql
    bind ` + front + `
    default_backend tailgates

backend tailgates
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
    source ` + haSource + `
`)
	for _, tg := range tgs {
		_, port, _ := net.SplitHostPort(tg.metrics)
		fmt.Fprintf(&b, "    server %s %s check port %s send-proxy-v2\n", tg.name, tg.proxy, port)
	}
	b.WriteString(`
frontend stats
    mode http
    bind ` + stats + `
    stats enable
    stats uri /stats
`)
	return b.String()
}

// haWaitReady waits for the tailgate's /readyz to answer 200.
func haWaitReady(t *testing.T, tg *haTailgate) {
	t.Helper()
	url := "http://" + tg.metrics + "/readyz"
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if tg.proc.exited() {
			t.Fatalf("%s exited at start: %v\n%s", tg.name, tg.proc.err, haTail(tg.proc.log, 30))
		}
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 30s (last: %s)\n%s", tg.name, last, haTail(tg.proc.log, 30))
}

// haWaitServers waits until HAProxy reports each named server in the wanted state
// ("UP", "DOWN").
func haWaitServers(t *testing.T, stats string, want map[string]string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got map[string]string
	var err error
	for time.Now().Before(deadline) {
		if got, err = haServerStates(stats); err == nil {
			ok := true
			for name, state := range want {
				ok = ok && got[name] == state
			}
			if ok {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("HAProxy did not report %v within %s: got %v (%v)", want, within, got, err)
}

// haServerStates reads the status of every server of the tailgates backend from HAProxy's
// CSV stats.
func haServerStates(stats string) (map[string]string, error) {
	resp, err := http.Get("http://" + stats + "/stats;csv")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("stats CSV: %w", err)
	}
	if len(recs) == 0 {
		return nil, errors.New("empty stats CSV")
	}
	header := recs[0]
	header[0] = strings.TrimPrefix(header[0], "# ")
	col := func(name string) int { return slices.Index(header, name) }
	px, sv, st := col("pxname"), col("svname"), col("status")
	if px < 0 || sv < 0 || st < 0 {
		return nil, fmt.Errorf("stats CSV header lacks pxname/svname/status: %v", header)
	}
	states := map[string]string{}
	for _, rec := range recs[1:] {
		if len(rec) > st && rec[px] == "tailgates" && rec[sv] != "BACKEND" {
			// "UP", "DOWN", or transitional "UP 1/2", "DOWN 1/2".
			states[rec[sv]] = rec[st]
		}
	}
	return states, nil
}

// haGauge reads one unlabelled gauge from the tailgate's /metrics.
func haGauge(t *testing.T, tg *haTailgate, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + tg.metrics + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", tg.name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s /metrics: %s: %v", tg.name, sc.Text(), err)
			}
			return f
		}
	}
	t.Fatalf("%s /metrics has no %s (%v)", tg.name, name, sc.Err())
	return 0
}

// haProc is a child process the test owns; t.Cleanup stops it.
type haProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set before done closes
}

func haStart(t *testing.T, name, logPath, bin string, args ...string) *haProc {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &haProc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *haProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *haProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.exited() {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.done
}

// stop sends SIGTERM, then SIGKILL if the process is still there after 15 s.
func (p *haProc) stop(t *testing.T) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s of SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// haBuildTailgate builds cmd/tailgate into a temporary directory (without -race: the
// processes stand in for a production deployment).
func haBuildTailgate(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go") // go test run by absolute path
	}
	out := filepath.Join(t.TempDir(), "tailgate")
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/tailgate")
	cmd.Dir = haModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tailgate: %v\n%s", err, b)
	}
	return out
}

// haModuleRoot is the module root: the tests run in integration/.
func haModuleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found above the test directory: %v", err)
	}
	return root
}

// haFreePorts returns n distinct free loopback ports.
func haFreePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// haTail returns the last n lines of a file.
func haTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
