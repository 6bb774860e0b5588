package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/router"
)

// FuzzCommand drives a session's command loop with arbitrary client commands after login:
// every command the session decodes (COM_QUERY, COM_INIT_DB, COM_FIELD_LIST, COM_SET_OPTION,
// COM_RESET_CONNECTION, the COM_STMT_* family with its statement ids, NULL bitmap,
// parameter types and long data, and commands it does not support). The session runs
// against two in-memory backends (primary and one replica), so prepared statements move
// between connections and the proxy re-prepares them and resends parameter types.
//
// The input is a setup byte (the setup* bits) and then commands, each as a 2-byte
// little-endian length and the payload; the harness frames them, so mutations exercise the
// command decoding rather than the framing (FuzzReadPacket does that).
//
// Whatever the input: no panic, the session ends, the backends only ever receive commands a
// server would accept as well formed (known statement ids, an execute whose bitmap and types
// are all there), the proxy never reads past a backend's response, the client gets whole
// frames, and no backend connection leaks or is counted twice.
func FuzzCommand(f *testing.F) {
	for _, seed := range commandSeeds() {
		f.Add(seed)
	}
	cl := router.NewClassifier(1000)
	rt := router.New(router.Options{Replicas: []router.ReplicaConfig{{Name: "r1"}}})
	f.Fuzz(func(t *testing.T, input []byte) {
		h := newCommandHarness(rt, cl, input)
		done := make(chan string, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					done <- fmt.Sprintf("%v\n%s", r, debug.Stack())
					return
				}
				done <- ""
			}()
			h.sess.run(context.Background())
		}()
		select {
		case p := <-done:
			if p != "" {
				t.Fatalf("session panicked: %s", p)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the session did not end (%d bytes of commands)", len(input))
		}
		for _, v := range h.violations {
			t.Error(v)
		}
		h.checkClientOutput(t)
		h.checkConnections(t)
	})
}

// Bits of the setup byte: how the client logged in and how the proxy is configured.
const (
	setupSessionTrack   = 1 << iota // the client negotiated CLIENT_SESSION_TRACK
	setupSchema                     // the handshake named a database
	setupReadYourWrites             // proxy.read_your_writes
	setupScopeUser                  // consistency scope "user" (else "session")
	setupScopeGlobal                // consistency scope "global"
)

// commandHarness is one session after login, over a client reading the fuzz input and
// backends answering in memory.
type commandHarness struct {
	sess       *session
	srv        *Server
	out        bytes.Buffer // what the proxy wrote to the client
	fakes      []*fakeBackendConn
	violations []string
}

func newCommandHarness(rt *router.Router, cl *router.Classifier, input []byte) *commandHarness {
	var setup byte
	if len(input) > 0 {
		setup, input = input[0], input[1:]
	}
	h := &commandHarness{}
	scope := "session"
	switch {
	case setup&setupScopeGlobal != 0:
		scope = "global"
	case setup&setupScopeUser != 0:
		scope = "user"
	}
	h.srv = New(Options{
		MaxAllowedPacket:      4 << 10,
		BackendConnectTimeout: 100 * time.Millisecond,
		ReadYourWrites:        setup&setupReadYourWrites != 0,
		ConsistencyScope:      scope,
		// Nothing listens there: a connection the proxy drops is not replaced, and the
		// commands that needed it get the proxy's error.
		Primary:  BackendConfig{Name: router.PrimaryName, Address: "127.0.0.1:1"},
		Replicas: []BackendConfig{{Name: "r1", Address: "127.0.0.1:1"}},
	}, rt, cl)
	schema := ""
	if setup&setupSchema != 0 {
		schema = "tailgate_test"
	}
	var caps uint32 = mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_MULTI_RESULTS
	if setup&setupSessionTrack != 0 {
		caps |= mysql.CLIENT_SESSION_TRACK
	}
	key := poolKey{user: "app", collation: "utf8mb4_general_ci", schema: schema}
	h.sess = &session{
		srv:        h.srv,
		id:         1,
		user:       "app",
		remote:     "fuzz",
		clientCaps: caps,
		log:        hclog.NewNullLogger(),
		connLog:    hclog.NewNullLogger(),
		autocommit: true,
		owner:      &stateOwner{},
		key:        key,
		dial:       dialParams{user: "app", schema: schema, collation: key.collation, timeout: 100 * time.Millisecond, maxPacket: 1 << 30},
		userWrite:  h.srv.userWrite("app"),
	}
	h.sess.state.schema = schema
	var wire []byte
	for len(input) > 0 {
		n := 0
		if len(input) >= 2 {
			n = int(binary.LittleEndian.Uint16(input))
			input = input[2:]
		} else {
			input = input[1:]
		}
		n = min(n, len(input))
		wire = append(wire, frameBytes(0, input[:n])...)
		input = input[n:]
	}
	h.sess.client = newPacketIO(&memConn{r: bytes.NewReader(wire), w: &h.out}, h.srv.opts.MaxAllowedPacket)
	// One idle connection per backend, as after login.
	for i, b := range h.srv.Backends() {
		fake := &fakeBackendConn{h: h, name: b.Name, primary: b.Primary, nextID: uint32(1000 * (i + 1)), stmts: map[uint32]*fakeStmt{}}
		h.fakes = append(h.fakes, fake)
		bc := &backendConn{b: b, pio: newPacketIO(fake, 1<<30),
			schema: schema, lastUsed: time.Now(), mariadb: true}
		b.conns.Add(1)
		b.pool.adopt()
		bc.pool, bc.key = b.pool, key
		b.pool.put(bc)
	}
	return h
}

