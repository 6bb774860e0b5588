package proxy

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/router"
)

func TestGetCredentialPlugins(t *testing.T) {
	s := New(Options{Users: []User{
		{Name: "native", Password: "n", AuthPlugin: mysql.AUTH_NATIVE_PASSWORD},
		{Name: "default", Password: "d"},
		{Name: "sha2", Password: "s", AuthPlugin: mysql.AUTH_CACHING_SHA2_PASSWORD},
	}}, router.New(router.Options{}), router.NewClassifier(10))
	h := &handshake{srv: s, ctx: context.Background()}
	for _, c := range []struct{ user, password, plugin string }{
		{"native", "n", mysql.AUTH_NATIVE_PASSWORD},
		{"default", "d", mysql.AUTH_NATIVE_PASSWORD},
		{"sha2", "s", mysql.AUTH_CACHING_SHA2_PASSWORD},
	} {
		cred, found, err := h.GetCredential(c.user)
		if err != nil || !found || len(cred.Passwords) != 1 || cred.Passwords[0] != c.password || cred.AuthPluginName != c.plugin {
			t.Errorf("GetCredential(%q) = %+v, %v, %v; want password %q, plugin %s", c.user, cred, found, err, c.password, c.plugin)
		}
	}
	// An unknown user is "found" with a random password, so that it fails like a wrong one.
	a, found, err := h.GetCredential("nosuchuser")
	b, _, _ := h.GetCredential("nosuchuser")
	if err != nil || !found || len(a.Passwords) != 1 || len(a.Passwords[0]) < 16 || a.Passwords[0] == b.Passwords[0] {
		t.Errorf("unknown user: %+v then %+v, %v, %v; want a fresh random password each time", a, b, found, err)
	}
	if a.AuthPluginName != b.AuthPluginName {
		t.Errorf("unknown user: method %s, then %s; want the same for one name", a.AuthPluginName, b.AuthPluginName)
	}
}

func TestDecoyPlugin(t *testing.T) {
	native := User{Name: "n", AuthPlugin: mysql.AUTH_NATIVE_PASSWORD}
	sha2 := User{Name: "s", AuthPlugin: mysql.AUTH_CACHING_SHA2_PASSWORD}
	users := func(us ...User) map[string]User {
		m := map[string]User{}
		for i, u := range us {
			m[fmt.Sprint(u.Name, i)] = u
		}
		return m
	}
	for _, c := range []struct {
		name      string
		users     map[string]User
		wantShare float64 // of unknown names asked for caching_sha2_password
	}{
		{"no users", users(), 0},
		{"all native", users(native, User{Name: "empty"}), 0},
		{"all sha2", users(sha2, sha2), 1},
		{"half", users(native, sha2), 0.5},
		{"a quarter", users(native, native, native, sha2), 0.25},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a sha2Auth
			const names = 4000
			n := 0
			for i := range names {
				name := fmt.Sprintf("user%d", i)
				p := a.decoyPlugin(name, c.users)
				if again := a.decoyPlugin(name, c.users); again != p {
					t.Fatalf("%s: %s, then %s", name, p, again)
				}
				if p == mysql.AUTH_CACHING_SHA2_PASSWORD {
					n++
				} else if p != mysql.AUTH_NATIVE_PASSWORD {
					t.Fatalf("%s: method %q", name, p)
				}
			}
			if share := float64(n) / names; share < c.wantShare-0.05 || share > c.wantShare+0.05 {
				t.Errorf("%.3f of unknown names get caching_sha2_password, want %.2f", share, c.wantShare)
			}
		})
	}
}

// sha2Login is a caching_sha2_password client over plain TCP that reports how it got in:
// fast authentication (go-mysql's cache) or full authentication with the server's RSA key.
type sha2Login struct {
	t    *testing.T
	conn net.Conn
	p    *packetIO
	salt []byte
	// reply is the server's first answer to the handshake response.
	reply []byte
}

