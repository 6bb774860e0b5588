package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/router"
)

// Prepared statements are routed by what they are: the session hands out its own
// statement ids, and each backend connection prepares a statement lazily, the first time
// it executes it there, keyed by the statement text (so pooled connections reuse what other
// sessions prepared, and a session's statements of one text share one). Parameter types and
// long data are kept by the session and resent to a connection that has not seen them:
// the types whenever the server statement last got others (backendStmt.boundTypes), the long
// data right before its execute, so that none waits on a shared statement.
//
// An open cursor is the one state of a server statement that belongs to one client
// statement: another execute of that server statement would close it, and COM_STMT_FETCH
// reads it. So a statement that opens a cursor leaves its connection's shared ones and is
// its client statement's alone until the cursor closes: another client statement of the
// same text gets a server statement of its own, and making room (maxStmtsPerConn) never
// closes it. (Keying server statements by client statement instead would give up the
// sharing between sessions for the sake of the rare cursor.)

const (
	// maxStmtsPerConn bounds the statements prepared on one backend connection; the
	// oldest is closed beyond it (server limit: max_prepared_stmt_count for all connections).
	maxStmtsPerConn = 128
	cursorReadOnly  = 0x01 // COM_STMT_EXECUTE flag CURSOR_TYPE_READ_ONLY
	lastRowSent     = 0x0080
	// mariadbLastStmt is the statement id MariaDB clients use for "the statement just
	// prepared" (prepare and execute sent together).
	mariadbLastStmt = 0xffffffff
)

// prepared is a client's prepared statement.
type prepared struct {
	id  uint32 // the session's id for it (the client may name it mariadbLastStmt)
	sql string
	// schema is the session's default database when the client prepared it: the server
	// resolves a statement's unqualified table names there, for good, so it is prepared
	// in that database wherever it runs.
	schema     string
	st         *router.Statement
	numParams  uint16
	paramTypes []byte            // types the client last bound (2 bytes per parameter)
	longData   map[uint16][]byte // COM_STMT_SEND_LONG_DATA waiting for the next execute
	longSize   int               // bytes in longData
	longLost   bool              // long data beyond max_allowed_packet was dropped
	cursor     *backendConn      // connection holding an open cursor of this statement
	cursorStmt *backendStmt      // the statement there that holds it, this one's alone
}

// longDataChunk is the most long data replayed in one COM_STMT_SEND_LONG_DATA: below any
// server's max_allowed_packet.
const longDataChunk = 1 << 20

// backendStmt is a statement prepared on one backend connection.
type backendStmt struct {
	id         uint32
	boundTypes []byte // parameter types this connection last received for it
	used       time.Time
	// schema is the default database it was prepared in (see prepared.schema).
	schema string
}

// stmtPrepare prepares on the backend the statement would run on, to answer the client
// with its metadata under a session statement id.
func (s *session) stmtPrepare(pkt []byte) error {
	// Whatever becomes of this prepare, mariadbLastStmt no longer names the statement before
	// it: a client sends the execute with the prepare (MariaDB's direct execute), and when
	// the prepare fails that execute must fail as on the server, not run the previous
	// statement again.
	s.lastStmtID = 0
	sql := string(pkt[1:])
	st := s.classifier().Classify(sql)
	if st.Kind == router.KindKill {
		// A server would run it with tailgate's connection id as one of its threads.
		return s.clientError(mysql.ER_UNSUPPORTED_PS, "This command is not supported in the prepared statement protocol yet")
	}
	if st.Kind == router.KindSessionSet || st.Kind == router.KindUse {
		// Its values come with each execute, so it cannot be replayed elsewhere: it runs
		// on the primary, which the session then keeps, and where it reads what it set:
		// its user variables, or all it reads after a session variable.
		effects := st.Effects&router.EffectSessionTracking | router.EffectUserVarAssign
		if st.SetsSessionVars() {
			effects |= router.EffectUnreplayableState
		}
		st = &router.Statement{Kind: router.KindWrite, Reason: router.ReasonAdminCommand, Hint: st.Hint, Effects: effects}
	}
	// No waiting on a replica for the session's write: a prepare reads no rows, and where
	// no replica shows the write yet (a table it just created) the primary prepares it.
	d, bc, err := s.route(st, false)
	if err != nil {
		return err
	}
	id := s.stmtSeq + 1
	if id == 0 || id == mariadbLastStmt {
		id = 1
	}
	start := time.Now()
	// A prepare changes nothing: on a replica that fails before answering, it runs once
	// more elsewhere.
	s.retryable = d.Target == router.TargetReplica && s.txn == nil
	out, err := s.execRelay(bc, pkt, respPrepare, id)
	s.retryable = false
	var again bool
	if d, bc, again, err = s.reroute(st, d, bc, err, false); again {
		if err != nil {
			return err
		}
		out, err = s.execRelay(bc, pkt, respPrepare, id)
	}
	s.observe(nil, d, out, err, start) // executions count in the digest, not prepares
	if err != nil {
		return err
	}
	if !out.hasError {
		s.stmtSeq, s.lastStmtID = id, id
		if s.stmts == nil {
			s.stmts = map[uint32]*prepared{}
		}
		s.stmts[id] = &prepared{id: id, sql: sql, schema: bc.schema, st: st, numParams: out.numParams}
		bc.remember(sql, bc.schema, out.stmtID)
	}
	s.settle(bc, out, st)
	return nil
}