func (h *commandHarness) violation(format string, args ...any) {
	if len(h.violations) < 20 {
		h.violations = append(h.violations, fmt.Sprintf(format, args...))
	}
}

// checkClientOutput checks that the client got whole frames, each response numbered from 1,
// and well-formed ERR packets.
func (h *commandHarness) checkClientOutput(t *testing.T) {
	out := h.out.Bytes()
	var prev byte
	for len(out) > 0 {
		if len(out) < 4 {
			t.Fatalf("client output ends in a partial frame header: % x", out)
		}
		n := int(out[0]) | int(out[1])<<8 | int(out[2])<<16
		seq := out[3]
		if len(out) < 4+n {
			t.Fatalf("client frame announces %d bytes, %d left", n, len(out)-4)
		}
		if seq != 1 && seq != prev+1 {
			t.Fatalf("client frame sequence %d after %d", seq, prev)
		}
		p := out[4 : 4+n]
		if len(p) > 0 && p[0] == mysql.ERR_HEADER && (len(p) < 9 || p[3] != '#') {
			t.Fatalf("malformed ERR packet to the client: % x", p)
		}
		prev = seq
		out = out[4+n:]
	}
}

// checkConnections checks the backend connection accounting after the session ended: every
// connection left is idle in its pool, and the pools and backends count exactly those.
func (h *commandHarness) checkConnections(t *testing.T) {
	if len(h.sess.held) != 0 {
		t.Errorf("session still holds %d connections after it ended", len(h.sess.held))
	}
	open := map[string]int{}
	for _, fake := range h.fakes {
		if !fake.closed {
			open[fake.name]++
		}
	}
	for _, b := range h.srv.Backends() {
		b.pool.mu.Lock()
		idle := 0
		for _, list := range b.pool.idle {
			for _, bc := range list {
				idle++
				if bc.closed {
					t.Errorf("%s: a closed connection is idle in the pool", b.Name)
				}
			}
		}
		poolOpen := b.pool.open
		b.pool.mu.Unlock()
		if poolOpen != idle || poolOpen != open[b.Name] || b.Connections() != int64(open[b.Name]) {
			t.Errorf("%s: pool counts %d open, %d idle; backend counts %d; %d connections are open",
				b.Name, poolOpen, idle, b.Connections(), open[b.Name])
		}
	}
}

// fakeBackendConn is one backend connection answered in memory, synchronously: each command
// the proxy writes is answered at once into the read buffer, roughly as MariaDB would. What
// a server would reject as a malformed command is recorded as a violation, since the proxy
// must check what it forwards.
type fakeBackendConn struct {
	h       *commandHarness
	name    string
	primary bool
	in      []byte       // written by the proxy, not yet a whole frame
	out     bytes.Buffer // answers not yet read
	seq     byte         // of the answer being written
	closed  bool
	gone    bool // the server closed the connection: reads end, writes vanish

	stmts         map[uint32]*fakeStmt
	nextID        uint32
	inTxn         bool
	autocommitOff bool // SET autocommit=0
	gtid          int
}

type fakeStmt struct {
	params, columns uint16
	typesBound      bool
	cursor          bool
}

var _ net.Conn = (*fakeBackendConn)(nil)

func (c *fakeBackendConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.out.Len() == 0 && c.gone {
		return 0, io.EOF
	}
	if c.out.Len() == 0 {
		c.h.violation("%s: the proxy reads past the end of the answers", c.name)
		return 0, io.EOF
	}
	return c.out.Read(p)
}

