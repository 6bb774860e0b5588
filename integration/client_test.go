package integration

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// ---- a minimal raw MySQL protocol client ----

// rawClient speaks the MySQL protocol over one TCP connection, one packet at a time.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	seq  uint8

	greeting greeting
	// switchedTo is the plugin of an AuthSwitchRequest tailgate sent during login, or "".
	switchedTo string
	// status is the server status of the last query's final OK or EOF packet.
	status uint16
	// extraCaps are capability flags login announces besides rawClientCaps.
	extraCaps uint32
}

// greeting is the decoded initial handshake packet (protocol 10).
type greeting struct {
	version string
	connID  uint32
	caps    uint32
	salt    []byte
	plugin  string
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
}

// readPacket reads one frame (the tests never receive packets of 16 MiB).
func (rc *rawClient) readPacket() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(rc.r, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if h[3] != rc.seq {
		return nil, fmt.Errorf("packet sequence %d, want %d", h[3], rc.seq)
	}
	rc.seq = h[3] + 1
	p := make([]byte, n)
	if _, err := io.ReadFull(rc.r, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (rc *rawClient) writePacket(p []byte) error {
	n := len(p)
	frame := append([]byte{byte(n), byte(n >> 8), byte(n >> 16), rc.seq}, p...)
	rc.seq++
	_, err := rc.conn.Write(frame)
	return err
}

func (rc *rawClient) readGreeting() error {
	p, err := rc.readPacket()
	if err != nil {
		return fmt.Errorf("read initial handshake: %w", err)
	}
	if len(p) > 0 && p[0] == gmysql.ERR_HEADER {
		return decodeErr(p)
	}
	g, err := parseGreeting(p)
	if err != nil {
		return err
	}
	rc.greeting = g
	return nil
}

func parseGreeting(p []byte) (greeting, error) {
	var g greeting
	if len(p) < 1 || p[0] != 10 {
		return g, fmt.Errorf("initial handshake: protocol %v, want 10", p[:min(1, len(p))])
	}
	nul := strings.IndexByte(string(p[1:]), 0)
	if nul < 0 {
		return g, errors.New("initial handshake: unterminated server version")
	}
	g.version = string(p[1 : 1+nul])
	pos := 1 + nul + 1
	if len(p) < pos+4+8+1+2+1+2+2+1+10 {
		return g, errors.New("initial handshake too short")
	}
	g.connID = binary.LittleEndian.Uint32(p[pos:])
	pos += 4
	salt := append([]byte(nil), p[pos:pos+8]...)
	pos += 8 + 1 // filler
	g.caps = uint32(binary.LittleEndian.Uint16(p[pos:]))
	pos += 2 + 1 + 2 // charset, status
	g.caps |= uint32(binary.LittleEndian.Uint16(p[pos:])) << 16
	pos += 2
	saltLen := int(p[pos])
	pos += 1 + 10
	rest := max(13, saltLen-8)
	if len(p) < pos+rest {
		return g, errors.New("initial handshake: salt part 2 truncated")
	}
	salt = append(salt, p[pos:pos+rest-1]...) // the last byte is a NUL
	pos += rest
	g.salt = salt
	if end := strings.IndexByte(string(p[pos:]), 0); end >= 0 {
		g.plugin = string(p[pos : pos+end])
	} else {
		g.plugin = string(p[pos:])
	}
	return g, nil
}

// scramble computes the auth response of plugin for password and salt.
func scramble(plugin string, salt []byte, password string) []byte {
	switch plugin {
	case gmysql.AUTH_CACHING_SHA2_PASSWORD:
		return gmysql.CalcCachingSha2Password(salt, []byte(password))
	default:
		return gmysql.CalcNativePassword(salt, []byte(password))
	}
}

const rawClientCaps = gmysql.CLIENT_LONG_PASSWORD | gmysql.CLIENT_LONG_FLAG | gmysql.CLIENT_CONNECT_WITH_DB |
	gmysql.CLIENT_PROTOCOL_41 | gmysql.CLIENT_TRANSACTIONS | gmysql.CLIENT_SECURE_CONNECTION |
	gmysql.CLIENT_MULTI_RESULTS | gmysql.CLIENT_PLUGIN_AUTH

// handshakeResponse builds a HandshakeResponse41.
func handshakeResponse(caps uint32, user string, auth []byte, db, plugin string) []byte {
	p := binary.LittleEndian.AppendUint32(nil, caps)
	p = binary.LittleEndian.AppendUint32(p, 16<<20)
	p = append(p, 45) // utf8mb4_general_ci
	p = append(p, make([]byte, 23)...)
	p = append(append(p, user...), 0)
	p = append(append(p, byte(len(auth))), auth...)
	if caps&gmysql.CLIENT_CONNECT_WITH_DB != 0 {
		p = append(append(p, db...), 0)
	}
	if caps&gmysql.CLIENT_PLUGIN_AUTH != 0 {
		p = append(append(p, plugin...), 0)
	}
	return p
}

// login runs the connection phase announcing plugin, following an AuthSwitchRequest.
// A server ERR packet comes back as *gmysql.MyError.
func (rc *rawClient) login(user, password, plugin string) error {
	if err := rc.readGreeting(); err != nil {
		return err
	}
	auth := scramble(plugin, rc.greeting.salt, password)
	if err := rc.writePacket(handshakeResponse(rawClientCaps|rc.extraCaps, user, auth, cluster.TestDatabase, plugin)); err != nil {
		return err
	}
	for {
		p, err := rc.readPacket()
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		if len(p) == 0 {
			return errors.New("login: empty packet")
		}
		switch p[0] {
		case gmysql.OK_HEADER:
			rc.seq = 0
			return nil
		case gmysql.ERR_HEADER:
			return decodeErr(p)
		case gmysql.EOF_HEADER: // AuthSwitchRequest: plugin NUL salt [NUL]
			nul := strings.IndexByte(string(p[1:]), 0)
			if nul < 0 {
				return fmt.Errorf("bad AuthSwitchRequest % x", p)
			}
			rc.switchedTo = string(p[1 : 1+nul])
			salt := p[1+nul+1:]
			if len(salt) > 0 && salt[len(salt)-1] == 0 {
				salt = salt[:len(salt)-1]
			}
			if err := rc.writePacket(scramble(rc.switchedTo, salt, password)); err != nil {
				return err
			}
		case gmysql.MORE_DATE_HEADER: // caching_sha2_password: 3 = fast auth OK (an OK follows), 4 = full auth
			if len(p) > 1 && p[1] == gmysql.CACHE_SHA2_FAST_AUTH {
				continue
			}
			return fmt.Errorf("login: server asked for caching_sha2_password full authentication (% x), which needs TLS or RSA", p)
		default:
			return fmt.Errorf("login: unexpected packet % x", p)
		}
	}
}

// rawLogin connects and logs in as the application user.
func rawLogin(t testing.TB, addr string) *rawClient {
	t.Helper()
	rc := dialRaw(t, addr)
	if err := rc.login(cluster.AppUser, cluster.AppPassword, gmysql.AUTH_NATIVE_PASSWORD); err != nil {
		t.Fatalf("raw login: %v", err)
	}
	return rc
}

func decodeErr(p []byte) *gmysql.MyError {
	e := &gmysql.MyError{State: "HY000"}
	if len(p) < 3 {
		e.Message = fmt.Sprintf("short ERR packet % x", p)
		return e
	}
	e.Code = binary.LittleEndian.Uint16(p[1:])
	rest := p[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.State, rest = string(rest[1:6]), rest[6:]
	}
	e.Message = string(rest)
	return e
}

// send starts a command.
func (rc *rawClient) send(cmd byte, arg []byte) {
	rc.t.Helper()
	rc.seq = 0
	if err := rc.writePacket(append([]byte{cmd}, arg...)); err != nil {
		rc.t.Fatalf("send command 0x%02x: %v", cmd, err)
	}
}

// simple sends a command answered by one packet and returns it; an ERR is an error.
func (rc *rawClient) simple(cmd byte, arg []byte) ([]byte, error) {
	rc.t.Helper()
	rc.send(cmd, arg)
	p, err := rc.readPacket()
	if err != nil {
		rc.t.Fatalf("command 0x%02x: read reply: %v", cmd, err)
	}
	if len(p) > 0 && p[0] == gmysql.ERR_HEADER {
		return p, decodeErr(p)
	}
	return p, nil
}

// ping sends COM_PING and fails the test unless tailgate answers OK.
func (rc *rawClient) ping() {
	rc.t.Helper()
	p, err := rc.simple(gmysql.COM_PING, nil)
	if err != nil || len(p) == 0 || p[0] != gmysql.OK_HEADER {
		rc.t.Fatalf("COM_PING = % x, %v; want OK", p, err)
	}
}

// nullString is a text-protocol value; valid is false for NULL.
type nullString struct {
	s     string
	valid bool
}

func isEOFPacket(p []byte) bool { return len(p) > 0 && len(p) < 9 && p[0] == gmysql.EOF_HEADER }

// query runs a COM_QUERY and returns the rows of its (single) result; an ERR is an error.
func (rc *rawClient) query(q string) ([][]nullString, error) {
	rc.t.Helper()
	rc.send(gmysql.COM_QUERY, []byte(q))
	p, err := rc.readPacket()
	if err != nil {
		rc.t.Fatalf("%s: %v", q, err)
	}
	switch p[0] {
	case gmysql.OK_HEADER:
		_, _, n1 := gmysql.LengthEncodedInt(p[1:])
		_, _, n2 := gmysql.LengthEncodedInt(p[1+n1:])
		rc.status = binary.LittleEndian.Uint16(p[1+n1+n2:])
		return nil, nil
	case gmysql.ERR_HEADER:
		return nil, decodeErr(p)
	}
	cols, _, _ := gmysql.LengthEncodedInt(p)
	for i := uint64(0); i < cols; i++ {
		if _, err := rc.readPacket(); err != nil {
			rc.t.Fatalf("%s: column %d: %v", q, i, err)
		}
	}
	if p, err := rc.readPacket(); err != nil || !isEOFPacket(p) {
		rc.t.Fatalf("%s: EOF after columns = % x, %v", q, p, err)
	}
	var rows [][]nullString
	for {
		p, err := rc.readPacket()
		if err != nil {
			rc.t.Fatalf("%s: row: %v", q, err)
		}
		if isEOFPacket(p) {
			rc.status = binary.LittleEndian.Uint16(p[3:])
			return rows, nil
		}
		if p[0] == gmysql.ERR_HEADER {
			return rows, decodeErr(p)
		}
		var row []nullString
		for pos := 0; pos < len(p); {
			if p[pos] == 0xfb {
				row, pos = append(row, nullString{}), pos+1
				continue
			}
			v, _, n, err := gmysql.LengthEncodedString(p[pos:])
			if err != nil {
				rc.t.Fatalf("%s: bad row % x", q, p)
			}
			row, pos = append(row, nullString{string(v), true}), pos+n
		}
		rows = append(rows, row)
	}
}

// queryValue runs a query returning one row of one column.
func (rc *rawClient) queryValue(q string) nullString {
	rc.t.Helper()
	rows, err := rc.query(q)
	if err != nil {
		rc.t.Fatalf("%s: %v", q, err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		rc.t.Fatalf("%s: %d rows, want one value", q, len(rows))
	}
	return rows[0][0]
}

// waitClosed reads from c until tailgate closes it (EOF or reset) and returns what was
// read and how long it took; the test fails when c is still open after within.
func waitClosed(t testing.TB, c net.Conn, r io.Reader, within time.Duration) ([]byte, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	if r == nil {
		r = c
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == nil {
			continue
		}
		elapsed := time.Since(start)
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			return got, elapsed
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("tailgate did not close the connection within %v (read %d bytes)", within, len(got))
		default:
			t.Fatalf("read: %v", err)
		}
	}
}

// checkAlive fails the test unless an existing session answers SELECT 1 and a new client
// can log in.
func checkAlive(t testing.TB, tg *tailgate, existing *sql.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var one int
	if err := existing.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("open session: SELECT 1 = %d, %v", one, err)
	}
	rc := rawLogin(t, tg.addr)
	if v := rc.queryValue("SELECT 1"); v.s != "1" {
		t.Fatalf("new session: SELECT 1 = %q", v.s)
	}
	_ = rc.conn.Close()
}

func openDB(t testing.TB, addr, user, password string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/%s?timeout=5s", user, password, addr, cluster.TestDatabase))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func driverErr(err error) *mysqldriver.MySQLError {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me
	}
	return nil
}