// stmtExecute runs a prepared statement where its routing says, preparing it there first
// when needed.
func (s *session) stmtExecute(pkt []byte) error {
	if len(pkt) < 10 {
		return s.clientError(mysql.ER_MALFORMED_PACKET, "malformed COM_STMT_EXECUTE")
	}
	ps, id := s.lookupStmt(pkt)
	if ps == nil {
		return s.clientError(mysql.ER_UNKNOWN_STMT_HANDLER, fmt.Sprintf("Unknown prepared statement handler (%d) given to mysqld_stmt_execute", id))
	}
	flags := pkt[5]
	// Layout after the 10-byte head: NULL bitmap, new-params-bound flag, types, values.
	boundAt := -1
	if n := int(ps.numParams); n > 0 {
		boundAt = 10 + (n+7)/8
		if len(pkt) <= boundAt {
			return s.clientError(mysql.ER_MALFORMED_PACKET, "malformed COM_STMT_EXECUTE")
		}
		if pkt[boundAt] != 0 { // any non-zero value, as the servers read it
			if len(pkt) < boundAt+1+2*n {
				return s.clientError(mysql.ER_MALFORMED_PACKET, "malformed COM_STMT_EXECUTE")
			}
			ps.paramTypes = append(ps.paramTypes[:0], pkt[boundAt+1:boundAt+1+2*n]...)
		}
	}
	if ps.cursor != nil {
		// A new execute closes the statement's open cursor.
		s.closeCursor(ps)
	}
	if ps.longLost {
		ps.longData, ps.longSize, ps.longLost = nil, 0, false
		return s.clientError(mysql.ER_NET_PACKET_TOO_LARGE, fmt.Sprintf(
			"Parameter of prepared statement which is set through mysql_send_long_data() is longer than max_allowed_packet (%d bytes)", s.srv.live().MaxAllowedPacket))
	}
	// Once, and only before anything reached the client, an execute runs again, as a
	// COM_QUERY does (session.query), unless long data went with it (it is sent once).
	once := s.txn == nil && len(ps.longData) == 0
	start := time.Now()
	d, bc, err := s.route(ps.st, true)
	if err != nil {
		return err
	}
	defer func() { s.retryable, s.holdReadOnly = false, false }()
	var res relayOutcome
	var bs *backendStmt
run:
	for attempt := 0; ; attempt++ {
		first := attempt == 0 && once
		s.retryable = first && d.Target == router.TargetReplica && ps.st.Kind == router.KindRead
		if err := s.prepareSessionFunc(ps.st, bc); err != nil {
			return err
		}
		bs, err = s.ensurePrepared(bc, ps)
		if errors.Is(err, errRetry) || errors.Is(err, errMissingOnReplica) {
			if d, bc, _, err = s.reroute(ps.st, d, bc, err, true); err != nil {
				return err
			}
			continue
		}
		if err != nil || bs == nil {
			return err
		}
		if err := s.sendLongData(bc, ps, bs); err != nil {
			return err
		}
		out := s.rewriteExecute(pkt, ps, bs, boundAt)
		s.holdReadOnly = first
		res, err = s.exec(bc, out, respResult)
		s.retryable, s.holdReadOnly = false, false
		var again bool
		if d, bc, again, err = s.reroute(ps.st, d, bc, err, true); !again {
			s.observe(ps.st, d, res, err, start)
			if err != nil {
				return err
			}
			break run
		}
		if err != nil {
			return err
		}
	}
	if !res.hasError {
		s.applyEffects(ps.st, bc, nil) // prepared SETs are never replayed: see stmtPrepare
		if flags&cursorReadOnly != 0 && res.status&mysql.SERVER_STATUS_CURSOR_EXISTS != 0 {
			s.setCursor(ps, bc, bs)
		}
	}
	s.learnInsert(ps.st, bc, res)
	s.learnResultSetWrite(ps.st, bc, res)
	s.settle(bc, res, ps.st)
	return nil
}