func (c *fakeBackendConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.gone {
		return len(p), nil
	}
	c.in = append(c.in, p...)
	for len(c.in) >= 4 && !c.gone {
		n := int(c.in[0]) | int(c.in[1])<<8 | int(c.in[2])<<16
		if len(c.in) < 4+n {
			break
		}
		if c.in[3] != 0 {
			c.h.violation("%s: command frame with sequence %d", c.name, c.in[3])
		}
		c.command(c.in[4 : 4+n])
		c.in = c.in[4+n:]
	}
	return len(p), nil
}

func (c *fakeBackendConn) Close() error                     { c.closed = true; return nil }
func (c *fakeBackendConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fakeBackendConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fakeBackendConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeBackendConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeBackendConn) SetWriteDeadline(time.Time) error { return nil }

func (c *fakeBackendConn) reply(payload []byte) {
	c.seq++
	c.out.Write(frameHeader(c.seq, len(payload)))
	c.out.Write(payload)
}

func (c *fakeBackendConn) status() uint16 {
	var st uint16
	if !c.autocommitOff {
		st |= mysql.SERVER_STATUS_AUTOCOMMIT
	}
	if c.inTxn {
		st |= mysql.SERVER_STATUS_IN_TRANS
	}
	return st
}

func (c *fakeBackendConn) ok() { c.reply(okPkt{status: c.status(), track: true}.bytes()) }
func (c *fakeBackendConn) eof(extra uint16) {
	st := c.status() | extra
	c.reply([]byte{mysql.EOF_HEADER, 0, 0, byte(st), byte(st >> 8)})
}
func (c *fakeBackendConn) err(code uint16, msg string) {
	c.reply(appendErr(nil, code, mysql.MySQLState[code], msg))
}

// fakeColumn is a column definition (VAR_STRING "c").
var fakeColumn = []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'c', 1, 'c', 0x0c, 0x21, 0, 0xff, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0}

// resultSet answers one column and one row, text or binary.
func (c *fakeBackendConn) resultSet(binaryRow bool, warnings uint16) {
	c.reply([]byte{1})
	c.reply(fakeColumn)
	c.eof(0)
	if binaryRow {
		c.reply([]byte{0x00, 0x00, 1, '1'})
	} else {
		c.reply([]byte{1, '1'})
	}
	st := c.status()
	c.reply([]byte{mysql.EOF_HEADER, byte(warnings), byte(warnings >> 8), byte(st), byte(st >> 8)})
}

// firstWord is the statement's first keyword, upper case, after spaces and comments.
func firstWord(q []byte) string {
	for {
		q = bytes.TrimLeft(q, " \t\r\n(")
		if !bytes.HasPrefix(q, []byte("/*")) {
			break
		}
		end := bytes.Index(q, []byte("*/"))
		if end < 0 {
			return ""
		}
		q = q[end+2:]
	}
	end := bytes.IndexAny(q, " \t\r\n(;")
	if end < 0 {
		end = len(q)
	}
	return strings.ToUpper(string(q[:end]))
}

