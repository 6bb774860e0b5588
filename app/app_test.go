package app

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/replication"
)

const reloadBase = `
[proxy]
listen = "127.0.0.1:0"
max_connections = 100
compression = true
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

// TestReloadAppliesOrSaysRestart: a reload applies the live keys (the primary's address,
// max_connections, log.level) and reports the others as needing a restart (compression),
// keeping their running values in SHOW CONFIG and reporting them again at the next reload.
func TestReloadAppliesOrSaysRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadBase)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: io.Discard})
	a, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.NewReplacer(`"127.0.0.1:3306"`, `"127.0.0.1:4306"`, "max_connections = 100", "max_connections = 50",
		"compression = true", "compression = false", `level = "info"`, `level = "error"`).Replace(reloadBase)
	write(next)
	pending := "proxy.compression true -> false: needs a restart"
	want := []string{
		"proxy.max_connections 100 -> 50",
		pending,
		`primary.address "127.0.0.1:3306" -> "127.0.0.1:4306"`,
		`log.level "info" -> "error"`,
	}
	for round := 1; round <= 2; round++ {
		changes, err := a.ReloadConfig()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(changes, want) {
			t.Errorf("reload %d reported %q, want %q", round, changes, want)
		}
		// Only the change that needs a restart is left for the next reload to report.
		want = []string{pending}
	}
	if got := a.Server().Backends()[0].Address; got != "127.0.0.1:4306" {
		t.Errorf("the proxy's primary is %s, want the reloaded 127.0.0.1:4306", got)
	}
	if got := log.GetLevel(); got != hclog.Error {
		t.Errorf("log level %s after the reload, want error", got)
	}
	if got := a.Server().Settings(); got.MaxConnections != 50 || !got.Compression {
		t.Errorf("the proxy runs with max_connections %d and compression %v, want the reloaded 50 and the started true",
			got.MaxConnections, got.Compression)
	}
	running := a.Config()
	if !running.Proxy.Compression || running.Proxy.MaxConnections != 50 || running.Primary.Address != "127.0.0.1:4306" {
		t.Errorf("SHOW CONFIG shows compression %v, max_connections %d and primary %s, want the running true, 50 and 127.0.0.1:4306",
			running.Proxy.Compression, running.Proxy.MaxConnections, running.Primary.Address)
	}
}

// TestReloadKeepsBackendsWithTLS: a reload that leaves a backend's TLS settings as they were
// keeps its Backend and pooled connections (each reload builds new *tls.Config values);
// changed settings replace it.
func TestReloadKeepsBackendsWithTLS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	withTLS := reloadBase + "[replicas.tls]\nverify = false\n[primary.tls]\nverify = false\n"
	a := newFromFile(t, path, withTLS)
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

// newFromFile writes text to path and starts an App (not running) from it.
func newFromFile(t *testing.T, path, text string) *App {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
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
	return a
}

// TestFollowAndReload: a followed promotion swaps the primary and the promoted replica;
// reloads of a file that still names the servers it named keep them swapped (other live
// changes apply); a file that names the servers anew decides again; a promotion reported
// for a primary that is no longer the primary, or while following is off, changes nothing.
func TestFollowAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := strings.Replace(reloadBase, "[primary]\n", "[replication]\nuser = \"tg\"\nserver_id = 9\n[primary]\nfollow_promotion = true\n", 1) +
		"[[replicas]]\nname = \"r2\"\naddress = \"127.0.0.1:3308\"\n"
	a := newFromFile(t, path, base)
	servers := func() string {
		var s []string
		for _, b := range a.Server().Backends() {
			s = append(s, b.Name+"="+b.Address)
		}
		return strings.Join(s, " ")
	}
	check := func(what, want string) {
		t.Helper()
		if got := servers(); got != want {
			t.Errorf("%s: backends %s, want %s", what, got, want)
		}
	}
	reload := func() {
		t.Helper()
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetBackendOffline("r1", true); err != nil {
		t.Fatal(err)
	}
	a.follow(replication.Promotion{Name: "r1", Address: "127.0.0.1:3307", From: "127.0.0.1:3306"})
	if a.router.Offline("r1") {
		t.Error("the old primary took r1's name and its OFFLINE drain")
	}
	swapped := "primary=127.0.0.1:3307 r1=127.0.0.1:3306 r2=127.0.0.1:3308"
	check("after following r1", swapped)
	a.follow(replication.Promotion{Name: "r2", Address: "127.0.0.1:3308", From: "127.0.0.1:3306"})
	check("after a promotion reported for the old primary", swapped)

	reload()
	check("after a reload of the unchanged file", swapped)
	write(strings.Replace(base, "max_connections = 100", "max_connections = 70", 1))
	reload()
	check("after a reload that changed max_connections", swapped)
	if got := a.Server().Settings().MaxConnections; got != 70 {
		t.Errorf("max_connections %d after the reload, want 70", got)
	}

	// A second promotion (r2, a failover) on top of the first, kept by reloads too.
	a.follow(replication.Promotion{Name: "r2", Address: "127.0.0.1:3308", From: "127.0.0.1:3307"})
	twice := "primary=127.0.0.1:3308 r1=127.0.0.1:3306 r2=127.0.0.1:3307"
	check("after following r2", twice)
	reload()
	check("after a reload following two promotions", twice)
	follows := -1
	for _, st := range a.Stats() {
		if st.Name == "primary_follows" {
			follows = int(st.Value)
		}
	}
	if follows != 2 {
		t.Errorf("SHOW STATS primary_follows = %d (-1: missing), want 2", follows)
	}

	// The operator writes the servers as they are now: the file decides from then on.
	now := strings.NewReplacer(`"127.0.0.1:3306"`, `"127.0.0.1:3308"`, `"127.0.0.1:3308"`, `"127.0.0.1:3307"`, `"127.0.0.1:3307"`, `"127.0.0.1:3306"`).Replace(base)
	write(now)
	reload()
	check("after the file named the servers as they are", twice)
	write(base)
	reload()
	check("after the file named the first servers again (the operator's switch back)", "primary=127.0.0.1:3306 r1=127.0.0.1:3307 r2=127.0.0.1:3308")

	// Following off: promotions are not followed.
	write(strings.Replace(base, "follow_promotion = true", "follow_promotion = false", 1))
	reload()
	a.follow(replication.Promotion{Name: "r1", Address: "127.0.0.1:3307", From: "127.0.0.1:3306"})
	check("after a promotion with following off", "primary=127.0.0.1:3306 r1=127.0.0.1:3307 r2=127.0.0.1:3308")
}

// TestReloadForgetsRemovedReplicasDrain: SET BACKEND ... OFFLINE belongs to the replica
// entry; a reload that removes the replica drops it, so one added back under the name
// later is online, while a replica that stays keeps its drain.
func TestReloadForgetsRemovedReplicasDrain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tailgate.toml")
	two := reloadBase + "[[replicas]]\nname = \"r2\"\naddress = \"127.0.0.1:3308\"\n"
	a := newFromFile(t, path, two)
	for _, name := range []string{"r1", "r2"} {
		if err := a.SetBackendOffline(name, true); err != nil {
			t.Fatal(err)
		}
	}
	reload := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	reload(reloadBase) // r2 removed
	reload(two)        // and added back
	if a.router.Offline("r2") {
		t.Error("r2, removed and added back, is still drained")
	}
	if !a.router.Offline("r1") {
		t.Error("r1, kept by both reloads, lost its drain")
	}
}
