package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	"github.com/hashicorp/go-hclog"
	"github.com/pires/go-proxyproto"

	"github.com/tailgate-proxy/tailgate/internal/netx"
	"github.com/tailgate-proxy/tailgate/router"
)

const (
	// erBackendLost and stateLinkFailure report a backend connection lost under a statement.
	// Not CR_SERVER_LOST (2013): codes 2000-2999 are the client library's own, and libmariadb
	// turns one sent by a server into 2027 "Received malformed packet", dropping tailgate's
	// message (what was lost, whether the transaction was rolled back). ER_UNKNOWN_ERROR
	// (1105) exists alike in MariaDB and MySQL and every client shows its message; SQL
	// state 08S01 (communication link failure) still tells drivers and pools that classify
	// errors by state that this was a connection error.
	erBackendLost    = mysql.ER_UNKNOWN_ERROR
	stateLinkFailure = "08S01"
	// erSecureTransportRequired is MySQL's ER_SECURE_TRANSPORT_REQUIRED.
	erSecureTransportRequired = 3159
	// maxHandshakeBytes bounds what an unauthenticated client may send.
	maxHandshakeBytes = 1 << 20
	defaultVersion    = "8.0.11-tailgate"
	// authThrottleWindow is how long failed logins count against a host.
	authThrottleWindow = time.Minute
)

// User is an application account tailgate authenticates and logs in to the backends with.
type User struct {
	Name     string
	Password string
	// BackendUser and BackendPassword log in to the backends; empty means Name / Password.
	BackendUser     string
	BackendPassword string
	// AuthPlugin is the method clients must use: mysql_native_password ("" too) or
	// caching_sha2_password.
	AuthPlugin string
}

// BackendConfig names one backend server.
type BackendConfig struct {
	Name    string
	Address string
	// TLS, when set, encrypts connections to the server; TLSRequired fails them when
	// the server does not offer TLS (else they fall back to plain connections).
	TLS         *tls.Config
	TLSRequired bool
	// TLSID identifies the TLS settings TLS was built from (a reload builds a new
	// *tls.Config even when nothing changed): the same ID keeps the backend's connections.
	TLSID string
}

// Options configure a Server. Fields marked (live) can change while it runs (Tune): they
// apply from the next connection (MaxConnections, HandshakeTimeout, MaxAuthFailures), the
// next session (MaxAllowedPacket, BackendConnectTimeout, BackendReadTimeout) or the next
// statement (the rest); the others are fixed by New.
type Options struct {
	// Listen is the client address ("127.0.0.1:6033").
	Listen string
	// Socket, when set, is a unix socket path clients on this host may connect to as
	// well, as to mysqld's socket (their host is "localhost").
	Socket string
	// MaxConnections caps client connections; more get error 1040 (live).
	MaxConnections int
	// HandshakeTimeout bounds the connection phase of a client (live).
	HandshakeTimeout time.Duration
	// MaxAllowedPacket is the largest command packet accepted from a client (live).
	MaxAllowedPacket int
	// BackendConnectTimeout bounds opening a backend connection, and waiting for one when
	// a backend is at its connection limit (live).
	BackendConnectTimeout time.Duration
	// BackendReadTimeout bounds the wait for each backend answer (0 = no bound); a read
	// whose replica does not answer in time is retried elsewhere (live).
	BackendReadTimeout time.Duration
	// MaxBackendConnections caps the connections to each backend (0 = no cap; live).
	MaxBackendConnections int
	// ServerVersion is advertised to clients; "" uses the primary's (or a default when
	// the primary is down at start).
	ServerVersion string
	Users         []User
	Primary       BackendConfig
	Replicas      []BackendConfig
	// ReadYourWrites sends a session's reads only to replicas that applied its last write
	// (live).
	ReadYourWrites bool
	// ReplicaWait is how long such a read may wait on a replica for the write (MASTER_GTID_WAIT)
	// before it goes to the primary; 0 sends it to the primary at once (live).
	ReplicaWait time.Duration
	// SlowStatement logs and counts statements that took at least this long; 0 is off
	// (live).
	SlowStatement time.Duration
	// Observer, when set, is told about every statement routed (metrics).
	Observer Observer
	// OnBackendFailure, when set, is told when a connection to a replica fails, so that
	// routing avoids it until it answers again.
	OnBackendFailure func(name string)
	// PrimaryWait is how long new statements wait for an unreachable primary (live).
	PrimaryWait time.Duration
	// ClientTLS, when set, is offered to clients; RequireTLS refuses those that do not
	// switch to it (error 3159).
	ClientTLS  *tls.Config
	RequireTLS bool
	// MaxAuthFailures refuses a client host's connections after this many failed logins
	// within a minute (0: no limit; live).
	MaxAuthFailures int
	// Compression offers clients zlib protocol compression (CLIENT_COMPRESS).
	Compression bool
	// LocalInfile relays LOAD DATA LOCAL INFILE for clients that ask for it.
	LocalInfile bool
	// ProxyProtocolNetworks are the load balancers whose connections start with a PROXY
	// protocol header naming the client (empty: none).
	ProxyProtocolNetworks []netip.Prefix
	// ConsistencyScope widens read-your-writes: "session" (default), "user" (the latest
	// write of any session of the same user) or "global" (the latest write through tailgate)
	// (live).
	ConsistencyScope string
	Logger           hclog.Logger
}

