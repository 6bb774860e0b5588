package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// rsaKeyBits is the size of the key caching_sha2_password clients encrypt the password
// with over plain TCP, as MySQL's auto-generated key.
const rsaKeyBits = 2048

// authPlugin is the method clients of u authenticate with.
func (u User) authPlugin() string {
	if u.AuthPlugin == "" {
		return mysql.AUTH_NATIVE_PASSWORD
	}
	return u.AuthPlugin
}

func anySHA2(users map[string]User) bool {
	for _, u := range users {
		if u.authPlugin() == mysql.AUTH_CACHING_SHA2_PASSWORD {
			return true
		}
	}
	return false
}

// sha2Auth is tailgate's bookkeeping around go-mysql's caching_sha2_password cache.
//
// After a full authentication go-mysql keeps SHA256(SHA256(password)) under
// "user@<local address of the connection>" and lets later logins in with a scramble of it
// (fast authentication) without asking for the credential again, so a password that a
// reload replaces must leave the cache or it keeps working. go-mysql deletes only an
// entry it is given the exact key of: sha2Auth remembers the local addresses under which
// each user may have one.
type sha2Auth struct {
	mu      sync.Mutex
	srv     *server.Server                 // nil until Serve
	started bool                           // Serve has decided on the RSA key
	rsaKey  bool                           // full authentication over plain TCP works
	hosts   map[string]map[string]struct{} // user -> local addresses it may have entries under
	// changed holds, for each user a reload changed or removed, until when a login that
	// fetched the credential before the reload may still be writing a cache entry.
	changed map[string]time.Time

	decoyOnce sync.Once
	decoyKey  [32]byte
}

// initMySQLServer sets s.mysqlSrv, go-mysql's server for client handshakes. It generates
// an RSA key for caching_sha2_password over plain TCP only when a user has that method:
// generating one takes up to a few hundred milliseconds, which other starts need not pay.
func (s *Server) initMySQLServer(version string) error {
	a := &s.sha2
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started = true
	var key *rsa.PrivateKey
	if anySHA2(*s.users.Load()) {
		start := time.Now()
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, rsaKeyBits); err != nil {
			return fmt.Errorf("generate the RSA key for caching_sha2_password: %w", err)
		}
		a.rsaKey = true
		s.log.Info("generated an RSA key for caching_sha2_password over plain TCP", "bits", rsaKeyBits, "took", time.Since(start).Round(time.Millisecond))
	}
	a.srv = server.NewServerWithAuth(version, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, key, s.opts.ClientTLS, &authProvider{sha2: a, users: func() map[string]User { return *s.users.Load() }})
	s.mysqlSrv = a.srv
	return nil
}

// usersChanged applies a reload to the caching_sha2_password cache: the entries of users
// whose password or method changed, or who are gone, are dropped.
func (s *Server) usersChanged(old, cur map[string]User) {
	a := &s.sha2
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil { // before Serve nothing is cached and no login is under way
		now := time.Now()
		for name, until := range a.changed {
			if now.After(until) {
				delete(a.changed, name)
			}
		}
		// A login ends within the handshake timeout (the connection's deadline); one
		// still running may have fetched the old credential.
		bound := s.live().HandshakeTimeout
		if bound <= 0 {
			bound = time.Minute // no deadline at all: a guess
		}
		for name, u := range old {
			if n, ok := cur[name]; ok && n.Password == u.Password && n.authPlugin() == u.authPlugin() {
				continue
			}
			if a.changed == nil {
				a.changed = map[string]time.Time{}
			}
			a.changed[name] = now.Add(bound + time.Second)
			for host := range a.hosts[name] {
				a.srv.InvalidateCache(name, host)
			}
			delete(a.hosts, name)
		}
	}
	if a.started && !a.rsaKey && anySHA2(cur) {
		s.log.Warn("caching_sha2_password users can log in over TLS only until tailgate restarts: " +
			"the RSA key for plain-TCP full authentication is generated at start, when such a user is configured")
	}
}

