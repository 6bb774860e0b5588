package config

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDefault(t *testing.T) {
	c := Default()
	cases := []struct {
		key       string
		got, want any
	}{
		{"proxy.listen", c.Proxy.Listen, "127.0.0.1:6033"},
		{"proxy.max_connections", c.Proxy.MaxConnections, 10000},
		{"proxy.handshake_timeout", c.Proxy.HandshakeTimeout.Duration, 10 * time.Second},
		{"proxy.shutdown_timeout", c.Proxy.ShutdownTimeout.Duration, 15 * time.Second},
		{"proxy.primary_wait", c.Proxy.PrimaryWait.Duration, 5 * time.Second},
		{"proxy.max_allowed_packet", c.Proxy.MaxAllowedPacket, 64 * MiB},
		{"proxy.backend_connect_timeout", c.Proxy.BackendConnectTimeout.Duration, 3 * time.Second},
		{"proxy.backend_read_timeout", c.Proxy.BackendReadTimeout.Duration, time.Duration(0)},
		{"proxy.tls", c.Proxy.TLS, (*ServerTLS)(nil)},
		{"admin", c.Admin, (*Admin)(nil)},
		{"metrics", c.Metrics, (*Metrics)(nil)},
		{"replication", c.Replication, (*Replication)(nil)},
		{"users", len(c.Users), 0},
		{"replicas", len(c.Replicas), 0},
		{"primary.address", c.Primary.Address, ""},
		{"lag.max", c.Lag.Max.Duration, time.Second},
		{"lag.recover", c.Lag.Recover.Duration, 500 * time.Millisecond},
		{"lag.poll_interval", c.Lag.PollInterval.Duration, 100 * time.Millisecond},
		{"lag.on_all_stale", c.Lag.OnAllStale, "primary"},
		{"consistency.read_your_writes", c.Consistency.ReadYourWrites, true},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
	}
	for _, tc := range cases {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.key, tc.got, tc.want)
		}
	}
}

// TestDefaultsApplied checks that defaults reach every table a file creates,
// including each [[replicas]] entry and tls table.
func TestDefaultsApplied(t *testing.T) {
	doc := validT + `
[admin]
password = "pw"

[metrics]

[replication]
user = "tailgate"

[[replicas]]
name = "r1"
address = "h:1"
weight = 5

[[replicas]]
name = "r2"
address = "h:2"
[replicas.tls]
ca = "ca.pem"

[[replicas]]
name = "r3"
address = "h:3"
[replicas.tls]
verify = false

[primary.tls]
required = true

[proxy.tls]
cert = "c"
key = "k"
`
	c, err := Parse([]byte(doc), inTLSDir("tailgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key       string
		got, want any
	}{
		{"proxy.max_connections", c.Proxy.MaxConnections, 10000},
		{"proxy.tls.min_version", c.Proxy.TLS.MinVersion, "1.2"},
		{"proxy.tls.require_tls", c.Proxy.TLS.RequireTLS, false},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:6034"},
		{"admin.user", c.Admin.User, "admin"},
		{"admin.allow_remote", c.Admin.AllowRemote, false},
		{"metrics.listen", c.Metrics.Listen, "127.0.0.1:9034"},
		{"replication.server_id", c.Replication.ServerID, uint32(4200001)},
		{"replicas[0].weight", c.Replicas[0].Weight, 5},
		{"replicas[0].tls", c.Replicas[0].TLS, (*BackendTLS)(nil)},
		{"replicas[1].weight", c.Replicas[1].Weight, 1},
		{"replicas[1].tls", *c.Replicas[1].TLS, BackendTLS{CA: inTLSDir("ca.pem"), Verify: true}},
		{"replicas[2].weight", c.Replicas[2].Weight, 1},
		{"replicas[2].tls", *c.Replicas[2].TLS, BackendTLS{Verify: false}},
		{"primary.tls", *c.Primary.TLS, BackendTLS{Verify: true, Required: true}},
		{"lag", c.Lag, Default().Lag},
		{"log", c.Log, Default().Log},
		{"consistency", c.Consistency, Default().Consistency},
	}
	for _, tc := range cases {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %+v, want %+v", tc.key, tc.got, tc.want)
		}
	}
}

func TestExampleLoads(t *testing.T) {
	c, err := Load("../examples/tailgate.toml")
	if err != nil {
		t.Fatalf("examples/tailgate.toml: %v", err)
	}
	// The example documents the defaults: every table it shows holds exactly them.
	d := Default()
	if !reflect.DeepEqual(c.Proxy, d.Proxy) {
		t.Errorf("[proxy] %+v differs from the defaults %+v", c.Proxy, d.Proxy)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"lag", c.Lag, d.Lag},
		{"consistency", c.Consistency, d.Consistency},
		{"log", c.Log, d.Log},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:6034"},
		{"admin.user", c.Admin.User, "admin"},
		{"metrics.listen", c.Metrics.Listen, "127.0.0.1:9034"},
		{"replication.server_id", c.Replication.ServerID, uint32(4200001)},
		{"primary.address", c.Primary.Address, "127.0.0.1:3306"},
		{"replicas", len(c.Replicas), 2},
		{"users", len(c.Users), 1},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
}