// Observer is told about each routed statement; it must not block.
type Observer interface {
	// ObserveQuery reports one statement: where it went, whether the backend answered
	// with an error (failed) and how long the response took.
	ObserveQuery(d router.Decision, failed bool, elapsed time.Duration)
}

// Server accepts client connections and runs a session for each.
type Server struct {
	opts       Options
	log        hclog.Logger
	router     *router.Router
	classifier *router.Classifier
	mysqlSrv   *server.Server
	metrics    *Stats
	throttle   *authThrottle
	sha2       sha2Auth // caching_sha2_password key and cache (auth.go)

	primary  atomic.Pointer[Backend]             // replaced when a reload moves the primary
	backends atomic.Pointer[map[string]*Backend] // replicas by name
	users    atomic.Pointer[map[string]User]

	// Latest write positions for consistency scopes wider than a session.
	globalWrite atomic.Pointer[string]
	userWrites  sync.Map // user name -> *atomic.Pointer[string]

	// mu guards sessions, and each session's user, dial and key for the goroutines other
	// than its own that read them (SHOW SESSIONS, KILL, the shutdown).
	mu       sync.Mutex
	sessions map[uint32]*session
	active   atomic.Int64
	wg       sync.WaitGroup
	ln       net.Listener
	sock     net.Listener // nil without Options.Socket

	tuned atomic.Pointer[Options] // the options in force: New's, with Tune's (live) fields
}

// live returns the options in force; read the (live) fields from it, not from s.opts.
func (s *Server) live() *Options { return s.tuned.Load() }

// Settings returns the options in force.
func (s *Server) Settings() Options { return *s.live() }

// Tune applies the (live) fields of t (a config reload); its other fields are ignored.
func (s *Server) Tune(t Options) {
	o := *s.live()
	o.MaxConnections, o.HandshakeTimeout, o.MaxAuthFailures = t.MaxConnections, t.HandshakeTimeout, t.MaxAuthFailures
	o.MaxAllowedPacket, o.BackendConnectTimeout, o.BackendReadTimeout = t.MaxAllowedPacket, t.BackendConnectTimeout, t.BackendReadTimeout
	o.MaxBackendConnections, o.PrimaryWait = t.MaxBackendConnections, t.PrimaryWait
	o.ReadYourWrites, o.ConsistencyScope, o.ReplicaWait = t.ReadYourWrites, t.ConsistencyScope, t.ReplicaWait
	o.SlowStatement = t.SlowStatement
	s.tuned.Store(&o)
	s.throttle.setMax(o.MaxAuthFailures)
	s.primary.Load().pool.setMax(o.MaxBackendConnections)
	for _, b := range *s.backends.Load() {
		b.pool.setMax(o.MaxBackendConnections)
	}
}