func (c *fakeBackendConn) command(p []byte) {
	c.seq = 0
	if len(p) == 0 {
		c.h.violation("%s: empty command", c.name)
		c.err(mysql.ER_UNKNOWN_COM_ERROR, "empty command")
		return
	}
	switch p[0] {
	case mysql.COM_QUERY:
		c.query(p[1:])
	case mysql.COM_INIT_DB:
		switch {
		case len(p) == 1:
			c.err(mysql.ER_NO_DB_ERROR, "No database selected")
		case bytes.Contains(p, []byte("gone")):
			c.gone = true
		case bytes.Contains(p, []byte("nope")) || c.missing(p):
			c.err(mysql.ER_BAD_DB_ERROR, "Unknown database")
		default:
			c.ok()
		}
	case mysql.COM_FIELD_LIST:
		c.reply(fakeColumn)
		c.eof(0)
	case mysql.COM_STATISTICS:
		c.reply([]byte("Uptime: 1  Threads: 1  Questions: 1"))
	case mysql.COM_SET_OPTION:
		if len(p) != 3 || p[1] > 1 || p[2] != 0 {
			c.h.violation("%s: COM_SET_OPTION % x", c.name, p[1:])
		}
		c.eof(0)
	case mysql.COM_RESET_CONNECTION:
		clear(c.stmts)
		c.inTxn, c.autocommitOff = false, false
		c.ok()
	case mysql.COM_PING:
		c.ok()
	case mysql.COM_STMT_PREPARE:
		c.prepare(p[1:])
	case mysql.COM_STMT_EXECUTE:
		c.execute(p)
	case mysql.COM_STMT_FETCH:
		if st := c.stmt(p, 9); st != nil {
			if !st.cursor {
				c.err(mysql.ER_STMT_HAS_NO_OPEN_CURSOR, "The statement has no open cursor.")
				return
			}
			st.cursor = false
			c.reply([]byte{0x00, 0x00, 1, '1'})
			c.eof(lastRowSent)
		}
	case mysql.COM_STMT_RESET:
		if st := c.stmt(p, 5); st != nil {
			st.cursor = false
			c.ok()
		}
	case mysql.COM_STMT_SEND_LONG_DATA:
		c.stmt(p, 7) // no answer
	case mysql.COM_STMT_CLOSE:
		if len(p) >= 5 {
			id := binary.LittleEndian.Uint32(p[1:])
			if c.stmts[id] == nil {
				c.h.violation("%s: COM_STMT_CLOSE of unknown statement %d", c.name, id)
			}
			delete(c.stmts, id)
		} else {
			c.h.violation("%s: COM_STMT_CLOSE of %d bytes", c.name, len(p))
		}
	default:
		c.h.violation("%s: unexpected command 0x%02x", c.name, p[0])
		c.err(mysql.ER_UNKNOWN_COM_ERROR, "Unknown command")
	}
}

// stmt returns the statement a COM_STMT_* command names, answering an error (and recording
// a violation: the proxy must only send ids the server gave it) when there is none. For
// COM_STMT_SEND_LONG_DATA it writes no error, as the server answers nothing.
func (c *fakeBackendConn) stmt(p []byte, minLen int) *fakeStmt {
	if len(p) < minLen {
		c.h.violation("%s: command 0x%02x of %d bytes", c.name, p[0], len(p))
		if p[0] != mysql.COM_STMT_SEND_LONG_DATA {
			c.err(mysql.ER_MALFORMED_PACKET, "Malformed communication packet")
		}
		return nil
	}
	id := binary.LittleEndian.Uint32(p[1:])
	st := c.stmts[id]
	if st == nil {
		c.h.violation("%s: command 0x%02x for unknown statement %d", c.name, p[0], id)
		if p[0] != mysql.COM_STMT_SEND_LONG_DATA {
			c.err(mysql.ER_UNKNOWN_STMT_HANDLER, fmt.Sprintf("Unknown prepared statement handler (%d)", id))
		}
	}
	return st
}

// missing reports whether the statement names something only the primary has: the
// replicas answer it with an error (a table created since, a database of another host).
func (c *fakeBackendConn) missing(q []byte) bool {
	return !c.primary && bytes.Contains(bytes.ToLower(q), []byte("noreplica"))
}

// failed answers statements the fake refuses, and breaks the connection on "GONE" (before
// answering; "FLAKY" on replicas only) and "CUT" (in the middle of a result set); it reports
// whether it answered.
func (c *fakeBackendConn) failed(q []byte) bool {
	upper := bytes.ToUpper(q)
	switch {
	case bytes.Contains(upper, []byte("GONE")) || !c.primary && bytes.Contains(upper, []byte("FLAKY")):
		c.gone = true
	case bytes.Contains(upper, []byte("CUT")):
		c.reply([]byte{1})
		c.reply(fakeColumn)
		c.gone = true
	case bytes.Contains(upper, []byte("FAIL")):
		c.err(mysql.ER_PARSE_ERROR, "You have an error in your SQL syntax")
	case c.missing(q):
		c.err(mysql.ER_NO_SUCH_TABLE, "Table 'noreplica' doesn't exist")
	default:
		return false
	}
	return true
}

