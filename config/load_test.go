package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Minimal valid pieces the cases below are built from.
const (
	proxyT   = "[proxy]\nlisten = \"127.0.0.1:6033\"\n"
	usersT   = "[[users]]\nname = \"app\"\npassword = \"pw\"\n"
	primaryT = "[primary]\naddress = \"127.0.0.1:3306\"\n"
	validT   = proxyT + usersT + primaryT
)

// markedLine returns the 1-based line of doc that carries the marker "#<-", or 0.
func markedLine(doc string) int {
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, "#<-") {
			return i + 1
		}
	}
	return 0
}

// parseProblems parses doc and returns its problems; it fails the test when doc
// is accepted.
func parseProblems(t *testing.T, doc string) []Problem {
	t.Helper()
	c, err := Parse([]byte(doc), inTLSDir("test.toml"))
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", doc)
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error is %T, want *Errors: %v", err, err)
	}
	if c != nil {
		t.Errorf("Parse returned a config along with errors")
	}
	return errs.Problems
}

func TestParseProblems(t *testing.T) {
	cases := []struct {
		name string
		doc  string // the line of the expected problem carries "#<-"; none means line 0
		key  string
		msg  string // substring of the message
		n    int    // number of problems; 0 means 1
	}{
		// Syntax and structure.
		{"syntax error", validT + "[lag\nmax = \"1s\" #<-\n", "", "TOML syntax", 0},
		{"syntax error mid-file", proxyT + "max_connections = = 3 #<-\n" + usersT + primaryT, "", "TOML syntax: expected value but found '=' instead (last key \"proxy.max_connections\")", 0},
		{"unknown key", validT + "[lag]\nmaxx = \"1s\" #<-\n", "lag.maxx", "unknown key", 0},
		{"unknown key in proxy", proxyT + "lisen = \"x\" #<-\n" + usersT + primaryT, "proxy.lisen", "unknown key", 0},
		{"unknown table", validT + "[backend] #<-\naddress = \"x:1\"\n", "backend", "unknown table", 0},
		{"unknown key in second replica", validT + "[[replicas]]\nname = \"r1\"\naddress = \"h:1\"\n[[replicas]]\nname = \"r2\"\ncolour = \"red\" #<-\naddress = \"h:2\"\n", "replicas[1].colour", "unknown key", 0},
		{"unknown key in replica tls", validT + "[[replicas]]\nname = \"r1\"\naddress = \"h:1\"\n[replicas.tls]\nverfy = false #<-\n", "replicas[0].tls.verfy", "unknown key", 0},
		{"unknown key in dotted tls", validT + "[[replicas]]\nname = \"r1\"\naddress = \"h:1\"\ntls.cert = \"x\" #<-\n", "replicas[0].tls.cert", "unknown key", 0},
		{"field names are not keys", validT + "[log]\nLevel = \"info\" #<-\n", "log.Level", "unknown key", 0},
		{"missing proxy", usersT + primaryT, "proxy", "required table [proxy]", 0},
		{"missing primary", proxyT + usersT, "primary.address", "required", 0},
		{"primary without address", proxyT + usersT + "[primary] #<-\n", "primary.address", "required", 0},
		{"no users", proxyT + primaryT, "users", "at least one [[users]]", 0},
		{"users as a table", proxyT + primaryT + "[users] #<-\nname = \"app\"\n", "users", "must be an array of tables", 0},
		{"proxy not a table", "proxy = 5 #<-\n" + usersT + primaryT, "proxy", "must be a table", 0},

		// Users.
		{"user without name", proxyT + primaryT + "[[users]] #<-\npassword = \"pw\"\n", "users[0].name", "required", 0},
		{"user without password", proxyT + primaryT + "[[users]] #<-\nname = \"app\"\n", "users[0].password", "required", 0},
		{"duplicate user", validT + "[[users]]\nname = \"app\" #<-\npassword = \"x\"\n", "users[1].name", "duplicate user \"app\"", 0},
		{"user name not a string", proxyT + primaryT + "[[users]]\nname = 7 #<-\npassword = \"pw\"\n", "users[0].name", "must be a string", 0},

		// Backends.
		{"replica without name", validT + "[[replicas]] #<-\naddress = \"h:1\"\n", "replicas[0].name", "required", 0},
		{"replica without address", validT + "[[replicas]] #<-\nname = \"r1\"\n", "replicas[0].address", "required", 0},
		{"replica named primary", validT + "[[replicas]]\nname = \"primary\" #<-\naddress = \"h:1\"\n", "replicas[0].name", "reserved", 0},
		{"duplicate replica name", validT + "[[replicas]]\nname = \"r1\"\naddress = \"h:1\"\n[[replicas]]\nname = \"r1\" #<-\naddress = \"h:2\"\n", "replicas[1].name", "duplicate replica \"r1\"", 0},
		{"replica has primary address", validT + "[[replicas]]\nname = \"r1\"\naddress = \"127.0.0.1:3306\" #<-\n", "replicas[0].address", "also the address of primary", 0},
		{"replicas share an address", validT + "[[replicas]]\nname = \"r1\"\naddress = \"DB:3307\"\n[[replicas]]\nname = \"r2\"\naddress = \"db:03307\" #<-\n", "replicas[1].address", "also the address of replicas[0]", 0},
		{"ipv6 spelled twice", validT + "[[replicas]]\nname = \"r1\"\naddress = \"[::1]:3307\"\n[[replicas]]\nname = \"r2\"\naddress = \"[0:0::1]:3307\" #<-\n", "replicas[1].address", "also the address", 0},
		{"address without port", proxyT + usersT + "[primary]\naddress = \"db\" #<-\n", "primary.address", "not host:port", 0},
		{"address with named port", proxyT + usersT + "[primary]\naddress = \"db:mysql\" #<-\n", "primary.address", "port must be a number", 0},
		{"address port 0", proxyT + usersT + "[primary]\naddress = \"db:0\" #<-\n", "primary.address", "port must be a number from 1 to 65535", 0},
		{"address port too big", validT + "[[replicas]]\nname = \"r1\"\naddress = \"db:65536\" #<-\n", "replicas[0].address", "from 1 to 65535", 0},
		{"backend without host", proxyT + usersT + "[primary]\naddress = \":3306\" #<-\n", "primary.address", "no host", 0},
		{"bad listen address", "[proxy]\nlisten = \"6033\" #<-\n" + usersT + primaryT, "proxy.listen", "not host:port", 0},
		{"socket file name as address", proxyT + usersT + "[primary]\naddress = \"mysqld.sock\" #<-\n", "primary.address", "or the absolute path of a unix socket", 0},
		{"relative socket address", validT + "[[replicas]]\nname = \"r1\"\naddress = \"run/r1.sock\" #<-\n", "replicas[0].address", "must be absolute", 0},
		{"socket spelled twice", validT + "[[replicas]]\nname = \"r1\"\naddress = \"/run/r.sock\"\n[[replicas]]\nname = \"r2\"\naddress = \"/run//r.sock\" #<-\n", "replicas[1].address", "also the address of replicas[0]", 0},
		{"tls over a socket", proxyT + usersT + "[primary]\naddress = \"/run/mysqld/mysqld.sock\"\n[primary.tls] #<-\nverify = false\n", "primary.tls", "TLS is not used over a unix socket", 0},
		{"relative proxy socket", "[proxy]\nsocket = \"tailgate.sock\" #<-\n" + usersT + primaryT, "proxy.socket", "must be absolute", 0},
		{"proxy socket too long", "[proxy]\nsocket = \"/" + strings.Repeat("x", 120) + ".sock\" #<-\n" + usersT + primaryT, "proxy.socket", "at most 107", 0},
		{"empty listen", "[proxy]\nlisten = \"\" #<-\n" + usersT + primaryT, "proxy.listen", "required", 0},
		{"weight 0 written", validT + "[[replicas]]\nname = \"r1\"\naddress = \"h:1\"\nweight = 0 #<-\n", "replicas[0].weight", "weight must be >= 1", 0},
		{"weight negative", validT + "[[replicas]]\nname = \"r1\"\naddress = \"h:1\"\nweight = -2 #<-\n", "replicas[0].weight", "weight must be >= 1", 0},
		{"weight not an integer", validT + "[[replicas]]\nname = \"r1\"\naddress = \"h:1\"\nweight = \"heavy\" #<-\n", "replicas[0].weight", "must be an integer, not a string (\"heavy\")", 0},
		{"tls verify not a bool", validT + "[[replicas]]\nname = \"r1\"\naddress = \"h:1\"\n[replicas.tls]\nverify = \"yes\" #<-\n", "replicas[0].tls.verify", "must be true or false", 0},

		// Proxy values.
		{"max_connections 0", "[proxy]\nmax_connections = 0 #<-\n" + usersT + primaryT, "proxy.max_connections", "must be >= 1", 0},
		{"max_connections type", "[proxy]\nmax_connections = \"abc\" #<-\n" + usersT + primaryT, "proxy.max_connections", "must be an integer, not a string (\"abc\")", 0},
		{"max_connections float", "[proxy]\nmax_connections = 1.5 #<-\n" + usersT + primaryT, "proxy.max_connections", "must be an integer, not a float", 0},
		{"bad duration", "[proxy]\nhandshake_timeout = \"10x\" #<-\n" + usersT + primaryT, "proxy.handshake_timeout", "invalid duration \"10x\"", 0},
		{"duration without unit", "[proxy]\nprimary_wait = 5 #<-\n" + usersT + primaryT, "proxy.primary_wait", "invalid duration \"5\"", 0},
		{"duration not a string", validT + "[lag]\nmax = true #<-\n", "lag.max", "must be a string, not a boolean", 0},
		{"negative duration", "[proxy]\nshutdown_timeout = \"-1s\" #<-\n" + usersT + primaryT, "proxy.shutdown_timeout", "must not be negative", 0},
		{"negative read timeout", "[proxy]\nbackend_read_timeout = \"-5ms\" #<-\n" + usersT + primaryT, "proxy.backend_read_timeout", "must not be negative", 0},
		{"zero handshake timeout", "[proxy]\nhandshake_timeout = \"0s\" #<-\n" + usersT + primaryT, "proxy.handshake_timeout", "must be above 0", 0},
		{"zero connect timeout", "[proxy]\nbackend_connect_timeout = 0 #<-\n" + usersT + primaryT, "proxy.backend_connect_timeout", "must be above 0", 0},
		{"packet too small", "[proxy]\nmax_allowed_packet = \"512B\" #<-\n" + usersT + primaryT, "proxy.max_allowed_packet", "from 1KiB to 1GiB, not 512", 0},
		{"packet too big", "[proxy]\nmax_allowed_packet = \"2GiB\" #<-\n" + usersT + primaryT, "proxy.max_allowed_packet", "not 2GiB", 0},
		{"packet ambiguous unit", "[proxy]\nmax_allowed_packet = \"64MB\" #<-\n" + usersT + primaryT, "proxy.max_allowed_packet", "ambiguous", 0},
		{"packet float", "[proxy]\nmax_allowed_packet = 1.5 #<-\n" + usersT + primaryT, "proxy.max_allowed_packet", "must be a string, not a float", 0},
		{"proxy protocol networks", "[proxy]\nproxy_protocol_networks = [\"10.0.0.0/8\", \"lb1\", \"10.1.2.3\", \"300.0.0.0/8\"] #<-\n" + usersT + primaryT, "proxy.proxy_protocol_networks", `"lb1", "300.0.0.0/8": not an IP address or CIDR range`, 0},
		{"proxy protocol network not a string", "[proxy]\nproxy_protocol_networks = [\"10.0.0.1\", 10] #<-\n" + usersT + primaryT, "proxy.proxy_protocol_networks[1]", "must be a string, not an integer", 0},
		{"proxy protocol networks type", "[proxy]\nproxy_protocol_networks = \"10.0.0.0/8\" #<-\n" + usersT + primaryT, "proxy.proxy_protocol_networks", "must be an array", 0},
		{"tls cert without key", proxyT + "[proxy.tls] #<-\ncert = \"c.pem\"\n" + usersT + primaryT, "proxy.tls.key", "required", 0},
		{"tls key without cert", proxyT + "[proxy.tls] #<-\nkey = \"k.pem\"\n" + usersT + primaryT, "proxy.tls.cert", "required", 0},
		{"tls min_version", proxyT + "[proxy.tls]\ncert = \"c\"\nkey = \"k\"\nmin_version = \"1.1\" #<-\n" + usersT + primaryT, "proxy.tls.min_version", "must be \"1.2\" or \"1.3\"", 0},

		// Admin and metrics.
		{"admin without password", validT + "[admin] #<-\n", "admin.password", "required", 0},
		{"admin on all interfaces", validT + "[admin]\nlisten = \"0.0.0.0:6034\" #<-\npassword = \"pw\"\n", "admin.listen", "allow_remote = true", 0},
		{"admin empty host", validT + "[admin]\nlisten = \":6034\" #<-\npassword = \"pw\"\n", "admin.listen", "not a loopback", 0},
		{"admin host name", validT + "[admin]\nlisten = \"admin.example.com:6034\" #<-\npassword = \"pw\"\n", "admin.listen", "not a loopback", 0},
		{"admin remote ip", validT + "[admin]\nlisten = \"10.1.2.3:6034\" #<-\npassword = \"pw\"\n", "admin.listen", "not a loopback", 0},
		{"admin same as proxy", validT + "[admin]\nlisten = \"127.0.0.1:6033\" #<-\npassword = \"pw\"\n", "admin.listen", "also proxy.listen", 0},
		{"admin without user", validT + "[admin]\nuser = \"\" #<-\npassword = \"pw\"\n", "admin.user", "required", 0},
		{"metrics same as admin", validT + "[admin]\npassword = \"pw\"\n[metrics]\nlisten = \"127.0.0.1:6034\" #<-\n", "metrics.listen", "also admin.listen", 0},
		{"metrics bad listen", validT + "[metrics]\nlisten = \"127.0.0.1\" #<-\n", "metrics.listen", "not host:port", 0},

		// Replication, lag, log.
		{"server_id 0", validT + "[replication]\nuser = \"t\"\nserver_id = 0 #<-\n", "replication.server_id", "must not be 0", 0},
		{"server_id negative", validT + "[replication]\nuser = \"t\"\nserver_id = -1 #<-\n", "replication.server_id", "out of range", 0},
		{"server_id too big", validT + "[replication]\nuser = \"t\"\nserver_id = 4294967296 #<-\n", "replication.server_id", "out of range", 0},
		{"replication without user", validT + "[replication] #<-\npassword = \"pw\"\n", "replication.user", "required", 0},
		{"recover above max", validT + "[lag]\nmax = \"1s\"\nrecover = \"2s\" #<-\n", "lag.recover", "above lag.max", 0},
		{"recover above default max", validT + "[lag]\nrecover = \"1500ms\" #<-\n", "lag.recover", "above lag.max (1s)", 0},
		{"zero poll interval", validT + "[lag]\npoll_interval = \"0s\" #<-\n", "lag.poll_interval", "must be above 0", 0},
		{"on_all_stale", validT + "[lag]\non_all_stale = \"replica\" #<-\n", "lag.on_all_stale", "must be \"primary\" or \"error\"", 0},
		{"log level", validT + "[log]\nlevel = \"verbose\" #<-\n", "log.level", "trace|debug|info|warn|error", 0},
		{"log format", validT + "[log]\nformat = \"xml\" #<-\n", "log.format", "text|json", 0},
		{"consistency type", validT + "[consistency]\nread_your_writes = 1 #<-\n", "consistency.read_your_writes", "must be true or false", 0},
		{"negative replica_wait", validT + "[consistency]\nreplica_wait = \"-1ms\" #<-\n", "consistency.replica_wait", "must not be negative", 0},
		{"follow_promotion without replication", proxyT + usersT + "[primary]\naddress = \"h:1\"\nfollow_promotion = true #<-\n[[replicas]]\nname = \"r1\"\naddress = \"h:2\"\n", "primary.follow_promotion", "needs [replication]", 0},
		{"follow_promotion without replicas", proxyT + usersT + "[primary]\naddress = \"h:1\"\nfollow_promotion = true #<-\n[replication]\nuser = \"tg\"\nserver_id = 7\n", "primary.follow_promotion", "needs [[replicas]]", 0},
		{"follow_promotion not a bool", validT[:len(validT)-1] + "\nfollow_promotion = \"yes\" #<-\n", "primary.follow_promotion", "must be true or false", 0},
		{"rule without match", validT + "[[rules]] #<-\nname = \"r\"\ntarget = \"replica\"\n", "rules[0].match", "required", 0},
		{"rule bad regexp", validT + "[[rules]]\nname = \"r\"\nmatch = \"SELECT (\" #<-\ntarget = \"replica\"\n", "rules[0].match", "not a valid regular expression", 0},
		{"rule bad target", validT + "[[rules]]\nname = \"r\"\nmatch = \"x\"\ntarget = \"replicas\" #<-\n", "rules[0].target", "must be one of primary|replica", 0},
		{"rule that does nothing", validT + "[[rules]] #<-\nname = \"r\"\nmatch = \"x\"\n", "rules[0]", "neither target nor max_lag", 0},
		{"rule negative max_lag", validT + "[[rules]]\nname = \"r\"\nmatch = \"x\"\nmax_lag = \"-1s\" #<-\n", "rules[0].max_lag", "must not be negative", 0},
		{"rule duplicate name", validT + "[[rules]]\nname = \"r\"\nmatch = \"x\"\ntarget = \"primary\"\n[[rules]]\nname = \"r\" #<-\nmatch = \"y\"\ntarget = \"primary\"\n", "rules[1].name", "duplicate rule", 0},
		{"replica_wait too long", validT + "[consistency]\nreplica_wait = \"2m\" #<-\n", "consistency.replica_wait", "above 1m", 0},
		{"replica_wait above the read timeout", "[proxy]\nbackend_read_timeout = \"100ms\"\n" + usersT + primaryT + "[consistency]\nreplica_wait = \"100ms\" #<-\n", "consistency.replica_wait", "not below proxy.backend_read_timeout (100ms)", 0},

		// Secrets.
		{"password and password_file", proxyT + primaryT + "[[users]]\nname = \"app\"\npassword = \"pw\"\npassword_file = \"pw.txt\" #<-\n", "users[0].password_file", "both set", 0},
		{"unreadable password_file", proxyT + primaryT + "[[users]]\nname = \"app\"\npassword_file = \"does-not-exist\" #<-\n", "users[0].password_file", "cannot read the password", 0},
		{"admin unreadable password_file", validT + "[admin]\npassword_file = \"/nonexistent/admin.pw\" #<-\n", "admin.password_file", "cannot read", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problems := parseProblems(t, tc.doc)
			want := tc.n
			if want == 0 {
				want = 1
			}
			if len(problems) != want {
				t.Errorf("got %d problems, want %d: %v", len(problems), want, problems)
			}
			var got *Problem
			for i := range problems {
				if problems[i].Key == tc.key {
					got = &problems[i]
					break
				}
			}
			if got == nil {
				t.Fatalf("no problem with key %q in %v", tc.key, problems)
			}
			if wantLine := markedLine(tc.doc); got.Line != wantLine {
				t.Errorf("%s: line %d, want %d", tc.key, got.Line, wantLine)
			}
			if !strings.Contains(got.Msg, tc.msg) {
				t.Errorf("%s: message %q does not contain %q", tc.key, got.Msg, tc.msg)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	cases := []struct {
		name  string
		doc   string
		check func(*Config) bool
	}{
		{"minimal", validT, func(c *Config) bool {
			return c.Admin == nil && c.Metrics == nil && c.Replication == nil && len(c.Replicas) == 0
		}},
		{"admin remote allowed", validT + "[admin]\nlisten = \"0.0.0.0:6034\"\npassword = \"pw\"\nallow_remote = true\n", func(c *Config) bool { return c.Admin.AllowRemote }},
		{"admin localhost", validT + "[admin]\nlisten = \"localhost:6034\"\npassword = \"pw\"\n", func(c *Config) bool { return c.Admin.Listen == "localhost:6034" }},
		{"admin ::1", validT + "[admin]\nlisten = \"[::1]:6034\"\npassword = \"pw\"\n", func(c *Config) bool { return c.Admin.Listen == "[::1]:6034" }},
		{"admin 127.0.0.2", validT + "[admin]\nlisten = \"127.0.0.2:6034\"\npassword = \"pw\"\n", func(c *Config) bool { return true }},
		{"proxy on all interfaces", "[proxy]\nlisten = \":6033\"\n" + usersT + primaryT, func(c *Config) bool { return c.Proxy.Listen == ":6033" }},
		{"recover equal to max", validT + "[lag]\nmax = \"2s\"\nrecover = \"2s\"\n", func(c *Config) bool { return c.Lag.Recover == c.Lag.Max }},
		{"lag max 0", validT + "[lag]\nmax = \"0s\"\nrecover = \"0s\"\n", func(c *Config) bool { return c.Lag.Max.Duration == 0 }},
		{"inline replicas", "replicas = [{name = \"r1\", address = \"h:1\"}, {name = \"r2\", address = \"h:2\", weight = 3, tls = {verify = false}}]\n" + validT,
			func(c *Config) bool {
				return len(c.Replicas) == 2 && c.Replicas[0].Weight == 1 && c.Replicas[1].Weight == 3 && !c.Replicas[1].TLS.Verify
			}},
		{"integer size", "[proxy]\nmax_allowed_packet = 4096\n" + usersT + primaryT, func(c *Config) bool { return c.Proxy.MaxAllowedPacket == 4*KiB }},
		{"packet bounds", "[proxy]\nmax_allowed_packet = \"1GiB\"\n" + usersT + primaryT, func(c *Config) bool { return c.Proxy.MaxAllowedPacket == GiB }},
		{"tls 1.3", proxyT + "[proxy.tls]\ncert = \"c\"\nkey = \"k\"\nrequire_tls = true\nmin_version = \"1.3\"\n" + usersT + primaryT,
			func(c *Config) bool { return c.Proxy.TLS.RequireTLS && c.Proxy.TLS.MinVersion == "1.3" }},
		{"on_all_stale error", validT + "[lag]\non_all_stale = \"error\"\n", func(c *Config) bool { return c.Lag.OnAllStale == OnAllStaleError }},
		{"unix sockets", "[proxy]\nsocket = \"/run/tailgate/tailgate.sock\"\n" + usersT + "[primary]\naddress = \"/run/mysqld/mysqld.sock\"\n[[replicas]]\nname = \"r1\"\naddress = \"/run/mysqld/r1.sock\"\n",
			func(c *Config) bool {
				return c.Proxy.Socket == "/run/tailgate/tailgate.sock" && c.Primary.Address == "/run/mysqld/mysqld.sock" && c.Replicas[0].Address == "/run/mysqld/r1.sock"
			}},
		{"backend user", proxyT + primaryT + "[[users]]\nname = \"app\"\npassword = \"pw\"\nbackend_user = \"svc\"\nbackend_password = \"bpw\"\n",
			func(c *Config) bool {
				u, _ := c.User("app")
				return u.BackendUser == "svc" && u.BackendPassword == "bpw"
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.doc), inTLSDir("test.toml"))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config: %+v", c)
			}
		})
	}
}