// New returns a server; it does not listen yet.
func New(opts Options, rt *router.Router, cl *router.Classifier) *Server {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	s := &Server{
		opts:       opts,
		log:        opts.Logger.Named("proxy"),
		router:     rt,
		classifier: cl,
		metrics:    &Stats{},
		sessions:   map[uint32]*session{},
	}
	s.tuned.Store(&opts)
	s.setPrimary(opts.Primary)
	s.throttle = newAuthThrottle(opts.MaxAuthFailures, authThrottleWindow)
	s.setUsers(opts.Users)
	s.setReplicas(opts.Replicas)
	return s
}

func (s *Server) setUsers(users []User) {
	m := make(map[string]User, len(users))
	for _, u := range users {
		m[u.Name] = u
	}
	if old := s.users.Swap(&m); old != nil {
		s.usersChanged(*old, m)
	}
}

// newBackend returns the Backend for cfg, with its own pool.
func (s *Server) newBackend(cfg BackendConfig, primary bool) *Backend {
	b := &Backend{Name: cfg.Name, Address: cfg.Address, Primary: primary, tls: cfg.TLS, tlsRequired: cfg.TLSRequired, tlsID: cfg.TLSID}
	b.pool = newPool(b, s.live().MaxBackendConnections)
	return b
}

// serves reports whether b connects as cfg says: the same server, the same TLS settings.
func (b *Backend) serves(cfg BackendConfig) bool {
	return b.Address == cfg.Address && b.tlsID == cfg.TLSID && b.tlsRequired == cfg.TLSRequired
}

// setPrimary installs the primary. A new address (a switchover) or new TLS settings give it
// a new Backend: statements start on the new one at once, while sessions pinned to the old
// one (a transaction, temporary tables, locks) stay on their connection until they let go
// of it; the old pool closes each connection as it comes back.
func (s *Server) setPrimary(cfg BackendConfig) {
	cfg.Name = router.PrimaryName
	old := s.primary.Load()
	if old != nil && old.serves(cfg) {
		return
	}
	b := s.newBackend(cfg, true)
	if old != nil {
		// Until the new primary's first connection says otherwise, sessions start in the
		// sql_mode the old one had; the counters go on under the same name.
		b.defaultMode.Store(old.defaultMode.Load())
		b.queries.Store(old.queries.Load())
	}
	s.primary.Store(b)
	if old != nil {
		s.log.Info("primary moved; pinned sessions finish on the old one", "from", old.Address, "to", b.Address)
		old.pool.retire()
	}
}

// setReplicas installs the replica set, keeping Backend objects (and counters) of replicas
// that stay.
func (s *Server) setReplicas(reps []BackendConfig) {
	old := s.backends.Load()
	m := make(map[string]*Backend, len(reps))
	for _, r := range reps {
		if old != nil {
			if b := (*old)[r.Name]; b != nil && b.serves(r) {
				m[r.Name] = b
				continue
			}
		}
		m[r.Name] = s.newBackend(r, false)
	}
	s.backends.Store(&m)
	if old != nil {
		for name, b := range *old {
			if m[name] != b {
				// Removed (or moved): running statements finish on their connections,
				// which are closed instead of pooled from now on.
				b.pool.retire()
			}
		}
	}
}

// UpdateBackends applies a reloaded set of users, primary and replicas to new sessions and
// statements.
func (s *Server) UpdateBackends(users []User, primary BackendConfig, replicas []BackendConfig) {
	s.setUsers(users)
	s.setPrimary(primary)
	s.setReplicas(replicas)
}

// backend returns the named replica's Backend, or nil.
func (s *Server) backend(name string) *Backend {
	return (*s.backends.Load())[name]
}

// defaultSQLMode is the sql_mode a new session starts in: the primary's, as its fresh or
// reset connections last reported it.
func (s *Server) defaultSQLMode() router.SQLMode {
	return router.SQLMode(s.primary.Load().defaultMode.Load())
}

// session returns the client session with connection id id, or nil.
func (s *Server) session(id uint64) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id > math.MaxUint32 {
		return nil
	}
	return s.sessions[uint32(id)]
}