func (c *fakeBackendConn) query(q []byte) {
	if c.failed(q) {
		return
	}
	switch word := firstWord(q); word {
	case "BEGIN", "START":
		c.inTxn = true
		c.ok()
	case "COMMIT", "ROLLBACK":
		c.inTxn = false
		c.ok()
	case "SELECT", "SHOW", "WITH", "VALUES", "TABLE":
		var warnings uint16
		if bytes.Contains(bytes.ToUpper(q), []byte("WARN")) {
			warnings = 1
		}
		c.resultSet(false, warnings)
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		ok := okPkt{affected: 1, status: c.status(), track: true}
		if word == "INSERT" {
			ok.ins = 7
		}
		if c.primary {
			c.gtid++
			ok.status |= stateChanged
			ok.block = trackSysVar("last_gtid", fmt.Sprintf("0-1-%d", c.gtid))
		}
		c.reply(ok.bytes())
	case "USE":
		// session_track_schema is on by default: the OK names the new database.
		name := bytes.Trim(q[bytes.Index(bytes.ToUpper(q), []byte("USE"))+3:], " \t\r\n`;")
		c.reply(okPkt{status: c.status() | stateChanged, track: true, block: trackSchema(string(name))}.bytes())
	default:
		upper := bytes.ToUpper(q)
		if bytes.Contains(upper, []byte("AUTOCOMMIT=0")) || bytes.Contains(upper, []byte("AUTOCOMMIT = 0")) {
			c.autocommitOff = true
		} else if bytes.Contains(upper, []byte("AUTOCOMMIT=1")) || bytes.Contains(upper, []byte("AUTOCOMMIT = 1")) {
			c.autocommitOff = false
		}
		c.ok()
	}
}

// maxFakeParams bounds the parameters of a fake prepared statement: more only cost time,
// the decoding is the same.
const maxFakeParams = 1024

func (c *fakeBackendConn) prepare(q []byte) {
	if c.failed(q) {
		return
	}
	st := &fakeStmt{params: uint16(min(bytes.Count(q, []byte("?")), maxFakeParams))}
	switch firstWord(q) {
	case "SELECT", "SHOW", "WITH", "VALUES", "TABLE":
		st.columns = 1
	}
	c.nextID++
	c.stmts[c.nextID] = st
	p := []byte{mysql.OK_HEADER}
	p = binary.LittleEndian.AppendUint32(p, c.nextID)
	p = binary.LittleEndian.AppendUint16(p, st.columns)
	p = binary.LittleEndian.AppendUint16(p, st.params)
	p = append(p, 0, 0, 0)
	c.reply(p)
	for _, n := range []uint16{st.params, st.columns} {
		if n == 0 {
			continue
		}
		for range n {
			c.reply(fakeColumn)
		}
		c.eof(0)
	}
}

// execute checks a COM_STMT_EXECUTE as the server parses it: statement id, flags, iteration
// count, NULL bitmap, new-params-bound flag and, when set, the parameter types.
func (c *fakeBackendConn) execute(p []byte) {
	st := c.stmt(p, 10)
	if st == nil {
		return
	}
	if n := int(st.params); n > 0 {
		boundAt := 10 + (n+7)/8
		if len(p) <= boundAt {
			c.h.violation("%s: COM_STMT_EXECUTE of %d bytes for %d parameters", c.name, len(p), n)
			c.err(mysql.ER_MALFORMED_PACKET, "Malformed communication packet")
			return
		}
		if p[boundAt] == 1 {
			if len(p) < boundAt+1+2*n {
				c.h.violation("%s: COM_STMT_EXECUTE with %d bytes of types for %d parameters", c.name, len(p)-boundAt-1, n)
				c.err(mysql.ER_MALFORMED_PACKET, "Malformed communication packet")
				return
			}
			st.typesBound = true
		}
		if !st.typesBound {
			// The client's mistake (it never sent types), unless the proxy failed to
			// resend them: the server refuses it either way.
			c.err(mysql.ER_WRONG_ARGUMENTS, "Incorrect arguments to mysqld_stmt_execute")
			return
		}
	}
	st.cursor = false
	if st.columns == 0 {
		c.reply(okPkt{affected: 1, status: c.status(), track: true}.bytes())
		return
	}
	if p[5]&cursorReadOnly != 0 {
		c.reply([]byte{1})
		c.reply(fakeColumn)
		c.eof(mysql.SERVER_STATUS_CURSOR_EXISTS)
		st.cursor = true
		return
	}
	c.resultSet(true, 0)
}

// Seed inputs: a setup byte, then commands as a 2-byte length and the payload.
func commandInput(setup byte, cmds ...[]byte) []byte {
	in := []byte{setup}
	for _, p := range cmds {
		in = binary.LittleEndian.AppendUint16(in, uint16(len(p)))
		in = append(in, p...)
	}
	return in
}

func cmd(c byte, arg string) []byte { return append([]byte{c}, arg...) }

func stmtCmd(c byte, id uint32, rest ...byte) []byte {
	return append(binary.LittleEndian.AppendUint32([]byte{c}, id), rest...)
}