// startSHA2Login connects and sends the handshake response; the server's answer is in reply.
func startSHA2Login(t *testing.T, addr, user, password string) *sha2Login {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	l := &sha2Login{t: t, conn: conn, p: newPacketIO(conn, 1<<20)}
	g := l.read()
	// protocol 10, version NUL, connection id, salt part 1, filler, capabilities, charset,
	// status, upper capabilities, salt length, 10 reserved, salt part 2 NUL, plugin.
	pos := bytes.IndexByte(g, 0) + 1 + 4
	l.salt = append(append([]byte(nil), g[pos:pos+8]...), g[pos+8+1+2+1+2+2+1+10:][:12]...)

	caps := uint32(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_TRANSACTIONS)
	resp := binary.LittleEndian.AppendUint32(nil, caps)
	resp = binary.LittleEndian.AppendUint32(resp, 1<<24)
	resp = append(resp, 45)
	resp = append(resp, make([]byte, 23)...)
	resp = append(append(resp, user...), 0)
	auth := mysql.CalcCachingSha2Password(l.salt, []byte(password))
	resp = append(append(resp, byte(len(auth))), auth...)
	resp = append(append(resp, mysql.AUTH_CACHING_SHA2_PASSWORD...), 0)
	l.write(resp)
	l.reply = l.read()
	return l
}

func (l *sha2Login) read() []byte {
	l.t.Helper()
	p, err := l.p.readPacket()
	if err != nil {
		l.t.Fatalf("read: %v", err)
	}
	return bytes.Clone(p)
}

func (l *sha2Login) write(p []byte) {
	l.t.Helper()
	if err := l.p.writePacket(p); err != nil {
		l.t.Fatal(err)
	}
	if err := l.p.flush(); err != nil {
		l.t.Fatal(err)
	}
}

// finish completes the login with password (full authentication when asked for) and
// returns whether the server took the fast path, and its final ERR (nil for OK).
func (l *sha2Login) finish(password string) (fast bool, _ *mysql.MyError) {
	l.t.Helper()
	p := l.reply
	if p[0] == mysql.EOF_HEADER { // auth switch: plugin NUL salt NUL
		plugin, salt, _ := bytes.Cut(p[1:], []byte{0})
		l.salt = bytes.TrimSuffix(salt, []byte{0})
		if string(plugin) == mysql.AUTH_NATIVE_PASSWORD {
			l.write(mysql.CalcNativePassword(l.salt, []byte(password)))
		} else {
			l.write(mysql.CalcCachingSha2Password(l.salt, []byte(password)))
		}
		p = l.read()
	}
	switch {
	case bytes.Equal(p, []byte{mysql.MORE_DATE_HEADER, mysql.CACHE_SHA2_FAST_AUTH}):
		fast = true
		p = l.read()
	case bytes.Equal(p, []byte{mysql.MORE_DATE_HEADER, mysql.CACHE_SHA2_FULL_AUTH}):
		l.write([]byte{2}) // request the public key
		key := l.read()
		if key[0] == mysql.ERR_HEADER {
			return false, parseErr(key)
		}
		block, _ := pem.Decode(key[1:])
		if key[0] != mysql.MORE_DATE_HEADER || block == nil {
			l.t.Fatalf("public key request answered with % x", key)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			l.t.Fatal(err)
		}
		enc, err := mysql.EncryptPassword(password, l.salt, pub.(*rsa.PublicKey))
		if err != nil {
			l.t.Fatal(err)
		}
		l.write(enc)
		p = l.read()
	}
	switch p[0] {
	case mysql.OK_HEADER:
		return fast, nil
	case mysql.ERR_HEADER:
		return fast, parseErr(p)
	}
	l.t.Fatalf("unexpected packet % x", p)
	return false, nil
}