// Backends lists the primary and the replicas, in name order after the primary.
func (s *Server) Backends() []*Backend {
	m := *s.backends.Load()
	out := make([]*Backend, 0, len(m)+1)
	for _, b := range m {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return append([]*Backend{s.primary.Load()}, out...)
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return s.metrics }

// Router returns the router the server uses.
func (s *Server) Router() *router.Router { return s.router }

// Listen opens the client listeners.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	if s.opts.Socket != "" {
		if s.sock, err = netx.ListenUnix(s.opts.Socket); err != nil {
			_ = ln.Close()
			return err
		}
	}
	s.ln = ln
	return nil
}

// Addr is the listener's address (after Listen).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts clients until ctx ends, then closes the listeners and waits for sessions
// to finish (each ends at its next command outside a transaction once ctx is done, when
// its client leaves, or when CloseAll ends it).
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	if err := s.initMySQLServer(s.serverVersion(ctx)); err != nil { // sets s.mysqlSrv
		if s.sock != nil {
			_ = s.sock.Close()
		}
		return err
	}
	if s.opts.LocalInfile {
		if err := s.mysqlSrv.SetCapability(mysql.CLIENT_LOCAL_FILES); err != nil {
			return err
		}
	}
	accept := func(conn net.Conn) {
		s.wg.Add(1)
		go s.handle(ctx, conn)
	}
	var sockErr chan error
	acceptCtx, stopAccepting := context.WithCancel(ctx)
	if s.sock != nil {
		s.log.Info("accepting clients", "socket", s.opts.Socket)
		sockErr = make(chan error, 1)
		go func() {
			err := netx.AcceptLoop(acceptCtx, s.sock, s.log, accept)
			stopAccepting() // one listener failing stops both
			sockErr <- err
		}()
	}
	s.log.Info("accepting clients", "address", s.ln.Addr().String())
	err := netx.AcceptLoop(acceptCtx, s.ln, s.log, accept)
	stopAccepting()
	if sockErr != nil {
		err = errors.Join(err, <-sockErr)
	}
	if ctx.Err() != nil {
		s.closeIdle()
	}
	s.wg.Wait()
	return err
}

// closeIdle closes the client connection of every session waiting for a command outside
// a transaction (shutdown); the others end at their next transaction boundary.
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if ss.status.Load() == "idle" && !ss.inTxn.Load() {
			_ = ss.raw.Close()
		}
	}
}

// CloseAll ends every session, the last step of a shutdown once shutdown_timeout has
// passed: each client connection is closed and no statement starts any more. A statement
// still running is killed on its server (killRunning): a server notices a closed client only
// once the statement is done, so a long write would otherwise run on orphaned, holding its
// locks, and an autocommit one commit with no client told. Its backend connection is closed
// too, which ends the session's wait for the answer even when the server could not be reached
// (a wait that backend_read_timeout, 0 by default, may not bound). CloseAll returns once
// that is done, within about twice backend_connect_timeout.
func (s *Server) CloseAll() {
	running := map[killLogin][]*backendConn{}
	s.mu.Lock()
	for _, t := range s.sessions {
		if bc := t.closeClient(); bc != nil {
			k := killLogin{b: bc.b, user: t.user}
			running[k] = append(running[k], bc)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for login, conns := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.killRunning(login, conns)
			for _, bc := range conns {
				// The session owns bc, but a net.Conn may be closed from any goroutine; the
				// session's own close when it wakes is then a no-op.
				_ = bc.pio.conn.Close()
			}
		}()
	}
	wg.Wait()
}

// serverVersion is the version string advertised to clients.
func (s *Server) serverVersion(ctx context.Context) string {
	if s.opts.ServerVersion != "" {
		return s.opts.ServerVersion
	}
	users := *s.users.Load()
	for _, u := range users {
		user, pass := u.backendCredentials()
		timeout := s.live().BackendConnectTimeout
		ctx, cancel := context.WithTimeout(ctx, timeout)
		c, err := client.ConnectWithContext(ctx, s.primary.Load().Address, user, pass, "", timeout)
		cancel()
		if err != nil {
			s.log.Warn("cannot read the primary's version; advertising a default", "error", err, "version", defaultVersion)
			return defaultVersion
		}
		v := c.GetServerVersion()
		_ = c.Close()
		return v
	}
	return defaultVersion
}