// ---- 1, 2: authentication ----

var accessDenied = regexp.MustCompile(`^Access denied for user '([^']*)'@'([^']*)' \(using password: (YES|NO)\)$`)

func TestAuthErrors(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	ctx := context.Background()

	login := func(user, password string) *mysqldriver.MySQLError {
		t.Helper()
		err := openDB(t, tg.addr, user, password).PingContext(ctx)
		me := driverErr(err)
		if me == nil {
			t.Fatalf("login as %q with a bad credential: %v, want a MySQL error", user, err)
		}
		return me
	}
	wrong := login(cluster.AppUser, "not-the-password")
	unknown := login("nosuchuser", cluster.AppPassword)
	for _, c := range []struct {
		user string
		err  *mysqldriver.MySQLError
	}{{cluster.AppUser, wrong}, {"nosuchuser", unknown}} {
		if c.err.Number != gmysql.ER_ACCESS_DENIED_ERROR {
			t.Errorf("%s: error %d, want 1045", c.user, c.err.Number)
		}
		if c.err.SQLState != [5]byte{'2', '8', '0', '0', '0'} {
			t.Errorf("%s: SQL state %s, want 28000", c.user, c.err.SQLState)
		}
		m := accessDenied.FindStringSubmatch(c.err.Message)
		switch {
		case m == nil:
			t.Errorf("%s: message %q does not read \"Access denied for user '<name>'@'<host>' (using password: YES)\"", c.user, c.err.Message)
		case m[1] != c.user || m[3] != "YES":
			t.Errorf("%s: message %q names user %q, using password %s", c.user, c.err.Message, m[1], m[3])
		case strings.Contains(m[2], ":"):
			// MySQL and MariaDB name the client host only; tailgate passes go-mysql's
			// RemoteAddr().String(), which adds the client's ephemeral port.
			t.Errorf("%s: message %q: host part %q includes the client port (MySQL says '%s'@'127.0.0.1')", c.user, c.err.Message, m[2], c.user)
		}
	}
	// An unknown user must be indistinguishable from a wrong password.
	a := strings.Replace(wrong.Message, "'"+cluster.AppUser+"'@", "'<user>'@", 1)
	b := strings.Replace(unknown.Message, "'nosuchuser'@", "'<user>'@", 1)
	if a != b {
		t.Errorf("wrong password and unknown user differ beyond the user name:\n  wrong password: %q\n  unknown user:   %q", wrong.Message, unknown.Message)
	}

	// No password at all says so.
	if me := login(cluster.AppUser, ""); me.Number != gmysql.ER_ACCESS_DENIED_ERROR || !strings.HasSuffix(me.Message, "(using password: NO)") {
		t.Errorf("empty password: %d %q, want 1045 ... (using password: NO)", me.Number, me.Message)
	}

	// The right password gets in (go-sql-driver: mysql_native_password, the advertised default).
	db := openDB(t, tg.addr, cluster.AppUser, cluster.AppPassword)
	var user string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil {
		t.Fatalf("login with the right password: %v", err)
	}
	if !strings.HasPrefix(user, cluster.AppUser+"@") {
		t.Errorf("CURRENT_USER() = %q, want %s@...", user, cluster.AppUser)
	}
}