// TestParseReportsEverything checks that problems of every kind come back together,
// in file order, each with its line.
func TestParseReportsEverything(t *testing.T) {
	doc := `[proxy]
listen = "127.0.0.1:6033"
max_connections = "abc"
handshake_timeout = "soon"
colour = "blue"

[[users]]
name = "app"

[[users]]
name = "app"
password = "x"

[primary]
address = "db"

[[replicas]]
name = "r1"
address = "db2:3306"
weight = 0

[lag]
max = "1s"
recover = "2s"
on_all_stale = "panic"

[log]
level = "loud"
`
	problems := parseProblems(t, doc)
	want := []struct {
		key  string
		line int
	}{
		{"proxy.max_connections", 3},
		{"proxy.handshake_timeout", 4},
		{"proxy.colour", 5},
		{"users[0].password", 7},
		{"users[1].name", 11},
		{"primary.address", 15},
		{"replicas[0].weight", 20},
		{"lag.recover", 24},
		{"lag.on_all_stale", 25},
		{"log.level", 28},
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(problems), len(want), problems)
	}
	for i, w := range want {
		if problems[i].Key != w.key || problems[i].Line != w.line {
			t.Errorf("problem %d = %s line %d, want %s line %d", i, problems[i].Key, problems[i].Line, w.key, w.line)
		}
	}
}