// rewriteExecute gives an execute packet the backend's statement id, and the parameter
// types when the client relies on types it bound on another connection.
func (s *session) rewriteExecute(pkt []byte, ps *prepared, bs *backendStmt, boundAt int) []byte {
	binary.LittleEndian.PutUint32(pkt[1:], bs.id)
	if boundAt < 0 {
		return pkt
	}
	if pkt[boundAt] != 0 {
		bs.boundTypes = append(bs.boundTypes[:0], ps.paramTypes...)
		return pkt
	}
	if len(ps.paramTypes) == 0 || bytes.Equal(bs.boundTypes, ps.paramTypes) {
		return pkt
	}
	buf := append(s.execBuf[:0], pkt[:boundAt]...)
	buf = append(buf, 1)
	buf = append(buf, ps.paramTypes...)
	buf = append(buf, pkt[boundAt+1:]...)
	s.execBuf = buf
	bs.boundTypes = append(bs.boundTypes[:0], ps.paramTypes...)
	return buf
}

// ensurePrepared returns the statement as prepared on bc, preparing it silently if needed,
// with bc brought to the session's state. A server error is relayed to the client
// (returning a nil statement).
func (s *session) ensurePrepared(bc *backendConn, ps *prepared) (*backendStmt, error) {
	// Synced first, so that nothing fails between the long data sent next and its execute:
	// long data left on a shared statement would go to the next execute of its text.
	if err := s.state.sync(bc); err != nil {
		return nil, s.syncFailed(bc, err)
	}
	// The same text prepared in another database (by another session whose connection this
	// was, or by this one) names other tables.
	if bs := bc.stmts[ps.sql]; bs != nil && bs.schema == ps.schema {
		bs.used = time.Now()
		return bs, nil
	}
	id, err := bc.prepareIn(ps.schema, ps.sql)
	if err != nil {
		var myErr *mysql.MyError
		if errors.As(err, &myErr) && myErr.Code == mysql.ER_NO_SUCH_TABLE && s.retryable {
			s.settleConn(bc) // see errMissingOnReplica
			return nil, errMissingOnReplica
		}
		if errors.As(err, &myErr) {
			s.settle(bc, relayOutcome{hasError: true}, nil)
			return nil, s.clientError(myErr.Code, myErr.Message)
		}
		return nil, s.failedBeforeAnswer(bc, err)
	}
	return bc.remember(ps.sql, ps.schema, id), nil
}

// prepareIn prepares sql with schema as the default database, switching the connection
// there and back if it is elsewhere (a session that changed databases since the client
// prepared it). Without a database to switch to, it prepares where the connection is.
func (bc *backendConn) prepareIn(schema, sql string) (uint32, error) {
	if schema == bc.schema || schema == "" {
		return bc.prepare(sql)
	}
	if err := bc.simpleCommand(mysql.COM_INIT_DB, schema); err != nil {
		return 0, err // the database is gone: the server's error goes to the client
	}
	id, prepErr := bc.prepare(sql)
	if err := bc.simpleCommand(mysql.COM_INIT_DB, bc.schema); err != nil {
		// Not the client's error (%v, not %w): the connection is in the wrong database.
		return 0, fmt.Errorf("return to database %q: %v", bc.schema, err)
	}
	return id, prepErr
}

// sendLongData replays COM_STMT_SEND_LONG_DATA before an execute, in chunks of at most
// longDataChunk bytes. When bc fails the execute must not be sent: the error is
// backendFailed's.
func (s *session) sendLongData(bc *backendConn, ps *prepared, bs *backendStmt) error {
	var buf []byte
	for param, data := range ps.longData {
		for len(data) > 0 {
			chunk := data[:min(len(data), longDataChunk)]
			data = data[len(chunk):]
			buf = append(buf[:0], mysql.COM_STMT_SEND_LONG_DATA)
			buf = binary.LittleEndian.AppendUint32(buf, bs.id)
			buf = binary.LittleEndian.AppendUint16(buf, param)
			buf = append(buf, chunk...)
			if err := bc.send(buf); err != nil {
				return s.backendFailed(bc, err, false)
			}
		}
	}
	ps.longData, ps.longSize = nil, 0
	return nil
}