func TestAuthPlugins(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))

	t.Run("initial handshake", func(t *testing.T) {
		rc := dialRaw(t, tg.addr)
		if err := rc.readGreeting(); err != nil {
			t.Fatal(err)
		}
		g := rc.greeting
		if g.caps&gmysql.CLIENT_LOCAL_FILES != 0 {
			t.Errorf("initial handshake advertises CLIENT_LOCAL_FILES (caps %#x)", g.caps)
		}
		for _, want := range []uint32{gmysql.CLIENT_PROTOCOL_41, gmysql.CLIENT_SECURE_CONNECTION, gmysql.CLIENT_PLUGIN_AUTH} {
			if g.caps&want == 0 {
				t.Errorf("initial handshake lacks capability %#x (caps %#x)", want, g.caps)
			}
		}
		if g.plugin != gmysql.AUTH_NATIVE_PASSWORD {
			t.Errorf("default auth plugin %q, want %s", g.plugin, gmysql.AUTH_NATIVE_PASSWORD)
		}
		if len(g.salt) != 20 {
			t.Errorf("salt of %d bytes, want 20", len(g.salt))
		}
	})

	t.Run("mysql_native_password", func(t *testing.T) {
		rc := dialRaw(t, tg.addr)
		if err := rc.login(cluster.AppUser, cluster.AppPassword, gmysql.AUTH_NATIVE_PASSWORD); err != nil {
			t.Fatalf("login: %v", err)
		}
		if rc.switchedTo != "" {
			t.Errorf("auth switch to %q for a client that announced the server default", rc.switchedTo)
		}
		if v := rc.queryValue("SELECT 1"); v.s != "1" {
			t.Errorf("SELECT 1 = %q", v.s)
		}
	})

	t.Run("caching_sha2_password", func(t *testing.T) {
		rc := dialRaw(t, tg.addr)
		if err := rc.login(cluster.AppUser, cluster.AppPassword, gmysql.AUTH_CACHING_SHA2_PASSWORD); err != nil {
			t.Fatalf("login announcing caching_sha2_password: %v", err)
		}
		if rc.switchedTo != gmysql.AUTH_NATIVE_PASSWORD {
			t.Errorf("auth switch to %q, want %s", rc.switchedTo, gmysql.AUTH_NATIVE_PASSWORD)
		}
		if v := rc.queryValue("SELECT CURRENT_USER()"); !strings.HasPrefix(v.s, cluster.AppUser+"@") {
			t.Errorf("CURRENT_USER() = %q", v.s)
		}
	})

	for _, c := range []struct{ name, user, password string }{
		{"caching_sha2_password wrong password", cluster.AppUser, "wrong"},
		{"caching_sha2_password unknown user", "nosuchuser", cluster.AppPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, tg.addr)
			err := rc.login(c.user, c.password, gmysql.AUTH_CACHING_SHA2_PASSWORD)
			var me *gmysql.MyError
			if !errors.As(err, &me) || me.Code != gmysql.ER_ACCESS_DENIED_ERROR {
				t.Fatalf("login = %v, want error 1045", err)
			}
			if m := accessDenied.FindStringSubmatch(me.Message); m == nil || m[1] != c.user {
				t.Errorf("message %q", me.Message)
			}
			waitClosed(t, rc.conn, rc.r, 5*time.Second)
		})
	}
}