// proxyHeader reads the PROXY protocol header (v1 or v2) that a connection from a load
// balancer in proxy_protocol_networks must start with, and returns the connection as the
// client it names: its RemoteAddr is the client's from then on (logs, SHOW SESSIONS, the
// failed-login limit). ok is false, and the connection is to be closed, when the header
// is missing (a MySQL client speaks only after the server: the wait ends at the handshake
// timeout) or malformed. Other peers are returned as they are.
func (s *Server) proxyHeader(conn net.Conn) (_ net.Conn, ok bool) {
	if len(s.opts.ProxyProtocolNetworks) == 0 || !inNetworks(conn.RemoteAddr(), s.opts.ProxyProtocolNetworks) {
		return conn, true
	}
	pc := proxyproto.NewConn(conn, proxyproto.WithPolicy(proxyproto.REQUIRE), proxyproto.SetReadHeaderTimeout(s.live().HandshakeTimeout))
	// A read of nothing reads the header and reports what was wrong with it.
	if _, err := pc.Read(nil); err != nil {
		s.metrics.handshakeFailed.Add(1)
		s.log.Warn("connection from a proxy_protocol_networks address without a valid PROXY header; closed",
			"peer", conn.RemoteAddr().String(), "error", err)
		return conn, false
	}
	return pc, true
}

