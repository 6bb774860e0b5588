package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/config"
)

const reloadBase = `
[proxy]
listen = "127.0.0.1:0"
max_connections = 100
[[users]]
name = "app"
password = "secret"
[primary]
address = "127.0.0.1:3306"
[[replicas]]
name = "r1"
address = "127.0.0.1:3307"
[log]
level = "info"
`

// TestReloadKeepsBackendsWithTLS: a reload that leaves a backend's TLS settings as they were
// keeps its Backend and pooled connections (each reload builds new *tls.Config values);
// changed settings replace it.
func TestReloadKeepsBackendsWithTLS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	withTLS := reloadBase + "[replicas.tls]\nverify = false\n[primary.tls]\nverify = false\n"
	if err := os.WriteFile(path, []byte(withTLS), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	before := a.Server().Backends()
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	after := a.Server().Backends()
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("%s was replaced by a reload that changed nothing", before[i].Name)
		}
	}
	changed := strings.Replace(withTLS, "verify = false", "verify = true", 1) // the replica's
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if now := a.Server().Backends(); now[1] == after[1] || now[0] != after[0] {
		t.Errorf("after replicas[r1].tls.verify changed: replica replaced %v (want true), primary replaced %v (want false)",
			now[1] != after[1], now[0] != after[0])
	}
}