// stmtFetch reads rows from a statement's open cursor.
func (s *session) stmtFetch(pkt []byte) error {
	if len(pkt) < 9 {
		return s.clientError(mysql.ER_MALFORMED_PACKET, "malformed COM_STMT_FETCH")
	}
	ps, id := s.lookupStmt(pkt)
	if ps == nil {
		return s.clientError(mysql.ER_UNKNOWN_STMT_HANDLER, fmt.Sprintf("Unknown prepared statement handler (%d) given to mysqld_stmt_fetch", id))
	}
	if ps.cursor == nil {
		return s.clientError(mysql.ER_STMT_HAS_NO_OPEN_CURSOR, fmt.Sprintf("The statement (%d) has no open cursor.", id))
	}
	bc := ps.cursor
	binary.LittleEndian.PutUint32(pkt[1:], ps.cursorStmt.id)
	out, err := s.exec(bc, pkt, respRows)
	if err != nil {
		return err
	}
	if out.hasError || out.status&lastRowSent != 0 {
		s.endCursor(ps)
		s.settle(bc, out, nil)
	}
	return nil
}

// stmtReset clears a statement's long data and closes its cursor.
func (s *session) stmtReset(pkt []byte) error {
	if len(pkt) < 5 {
		return s.clientError(mysql.ER_MALFORMED_PACKET, "malformed COM_STMT_RESET")
	}
	ps, id := s.lookupStmt(pkt)
	if ps == nil {
		return s.clientError(mysql.ER_UNKNOWN_STMT_HANDLER, fmt.Sprintf("Unknown prepared statement handler (%d) given to mysqld_stmt_reset", id))
	}
	ps.longData, ps.longSize, ps.longLost = nil, 0, false
	if ps.cursor != nil {
		s.closeCursor(ps)
	}
	s.client.scratchOK(s)
	return s.flushClient()
}

// setCursor records that bs, ps's statement on bc, holds an open cursor of ps: it is ps's
// alone until the cursor closes.
func (s *session) setCursor(ps *prepared, bc *backendConn, bs *backendStmt) {
	if ps.cursor == nil {
		s.cursors++
	}
	if ps.cursorStmt != bs {
		bc.takeStmt(ps.sql, bs)
	}
	ps.cursor, ps.cursorStmt = bc, bs
}

// clearCursor forgets ps's open cursor, if it has one (and its connection, when it is gone).
func (s *session) clearCursor(ps *prepared) {
	if ps.cursor != nil {
		s.cursors--
		ps.cursor, ps.cursorStmt = nil, nil
	}
}

// endCursor forgets ps's cursor, which the server closed, and gives its statement back to
// the connection.
func (s *session) endCursor(ps *prepared) {
	bc, bs := ps.cursor, ps.cursorStmt
	s.clearCursor(ps)
	bc.returnStmt(ps.sql, bs)
}

// closeCursor resets the statement on the connection holding its cursor.
func (s *session) closeCursor(ps *prepared) {
	bc := ps.cursor
	var arg [4]byte
	binary.LittleEndian.PutUint32(arg[:], ps.cursorStmt.id)
	if err := bc.simpleCommand(mysql.COM_STMT_RESET, string(arg[:])); err != nil {
		var myErr *mysql.MyError
		if !errors.As(err, &myErr) {
			s.drop(bc) // and ps's cursor with it
			return
		}
	}
	s.endCursor(ps)
	s.settleConn(bc)
}

// stmtLongData keeps a parameter chunk for the next execute (no response).
func (s *session) stmtLongData(pkt []byte) {
	if len(pkt) < 7 {
		return
	}
	ps, _ := s.lookupStmt(pkt)
	if ps == nil {
		return
	}
	param := binary.LittleEndian.Uint16(pkt[5:])
	// Kept until the execute (it is replayed wherever that runs), so bounded like one
	// packet: beyond max_allowed_packet it is dropped and the execute fails, as on a server.
	if ps.longLost || ps.longSize+len(pkt)-7 > s.srv.live().MaxAllowedPacket {
		ps.longData, ps.longSize, ps.longLost = nil, 0, true
		return
	}
	if ps.longData == nil {
		ps.longData = map[uint16][]byte{}
	}
	ps.longData[param] = append(ps.longData[param], pkt[7:]...)
	ps.longSize += len(pkt) - 7
}

// stmtClose forgets a statement (no response). Backend connections keep it prepared for
// other sessions until they need the room.
func (s *session) stmtClose(pkt []byte) {
	if len(pkt) < 5 {
		return
	}
	ps, _ := s.lookupStmt(pkt)
	if ps == nil {
		return
	}
	if ps.cursor != nil {
		s.closeCursor(ps)
	}
	delete(s.stmts, ps.id)
}