// stored records that go-mysql may hold a cache entry for user under the local address
// host, after a successful caching_sha2_password login. Shortly after a reload changed
// the user, the entry may hold a replaced password: it is dropped again (costing the next
// login a full authentication).
func (a *sha2Auth) stored(user, host string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hosts == nil {
		a.hosts = map[string]map[string]struct{}{}
	}
	h := a.hosts[user]
	if h == nil {
		h = map[string]struct{}{}
		a.hosts[user] = h
	}
	h[host] = struct{}{}
	if time.Now().Before(a.changed[user]) {
		a.srv.InvalidateCache(user, host)
	}
}

// decoyPlugin is the method an unknown user is asked to authenticate with. Like MySQL for
// accounts that do not exist, it is drawn from the configured users' methods in their
// proportions, fixed per name by a per-process secret: which method tailgate asks for does
// not tell whether a name exists (with all users on one method, it is that method).
func (a *sha2Auth) decoyPlugin(name string, users map[string]User) string {
	n := 0
	for _, u := range users {
		if u.authPlugin() == mysql.AUTH_CACHING_SHA2_PASSWORD {
			n++
		}
	}
	switch n {
	case 0:
		return mysql.AUTH_NATIVE_PASSWORD
	case len(users):
		return mysql.AUTH_CACHING_SHA2_PASSWORD
	}
	a.decoyOnce.Do(func() { _, _ = rand.Read(a.decoyKey[:]) })
	h := sha256.Sum256(append(a.decoyKey[:], name...))
	if binary.LittleEndian.Uint64(h[:])%uint64(len(users)) < uint64(n) {
		return mysql.AUTH_CACHING_SHA2_PASSWORD
	}
	return mysql.AUTH_NATIVE_PASSWORD
}

// authProvider is go-mysql's authentication, telling sha2Auth about caching_sha2_password
// logins (go-mysql calls it again from inside itself for the full-authentication step).
type authProvider struct {
	server.DefaultAuthenticationProvider
	sha2  *sha2Auth
	users func() map[string]User
}

var _ server.AuthenticationProvider = (*authProvider)(nil)

func (p *authProvider) Authenticate(c *server.Conn, plugin string, data []byte) error {
	if plugin == mysql.AUTH_CACHING_SHA2_PASSWORD && c.RemoteAddr().Network() == "unix" && sha2FullAuth(c) {
		return p.socketFullAuth(c, data)
	}
	err := p.DefaultAuthenticationProvider.Authenticate(c, plugin, data)
	if err == nil && plugin == mysql.AUTH_CACHING_SHA2_PASSWORD {
		p.sha2.stored(c.GetUser(), c.LocalAddr().String())
	}
	return err
}

// socketFullAuth is caching_sha2_password's full authentication over a unix socket. As
// MySQL, tailgate takes a socket for a secure transport there: the client sends its
// password in clear (libmysqlclient, libmariadb and Go's driver all do), where go-mysql
// expects it encrypted with the RSA key unless the connection is TLS. Nothing is cached,
// so each socket login of such a user takes this extra round trip.
func (p *authProvider) socketFullAuth(c *server.Conn, data []byte) error {
	data = bytes.TrimSuffix(data, []byte{0})
	u, ok := p.users()[c.GetUser()]
	if !ok || u.authPlugin() != mysql.AUTH_CACHING_SHA2_PASSWORD ||
		subtle.ConstantTimeCompare(data, []byte(u.Password)) != 1 {
		return server.ErrAccessDenied
	}
	return nil
}

// sha2FullAuth reports whether go-mysql has asked c's client for a caching_sha2_password
// full authentication (its fast one failed). go-mysql v1.16 keeps that unexported;
// TestSHA2FullAuthFlag fails when that changes.
func sha2FullAuth(c *server.Conn) bool {
	f := reflect.ValueOf(c).Elem().FieldByName("cachingSha2FullAuth")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}
