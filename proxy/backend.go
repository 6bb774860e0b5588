package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/charset"

	"github.com/tailgate-proxy/tailgate/router"
)

// Backend is one database server: the primary or a replica.
type Backend struct {
	Name    string // router.PrimaryName or the replica's name
	Address string
	Primary bool

	conns atomic.Int64 // open backend connections
	// defaultMode is the sql_mode (router.SQLMode) a new connection starts with.
	defaultMode atomic.Uint32
	queries     atomic.Uint64 // statements sent
	pool        *pool
	// tls encrypts connections to it when set; tlsRequired forbids a plain fallback.
	tls         *tls.Config
	tlsRequired bool
	tlsID       string // BackendConfig.TLSID
}

// Connections returns the number of open connections to the backend.
func (b *Backend) Connections() int64 { return b.conns.Load() }

// Queries returns the number of statements sent to the backend.
func (b *Backend) Queries() uint64 { return b.queries.Load() }

// Role names the backend's role for admin output.
func (b *Backend) Role() string {
	if b.Primary {
		return "primary"
	}
	return "replica"
}

// clientFlagsMirrored are the capability flags a backend connection takes from the client's
// handshake: they change what the server does or how it frames results.
const clientFlagsMirrored = mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_IGNORE_SPACE |
	mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PS_MULTI_RESULTS

// dialParams says how a session's backend connections are opened.
type dialParams struct {
	user, password string
	schema         string
	collation      string
	// clientFlags are the client's flags masked by clientFlagsMirrored, plus
	// CLIENT_LOCAL_FILES when tailgate offered it (proxy.local_infile) and the client took it:
	// only then may the server ask for a LOCAL INFILE file, which the relay passes on.
	clientFlags uint32
	timeout     time.Duration
	readTimeout time.Duration // bound on each answer (0 = none)
	maxPacket   int
	attrs       map[string]string
}

// poolKey is the key of the pooled connections that dial with p.
func (p *dialParams) poolKey() poolKey {
	return poolKey{user: p.user, flags: p.clientFlags, collation: p.collation, schema: p.schema}
}

// backendConn is one connection to a backend, owned by one session.
type backendConn struct {
	b   *Backend
	pio *packetIO
	// schema is the default database in effect on this connection.
	schema string
	// stateVersion is the session-state version this connection has applied.
	stateVersion uint64
	// multiStmtOff: multi-statements are off on this connection (its handshake's flags,
	// then COM_SET_OPTION).
	multiStmtOff bool
	closed       bool
	threadID     uint32 // the server's id of the connection (KILL)
	lastUsed     time.Time
	readTimeout  time.Duration // bound on each answer (0 = none)
	mariadb      bool          // the server is MariaDB (else MySQL)

	// Pooling: the pool it returns to, under which key, and whose session state it
	// carries (dirty: SETs or other session state applied since its last reset).
	pool  *pool
	key   poolKey
	owner *stateOwner
	dirty bool
	// roleSet: SET ROLE ran on it, which MariaDB's COM_RESET_CONNECTION does not undo: it
	// cannot be reset (errRoleKept) and serves no other session (conn dials a fresh one
	// instead).
	roleSet bool
	// diag: the last statement left warnings or an error in the connection's diagnostics
	// area (SHOW WARNINGS, @@warning_count), which belong to the session that ran it.
	diag bool
	// stmts are the statements prepared on this connection that any statement of their
	// text may execute, by text; cursorStmts counts those taken out of it while a cursor
	// is open on them (see prepared.go).
	stmts       map[string]*backendStmt
	cursorStmts int
}

// ranSet notes that a SET with key (router.Statement.SetKey) ran on bc: it carries session
// state from then on, and after SET ROLE a state that a reset does not undo.
func (bc *backendConn) ranSet(key string) {
	bc.dirty = true
	bc.roleSet = bc.roleSet || key == router.SetKeyRole
}

// errRoleKept: a connection that ran SET ROLE cannot be reset (MariaDB's
// COM_RESET_CONNECTION keeps the role); it is closed instead.
var errRoleKept = errors.New("SET ROLE ran on it, which a reset does not undo")

// dialBackend opens and authenticates a connection to b.
func dialBackend(ctx context.Context, b *Backend, p *dialParams) (*backendConn, error) {
	bc, err := dialBackendTLS(ctx, b, p, b.tls)
	if err != nil && b.tls != nil && !b.tlsRequired && strings.Contains(err.Error(), "does not support TLS") {
		// TLS is preferred, not required, and this server does not offer it.
		return dialBackendTLS(ctx, b, p, nil)
	}
	return bc, err
}