// execPkt is a COM_STMT_EXECUTE: flags, iteration count 1, then (with parameters) the NULL
// bitmap, the new-params-bound flag, the types when bound, and the values.
func execPkt(id uint32, flags byte, nullBitmap []byte, bound byte, types, values []byte) []byte {
	p := stmtCmd(mysql.COM_STMT_EXECUTE, id, flags, 1, 0, 0, 0)
	if nullBitmap == nil {
		return p
	}
	p = append(p, nullBitmap...)
	p = append(p, bound)
	if bound == 1 {
		p = append(p, types...)
	}
	return append(p, values...)
}

func commandSeeds() [][]byte {
	const (
		first  = 1          // the session's first statement id
		second = 2          // and its second
		last   = 0xffffffff // MariaDB's "the statement just prepared"
	)
	intStr := []byte{mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_VAR_STRING, 0}
	vals := append(binary.LittleEndian.AppendUint64(nil, 42), 3, 'a', 'b', 'c')
	selectTwo := cmd(mysql.COM_STMT_PREPARE, "SELECT c FROM t WHERE id = ? AND name = ?")
	return [][]byte{
		// Plain commands.
		commandInput(0, cmd(mysql.COM_PING, ""), cmd(mysql.COM_QUERY, "SELECT 1"), cmd(mysql.COM_QUIT, "")),
		// COM_CHANGE_USER (an answer that cannot match: access denied), then a malformed one.
		commandInput(setupSchema, cmd(mysql.COM_QUERY, "SET @a = 1"),
			cmd(mysql.COM_CHANGE_USER, "app\x00\x01\x02\x03\x00tailgate_test\x00\x21\x00mysql_native_password\x00"),
			cmd(mysql.COM_QUERY, "SELECT @a"), cmd(mysql.COM_CHANGE_USER, "app")),
		commandInput(setupSchema|setupSessionTrack,
			cmd(mysql.COM_INIT_DB, "tailgate_test"), cmd(mysql.COM_FIELD_LIST, "t\x00"),
			cmd(mysql.COM_STATISTICS, ""), cmd(mysql.COM_INIT_DB, "nope"), cmd(mysql.COM_INIT_DB, ""),
			cmd(mysql.COM_QUERY, "SELECT * FROM t")),
		commandInput(0, cmd(mysql.COM_SET_OPTION, "\x01\x00"), cmd(mysql.COM_QUERY, "SELECT 1"),
			cmd(mysql.COM_SET_OPTION, "\x00\x00"), cmd(mysql.COM_QUERY, "SELECT 2"),
			cmd(mysql.COM_SET_OPTION, "\x02\x00"), cmd(mysql.COM_SET_OPTION, "")),
		commandInput(setupSessionTrack|setupReadYourWrites|setupScopeGlobal, cmd(mysql.COM_QUERY, "SET @a = 1"), cmd(mysql.COM_QUERY, "SET NAMES utf8mb4"),
			cmd(mysql.COM_QUERY, "INSERT INTO t VALUES (1)"), cmd(mysql.COM_QUERY, "SELECT LAST_INSERT_ID()"),
			cmd(mysql.COM_QUERY, "USE other"), cmd(mysql.COM_QUERY, "SELECT 1 /* warn */"),
			cmd(mysql.COM_QUERY, "SHOW WARNINGS"), cmd(mysql.COM_RESET_CONNECTION, ""),
			cmd(mysql.COM_QUERY, "SELECT @a")),
		commandInput(0, cmd(mysql.COM_QUERY, "BEGIN"), cmd(mysql.COM_QUERY, "UPDATE t SET c = 1"),
			cmd(mysql.COM_QUERY, "SELECT 1 FAIL"), cmd(mysql.COM_QUERY, "COMMIT"),
			cmd(mysql.COM_QUERY, "SET autocommit=0"), cmd(mysql.COM_QUERY, "SELECT 1"),
			cmd(mysql.COM_QUERY, "SET autocommit=1")),
		// Prepared statements: types bound, then reused; long data; reset; close.
		commandInput(0, selectTwo,
			execPkt(first, 0, []byte{0}, 1, intStr, vals),
			execPkt(first, 0, []byte{0}, 0, nil, vals),
			execPkt(first, 0, []byte{0x02}, 0, nil, binary.LittleEndian.AppendUint64(nil, 7)),
			stmtCmd(mysql.COM_STMT_SEND_LONG_DATA, first, 1, 0, 'l', 'o', 'n', 'g'),
			stmtCmd(mysql.COM_STMT_SEND_LONG_DATA, first, 1, 0, 'e', 'r'),
			execPkt(first, 0, []byte{0}, 1, intStr, binary.LittleEndian.AppendUint64(nil, 1)),
			stmtCmd(mysql.COM_STMT_RESET, first),
			stmtCmd(mysql.COM_STMT_CLOSE, first),
			execPkt(first, 0, []byte{0}, 0, nil, vals)),
		// Types bound on the replica, the execute then runs on the primary (in a transaction),
		// where the proxy prepares it again and must resend the types.
		commandInput(0, selectTwo,
			execPkt(first, 0, []byte{0}, 1, intStr, vals),
			cmd(mysql.COM_QUERY, "BEGIN"),
			execPkt(first, 0, []byte{0}, 0, nil, vals),
			cmd(mysql.COM_QUERY, "COMMIT"),
			execPkt(first, 0, []byte{0}, 0, nil, vals)),
		// A write and a read statement, MariaDB's last-statement id, no parameters.
		commandInput(setupSessionTrack,
			cmd(mysql.COM_STMT_PREPARE, "INSERT INTO t (c) VALUES (?)"),
			execPkt(last, 0, []byte{0}, 1, []byte{mysql.MYSQL_TYPE_VAR_STRING, 0}, []byte{1, 'x'}),
			cmd(mysql.COM_STMT_PREPARE, "SELECT NOW()"),
			execPkt(second, 0, nil, 0, nil, nil),
			execPkt(first, 0, []byte{1}, 1, []byte{mysql.MYSQL_TYPE_NULL, 0}, nil),
			stmtCmd(mysql.COM_STMT_SEND_LONG_DATA, last, 0, 0, 'x'),
			stmtCmd(mysql.COM_STMT_CLOSE, last)),
		// Cursors.
		commandInput(0, cmd(mysql.COM_STMT_PREPARE, "SELECT c FROM t"),
			execPkt(first, cursorReadOnly, nil, 0, nil, nil),
			stmtCmd(mysql.COM_STMT_FETCH, first, 10, 0, 0, 0),
			stmtCmd(mysql.COM_STMT_FETCH, first, 10, 0, 0, 0),
			execPkt(first, cursorReadOnly, nil, 0, nil, nil),
			execPkt(first, cursorReadOnly, nil, 0, nil, nil),
			stmtCmd(mysql.COM_STMT_RESET, first),
			execPkt(first, cursorReadOnly, nil, 0, nil, nil),
			cmd(mysql.COM_QUERY, "SELECT 1"),
			stmtCmd(mysql.COM_STMT_CLOSE, first),
			stmtCmd(mysql.COM_STMT_FETCH, first, 1, 0, 0, 0)),
		// Prepared statements that change session state or fail to prepare.
		commandInput(0, cmd(mysql.COM_STMT_PREPARE, "SET @x = ?"),
			execPkt(first, 0, []byte{0}, 1, []byte{mysql.MYSQL_TYPE_LONG, 0}, []byte{1, 0, 0, 0}),
			cmd(mysql.COM_STMT_PREPARE, "SELECT FAIL"),
			cmd(mysql.COM_STMT_PREPARE, "USE db"),
			cmd(mysql.COM_RESET_CONNECTION, ""),
			execPkt(first, 0, []byte{0}, 0, nil, nil)),
		// Malformed and unsupported commands.
		commandInput(0, stmtCmd(mysql.COM_STMT_EXECUTE, first), cmd(mysql.COM_STMT_FETCH, "\x01"),
			cmd(mysql.COM_STMT_RESET, ""), cmd(mysql.COM_STMT_SEND_LONG_DATA, "\x01\x00"),
			cmd(mysql.COM_STMT_CLOSE, "\x01"), execPkt(99, 0, []byte{0}, 1, intStr, vals),
			cmd(mysql.COM_CHANGE_USER, "app\x00"), cmd(mysql.COM_BINLOG_DUMP, ""), cmd(0x1e, ""), cmd(0xee, ""),
			cmd(mysql.COM_QUERY, "")),
		commandInput(0, selectTwo, execPkt(first, 0, nil, 0, nil, nil), execPkt(first, 0, []byte{0}, 1, intStr[:2], nil)),
		// Session state that pins the primary, read-your-writes.
		commandInput(setupReadYourWrites|setupScopeUser,
			cmd(mysql.COM_QUERY, "CREATE TEMPORARY TABLE tmp (id INT)"), cmd(mysql.COM_QUERY, "SELECT * FROM tmp"),
			cmd(mysql.COM_QUERY, "DROP TEMPORARY TABLE tmp"), cmd(mysql.COM_QUERY, "SELECT GET_LOCK('l', 1)"),
			cmd(mysql.COM_QUERY, "SELECT RELEASE_LOCK('l')"), cmd(mysql.COM_QUERY, "LOCK TABLES t WRITE"),
			cmd(mysql.COM_QUERY, "UNLOCK TABLES"), cmd(mysql.COM_QUERY, "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1"),
			cmd(mysql.COM_QUERY, "SELECT FOUND_ROWS()"), cmd(mysql.COM_QUERY, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
			cmd(mysql.COM_QUERY, "START TRANSACTION READ ONLY"), cmd(mysql.COM_QUERY, "SELECT 1"),
			cmd(mysql.COM_QUERY, "COMMIT"), cmd(mysql.COM_QUERY, "INSERT INTO t VALUES (2)"),
			cmd(mysql.COM_QUERY, "/* tailgate:replica */ SELECT * FROM t"), cmd(mysql.COM_QUERY, "CALL p()"),
			cmd(mysql.COM_QUERY, "SELECT @@server_id")),
		// What only the primary has: a statement to re-prepare on the replica, session state
		// to replay there.
		commandInput(0, cmd(mysql.COM_QUERY, "BEGIN"),
			cmd(mysql.COM_STMT_PREPARE, "SELECT c FROM noreplica WHERE id = ?"),
			execPkt(first, 0, []byte{0}, 1, intStr[:2], binary.LittleEndian.AppendUint64(nil, 1)),
			cmd(mysql.COM_QUERY, "COMMIT"),
			execPkt(first, 0, []byte{0}, 0, nil, binary.LittleEndian.AppendUint64(nil, 1))),
		commandInput(setupSchema, cmd(mysql.COM_QUERY, "INSERT INTO t VALUES (3)"),
			cmd(mysql.COM_QUERY, "SET @n = 'noreplica'"), cmd(mysql.COM_QUERY, "SELECT 1"),
			cmd(mysql.COM_QUERY, "SET @n = 1"), cmd(mysql.COM_QUERY, "INSERT INTO t VALUES (4)"),
			cmd(mysql.COM_INIT_DB, "noreplica_db"),
			cmd(mysql.COM_QUERY, "SELECT 2"), cmd(mysql.COM_QUERY, "USE tailgate_test"), cmd(mysql.COM_QUERY, "SELECT 3")),
		// Backends that go away: before answering a read (retried), in a transaction, in the
		// middle of a result.
		commandInput(setupSchema, cmd(mysql.COM_QUERY, "SELECT 'flaky'"), cmd(mysql.COM_QUERY, "BEGIN"),
			cmd(mysql.COM_QUERY, "UPDATE t SET c = 'gone'"), cmd(mysql.COM_QUERY, "SELECT 1"),
			cmd(mysql.COM_STMT_PREPARE, "SELECT 'gone'"), cmd(mysql.COM_QUERY, "SELECT 'cut'")),
		commandInput(0, cmd(mysql.COM_STMT_PREPARE, "SELECT c FROM t"),
			execPkt(first, cursorReadOnly, nil, 0, nil, nil),
			cmd(mysql.COM_QUERY, "SELECT 'gone'"),
			stmtCmd(mysql.COM_STMT_FETCH, first, 1, 0, 0, 0)),
		commandInput(0, cmd(mysql.COM_QUERY, "SELECT "+strings.Repeat("x", 5000))),
		commandInput(0, []byte{}),
		manyStatements(),
	}
}

// manyStatements prepares more statements than a backend connection keeps
// (maxStmtsPerConn), so that the oldest are closed there and prepared again when used.
func manyStatements() []byte {
	var cmds [][]byte
	for i := range maxStmtsPerConn + 3 {
		cmds = append(cmds, cmd(mysql.COM_STMT_PREPARE, fmt.Sprintf("SELECT %d", i)))
	}
	cmds = append(cmds, execPkt(1, 0, nil, 0, nil, nil), execPkt(2, 0, nil, 0, nil, nil),
		execPkt(maxStmtsPerConn+3, 0, nil, 0, nil, nil))
	return commandInput(0, cmds...)
}

// adopt accounts for a connection the harness opened outside get.
func (p *pool) adopt() {
	p.mu.Lock()
	p.open++
	p.mu.Unlock()
}
