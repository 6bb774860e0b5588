package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/internal/netx"
)

// DefaultHandshakeTimeout bounds an admin client's handshake when Options leave it 0.
const DefaultHandshakeTimeout = 10 * time.Second

// Errors of Listen.
var (
	ErrNoPassword = errors.New("admin: no password set: set admin.password or admin.password_file (there is no default admin password)")
	ErrRemote     = errors.New("admin: listen address is not a loopback address: set admin.allow_remote = true to expose the admin interface")
)

// Options configure the admin SQL listener.
type Options struct {
	// Listen is the admin host:port ("127.0.0.1:6034"); port 0 picks a free port.
	Listen string
	// User and Password are the only account the admin listener accepts (SetCredentials
	// replaces it). Password must not be empty.
	User, Password string
	// AllowRemote permits a Listen address that is not loopback.
	AllowRemote bool
	// HandshakeTimeout bounds a client's handshake and authentication; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	Logger           hclog.Logger
}

// Server is the admin SQL listener: any MySQL client logs in with the admin account and
// runs the admin commands, which read and steer the proxy through a Source.
type Server struct {
	opts  Options
	creds atomic.Pointer[credentials]
	// handshake bounds a client's login (Options.HandshakeTimeout, then
	// SetHandshakeTimeout), in nanoseconds.
	handshake atomic.Int64
	src       Source
	log       hclog.Logger
	mysqlSrv  *server.Server
	ln        net.Listener

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns an admin server for src; it does not listen yet.
func New(opts Options, src Source) *Server {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	s := &Server{
		opts:     opts,
		src:      src,
		log:      opts.Logger.Named("admin"),
		mysqlSrv: server.NewServer(adminVersion, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil),
		conns:    map[net.Conn]struct{}{},
	}
	s.creds.Store(&credentials{user: opts.User, password: opts.Password})
	s.handshake.Store(int64(opts.HandshakeTimeout))
	return s
}

// SetHandshakeTimeout bounds the next logins (a config reload of proxy.handshake_timeout,
// which the admin listener shares); 0 or less means DefaultHandshakeTimeout.
func (s *Server) SetHandshakeTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultHandshakeTimeout
	}
	s.handshake.Store(int64(d))
}

// credentials are the admin account; a config reload may replace them.
type credentials struct{ user, password string }

// SetCredentials replaces the admin account for the next logins (config reload);
// connections already open stay. An empty password is refused.
func (s *Server) SetCredentials(user, password string) error {
	if password == "" {
		return ErrNoPassword
	}
	s.creds.Store(&credentials{user: user, password: password})
	return nil
}

// Listen opens the admin listener. It refuses an empty password, and an address that is
// not loopback unless AllowRemote is set (config checks both too; this is the last line).
func (s *Server) Listen() error {
	if s.creds.Load().password == "" {
		return ErrNoPassword
	}
	host, _, err := net.SplitHostPort(s.opts.Listen)
	if err != nil {
		return fmt.Errorf("admin: listen address %q: %w", s.opts.Listen, err)
	}
	if !s.opts.AllowRemote && !config.IsLoopback(host) {
		return fmt.Errorf("%w (admin.listen = %q)", ErrRemote, s.opts.Listen)
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.opts.Listen, err)
	}
	s.ln = ln
	return nil
}

// Addr is the listener's address (after Listen).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts admin clients until ctx ends, then closes the listener and every admin
// connection and waits for their goroutines.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() {
		_ = s.ln.Close()
		s.closeAll()
	})
	defer stop()
	s.log.Info("admin listener accepting", "address", s.ln.Addr().String())
	err := netx.AcceptLoop(ctx, s.ln, s.log, func(conn net.Conn) {
		if !s.track(ctx, conn) {
			_ = conn.Close()
			return
		}
		s.wg.Add(1)
		go s.handle(conn)
	})
	if err != nil {
		s.closeAll()
	}
	s.wg.Wait()
	return err
}

