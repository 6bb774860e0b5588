package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// dialFrom registers a go-sql-driver network that connects from the loopback address ip,
// so that tests can be several client hosts on one machine.
func dialFrom(ip string) string {
	name := "from-" + ip
	mysql.RegisterDialContext(name, func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return d.DialContext(ctx, "tcp", addr)
	})
	return name
}

// TestProxyProtocolThroughHAProxy: with HAProxy in front (send-proxy-v2, the HA deployment's
// load balancer) and its address in proxy.proxy_protocol_networks, tailgate sees each
// client's own address: SHOW SESSIONS lists it, and one client's failed logins block that
// client only, not every client behind the load balancer.
func TestProxyProtocolThroughHAProxy(t *testing.T) {
	haproxyBin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatalf("this test needs HAProxy: apt-get install -y haproxy (%v)", err)
	}
	cfg := testConfig(shared)
	cfg.Proxy.ProxyProtocolNetworks = []string{"127.0.0.1"}
	cfg.Proxy.MaxAuthFailures = 3
	tg := startTailgate(t, cfg)

	ports := haFreePorts(t, 1)
	front := fmt.Sprintf("127.0.0.1:%d", ports[0])
	dir := t.TempDir()
	hcfg := filepath.Join(dir, "haproxy.cfg")
	conf := fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend mysql
    bind %s
    default_backend tailgate
backend tailgate
    server tg1 %s send-proxy-v2
`, front, tg.addr)
	if err := os.WriteFile(hcfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	haStart(t, "haproxy", filepath.Join(dir, "haproxy.log"), haproxyBin, "-f", hcfg, "-db")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", front)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy does not listen on %s: %v", front, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	open := func(ip, password string) *sql.DB {
		t.Helper()
		dsn := fmt.Sprintf("%s:%s@%s(%s)/%s", cluster.AppUser, password, dialFrom(ip), front, cluster.TestDatabase)
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	loginCode := func(db *sql.DB) uint16 {
		t.Helper()
		err := db.PingContext(context.Background())
		var myErr *mysql.MySQLError
		if err == nil {
			return 0
		}
		if !errors.As(err, &myErr) {
			t.Fatalf("login through HAProxy: %v (no server error)", err)
		}
		return myErr.Number
	}

	// A client that keeps failing: blocked after 3 failures, by its own address.
	bad := open("127.0.0.7", "wrong")
	bad.SetMaxIdleConns(0)
	for i := range 3 {
		if code := loginCode(bad); code != 1045 {
			t.Fatalf("failed login %d from 127.0.0.7: error %d, want 1045", i+1, code)
		}
	}
	if code := loginCode(open("127.0.0.7", cluster.AppPassword)); code != 1129 {
		t.Errorf("127.0.0.7 after 3 failed logins: error %d, want 1129 (host blocked)", code)
	}

	// Another client behind the same load balancer logs in, and is shown by its address.
	good := open("127.0.0.8", cluster.AppPassword)
	c := conn(t, good)
	if id := serverID(t, c, "SELECT @@server_id"); id == 0 {
		t.Fatal("no answer through HAProxy")
	}
	var clients []string
	for _, s := range tg.app.Sessions() {
		clients = append(clients, s.Client)
	}
	if len(clients) != 1 || !strings.HasPrefix(clients[0], "127.0.0.8") {
		t.Errorf("SHOW SESSIONS clients %q, want the one session from 127.0.0.8", clients)
	}
}
