package config

import "testing"

func TestPromoted(t *testing.T) {
	cfg, err := Parse([]byte(validT+`[primary.tls]
ca = "primary-ca.pem"
[[replicas]]
name = "r1"
address = "10.0.0.2:3306"
weight = 3
[[replicas]]
name = "r2"
address = "10.0.0.3:3306"
[replicas.tls]
ca = "r2-ca.pem"
`), inTLSDir("tailgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Promoted("r2")
	if err != nil {
		t.Fatal(err)
	}
	if p.Primary.Address != "10.0.0.3:3306" || p.Primary.TLS == nil || p.Primary.TLS.CA != inTLSDir("r2-ca.pem") {
		t.Errorf("primary after promoting r2: %s %+v, want 10.0.0.3:3306 with r2's TLS", p.Primary.Address, p.Primary.TLS)
	}
	if r := p.Replicas[1]; r.Name != "r2" || r.Address != "127.0.0.1:3306" || r.TLS == nil || r.TLS.CA != inTLSDir("primary-ca.pem") {
		t.Errorf("slot r2 after the promotion: %+v, want the old primary with its TLS", r)
	}
	if r := p.Replicas[0]; r != cfg.Replicas[0] {
		t.Errorf("r1 changed: %+v", r)
	}
	if cfg.Primary.Address != "127.0.0.1:3306" || cfg.Replicas[1].Address != "10.0.0.3:3306" || cfg.Replicas[1].TLS.CA != inTLSDir("r2-ca.pem") {
		t.Error("Promoted changed the config it copied")
	}
	if SameServers(cfg, p) {
		t.Error("SameServers: a promotion names other servers")
	}
	back, err := p.Promoted("r2")
	if err != nil {
		t.Fatal(err)
	}
	if !SameServers(cfg, back) || back.Primary.TLS.CA != inTLSDir("primary-ca.pem") {
		t.Errorf("promoting r2 twice does not swap back: %s", back.Primary.Address)
	}
	if _, err := cfg.Promoted("r9"); err == nil {
		t.Error("promoting an unknown replica succeeded")
	}
	renamed := cfg.clone()
	renamed.Replicas[0].Name = "r1b"
	if SameServers(cfg, renamed) {
		t.Error("SameServers: a renamed replica is the same")
	}
	reweighted := cfg.clone()
	reweighted.Replicas[0].Weight = 9
	if !SameServers(cfg, reweighted) {
		t.Error("SameServers: a weight change names other servers")
	}
}
