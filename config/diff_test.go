package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	cases := []struct {
		name    string
		change  func(c *Config)
		want    []string
		restart bool // whether any change needs a restart
	}{
		{"nothing", func(c *Config) {}, nil, false},
		{"lag.max", func(c *Config) { c.Lag.Max = Duration{2 * time.Second} }, []string{"lag.max 1s -> 2s"}, false},
		{"several in field order", func(c *Config) {
			c.Log.Level = "debug"
			c.Proxy.MaxConnections = 50
			c.Proxy.MaxAllowedPacket = 16 * MiB
		}, []string{"proxy.max_connections 10000 -> 50", "proxy.max_allowed_packet 64MiB -> 16MiB", `log.level "info" -> "debug"`}, false},
		{"proxy protocol networks need a restart", func(c *Config) { c.Proxy.ProxyProtocolNetworks = []string{"10.0.0.0/8"} },
			[]string{`proxy.proxy_protocol_networks [] -> ["10.0.0.0/8"]: needs a restart`}, true},
		{"log level is live", func(c *Config) { c.Log.Level = "debug" }, []string{`log.level "info" -> "debug"`}, false},
		{"consistency and polling are live", func(c *Config) {
			c.Lag.PollInterval = Duration{time.Second}
			c.Consistency.ReadYourWrites = false
		}, []string{"lag.poll_interval 100ms -> 1s", "consistency.read_your_writes true -> false"}, false},
		{"compression and local_infile need a restart", func(c *Config) {
			c.Proxy.Compression = false
			c.Proxy.LocalInfile = true
		}, []string{"proxy.compression true -> false: needs a restart", "proxy.local_infile false -> true: needs a restart"}, true},
		{"replica added", func(c *Config) {
			c.Replicas = append(c.Replicas, Replica{Name: "replica3", Address: "h:3", Weight: 1})
		}, []string{"replica replica3 added"}, false},
		{"replica removed", func(c *Config) { c.Replicas = c.Replicas[:1] }, []string{"replica replica2 removed"}, false},
		{"replica renamed", func(c *Config) { c.Replicas[1].Name = "replica9" }, []string{"replica replica2 removed", "replica replica9 added"}, false},
		{"replica weight and tls", func(c *Config) {
			c.Replicas[0].Weight = 3
			c.Replicas[0].TLS.Verify = false
			c.Replicas[1].TLS = &BackendTLS{Verify: true}
		}, []string{"replicas[replica1].weight 1 -> 3", "replicas[replica1].tls.verify true -> false", "replicas[replica2].tls added"}, false},
		{"replicas reordered", func(c *Config) { c.Replicas[0], c.Replicas[1] = c.Replicas[1], c.Replicas[0] }, nil, false},
		{"primary moved", func(c *Config) { c.Primary.Address = "10.0.0.1:3306" }, []string{`primary.address "127.0.0.1:3306" -> "10.0.0.1:3306"`}, false},
		{"primary tls", func(c *Config) { c.Primary.TLS = &BackendTLS{Verify: true} }, []string{"primary.tls added"}, false},
		{"passwords hidden", func(c *Config) {
			c.Users[1].Password = "new"
			c.Users[1].BackendPassword = "new2"
			c.Admin.Password = "new3"
		}, []string{"admin.password changed", "users[bob].password changed", "users[bob].backend_password changed"}, false},
		{"replication password is live", func(c *Config) { c.Replication.Password = "new4" }, []string{"replication.password changed"}, false},
		{"user added and removed", func(c *Config) { c.Users[0] = User{Name: "carol", Password: "x"} }, []string{"user app removed", "user carol added"}, false},
		{"listeners need a restart", func(c *Config) {
			c.Proxy.Listen = "0.0.0.0:6033"
			c.Admin.Listen = "127.0.0.1:7034"
			c.Metrics.Listen = "127.0.0.1:7035"
		}, []string{`proxy.listen "127.0.0.1:6033" -> "0.0.0.0:6033": needs a restart`, `admin.listen "127.0.0.1:6034" -> "127.0.0.1:7034": needs a restart`, `metrics.listen "127.0.0.1:9034" -> "127.0.0.1:7035": needs a restart`}, true},
		{"proxy tls needs a restart", func(c *Config) { c.Proxy.TLS.MinVersion = "1.3" }, []string{"proxy.tls changed: needs a restart"}, true},
		{"proxy tls removed needs a restart", func(c *Config) { c.Proxy.TLS = nil }, []string{"proxy.tls changed: needs a restart"}, true},
		{"server_id needs a restart", func(c *Config) { c.Replication.ServerID = 7 }, []string{"replication.server_id 4200001 -> 7: needs a restart"}, true},
		{"tables removed need a restart", func(c *Config) { c.Admin, c.Metrics, c.Replication = nil, nil, nil }, []string{
			"admin removed: needs a restart", "metrics removed: needs a restart", "replication removed: needs a restart"}, true},
		{"admin user is live", func(c *Config) { c.Admin.User = "root" }, []string{`admin.user "admin" -> "root"`}, false},
		{"rules reordered", func(c *Config) { c.Rules[0], c.Rules[1] = c.Rules[1], c.Rules[0] }, []string{"rules order reports,audit -> audit,reports"}, false},
		{"rule changed, one added", func(c *Config) {
			c.Rules[0].Target = RuleTargetPrimary
			c.Rules = append(c.Rules, Rule{Name: "x", Match: "x", Target: RuleTargetPrimary})
		}, []string{`rules[reports].target "replica" -> "primary"`, "rule x added"}, false},
		{"slow_statement is live", func(c *Config) { c.Log.SlowStatement = Duration{time.Second} }, []string{"log.slow_statement 0s -> 1s"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := full(t)
			new := old.clone()
			tc.change(new)
			if got := Diff(old, new); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff =\n%q\nwant\n%q", got, tc.want)
			}
			restart := false
			for _, c := range Changes(old, new) {
				restart = restart || c.Restart
			}
			if restart != tc.restart {
				t.Errorf("restart = %v, want %v", restart, tc.restart)
			}
			// What the running proxy has after the reload differs from before only in
			// live keys, and from the file only in keys that wait for a restart.
			live := Live(old, new)
			for _, c := range Changes(old, live) {
				if c.Restart {
					t.Errorf("Live took a change that needs a restart: %s", c.Text)
				}
			}
			for _, c := range Changes(live, new) {
				if !c.Restart {
					t.Errorf("Live left out a live change: %s", c.Text)
				}
			}
			if n, want := len(Changes(old, live))+len(Changes(live, new)), len(Changes(old, new)); n != want {
				t.Errorf("Live splits %d changes into %d", want, n)
			}
		})
	}
}

func TestDiffTablesAdded(t *testing.T) {
	old := full(t)
	old.Admin, old.Metrics, old.Replication = nil, nil, nil
	got := Changes(old, full(t))
	want := []Change{
		{Key: "admin", Text: "admin added: needs a restart", Restart: true},
		{Key: "metrics", Text: "metrics added: needs a restart", Restart: true},
		{Key: "replication", Text: "replication added: needs a restart", Restart: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Changes =\n%+v\nwant\n%+v", got, want)
	}
	if Diff(nil, old) != nil {
		t.Errorf("Diff with a nil config is not nil")
	}
}