// TestCachingSHA2Cache: the second login of a caching_sha2_password user is a fast one;
// a reload that changes the password drops the cached one, including the entry of a login
// that fetched the old password before the reload and completes after it.
func TestCachingSHA2Cache(t *testing.T) {
	user := func(password string) []User {
		return []User{{Name: "app", Password: password, AuthPlugin: mysql.AUTH_CACHING_SHA2_PASSWORD}}
	}
	s := serveNoBackend(t, Options{Users: user("old-secret")})
	addr := s.Addr().String()

	// login reports whether the login was fast and whether the password was accepted.
	login := func(password string) (fast, accepted bool) {
		t.Helper()
		fast, err := startSHA2Login(t, addr, "app", password).finish(password)
		switch {
		case err == nil, err.Code == mysql.ER_CONNECT_TO_MASTER:
			return fast, true
		case err.Code == mysql.ER_ACCESS_DENIED_ERROR:
			return fast, false
		}
		t.Fatalf("login: %v", err)
		return
	}
	expect := func(step, password string, wantFast, wantAccepted bool) {
		t.Helper()
		if fast, ok := login(password); fast != wantFast || ok != wantAccepted {
			t.Errorf("%s: fast %v, accepted %v; want fast %v, accepted %v", step, fast, ok, wantFast, wantAccepted)
		}
	}
	// eventuallyFast waits for the reload's window to pass: then a login's entry stays.
	eventuallyFast := func(password string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if fast, ok := login(password); !ok {
				t.Fatalf("%q refused", password)
			} else if fast {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("no fast login within 10s of a reload")
			}
		}
	}

	expect("first login", "old-secret", false, true)
	expect("second login", "old-secret", true, true)
	expect("wrong password", "wrong", false, false)
	expect("after a wrong password", "old-secret", true, true)

	s.UpdateBackends(user("new-secret"), s.opts.Primary, nil)
	expect("old password after the reload", "old-secret", false, false)
	eventuallyFast("new-secret")

	// A login that fetched the password before a reload and completes after it gets in
	// with that password, which must not stay in the cache.
	s.UpdateBackends(user("newer-secret"), s.opts.Primary, nil)
	inflight := startSHA2Login(t, addr, "app", "newer-secret")
	s.UpdateBackends(user("newest-secret"), s.opts.Primary, nil)
	if fast, err := inflight.finish("newer-secret"); fast || (err != nil && err.Code != mysql.ER_CONNECT_TO_MASTER) {
		t.Fatalf("login under way across the reload: fast %v, %v; want a full authentication that gets in", fast, err)
	}
	expect("the password replaced during a login", "newer-secret", false, false)
	eventuallyFast("newest-secret")
}

// TestCachingSHA2AddedByReload: without caching_sha2_password users at start there is no
// RSA key; a reload that adds one warns that plain-TCP full authentication needs a
// restart, and such a login fails with go-mysql's explanation.
func TestCachingSHA2AddedByReload(t *testing.T) {
	var logs lockedBuffer
	s := serveNoBackend(t, Options{
		Users:  []User{{Name: "app", Password: "secret"}},
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn}),
	})

	// The first login makes sure Serve has set up go-mysql's server.
	if _, err := startSHA2Login(t, s.Addr().String(), "nosuchuser", "x").finish("x"); err == nil || err.Code != mysql.ER_ACCESS_DENIED_ERROR {
		t.Fatalf("unknown user: %v, want 1045", err)
	}
	s.UpdateBackends([]User{{Name: "app", Password: "secret", AuthPlugin: mysql.AUTH_CACHING_SHA2_PASSWORD}}, s.opts.Primary, nil)
	if !strings.Contains(logs.String(), "caching_sha2_password users can log in over TLS only until tailgate restarts") {
		t.Errorf("no warning about the missing RSA key; log:\n%s", logs.String())
	}
	if _, err := startSHA2Login(t, s.Addr().String(), "app", "secret").finish("secret"); err == nil || !strings.Contains(err.Message, "RSA key not configured") {
		t.Errorf("plain-TCP full authentication without an RSA key: %v, want go-mysql's \"RSA key not configured\"", err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