// lookupStmt finds the statement a COM_STMT_* packet names, and returns the id as the
// packet has it (servers name that one in their errors: 4294967295 for mariadbLastStmt).
func (s *session) lookupStmt(pkt []byte) (*prepared, uint32) {
	id := binary.LittleEndian.Uint32(pkt[1:])
	if id == mariadbLastStmt {
		return s.stmts[s.lastStmtID], id // nil after a failed prepare: lastStmtID is 0
	}
	return s.stmts[id], id
}

// clientError answers the current command with an error packet.
func (s *session) clientError(code uint16, msg string) error {
	state := mysql.MySQLState[code]
	s.writeError(code, state, msg)
	return s.flushClient()
}

// remember records a statement prepared on the connection as the shared one of its text,
// closing a previous preparation of the text and, beyond maxStmtsPerConn, the least
// recently used shared one. Statements held by cursors count but are never closed here:
// while they fill the connection, it holds more.
func (bc *backendConn) remember(sql, schema string, id uint32) *backendStmt {
	if bc.stmts == nil {
		bc.stmts = map[string]*backendStmt{}
	}
	if old := bc.stmts[sql]; old != nil {
		if old.id != id {
			bc.closeStmt(old.id)
		}
		delete(bc.stmts, sql)
	}
	if len(bc.stmts) > 0 && len(bc.stmts)+bc.cursorStmts >= maxStmtsPerConn {
		var oldest string
		var lru *backendStmt
		for text, bs := range bc.stmts {
			if lru == nil || bs.used.Before(lru.used) {
				oldest, lru = text, bs
			}
		}
		bc.closeStmt(lru.id)
		delete(bc.stmts, oldest)
	}
	bs := &backendStmt{id: id, used: time.Now(), schema: schema}
	bc.stmts[sql] = bs
	return bs
}

// takeStmt takes bs, which just opened a cursor, out of the connection's shared statements.
func (bc *backendConn) takeStmt(sql string, bs *backendStmt) {
	if bc.stmts[sql] == bs {
		delete(bc.stmts, sql)
	}
	bc.cursorStmts++
}

// returnStmt gives back a statement whose cursor closed: it is the shared one of its text
// again, unless another took that place meanwhile (then it is closed).
func (bc *backendConn) returnStmt(sql string, bs *backendStmt) {
	bc.cursorStmts--
	if bc.stmts[sql] != nil {
		bc.closeStmt(bs.id)
		return
	}
	if bc.stmts == nil {
		bc.stmts = map[string]*backendStmt{}
	}
	bs.used = time.Now()
	bc.stmts[sql] = bs
}

// closeStmt sends COM_STMT_CLOSE (no response); a failure shows on the next command.
func (bc *backendConn) closeStmt(id uint32) {
	var buf [5]byte
	buf[0] = mysql.COM_STMT_CLOSE
	binary.LittleEndian.PutUint32(buf[1:], id)
	_ = bc.send(buf[:])
}

// prepare prepares sql on the connection without relaying the answer, returning the
// server's statement id.
func (bc *backendConn) prepare(sql string) (uint32, error) {
	if err := bc.sendCommand(mysql.COM_STMT_PREPARE, sql); err != nil {
		return 0, err
	}
	p, err := bc.pio.readPacket()
	if err != nil {
		return 0, err
	}
	if len(p) > 0 && p[0] == mysql.ERR_HEADER {
		return 0, parseErr(p)
	}
	if len(p) < 9 || p[0] != mysql.OK_HEADER {
		return 0, fmt.Errorf("%w: bad COM_STMT_PREPARE answer", errMalformed)
	}
	id := binary.LittleEndian.Uint32(p[1:])
	columns := binary.LittleEndian.Uint16(p[5:])
	params := binary.LittleEndian.Uint16(p[7:])
	for _, n := range []uint16{params, columns} {
		if n == 0 {
			continue
		}
		for i := 0; i <= int(n); i++ { // n definitions and their EOF
			if _, err := bc.pio.readPacket(); err != nil {
				return 0, err
			}
		}
	}
	return id, nil
}

// reset starts a clean session on a pooled connection that carried another session's state.
func (bc *backendConn) reset() error {
	if bc.roleSet {
		return errRoleKept
	}
	if err := bc.simpleCommand(mysql.COM_RESET_CONNECTION, ""); err != nil {
		return err
	}
	bc.stmts, bc.cursorStmts = nil, 0 // the server closed them
	// The server keeps the multi-statement option (sessionState.reset): so does multiStmtOff.
	bc.dirty, bc.owner, bc.stateVersion, bc.diag = false, nil, 0, false
	return bc.startSession()
}