// ---- 3: max_connections ----

func TestMaxConnections(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.MaxConnections = 5
	tg := startTailgate(t, cfg)
	db := openDB(t, tg.addr, cluster.AppUser, cluster.AppPassword)
	db.SetMaxIdleConns(0) // Conn.Close closes the client connection
	ctx := context.Background()

	var held []*sql.Conn
	for i := 0; i < 5; i++ {
		c, err := db.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
		}
		if err != nil {
			t.Fatalf("connection %d of 5: %v", i+1, err)
		}
		held = append(held, c)
	}
	t.Cleanup(func() {
		for _, c := range held {
			_ = c.Close()
		}
	})

	c, err := db.Conn(ctx)
	if err == nil {
		_ = c.Close()
		t.Fatalf("6th connection with max_connections = 5 got in")
	}
	if me := driverErr(err); me == nil || me.Number != gmysql.ER_CON_COUNT_ERROR {
		t.Fatalf("6th connection: %v, want error 1040", err)
	}
	// The refused client is closed; the held sessions still work.
	for i, c := range held {
		if err := c.PingContext(ctx); err != nil {
			t.Errorf("held connection %d after a refusal: %v", i, err)
		}
	}

	if err := held[0].Close(); err != nil {
		t.Fatal(err)
	}
	held = held[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := db.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
			if err == nil {
				held = append(held, c)
				break
			}
		}
		if me := driverErr(err); me == nil || me.Number != gmysql.ER_CON_COUNT_ERROR {
			t.Fatalf("connecting after a close: %v, want success or 1040 while the slot frees", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot freed 10s after closing a connection")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Full again.
	if c, err := db.Conn(ctx); err == nil {
		_ = c.Close()
		t.Errorf("a 6th connection got in after a slot was reused")
	}
}

// ---- 4: handshake_timeout ----

func TestHandshakeTimeout(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.HandshakeTimeout = config.Duration{Duration: 500 * time.Millisecond}
	tg := startTailgate(t, cfg)
	ctx := context.Background()

	// silent connects, reads the greeting, runs meanwhile, then waits for tailgate to close
	// the connection and returns how long after the greeting that was.
	silent := func(t *testing.T, meanwhile func(rc *rawClient)) time.Duration {
		rc := dialRaw(t, tg.addr)
		if err := rc.readGreeting(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if meanwhile != nil {
			meanwhile(rc)
		}
		waitClosed(t, rc.conn, rc.r, 5*time.Second)
		return time.Since(start)
	}
	check := func(t *testing.T, elapsed time.Duration) {
		t.Helper()
		if elapsed < 400*time.Millisecond || elapsed > 2*time.Second {
			t.Errorf("silent client closed after %v, want about 500ms (0.4s..2s)", elapsed)
		} else {
			t.Logf("closed after %v", elapsed)
		}
	}

	t.Run("sends nothing", func(t *testing.T) {
		check(t, silent(t, func(*rawClient) {
			// Meanwhile a normal client logs in and works.
			db := openDB(t, tg.addr, cluster.AppUser, cluster.AppPassword)
			var one int
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Errorf("normal login while a silent client waits: %v", err)
			}
		}))
	})
	t.Run("half a handshake response", func(t *testing.T) {
		check(t, silent(t, func(rc *rawClient) {
			// A header announcing 100 bytes, then only 10 of them.
			_, _ = rc.conn.Write(append([]byte{100, 0, 0, 1}, make([]byte, 10)...))
		}))
	})
	t.Run("does not read the greeting", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", tg.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		// Nothing read yet: wait, then read the greeting and the close behind it.
		time.Sleep(100 * time.Millisecond)
		waitClosed(t, c, nil, 5*time.Second)
		check(t, time.Since(start))
	})
	t.Run("authenticated sessions have no deadline", func(t *testing.T) {
		c := conn(t, tg.db(t, ""))
		time.Sleep(1200 * time.Millisecond) // idle for longer than handshake_timeout
		var one int
		if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("session idle for 1.2s with handshake_timeout 500ms: %v", err)
		}
	})
}