// full returns a valid config using every table, for tests that copy or compare.
func full(t *testing.T) *Config {
	t.Helper()
	c, err := Parse([]byte(validT+`
[proxy.tls]
cert = "c"
key = "k"

[admin]
password = "admin-pw"

[metrics]

[[users]]
name = "bob"
password = "bob-pw"
backend_user = "svc"
backend_password = "svc-pw"

[replication]
user = "tailgate"
password = "repl-pw"

[[replicas]]
name = "replica1"
address = "127.0.0.1:3307"
[replicas.tls]
ca = "ca.pem"

[[replicas]]
name = "replica2"
address = "127.0.0.1:3308"

[[rules]]
name = "reports"
match = "FROM reports"
target = "replica"

[[rules]]
name = "audit"
match = "audit"
max_lag = "30s"
`), inTLSDir("full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMasked(t *testing.T) {
	c := full(t)
	before := c.clone()
	m := c.Masked()

	secrets := []struct {
		key          string
		orig, masked string
	}{
		{"admin.password", c.Admin.Password, m.Admin.Password},
		{"users[0].password", c.Users[0].Password, m.Users[0].Password},
		{"users[1].password", c.Users[1].Password, m.Users[1].Password},
		{"users[1].backend_password", c.Users[1].BackendPassword, m.Users[1].BackendPassword},
		{"replication.password", c.Replication.Password, m.Replication.Password},
	}
	for _, s := range secrets {
		if s.orig == "" || s.orig == Mask {
			t.Errorf("%s: original %q should be the real secret", s.key, s.orig)
		}
		if s.masked != Mask {
			t.Errorf("%s: masked to %q, want %q", s.key, s.masked, Mask)
		}
	}
	if m.Users[0].BackendPassword != "" {
		t.Errorf("empty backend_password masked to %q", m.Users[0].BackendPassword)
	}
	// Every other value is kept.
	unmasked := m.clone()
	unmasked.Admin.Password = c.Admin.Password
	unmasked.Users[0].Password = c.Users[0].Password
	unmasked.Users[1].Password = c.Users[1].Password
	unmasked.Users[1].BackendPassword = c.Users[1].BackendPassword
	unmasked.Replication.Password = c.Replication.Password
	if !reflect.DeepEqual(unmasked, c) {
		t.Errorf("Masked changed more than the secrets:\n%+v\n%+v", unmasked, c)
	}
	// The original is untouched, and the copy shares no memory with it.
	if !reflect.DeepEqual(c, before) {
		t.Errorf("Masked modified the original")
	}
	m.Replicas[0].TLS.CA = "changed"
	m.Replicas[1].Weight = 9
	m.Proxy.TLS.Cert = "changed"
	m.Metrics.Listen = "changed"
	if !reflect.DeepEqual(c, before) {
		t.Errorf("the masked copy shares memory with the original")
	}
	// Nothing secret is left in the encoded form shown by SHOW CONFIG.
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(m); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(buf.Bytes(), []byte(s.orig)) {
			t.Errorf("encoded masked config contains %s", s.key)
		}
	}
}

// TestEncodeRoundTrip checks that the TOML tags and the text marshalers agree with
// the loader: an encoded config parses back to itself.
func TestEncodeRoundTrip(t *testing.T) {
	c := full(t)
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(buf.Bytes(), inTLSDir("full.toml"))
	if err != nil {
		t.Fatalf("re-parse of\n%s\n: %v", buf.String(), err)
	}
	back.lines, c.lines = nil, nil
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", back, c)
	}
}

func TestLookups(t *testing.T) {
	c := full(t)
	if u, ok := c.User("bob"); !ok || u.BackendUser != "svc" {
		t.Errorf("User(bob) = %+v, %v", u, ok)
	}
	if _, ok := c.User("nobody"); ok {
		t.Errorf("User(nobody) found")
	}
	if r, ok := c.Replica("replica2"); !ok || r.Address != "127.0.0.1:3308" {
		t.Errorf("Replica(replica2) = %+v, %v", r, ok)
	}
	if _, ok := c.Replica("primary"); ok {
		t.Errorf("Replica(primary) found")
	}
}

func TestCheckProgrammatic(t *testing.T) {
	c := Default()
	if err := c.Check(); err == nil {
		t.Fatal("Check accepted a config without users or primary")
	} else if n := len(err.(*Errors).Problems); n != 2 {
		t.Errorf("got %d problems, want 2 (users, primary.address): %v", n, err)
	}
	c.Users = []User{{Name: "app", Password: "pw"}}
	c.Primary.Address = "db:3306"
	if err := c.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	c.Replicas = []Replica{{Name: "r1", Address: "db:3306"}}
	err := c.Check()
	if err == nil {
		t.Fatal("Check accepted weight 0 and a shared address")
	}
	ps := err.(*Errors).Problems
	if len(ps) != 2 || ps[0].Key != "replicas[0].address" || ps[1].Key != "replicas[0].weight" || ps[0].Line != 0 {
		t.Errorf("problems = %v", ps)
	}
}