// track registers a connection for closing at shutdown; false once ctx is done.
func (s *Server) track(ctx context.Context, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

// handle runs one admin connection from handshake to close.
func (s *Server) handle(conn net.Conn) {
	defer s.wg.Done()
	defer s.untrack(conn)
	defer func() { _ = conn.Close() }()
	remote := conn.RemoteAddr().String()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("admin connection panicked; closed", "client", remote, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	_ = conn.SetDeadline(time.Now().Add(time.Duration(s.handshake.Load())))
	h := &connHandler{srv: s}
	sc, err := s.mysqlSrv.NewCustomizedConn(conn, authHandler{srv: s}, h)
	if err != nil {
		s.log.Debug("admin handshake failed", "client", remote, "error", err)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	h.env = chatterEnv{user: sc.GetUser(), client: remote, connID: sc.ConnectionID()}
	h.log = s.log.With("conn_id", sc.ConnectionID(), "client", remote, "user", sc.GetUser())
	h.log.Debug("admin session started")
	for !sc.Closed() {
		if err := sc.HandleCommand(); err != nil {
			break
		}
	}
	h.log.Debug("admin session ended")
}

// authHandler knows one account, the admin's. Any other user name, application
// accounts included, gets a random password and so fails exactly like a wrong password
// (error 1045, same message).
type authHandler struct{ srv *Server }

func (a authHandler) GetCredential(user string) (server.Credential, bool, error) {
	c := a.srv.creds.Load()
	pass := c.password
	if user != c.user || pass == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		pass = hex.EncodeToString(b[:])
	}
	return server.Credential{Passwords: []string{pass}, AuthPluginName: mysql.AUTH_NATIVE_PASSWORD}, true, nil
}

func (a authHandler) OnAuthSuccess(*server.Conn) error { return nil }

func (a authHandler) OnAuthFailure(c *server.Conn, err error) {
	a.srv.log.Warn("admin login refused", "client", c.RemoteAddr().String(), "user", c.GetUser(), "error", err)
}

// connHandler runs the commands of one admin connection (go-mysql's server.Handler).
type connHandler struct {
	srv *Server
	env chatterEnv
	log hclog.Logger
}

// HandleQuery runs one admin command. A panic in a command becomes an error for this
// command; the connection stays usable.
func (h *connHandler) HandleQuery(query string) (res *mysql.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("admin command panicked", "command", truncate(query, 200), "panic", r, "stack", string(debug.Stack()))
			res, err = nil, mysql.NewError(mysql.ER_UNKNOWN_ERROR, "tailgate admin: internal error running the command (logged)")
		}
	}()
	cmd, err := parseCommand(query)
	if err != nil {
		if h.log.IsDebug() {
			h.log.Debug("admin command refused", "command", truncate(query, 200), "error", err)
		}
		return nil, err
	}
	return h.srv.run(cmd, h.env, h.log)
}

// UseDB accepts any database: admin commands do not use one.
func (h *connHandler) UseDB(string) error { return nil }

// HandleFieldList answers COM_FIELD_LIST (the mariadb CLI's auto-rehash) with no fields.
func (h *connHandler) HandleFieldList(string, string) ([]*mysql.Field, error) { return nil, nil }

var errNoPrepare = mysql.NewError(mysql.ER_UNSUPPORTED_PS,
	"tailgate admin: prepared statements are not supported: send commands as text (with go-sql-driver, pass no arguments)")

func (h *connHandler) HandleStmtPrepare(string) (int, int, any, error) {
	return 0, 0, nil, errNoPrepare
}

func (h *connHandler) HandleStmtExecute(any, string, []any) (*mysql.Result, error) {
	return nil, errNoPrepare
}

func (h *connHandler) HandleStmtClose(any) error { return nil }

// HandleOtherCommand accepts COM_SET_OPTION and COM_RESET_CONNECTION (nothing to reset)
// and refuses the rest.
func (h *connHandler) HandleOtherCommand(cmd byte, _ []byte) error {
	switch cmd {
	case mysql.COM_SET_OPTION, mysql.COM_RESET_CONNECTION:
		return nil
	}
	return mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, fmt.Sprintf("tailgate admin: command 0x%02x is not supported", cmd))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