// ---- 5: garbage input ----

// heapInuse returns the heap in use after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestGarbageInput(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.MaxAllowedPacket = config.MiB
	// Junk that happens to decode as a handshake response with an unknown auth plugin gets
	// an AuthSwitchRequest and is then (rightly) waited for until handshake_timeout.
	cfg.Proxy.HandshakeTimeout = config.Duration{Duration: 2 * time.Second}
	tg := startTailgate(t, cfg)
	healthy := conn(t, tg.db(t, ""))
	checkAlive(t, tg, healthy)

	t.Run("random bytes right after connecting", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 10; i++ {
			rc := dialRaw(t, tg.addr)
			junk := make([]byte, 4096)
			for j := range junk {
				junk[j] = byte(rng.Uint32())
			}
			if i%2 == 1 {
				// Well framed: a valid header (sequence 1, the rest of the 4 KiB) over random
				// bytes, so the handshake decoder sees the junk.
				copy(junk, []byte{0xfc, 0x0f, 0x00, 0x01})
			} else {
				junk[3] = 0x7f // the sequence number is already wrong
			}
			if _, err := rc.conn.Write(junk); err != nil {
				t.Fatalf("write: %v", err)
			}
			waitClosed(t, rc.conn, rc.r, 5*time.Second)
		}
		checkAlive(t, tg, healthy)
	})

	t.Run("truncated handshake response", func(t *testing.T) {
		rc := dialRaw(t, tg.addr)
		if err := rc.readGreeting(); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.conn.Write(append([]byte{100, 0, 0, 1}, make([]byte, 10)...)); err != nil {
			t.Fatal(err)
		}
		_ = rc.conn.(*net.TCPConn).CloseWrite()
		waitClosed(t, rc.conn, rc.r, 3*time.Second)
		checkAlive(t, tg, healthy)
	})

	t.Run("malformed connection attributes", func(t *testing.T) {
		rc := dialRaw(t, tg.addr)
		if err := rc.readGreeting(); err != nil {
			t.Fatal(err)
		}
		auth := scramble(gmysql.AUTH_NATIVE_PASSWORD, rc.greeting.salt, cluster.AppPassword)
		p := handshakeResponse(rawClientCaps|gmysql.CLIENT_CONNECT_ATTRS, cluster.AppUser, auth, cluster.TestDatabase, gmysql.AUTH_NATIVE_PASSWORD)
		p = append(p, 0xfc, 0x10) // attribute length: a 2-byte integer cut after one byte
		if err := rc.writePacket(p); err != nil {
			t.Fatal(err)
		}
		got, _ := waitClosed(t, rc.conn, rc.r, 3*time.Second)
		if len(got) > 4 && got[4] == gmysql.OK_HEADER {
			t.Errorf("a handshake response with malformed attributes was accepted")
		}
		checkAlive(t, tg, healthy)
	})

	t.Run("16 MiB header and continuations up to 1 GiB before auth", func(t *testing.T) {
		rc := dialRaw(t, tg.addr)
		if err := rc.readGreeting(); err != nil {
			t.Fatal(err)
		}
		before := heapInuse()
		// Stream a 1 GiB handshake "response": 64 frames of 16 MiB-1 (each a header and
		// zeros). tailgate must stop reading after about 1 MiB and close.
		var written int64
		wrote := make(chan error, 1)
		go func() {
			zeros := make([]byte, 64<<10)
			for f := 0; f < 64; f++ {
				if _, err := rc.conn.Write([]byte{0xff, 0xff, 0xff, byte(1 + f)}); err != nil {
					wrote <- err
					return
				}
				for left := 0xffffff; left > 0; {
					n, err := rc.conn.Write(zeros[:min(left, len(zeros))])
					written += int64(n)
					left -= n
					if err != nil {
						wrote <- err
						return
					}
				}
			}
			wrote <- nil
		}()
		start := time.Now()
		waitClosed(t, rc.conn, rc.r, 5*time.Second)
		elapsed := time.Since(start)
		select {
		case err := <-wrote:
			if err == nil {
				t.Fatalf("tailgate read the whole 1 GiB before authentication")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the writer is still writing 5s after tailgate closed the connection")
		}
		t.Logf("closed after %v; the client wrote %d bytes (tailgate reads at most 1 MiB; the rest is socket buffers)", elapsed, written)
		if written > 64<<20 {
			t.Errorf("the client wrote %d MiB before the connection failed, want about 1 MiB plus socket buffers", written>>20)
		}
		if elapsed > 1500*time.Millisecond {
			t.Errorf("closed after %v; the read limit, not handshake_timeout (2s), should end it", elapsed)
		}
		if d := int64(heapInuse()) - int64(before); d > 64<<20 {
			t.Errorf("heap in use grew by %d MiB", d>>20)
		}
		checkAlive(t, tg, healthy)
	})

	t.Run("stalled 16 MiB headers before auth", func(t *testing.T) {
		// Each unauthenticated client sends one frame header announcing 16 MiB-1 and then
		// waits. Four bytes must not make tailgate reserve the announced 16 MiB: with
		// max_connections = 10000 that would be 160 GiB.
		const clients = 8
		before := heapInuse()
		var conns []*rawClient
		for i := 0; i < clients; i++ {
			rc := dialRaw(t, tg.addr)
			if err := rc.readGreeting(); err != nil {
				t.Fatal(err)
			}
			if _, err := rc.conn.Write([]byte{0xff, 0xff, 0xff, 0x01, 0x00}); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, rc)
		}
		// Sample the heap while the clients wait (the handshake timeout is 10s).
		var peak int64
		for i := 0; i < 10; i++ {
			time.Sleep(50 * time.Millisecond)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, int64(ms.HeapInuse)-int64(before))
		}
		t.Logf("heap in use grew by up to %d MiB with %d stalled clients", peak>>20, clients)
		if peak > 64<<20 {
			t.Errorf("%d clients that sent 5 bytes each made the heap grow by %d MiB (about %d MiB each): the pre-auth reader allocates the announced frame size", clients, peak>>20, peak/clients>>20)
		}
		for _, rc := range conns {
			_ = rc.conn.Close()
		}
		checkAlive(t, tg, healthy)
	})

	t.Run("command below max_allowed_packet", func(t *testing.T) {
		rc := rawLogin(t, tg.addr)
		big := strings.Repeat("b", 900<<10)
		if v := rc.queryValue("SELECT LENGTH('" + big + "')"); v.s != fmt.Sprint(len(big)) {
			t.Errorf("LENGTH of a 900 KiB literal = %q, want %d", v.s, len(big))
		}
		rc.ping()
	})

	t.Run("command above max_allowed_packet", func(t *testing.T) {
		rc := rawLogin(t, tg.addr)
		rc.ping()
		// A 2 MiB COM_QUERY; max_allowed_packet is 1 MiB.
		q := append([]byte("\x03SELECT '"), make([]byte, 2<<20)...)
		for i := 9; i < len(q); i++ {
			q[i] = 'a'
		}
		q = append(q, '\'')
		rc.seq = 0
		n := len(q)
		sent := make(chan error, 1)
		go func() {
			_, err := rc.conn.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0}, q...))
			sent <- err
		}()
		got, _ := waitClosed(t, rc.conn, rc.r, 5*time.Second)
		<-sent
		if len(got) > 0 {
			if len(got) < 5 || got[4] != gmysql.ERR_HEADER {
				t.Fatalf("before the close tailgate sent % x, want nothing or an ERR packet", got[:min(len(got), 32)])
			}
			if e := decodeErr(got[4:]); e.Code != gmysql.ER_NET_PACKET_TOO_LARGE {
				t.Errorf("ERR %d %q, want 1153", e.Code, e.Message)
			}
		}
		checkAlive(t, tg, healthy)
	})

	t.Run("command above max_allowed_packet is reported", func(t *testing.T) {
		// The session writes ER_NET_PACKET_TOO_LARGE before closing (session.run): the
		// client should receive it, as it does from MySQL, and not just a dropped connection.
		rc := rawLogin(t, tg.addr)
		n := 2 << 20
		// Only the header: tailgate rejects the announced size before reading the payload.
		if _, err := rc.conn.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0, gmysql.COM_QUERY}); err != nil {
			t.Fatal(err)
		}
		got, _ := waitClosed(t, rc.conn, rc.r, 5*time.Second)
		if len(got) < 5 || got[4] != gmysql.ERR_HEADER {
			t.Fatalf("tailgate closed the connection without an ERR packet (got % x), want ERR 1153 then close", got)
		}
		if got[3] != 1 {
			t.Errorf("ERR packet sequence %d, want 1", got[3])
		}
		if e := decodeErr(got[4:]); e.Code != gmysql.ER_NET_PACKET_TOO_LARGE {
			t.Errorf("ERR %d %q, want 1153", e.Code, e.Message)
		}
		checkAlive(t, tg, healthy)
	})
}