// dialBackendTLS opens a connection to b, with TLS when tlsCfg is set (failing closed when
// the server does not offer it).
func dialBackendTLS(ctx context.Context, b *Backend, p *dialParams, tlsCfg *tls.Config) (*backendConn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	var raw net.Conn
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl) // bounds the handshake: go-mysql takes no context for it
		}
		raw = c
		return c, nil
	}
	opt := func(c *client.Conn) error {
		// The flags the client chose (dialParams.clientFlags).
		for _, f := range []uint32{mysql.CLIENT_FOUND_ROWS, mysql.CLIENT_IGNORE_SPACE, mysql.CLIENT_MULTI_STATEMENTS,
			mysql.CLIENT_MULTI_RESULTS, mysql.CLIENT_PS_MULTI_RESULTS, mysql.CLIENT_LOCAL_FILES} {
			if p.clientFlags&f != 0 {
				if err := c.SetCapability(f); err != nil {
					return err
				}
			} else {
				c.UnsetCapability(f)
			}
		}
		if err := c.SetCapability(mysql.CLIENT_SESSION_TRACK); err != nil {
			return err
		}
		// Framing flags the client side never negotiates (go-mysql's server does not offer them).
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
		c.SetAttributes(p.attrs)
		if tlsCfg != nil {
			c.SetTLSConfig(tlsCfg.Clone())
		}
		return c.SetCollation(p.collation)
	}
	// No network: go-mysql dials a unix socket for an address with a "/", as everywhere
	// else tailgate connects to backends (the monitor, the binlog tailer).
	cc, err := client.ConnectWithDialer(ctx, "", b.Address, p.user, p.password, p.schema, dial, opt)
	if err != nil {
		if raw != nil {
			_ = raw.Close()
		}
		return nil, fmt.Errorf("connect to %s (%s): %w", b.Name, b.Address, err)
	}
	conn := cc.Conn.Conn
	b.conns.Add(1)
	bc := &backendConn{
		b:            b,
		readTimeout:  p.readTimeout,
		pio:          newPacketIO(conn, p.maxPacket),
		schema:       p.schema,
		threadID:     cc.GetConnectionID(),
		multiStmtOff: p.clientFlags&mysql.CLIENT_MULTI_STATEMENTS == 0,
	}
	bc.mariadb = strings.Contains(cc.GetServerVersion(), "MariaDB")
	if err := bc.startSession(); err != nil {
		bc.close()
		return nil, fmt.Errorf("set up the session on %s (%s): %w", b.Name, b.Address, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return bc, nil
}

// startSession prepares a new (or reset) backend session (see trackSession); its sql_mode
// is the one new client sessions start in.
func (bc *backendConn) startSession() error {
	mode, err := bc.trackSession()
	if err == nil {
		bc.b.defaultMode.Store(uint32(mode))
	}
	return err
}

// trackSession makes the backend session report what tailgate follows: every change of
// sql_mode (sessions read statement text in their sql_mode) and, on the primary, the GTID
// of each committed write (read-your-writes). It returns the session's sql_mode, which its
// own answer reports.
func (bc *backendConn) trackSession() (router.SQLMode, error) {
	q := trackSQLMode
	switch {
	case bc.b.Primary && bc.mariadb:
		q = trackMariaDBPrimary
	case bc.b.Primary:
		q = trackMySQLPrimary
	}
	ok, err := bc.okCommand(mysql.COM_QUERY, q)
	if err != nil {
		return 0, err
	}
	var mode router.SQLMode
	eachSessionTrack(ok.sessionTrack(), func(typ byte, data []byte) {
		if typ != sessionTrackSystemVariables {
			return
		}
		if name, value, good := trackedVariable(data); good && string(name) == "sql_mode" {
			mode = sqlModeOf(value)
		}
	})
	return mode, nil
}

// The sessions' tracked variables plus sql_mode (last_gtid too on a MariaDB primary), unless
// they track all ('*'); then sql_mode set to itself, so that this answer reports it.
const (
	trackVarsThen = "SET SESSION session_track_system_variables = IF(@@session_track_system_variables = '*', '*', " +
		"CONCAT_WS(',', NULLIF(@@session_track_system_variables, ''), 'sql_mode'"
	trackReportMode = ")), SESSION sql_mode = @@SESSION.sql_mode"

	trackSQLMode        = trackVarsThen + trackReportMode
	trackMariaDBPrimary = trackVarsThen + ", 'last_gtid'" + trackReportMode
	trackMySQLPrimary   = trackSQLMode + ", SESSION session_track_gtids = OWN_GTID"
)

// collationName maps a handshake collation id to a name go-mysql's client accepts.
func collationName(id int) string {
	if c, err := charset.GetCollationByID(id); err == nil && c.Name != "" {
		return c.Name
	}
	return "utf8mb4_general_ci"
}

// close closes the connection once.
func (bc *backendConn) close() {
	if bc.closed {
		return
	}
	bc.closed = true
	bc.b.conns.Add(-1)
	_ = bc.pio.conn.Close()
}

// awaitAnswer bounds the wait for the server's next answer by readTimeout from now: a
// server that stopped (SIGSTOP, a network partition) fails the statement instead of hanging
// the session.
func (bc *backendConn) awaitAnswer() error {
	bc.lastUsed = time.Now()
	if bc.readTimeout > 0 {
		return bc.pio.conn.SetReadDeadline(bc.lastUsed.Add(bc.readTimeout))
	}
	return nil
}

// sendCommand sends cmd with arg. The packet is built in the read buffer, which is free
// until the answer is read.
func (bc *backendConn) sendCommand(cmd byte, arg string) error {
	bc.pio.buf = append(append(bc.pio.buf[:0], cmd), arg...)
	return bc.send(bc.pio.buf)
}

// send writes one command packet and flushes it.
func (bc *backendConn) send(payload []byte) error {
	if err := bc.awaitAnswer(); err != nil {
		return err
	}
	bc.pio.resetSeq()
	if err := bc.pio.writePacket(payload); err != nil {
		return err
	}
	return bc.pio.flush()
}

// simpleCommand sends a command answered by a single OK or ERR packet (COM_INIT_DB, a SET,
// COM_RESET_CONNECTION, COM_SET_OPTION). A server error comes back as *mysql.MyError;
// any other error means the connection is unusable.
func (bc *backendConn) simpleCommand(cmd byte, arg string) error {
	_, err := bc.okCommand(cmd, arg)
	return err
}

// okCommand is simpleCommand returning the OK packet (its slices valid until the next read).
func (bc *backendConn) okCommand(cmd byte, arg string) (okPacket, error) {
	if err := bc.sendCommand(cmd, arg); err != nil {
		return okPacket{}, err
	}
	p, err := bc.pio.readPacket()
	if err != nil {
		return okPacket{}, err
	}
	switch {
	case len(p) > 0 && p[0] == mysql.ERR_HEADER:
		return okPacket{}, parseErr(p)
	case len(p) > 0 && (p[0] == mysql.OK_HEADER || p[0] == mysql.EOF_HEADER):
		ok, err := parseOK(p)
		if err != nil {
			return okPacket{}, nil // an old-style EOF answer: nothing more to learn
		}
		return ok, nil
	}
	return okPacket{}, fmt.Errorf("%w: unexpected reply 0x%02x to command 0x%02x", errMalformed, p[0], cmd)
}

// queryValue runs a query answered by one row and returns its first column as text ("" for
// NULL or no row). A server error comes back as *mysql.MyError; any other error means the
// connection is unusable.
func (bc *backendConn) queryValue(query string) (string, error) {
	if err := bc.sendCommand(mysql.COM_QUERY, query); err != nil {
		return "", err
	}
	p, err := bc.pio.readPacket()
	if err != nil {
		return "", err
	}
	if len(p) > 0 && p[0] == mysql.ERR_HEADER {
		return "", parseErr(p)
	}
	if columns, _, ok := readLenEnc(p); !ok || columns == 0 { // an OK packet has 0
		return "", fmt.Errorf("%w: %q did not answer a result set", errMalformed, query)
	}
	// Column definitions and their EOF, then rows and the closing EOF (or an ERR).
	var value string
	for eofs, row := 0, 0; eofs < 2; {
		if p, err = bc.pio.readPacket(); err != nil {
			return "", err
		}
		switch {
		case len(p) > 0 && p[0] == mysql.ERR_HEADER:
			return "", parseErr(p)
		case isEOF(p, len(p)):
			eofs++
		case eofs == 1:
			if row++; row == 1 && p[0] != 0xfb { // 0xfb: NULL
				v, _, ok := readLenEncBytes(p)
				if !ok {
					return "", fmt.Errorf("%w: bad row in the answer to %q", errMalformed, query)
				}
				value = string(v)
			}
		}
	}
	return value, nil
}

// idleCheckAfter is how long a backend connection may sit unused before it is checked
// for a close by the server (wait_timeout, restart) before its next command.
const idleCheckAfter = time.Second

// alive reports whether the server has not closed the connection (nor sent anything
// unasked, like MySQL's ER_CLIENT_INTERACTION_TIMEOUT before it closes). One
// non-blocking peek, done only after the connection was idle for idleCheckAfter.
func (bc *backendConn) alive() bool {
	if bc.pio.r.Buffered() > 0 {
		return false
	}
	raw := bc.pio.conn
	if tc, ok := raw.(*tls.Conn); ok {
		// Below TLS: an idle connection has nothing to read there either, and a server
		// that closed it left EOF or a close_notify alert (bytes: not alive).
		raw = tc.NetConn()
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		case rerr != nil || n >= 0:
			alive = false // EOF (n == 0), unexpected bytes, or a socket error
		}
		return true
	})
	return alive && err == nil
}
