package integration

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// sha2Tailgate is a tailgate with two caching_sha2_password users and one native user,
// all logging in to the backends as the cluster's application account, offering TLS, and
// reloadable from its config file.
type sha2Tailgate struct {
	*tailgate
	t    *testing.T
	path string
	base *config.Config
}

const (
	sha2TLSUser    = "sha2_tls"   // logs in over TLS in the tests
	sha2PlainUser  = "sha2_plain" // logs in over plain TCP
	sha2NativeUser = "native_app"
	sha2TLSName    = "tailgate-sha2" // go-sql-driver TLS config
)

func startSHA2Tailgate(t *testing.T, tlsPassword string) *sha2Tailgate {
	t.Helper()
	base := testConfig(shared)
	// After a reload changes a password, logins within the handshake timeout (+1 s) leave
	// nothing in the cache: keep that window short.
	base.Proxy.HandshakeTimeout = config.Duration{Duration: 2 * time.Second}
	base.Proxy.TLS = &config.ServerTLS{Cert: shared.TLSCert, Key: filepath.Join(filepath.Dir(shared.TLSCert), "key.pem"), MinVersion: config.TLSVersion12}
	h := &sha2Tailgate{t: t, path: filepath.Join(t.TempDir(), "tailgate.toml"), base: base}
	h.write(tlsPassword)
	cfg, err := config.Load(h.path)
	if err != nil {
		t.Fatal(err)
	}
	h.tailgate = startTailgate(t, cfg)
	if err := mysqldriver.RegisterTLSConfig(sha2TLSName, &tls.Config{RootCAs: clusterCA(t), ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	return h
}

// write writes the config file with tlsPassword for sha2TLSUser.
func (h *sha2Tailgate) write(tlsPassword string) {
	h.t.Helper()
	account := func(name, password, plugin string) config.User {
		return config.User{Name: name, Password: password, AuthPlugin: plugin, BackendUser: cluster.AppUser, BackendPassword: cluster.AppPassword}
	}
	h.base.Users = []config.User{
		account(sha2TLSUser, tlsPassword, config.AuthCachingSHA2Password),
		account(sha2PlainUser, "plain-secret", config.AuthCachingSHA2Password),
		account(sha2NativeUser, "native-secret", config.AuthNativePassword),
	}
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(h.base); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.path, []byte(b.String()), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// login connects with go-sql-driver (over TLS when secure) and checks who tailgate logged
// in to the backend as; a refused login returns the driver's error.
func (h *sha2Tailgate) login(user, password string, secure bool) error {
	h.t.Helper()
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s?timeout=5s", user, password, h.addr, cluster.TestDatabase)
	if secure {
		dsn += "&tls=" + sha2TLSName
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	var current string
	err = db.QueryRowContext(context.Background(), "SELECT CURRENT_USER()").Scan(&current)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(current, cluster.AppUser+"@") {
		h.t.Errorf("%s logged in; CURRENT_USER() = %q, want %s@...", user, current, cluster.AppUser)
	}
	return nil
}

// fastLogin reports whether a plain-TCP client announcing caching_sha2_password with a
// scramble of password is let in by fast authentication, that is from go-mysql's cache
// of a previous full authentication; false when tailgate asks for full authentication
// (the raw client cannot do it: it has no TLS and no RSA).
func (h *sha2Tailgate) fastLogin(user, password string) bool {
	h.t.Helper()
	rc := dialRaw(h.t, h.addr)
	defer rc.conn.Close()
	err := rc.login(user, password, gmysql.AUTH_CACHING_SHA2_PASSWORD)
	switch {
	case err == nil:
		if rc.switchedTo != "" {
			h.t.Fatalf("%s: switched to %s", user, rc.switchedTo)
		}
		return true
	case strings.Contains(err.Error(), "full authentication"):
		return false
	}
	h.t.Fatalf("raw caching_sha2_password login as %s: %v", user, err)
	return false
}

// sha2Denied checks that err is the 1045 of a refused login for user and returns its message.
func sha2Denied(t *testing.T, what, user string, err error) string {
	t.Helper()
	me := driverErr(err)
	if me == nil || me.Number != gmysql.ER_ACCESS_DENIED_ERROR || me.SQLState != [5]byte{'2', '8', '0', '0', '0'} {
		t.Errorf("%s: %v, want error 1045 (28000)", what, err)
		return ""
	}
	if m := accessDenied.FindStringSubmatch(me.Message); m == nil || m[1] != user || m[2] != "127.0.0.1" {
		t.Errorf("%s: message %q, want \"Access denied for user '%s'@'127.0.0.1' (using password: ...)\"", what, me.Message, user)
	}
	return strings.Replace(me.Message, "'"+user+"'@", "'<user>'@", 1)
}

// TestCachingSHA2: users with auth_plugin = "caching_sha2_password" log in with
// go-sql-driver over TLS (full authentication sends the password in clear inside TLS,
// then fast authentication from go-mysql's cache) and over plain TCP (the driver fetches
// tailgate's RSA public key); failures are error 1045 shaped like native ones; a reload
// that changes the password drops the cached one; native users work as before.
func TestCachingSHA2(t *testing.T) {
	h := startSHA2Tailgate(t, "tls-secret-1")

	t.Run("TLS: full then fast authentication", func(t *testing.T) {
		if h.fastLogin(sha2TLSUser, "tls-secret-1") {
			t.Fatal("fast authentication before any login: the cache should be empty")
		}
		if err := h.login(sha2TLSUser, "tls-secret-1", true); err != nil {
			t.Fatalf("full authentication over TLS: %v", err)
		}
		if !h.fastLogin(sha2TLSUser, "tls-secret-1") {
			t.Error("after a full authentication, tailgate asked for another: nothing was cached")
		}
		if err := h.login(sha2TLSUser, "tls-secret-1", true); err != nil {
			t.Fatalf("second login over TLS: %v", err)
		}
	})

	t.Run("plain TCP: full authentication with the RSA key", func(t *testing.T) {
		if h.fastLogin(sha2PlainUser, "plain-secret") {
			t.Fatal("fast authentication before any login")
		}
		if err := h.login(sha2PlainUser, "plain-secret", false); err != nil {
			t.Fatalf("full authentication over plain TCP (RSA public key): %v", err)
		}
		if !h.fastLogin(sha2PlainUser, "plain-secret") {
			t.Error("after a full authentication over plain TCP, tailgate asked for another")
		}
	})

	t.Run("refused logins", func(t *testing.T) {
		for _, secure := range []bool{true, false} {
			wrong := sha2Denied(t, "wrong password", sha2TLSUser, h.login(sha2TLSUser, "not-the-password", secure))
			unknown := sha2Denied(t, "unknown user", "nosuchuser", h.login("nosuchuser", "tls-secret-1", secure))
			native := sha2Denied(t, "native user, wrong password", sha2NativeUser, h.login(sha2NativeUser, "not-the-password", secure))
			if wrong != unknown || wrong != native || !strings.HasSuffix(wrong, "(using password: YES)") {
				t.Errorf("TLS %v: refusals differ beyond the user name:\n  wrong password: %q\n  unknown user:   %q\n  native user:    %q", secure, wrong, unknown, native)
			}
			if empty := sha2Denied(t, "empty password", sha2TLSUser, h.login(sha2TLSUser, "", secure)); !strings.HasSuffix(empty, "(using password: NO)") {
				t.Errorf("TLS %v: empty password: %q, want ... (using password: NO)", secure, empty)
			}
		}
		// A wrong password did not disturb the cached right one.
		if !h.fastLogin(sha2TLSUser, "tls-secret-1") {
			t.Error("after refused logins, the right password is no longer cached")
		}
	})

	t.Run("native user", func(t *testing.T) {
		if err := h.login(sha2NativeUser, "native-secret", false); err != nil {
			t.Fatalf("native user over plain TCP: %v", err)
		}
		if err := h.login(sha2NativeUser, "native-secret", true); err != nil {
			t.Fatalf("native user over TLS: %v", err)
		}
		rc := dialRaw(t, h.addr)
		if err := rc.login(sha2NativeUser, "native-secret", gmysql.AUTH_CACHING_SHA2_PASSWORD); err != nil {
			t.Fatalf("native user, client starting with caching_sha2_password: %v", err)
		}
		if rc.switchedTo != gmysql.AUTH_NATIVE_PASSWORD {
			t.Errorf("auth switch to %q, want %s", rc.switchedTo, gmysql.AUTH_NATIVE_PASSWORD)
		}
		if v := rc.queryValue("SELECT CURRENT_USER()"); !strings.HasPrefix(v.s, cluster.AppUser+"@") {
			t.Errorf("CURRENT_USER() = %q", v.s)
		}
	})

	t.Run("reload changes the password", func(t *testing.T) {
		h.write("tls-secret-2")
		if err := h.app.Reload(); err != nil {
			t.Fatal(err)
		}
		if h.fastLogin(sha2TLSUser, "tls-secret-1") {
			t.Error("the old password still gets in by fast authentication after the reload")
		}
		sha2Denied(t, "old password after the reload", sha2TLSUser, h.login(sha2TLSUser, "tls-secret-1", true))
		if err := h.login(sha2TLSUser, "tls-secret-2", true); err != nil {
			t.Fatalf("new password after the reload: %v", err)
		}
		// The unchanged user keeps its cache entry.
		if !h.fastLogin(sha2PlainUser, "plain-secret") {
			t.Error("the reload dropped the cache entry of a user it did not change")
		}
		// Logins within the handshake timeout of the reload may have fetched the old
		// password, so their entries are dropped again; after that the new one stays.
		deadline := time.Now().Add(15 * time.Second)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for !h.fastLogin(sha2TLSUser, "tls-secret-2") {
			if time.Now().After(deadline) {
				t.Fatal("the new password never got into the cache")
			}
			<-tick.C
			if err := h.login(sha2TLSUser, "tls-secret-2", true); err != nil {
				t.Fatalf("new password after the reload: %v", err)
			}
		}
		if h.fastLogin(sha2TLSUser, "tls-secret-1") {
			t.Error("the old password gets in by fast authentication")
		}
	})
}

// TestCachingSHA2MariaDBClient: the mariadb command-line client (Connector/C, whose
// caching_sha2_password plugin Debian ships in libmariadb3's plugin directory) logs in as
// a caching_sha2_password user over TLS (password in clear inside TLS) and over plain TCP
// (it fetches tailgate's RSA public key), and its second login is a fast one.
func TestCachingSHA2MariaDBClient(t *testing.T) {
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Skip("no mariadb client:", err)
	}
	h := startSHA2Tailgate(t, "tls-secret-1")
	_, port, err := net.SplitHostPort(h.addr)
	if err != nil {
		t.Fatal(err)
	}
	tlsArgs := []string{"--ssl-ca=" + shared.TLSCert, "--ssl-verify-server-cert"}
	client := func(user, password string, args ...string) (string, error) {
		t.Helper()
		args = append([]string{"--no-defaults", "--protocol=tcp", "-h", "127.0.0.1", "-P", port, "-u", user, "-p" + password,
			"-D", cluster.TestDatabase, "-e", "SELECT CURRENT_USER(); \\s"}, args...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "mariadb", args...).CombinedOutput()
		return string(out), err
	}
	for _, c := range []struct {
		name, user, password string
		args                 []string
		tls                  bool
	}{
		{"TLS", sha2TLSUser, "tls-secret-1", tlsArgs, true},
		{"plain TCP", sha2PlainUser, "plain-secret", []string{"--skip-ssl"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if h.fastLogin(c.user, c.password) {
				t.Fatal("fast authentication before any login")
			}
			for i := range 2 {
				out, err := client(c.user, c.password, c.args...)
				if err != nil {
					t.Fatalf("login %d: %v\n%s", i+1, err, out)
				}
				if !strings.Contains(out, cluster.AppUser+"@") {
					t.Errorf("login %d: no CURRENT_USER() %s@... in\n%s", i+1, cluster.AppUser, out)
				}
				if secure := strings.Contains(out, "Cipher in use is"); secure != c.tls {
					t.Errorf("login %d: TLS %v, want %v:\n%s", i+1, secure, c.tls, out)
				}
				if !h.fastLogin(c.user, c.password) {
					t.Errorf("login %d left nothing in the cache", i+1)
				}
			}
			out, err := client(c.user, "not-the-password", c.args...)
			if want := "ERROR 1045 (28000): Access denied for user '" + c.user + "'@'127.0.0.1' (using password: YES)"; err == nil || strings.TrimSpace(out) != want {
				t.Errorf("wrong password: %v\n%s\nwant %s", err, out, want)
			}
		})
	}
}