func TestErrorsFormat(t *testing.T) {
	e := &Errors{Path: "tailgate.toml", Problems: []Problem{
		{Key: "lag.max", Line: 3, Msg: "bad"},
		{Key: "users", Msg: "at least one"},
		{Line: 9, Msg: "TOML syntax: oops"},
	}}
	want := "tailgate.toml:3: lag.max: bad\ntailgate.toml: users: at least one\ntailgate.toml:9: TOML syntax: oops"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if got := (&Errors{Problems: []Problem{{Key: "k", Msg: "m"}}}).Error(); got != "config: k: m" {
		t.Errorf("without path: %q", got)
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("app.pw", "app-s3cret\n")
	write("admin.pw", "admin pw with spaces \r\n")
	write("repl.pw", "repl")
	abs := filepath.Join(dir, "repl.pw")
	write("tailgate.toml", proxyT+primaryT+`
[[users]]
name = "app"
password_file = "app.pw"

[admin]
password_file = "admin.pw"

[replication]
user = "tailgate"
password_file = "`+abs+`"
`)
	c, err := Load(filepath.Join(dir, "tailgate.toml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path != filepath.Join(dir, "tailgate.toml") {
		t.Errorf("Path = %q", c.Path)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"users[0]", c.Users[0].Password, "app-s3cret"},
		{"admin", c.Admin.Password, "admin pw with spaces "},
		{"replication", c.Replication.Password, "repl"},
		{"users[0] file kept", c.Users[0].PasswordFile, "app.pw"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}

	// An empty file is reported as such, on password_file.
	write("empty.pw", "\n")
	problems := parseProblems(t, proxyT+primaryT+"[[users]]\nname = \"app\"\npassword_file = \""+filepath.Join(dir, "empty.pw")+"\"\n")
	if len(problems) != 1 || problems[0].Key != "users[0].password_file" || !strings.HasSuffix(problems[0].Msg, "empty.pw is empty: it must hold the password") {
		t.Errorf("empty password file: %v", problems)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
	}
}