// ---- 6: unknown commands ----

func TestUnknownCommand(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	rc := rawLogin(t, tg.addr)
	// 0x1f is COM_RESET_CONNECTION, not an unknown command; 0x20 and up are past every
	// command MariaDB knows.
	for _, cmd := range []byte{0x20, 0x2e, 0xee, 0xff} {
		p, err := rc.simple(cmd, []byte("some argument"))
		var me *gmysql.MyError
		if !errors.As(err, &me) || me.Code != gmysql.ER_UNKNOWN_COM_ERROR {
			t.Errorf("command 0x%02x: % x, %v; want ERR 1047", cmd, p, err)
		}
		rc.ping()
		if v := rc.queryValue("SELECT 1"); v.s != "1" {
			t.Errorf("after command 0x%02x: SELECT 1 = %q", cmd, v.s)
		}
	}
}

// ---- 7: other commands ----

func TestCommands(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	db := tg.db(t, "")
	ctx := context.Background()
	mustExec(t, db,
		"DROP TABLE IF EXISTS client_fields",
		"CREATE TABLE client_fields (id INT PRIMARY KEY, name VARCHAR(20), note TEXT)")
	waitReplicated(t, shared)

	t.Run("COM_PING", func(t *testing.T) {
		if err := conn(t, db).PingContext(ctx); err != nil {
			t.Errorf("go-sql-driver ping: %v", err)
		}
		rc := rawLogin(t, tg.addr)
		rc.ping()
		rc.ping()
	})

	t.Run("COM_INIT_DB", func(t *testing.T) {
		rc := rawLogin(t, tg.addr)
		_, err := rc.simple(gmysql.COM_INIT_DB, []byte("tailgate_no_such_db"))
		var me *gmysql.MyError
		if !errors.As(err, &me) || me.Code != gmysql.ER_BAD_DB_ERROR || me.State != "42000" ||
			!strings.Contains(me.Message, "tailgate_no_such_db") {
			t.Fatalf("COM_INIT_DB of a missing database: %v, want the server's ERR 1049", err)
		}
		// The session keeps its database.
		if v := rc.queryValue("SELECT DATABASE()"); v.s != cluster.TestDatabase {
			t.Errorf("DATABASE() after a failed COM_INIT_DB = %q, want %s", v.s, cluster.TestDatabase)
		}
		if _, err := rc.simple(gmysql.COM_INIT_DB, []byte("mysql")); err != nil {
			t.Fatalf("COM_INIT_DB mysql: %v", err)
		}
		for i := 0; i < 4; i++ { // wherever the reads go
			if v := rc.queryValue("SELECT DATABASE()"); v.s != "mysql" {
				t.Errorf("DATABASE() after COM_INIT_DB mysql = %q", v.s)
			}
		}
	})

	t.Run("COM_RESET_CONNECTION", func(t *testing.T) {
		rc := rawLogin(t, tg.addr)
		if _, err := rc.query("SET @x = 1"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			if v := rc.queryValue("SELECT @x"); v.s != "1" {
				t.Fatalf("SELECT @x before the reset = %+v, want 1", v)
			}
		}
		p, err := rc.simple(gmysql.COM_RESET_CONNECTION, nil)
		if err != nil || p[0] != gmysql.OK_HEADER {
			t.Fatalf("COM_RESET_CONNECTION = % x, %v; want OK", p, err)
		}
		for i := 0; i < 6; i++ { // replicas and primary
			if v := rc.queryValue("SELECT @x"); v.valid {
				t.Errorf("SELECT @x after the reset = %q, want NULL", v.s)
			}
		}
		if v := rc.queryValue("/* tailgate:primary */ SELECT @x"); v.valid {
			t.Errorf("SELECT @x on the primary after the reset = %q, want NULL", v.s)
		}
		if v := rc.queryValue("SELECT DATABASE()"); v.s != cluster.TestDatabase {
			t.Errorf("DATABASE() after the reset = %q, want %s (a reset keeps the database)", v.s, cluster.TestDatabase)
		}
	})

	t.Run("COM_RESET_CONNECTION keeps GTID tracking", func(t *testing.T) {
		// tailgate learns the GTID of a session's writes from last_gtid in the primary's OK
		// packets (read-your-writes); a backend reset must not switch that off.
		rc := rawLogin(t, tg.addr)
		const q = "/* tailgate:primary */ SELECT @@session.session_track_system_variables"
		if v := rc.queryValue(q); !strings.Contains(v.s, "last_gtid") {
			t.Fatalf("before the reset: session_track_system_variables = %q, want it to include last_gtid", v.s)
		}
		if _, err := rc.simple(gmysql.COM_RESET_CONNECTION, nil); err != nil {
			t.Fatal(err)
		}
		if v := rc.queryValue(q); !strings.Contains(v.s, "last_gtid") {
			t.Errorf("after COM_RESET_CONNECTION: session_track_system_variables = %q: the primary connection no longer reports last_gtid, so read-your-writes stops for this session", v.s)
		}
	})

	t.Run("COM_FIELD_LIST", func(t *testing.T) {
		rc := rawLogin(t, tg.addr)
		rc.send(gmysql.COM_FIELD_LIST, []byte("client_fields\x00"))
		var names []string
		for {
			p, err := rc.readPacket()
			if err != nil {
				t.Fatalf("COM_FIELD_LIST: %v", err)
			}
			if isEOFPacket(p) {
				break
			}
			if p[0] == gmysql.ERR_HEADER {
				t.Fatalf("COM_FIELD_LIST: %v", decodeErr(p))
			}
			// catalog, schema, table, org_table, name
			pos := 0
			var fields []string
			for i := 0; i < 5; i++ {
				v, _, n, err := gmysql.LengthEncodedString(p[pos:])
				if err != nil {
					t.Fatalf("bad column definition % x", p)
				}
				fields, pos = append(fields, string(v)), pos+n
			}
			if fields[0] != "def" || fields[2] != "client_fields" {
				t.Errorf("column definition %q", fields)
			}
			names = append(names, fields[4])
		}
		if strings.Join(names, ",") != "id,name,note" {
			t.Errorf("COM_FIELD_LIST columns %q, want id,name,note", names)
		}
		_, err := rc.simple(gmysql.COM_FIELD_LIST, []byte("client_no_such_table\x00"))
		var me *gmysql.MyError
		if !errors.As(err, &me) || me.Code != gmysql.ER_NO_SUCH_TABLE {
			t.Errorf("COM_FIELD_LIST of a missing table: %v, want ERR 1146", err)
		}
		rc.ping()
	})

	t.Run("COM_QUERY across continuation frames", func(t *testing.T) {
		// 17 MiB: the client sends two frames, tailgate joins and re-splits them.
		c := conn(t, db)
		big := strings.Repeat("c", 17<<20)
		var n int
		if err := c.QueryRowContext(ctx, "SELECT LENGTH('"+big+"')").Scan(&n); err != nil || n != len(big) {
			t.Fatalf("17 MiB query: LENGTH = %d, %v; want %d", n, err, len(big))
		}
		var one int
		if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("SELECT 1 after the 17 MiB query: %v", err)
		}
	})

	t.Run("COM_STATISTICS", func(t *testing.T) {
		rc := rawLogin(t, tg.addr)
		p, err := rc.simple(gmysql.COM_STATISTICS, nil)
		if err != nil {
			t.Fatalf("COM_STATISTICS: %v", err)
		}
		if !strings.HasPrefix(string(p), "Uptime: ") || !strings.Contains(string(p), "Threads: ") {
			t.Errorf("COM_STATISTICS = %q, want the server's status line", p)
		}
		rc.ping()
		if v := rc.queryValue("SELECT 1"); v.s != "1" {
			t.Errorf("SELECT 1 after COM_STATISTICS = %q", v.s)
		}
	})
}