// inNetworks reports whether addr's IP is in one of nets.
func inNetworks(addr net.Addr, nets []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func (u User) backendCredentials() (string, string) {
	user, pass := u.BackendUser, u.BackendPassword
	if user == "" {
		user = u.Name
	}
	if pass == "" && u.BackendUser == "" {
		pass = u.Password
	}
	return user, pass
}

// handle runs one client connection from handshake to close.
func (s *Server) handle(ctx context.Context, conn net.Conn) {
	defer s.wg.Done()
	defer func() { _ = conn.Close() }()
	conn, ok := s.proxyHeader(conn)
	if !ok {
		return
	}
	remote := conn.RemoteAddr().String() // host:port, for the logs
	if conn.RemoteAddr().Network() == "unix" {
		remote = hostAddr{conn.RemoteAddr()}.String()
	}
	authenticated := false
	defer func() {
		if r := recover(); r != nil {
			if !authenticated {
				// go-mysql's handshake decoder panics on some malformed input: that is bad
				// input from an unauthenticated client, not a tailgate failure.
				s.metrics.handshakeFailed.Add(1)
				s.log.Debug("malformed handshake; connection closed", "client", remote, "panic", r)
				return
			}
			s.log.Error("session panicked; connection closed", "client", remote, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	live := s.live() // this connection's limits
	n := s.active.Add(1)
	defer s.active.Add(-1)
	if live.MaxConnections > 0 && n > int64(live.MaxConnections) {
		s.metrics.refused.Add(1)
		p := newPacketIO(conn, 0)
		_ = p.writePacket(appendErr(nil, mysql.ER_CON_COUNT_ERROR, "08004", "Too many connections"))
		_ = p.flush()
		return
	}
	host := hostAddr{conn.RemoteAddr()}.String()
	if s.throttle.blocked(host, time.Now()) {
		s.metrics.refused.Add(1)
		p := newPacketIO(conn, 0)
		_ = p.writePacket(appendErr(nil, mysql.ER_HOST_IS_BLOCKED, "HY000",
			fmt.Sprintf("Host '%s' is blocked because of many failed logins; try again in %s", host, authThrottleWindow)))
		_ = p.flush()
		return
	}
	hs := &handshake{srv: s, ctx: ctx, raw: conn}
	defer func() {
		if hs.registered {
			s.mu.Lock()
			delete(s.sessions, hs.sess.id)
			s.mu.Unlock()
		}
	}()
	limited := &limitedConn{Conn: conn, budget: maxHandshakeBytes, extraCaps: s.greetingFlags()}
	if live.HandshakeTimeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(live.HandshakeTimeout))
	}
	sc, err := s.mysqlSrv.NewCustomizedConn(limited, hs, hs)
	if err != nil {
		s.metrics.handshakeFailed.Add(1)
		s.log.Debug("handshake failed", "client", remote, "error", err)
		return
	}
	limited.budget = -1
	authenticated = true
	_ = conn.SetDeadline(time.Time{})

	sess := hs.sess
	sess.client = newPacketIO(sc.Conn.Conn, live.MaxAllowedPacket)
	if sess.clientCaps&mysql.CLIENT_COMPRESS != 0 {
		sess.client.compress() // from the first command on, after the uncompressed OK
	}
	sess.connLog = s.log.With("conn_id", sess.id, "client", remote)
	sess.log = sess.userLog()
	s.metrics.sessions.Add(1)
	defer s.metrics.sessions.Add(-1)
	sess.log.Debug("session started")
	sess.run(ctx)
	sess.log.Debug("session ended")
}

// handshake is the per-connection authentication handler for go-mysql's server: it
// checks the configured users and opens the session's primary connection before the
// client is told it is in, so that a bad database or backend login fails the connect.
type handshake struct {
	srv  *Server
	ctx  context.Context
	raw  net.Conn // the connection as accepted
	db   string
	sess *session // set once the login succeeded
	// registered: sess is in srv.sessions (KILL finds it from the moment the client can
	// know its id, i.e. before the OK that ends the handshake).
	registered bool
}

// GetCredential returns the user's password and method. An unknown user gets a random
// password and a decoy method (decoyPlugin), so it fails exactly like a wrong password
// (same error, same message).
func (h *handshake) GetCredential(username string) (server.Credential, bool, error) {
	users := *h.srv.users.Load()
	u, ok := users[username]
	if !ok {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return server.Credential{Passwords: []string{hex.EncodeToString(b[:])}, AuthPluginName: h.srv.sha2.decoyPlugin(username, users)}, true, nil
	}
	return server.Credential{Passwords: []string{u.Password}, AuthPluginName: u.authPlugin()}, true, nil
}

// OnAuthSuccess sets up the session and checks the backend login and database on a
// primary connection.
func (h *handshake) OnAuthSuccess(c *server.Conn) error {
	s := h.srv
	live := s.live() // this session's backend timeouts
	u := (*s.users.Load())[c.GetUser()]
	user, pass := u.backendCredentials()
	caps := c.Capability() & (s.mysqlSrv.Capability() | clientFlagsMirrored | s.greetingFlags())
	attrs := map[string]string{"_client_name": "tailgate", "_tailgate_client": c.RemoteAddr().String()}
	if p := c.Attributes()["program_name"]; p != "" {
		attrs["program_name"] = p
	}
	sess := &session{
		srv:        s,
		log:        s.log.With("client", c.RemoteAddr().String(), "user", c.GetUser()),
		user:       c.GetUser(),
		remote:     c.RemoteAddr().String(),
		clientCaps: caps,
		autocommit: true,
		owner:      &stateOwner{},
		dial: dialParams{
			user: user, password: pass, schema: h.db,
			collation:   collationName(int(c.Charset())),
			clientFlags: caps & (clientFlagsMirrored | mysql.CLIENT_LOCAL_FILES), // LOCAL_FILES only when offered
			timeout:     dialTimeout(live.BackendConnectTimeout, live.BackendReadTimeout),
			readTimeout: live.BackendReadTimeout,
			maxPacket:   1 << 30,
			attrs:       attrs,
		},
	}
	sess.state.schema = h.db
	sess.state.multiStmtOff = caps&mysql.CLIENT_MULTI_STATEMENTS == 0
	sess.key = sess.dial.poolKey()
	sess.userWrite = s.userWrite(sess.user)
	h.sess = sess
	s.throttle.succeeded(c.RemoteAddr().String())
	if _, secure := c.Conn.Conn.(*tls.Conn); s.opts.RequireTLS && !secure {
		return mysql.NewError(erSecureTransportRequired, "Connections using insecure transport are prohibited: tailgate requires TLS (proxy.tls.require_tls)")
	}
	sess.ctx = h.ctx
	sess.scramble = handshakeScramble(c)
	if err := sess.checkBackendLogin(); err != nil {
		return err
	}
	sess.id, sess.raw, sess.started = c.ConnectionID(), h.raw, time.Now()
	sess.sqlMode = s.defaultSQLMode() // the login check has opened a connection by now
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	h.registered = true
	return nil
}

// handshakeScramble is the last scramble c sent the client: the greeting's, or an auth
// switch's. go-mysql v1.16 keeps it unexported; TestHandshakeScramble fails when that
// changes.
func handshakeScramble(c *server.Conn) []byte {
	f := reflect.ValueOf(c).Elem().FieldByName("salt")
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Uint8 {
		return nil
	}
	return slices.Clone(f.Bytes())
}

// OnAuthFailure counts failed logins.
func (h *handshake) OnAuthFailure(c *server.Conn, err error) {
	h.srv.metrics.authFailed.Add(1)
	// go-mysql calls this for any failed handshake; only a rejected login (1045) counts
	// against the host, not a client that timed out or sent garbage.
	if myErr := (*mysql.MyError)(nil); errors.As(err, &myErr) && myErr.Code == mysql.ER_ACCESS_DENIED_ERROR {
		h.srv.throttle.failed(c.RemoteAddr().String(), time.Now()) // host only: see limitedConn
	}
	h.srv.log.Debug("authentication failed", "client", c.RemoteAddr().String(), "user", c.GetUser(), "error", err)
}

// UseDB records the database of the handshake; the rest of server.Handler is never called
// because the session owns the command loop.
func (h *handshake) UseDB(db string) error { h.db = db; return nil }

func (h *handshake) HandleQuery(string) (*mysql.Result, error) { return nil, errNotHandled }
func (h *handshake) HandleFieldList(string, string) ([]*mysql.Field, error) {
	return nil, errNotHandled
}
func (h *handshake) HandleStmtPrepare(string) (int, int, any, error) { return 0, 0, nil, errNotHandled }
func (h *handshake) HandleStmtExecute(any, string, []any) (*mysql.Result, error) {
	return nil, errNotHandled
}
func (h *handshake) HandleStmtClose(any) error             { return errNotHandled }
func (h *handshake) HandleOtherCommand(byte, []byte) error { return errNotHandled }

var errNotHandled = errors.New("not handled by go-mysql's command loop")

// dial opens a backend connection, counting failures.
func (s *Server) dial(b *Backend, p *dialParams) (*backendConn, error) {
	bc, err := dialBackend(context.Background(), b, p)
	if err != nil {
		s.metrics.backendDialFailed.Add(1)
		return nil, err
	}
	return bc, nil
}

// limitedConn bounds what an unauthenticated client can make the server read or
// allocate: at most maxHandshakeBytes in all, and no frame header announcing more than
// what is left of that budget (go-mysql grows its buffer to the announced length before
// reading the payload). It follows the plaintext frame stream; after an SSL request the
// bytes are TLS records and only the byte budget applies.
type limitedConn struct {
	net.Conn
	budget int // < 0: unlimited (authenticated)
	// Frame parsing of the plaintext stream.
	hdr     [4]byte
	hdrN    int // header bytes seen of the current frame
	payload int // payload bytes still to come in the current frame
	tls     bool
	// extraCaps are capability flags added to the greeting, the first packet written:
	// go-mysql's server cannot be told to offer them.
	extraCaps uint32
	greeted   bool
}

// Write adds extraCaps to the greeting.
func (c *limitedConn) Write(p []byte) (int, error) {
	if !c.greeted {
		c.greeted = true
		if c.extraCaps != 0 {
			p = addGreetingCaps(p, c.extraCaps)
		}
	}
	return c.Conn.Write(p)
}

// addGreetingCaps returns a copy of the greeting packet pkt (header included) with caps
// set in its capability flags; pkt unchanged if it is not a protocol 10 greeting.
func addGreetingCaps(pkt []byte, caps uint32) []byte {
	if len(pkt) < 5 || pkt[4] != 10 {
		return pkt
	}
	end := bytes.IndexByte(pkt[5:], 0) // server version, NUL-terminated
	if end < 0 {
		return pkt
	}
	lower := 5 + end + 1 + 4 + 8 + 1 // version NUL, connection id, scramble part 1, filler
	upper := lower + 2 + 1 + 2       // lower flags, charset, status
	if len(pkt) < upper+2 {
		return pkt
	}
	out := slices.Clone(pkt)
	binary.LittleEndian.PutUint16(out[lower:], binary.LittleEndian.Uint16(out[lower:])|uint16(caps))
	binary.LittleEndian.PutUint16(out[upper:], binary.LittleEndian.Uint16(out[upper:])|uint16(caps>>16))
	return out
}

// greetingFlags are the capabilities tailgate offers beyond go-mysql's own.
func (s *Server) greetingFlags() uint32 {
	var f uint32
	if s.opts.Compression {
		f |= mysql.CLIENT_COMPRESS
	}
	return f
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.budget < 0 {
		return c.Conn.Read(p)
	}
	if c.budget == 0 {
		return 0, fmt.Errorf("%w: more than %d bytes before authentication", ErrPacketTooLarge, maxHandshakeBytes)
	}
	if len(p) > c.budget {
		p = p[:c.budget]
	}
	n, err := c.Conn.Read(p)
	c.budget -= n
	if !c.tls {
		if ferr := c.follow(p[:n]); ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

// follow tracks frame boundaries in b and refuses a header announcing too much.
func (c *limitedConn) follow(b []byte) error {
	for len(b) > 0 {
		if c.payload > 0 {
			k := min(c.payload, len(b))
			c.payload -= k
			b = b[k:]
			continue
		}
		c.hdr[c.hdrN] = b[0]
		c.hdrN++
		b = b[1:]
		if c.hdrN < 4 {
			continue
		}
		c.hdrN = 0
		c.payload = int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
		if c.payload > c.budget+len(b) {
			return fmt.Errorf("%w: a %d-byte packet before authentication (limit %d)", ErrPacketTooLarge, c.payload, maxHandshakeBytes)
		}
		if c.payload == sslRequestLen && len(b) >= 4 && binary.LittleEndian.Uint32(b)&mysql.CLIENT_SSL != 0 {
			c.tls = true // TLS records follow this packet
			return nil
		}
	}
	return nil
}

// sslRequestLen is the payload size of a client's SSL request packet.
const sslRequestLen = 32

// RemoteAddr reports the client's host without the port, as MySQL names clients in
// its access-denied messages.
func (c *limitedConn) RemoteAddr() net.Addr { return hostAddr{c.Conn.RemoteAddr()} }

type hostAddr struct{ net.Addr }

func (a hostAddr) String() string {
	if a.Addr.Network() == "unix" {
		return "localhost" // as MySQL names socket clients
	}
	if host, _, err := net.SplitHostPort(a.Addr.String()); err == nil {
		return host
	}
	return a.Addr.String()
}

// userWrite returns the latest-write slot of a user.
func (s *Server) userWrite(user string) *atomic.Pointer[string] {
	if p, ok := s.userWrites.Load(user); ok {
		return p.(*atomic.Pointer[string])
	}
	p, _ := s.userWrites.LoadOrStore(user, new(atomic.Pointer[string]))
	return p.(*atomic.Pointer[string])
}

// SessionInfo describes one client session for SHOW SESSIONS.
type SessionInfo struct {
	ID     uint32
	User   string
	Client string
	State  string // "idle" or "query"
	InTxn  bool
	Since  time.Time
	Pinned string // backend the session is pinned to ("" when not pinned)
}

// Sessions lists the current client sessions, by id.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	out := make([]SessionInfo, 0, len(s.sessions))
	for _, ss := range s.sessions {
		st, _ := ss.status.Load().(string)
		pinned, _ := ss.pinned.Load().(string)
		out = append(out, SessionInfo{ID: ss.id, User: ss.user, Client: ss.remote, State: st, InTxn: ss.inTxn.Load(), Since: ss.started, Pinned: pinned})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// dialTimeout bounds opening a backend connection: the connect timeout, or the read
// timeout when that is shorter (a server that accepts TCP but does not answer, e.g.
// stopped, must not hold a read longer than an answer may take).
func dialTimeout(connect, read time.Duration) time.Duration {
	if read > 0 && read < connect {
		return read
	}
	return connect
}
