package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Errors are tagged with the side that failed at the I/O edge, so that one place
// (session.fail) decides what the client sees.
type sideError struct {
	backend bool // true: the backend connection failed; false: the client's
	// midResponse is true when part of the response already reached the client.
	midResponse bool
	err         error
}

func (e *sideError) Error() string {
	if e.backend {
		return "backend: " + e.err.Error()
	}
	return "client: " + e.err.Error()
}

func (e *sideError) Unwrap() error { return e.err }

func backendErr(err error, mid bool) error {
	return &sideError{backend: true, midResponse: mid, err: err}
}
func clientErr(err error) error { return &sideError{err: err} }

// isBackendErr reports whether err is a failure of the backend connection.
func isBackendErr(err error) (*sideError, bool) {
	var se *sideError
	if errors.As(err, &se) && se.backend {
		return se, true
	}
	return nil, false
}

// respKind says how a command's response is framed.
type respKind uint8

const (
	respResult    respKind = iota // OK, ERR or result sets (COM_QUERY, COM_STMT_EXECUTE)
	respRows                      // rows then EOF (COM_STMT_FETCH)
	respPrepare                   // COM_STMT_PREPARE answer
	respFieldList                 // column definitions then EOF (COM_FIELD_LIST)
	respSingle                    // exactly one packet (COM_STATISTICS, COM_STMT_RESET)
)

// relayOutcome is what the relay learned from a response's OK/ERR/EOF packets.
type relayOutcome struct {
	status uint16 // server status of the last OK/EOF
	// statusSeen: the response had an OK or EOF packet. A lone ERR packet has no status:
	// the session's transaction and autocommit state are then as before.
	statusSeen bool
	warnings   uint16 // warning count of the last OK/EOF
	insertID   uint64 // last insert id of the last OK packet
	hasError   bool   // an ERR packet ended the response
	// readOnly: that ERR packet was the server's read-only error (a read that writes,
	// sent to a replica).
	readOnly bool
	// results counts the results before any ERR: the statements of a multi-statement text
	// that ran.
	results int
	// resultSet: a result set was among them. It ends with an EOF packet, which carries no
	// session state (a write's GTID).
	resultSet bool
	// stmtID, numParams are set for a successful COM_STMT_PREPARE.
	stmtID    uint32
	numParams uint16
}

// relay copies one response from bc into the client's buffer, packet by packet without
// decoding rows. It reads only the OK/ERR/EOF packets. The session loop flushes the client
// once the command is done.
func (s *session) relay(bc *backendConn, kind respKind, stmtID uint32) (relayOutcome, error) {
	r := relayState{s: s, bc: bc, stmtID: stmtID, otherTxn: s.txn != nil && s.txn != bc}
	err := r.run(kind)
	return r.out, err
}

type relayState struct {
	s      *session
	bc     *backendConn
	out    relayOutcome
	copied bool // a packet already went to the client
	// stmtID replaces the backend's statement id in a COM_STMT_PREPARE answer.
	stmtID uint32
	// otherTxn: another backend connection holds the session's transaction (a read-only
	// transaction on a replica, while a statement that must run on the primary does).
	otherTxn bool
}

// keepInTrans sets SERVER_STATUS_IN_TRANS in the status flags at p[at:] of an OK or EOF
// packet on its way to the client when another connection holds the session's
// transaction: this backend, outside it, would tell the client that its transaction
// ended, and a driver that trusts the flag would then skip the COMMIT. r.out keeps the
// backend's own status.
func (r *relayState) keepInTrans(p []byte, at int) {
	if r.otherTxn && len(p) >= at+2 {
		binary.LittleEndian.PutUint16(p[at:], binary.LittleEndian.Uint16(p[at:])|mysql.SERVER_STATUS_IN_TRANS)
	}
}

// next peeks the next frame of the response.
func (r *relayState) next() (frame, error) {
	f, err := r.bc.pio.peekFrame()
	if err != nil {
		return f, backendErr(err, r.copied)
	}
	return f, nil
}

// pass relays a peeked frame, and any continuation frames, to the client unchanged.
func (r *relayState) pass(f frame) error {
	for {
		if err, writeSide := r.bc.pio.copyFrameTo(r.s.client, f); err != nil {
			if writeSide {
				return clientErr(err)
			}
			return backendErr(err, r.copied)
		}
		r.copied = true
		if f.length < maxPayload {
			return nil
		}
		var err error
		if f, err = r.next(); err != nil {
			return err
		}
	}
}

// run relays the response into r.out. (It returns only the error: in "return r.out, r.rows()"
// the order in which r.out and the call are evaluated is unspecified.)
func (r *relayState) run(kind respKind) error {
	switch kind {
	case respRows:
		return r.rows()
	case respFieldList:
		return r.defsUntilEOF()
	case respSingle:
		f, err := r.next()
		if err != nil {
			return err
		}
		return r.head(f)
	case respPrepare:
		return r.prepare()
	}
	for {
		more, err := r.result()
		if err == nil && !r.out.hasError {
			r.out.results++
		}
		if err != nil || !more {
			return err
		}
	}
}

// head relays the first packet of a response, handling OK and ERR packets.
func (r *relayState) head(f frame) error {
	if len(f.payload) == 0 {
		return r.pass(f)
	}
	switch f.payload[0] {
	case mysql.ERR_HEADER:
		r.out.hasError = true
		return r.pass(f)
	case mysql.OK_HEADER:
		return r.ok(f)
	}
	return r.pass(f)
}

// ok relays an OK packet, learning its status and session state, and rewriting it for a
// client that did not negotiate CLIENT_SESSION_TRACK.
func (r *relayState) ok(f frame) error {
	ok, err := parseOK(f.payload)
	if err != nil {
		return backendErr(fmt.Errorf("%w: bad OK packet", errMalformed), r.copied)
	}
	r.out.status, r.out.warnings, r.out.insertID, r.out.statusSeen = ok.status, ok.warnings, ok.insertID, true
	if ok.status&mysql.SERVER_SESSION_STATE_CHANGED != 0 {
		r.s.onSessionTrack(r.bc, ok.sessionTrack())
	}
	if r.s.clientCaps&mysql.CLIENT_SESSION_TRACK != 0 {
		r.keepInTrans(f.payload, ok.restOffset-4) // the peeked bytes, written out next
		return r.pass(f)
	}
	r.s.scratch = ok.appendStripped(r.s.scratch, f.payload)
	r.keepInTrans(r.s.scratch, ok.restOffset-4)
	if err := r.bc.pio.skipFrame(f); err != nil {
		return backendErr(err, r.copied)
	}
	if err := r.s.client.writePacket(r.s.scratch); err != nil {
		return clientErr(err)
	}
	r.copied = true
	return nil
}

// result relays one result (OK, ERR or a result set) and reports whether another follows.
func (r *relayState) result() (bool, error) {
	f, err := r.next()
	if err != nil {
		return false, err
	}
	if f.payload == nil {
		return false, backendErr(fmt.Errorf("%w: first packet of a result is %d bytes", errMalformed, f.length), r.copied)
	}
	if len(f.payload) == 0 {
		return false, backendErr(fmt.Errorf("%w: empty packet", errMalformed), r.copied)
	}
	switch f.payload[0] {
	case mysql.ERR_HEADER:
		r.out.hasError = true
		if r.missingTable(f) {
			if err := r.bc.pio.skipFrame(f); err != nil {
				return false, backendErr(err, false)
			}
			return false, errMissingOnReplica
		}
		r.out.readOnly = readOnlyError(f.payload)
		if r.out.readOnly && !r.copied && (r.s.retryable || r.s.holdReadOnly && r.s.mayHoldReadOnly(r.bc)) {
			// Nothing reached the client, and nothing ran (the server refused to write):
			// a read on a replica that writes may run on the primary; a write refused by a
			// primary that went read-only (a switchover) may run on the next one.
			if err := r.bc.pio.skipFrame(f); err != nil {
				return false, backendErr(err, false)
			}
			if r.s.retryable {
				return false, errWroteOnReplica
			}
			return false, errPrimaryReadOnly
		}
		return false, r.pass(f)
	case mysql.OK_HEADER:
		if err := r.ok(f); err != nil {
			return false, err
		}
		return r.out.status&mysql.SERVER_MORE_RESULTS_EXISTS != 0, nil
	case mysql.LocalInFile_HEADER:
		if err := r.localInfile(f); err != nil {
			return false, err
		}
		// The server's answer to the file (OK or ERR) takes the request's place.
		return r.result()
	}
	columns, _, ok := readLenEnc(f.payload)
	if !ok || columns == 0 {
		return false, backendErr(fmt.Errorf("%w: bad column count", errMalformed), r.copied)
	}
	r.out.resultSet = true
	if err := r.pass(f); err != nil {
		return false, err
	}
	for i := uint64(0); i < columns; i++ {
		f, err := r.next()
		if err != nil {
			return false, err
		}
		if err := r.pass(f); err != nil {
			return false, err
		}
	}
	// EOF after the column definitions (DEPRECATE_EOF is never negotiated).
	f, err = r.next()
	if err != nil {
		return false, err
	}
	if !isEOF(f.payload, f.length) {
		if len(f.payload) > 0 && f.payload[0] == mysql.ERR_HEADER {
			r.out.hasError = true
			return false, r.pass(f)
		}
		return false, backendErr(fmt.Errorf("%w: expected EOF after column definitions", errMalformed), r.copied)
	}
	status := eofStatus(f.payload)
	if status&mysql.SERVER_STATUS_CURSOR_EXISTS != 0 {
		// COM_STMT_EXECUTE opened a cursor: rows come with COM_STMT_FETCH.
		r.setEOF(f.payload)
		r.keepInTrans(f.payload, eofStatusAt)
		return false, r.pass(f)
	}
	r.keepInTrans(f.payload, eofStatusAt)
	if err := r.pass(f); err != nil {
		return false, err
	}
	if err := r.rows(); err != nil {
		return false, err
	}
	return !r.out.hasError && r.out.status&mysql.SERVER_MORE_RESULTS_EXISTS != 0, nil
}

// errLocalInfileRefused is returned when a backend asks for a LOAD DATA LOCAL INFILE file
// although the client did not negotiate CLIENT_LOCAL_FILES. The backend connection then
// waits for file data and cannot be used again.
var errLocalInfileRefused = errors.New("the server asked for a LOAD DATA LOCAL INFILE file, but the client did not enable local files")

// localInfile relays a backend's LOCAL INFILE request (the 0xFB packet f) to the client,
// then the file's content, ended by an empty packet, from the client to the backend. Only
// a client that negotiated CLIENT_LOCAL_FILES is asked: a server must never read the files
// of a client that did not offer them. The content is copied frame by frame, each side
// with its own sequence numbers, so that no packet is held whole in memory.
func (r *relayState) localInfile(f frame) error {
	if r.s.clientCaps&mysql.CLIENT_LOCAL_FILES == 0 {
		_ = r.bc.pio.skipFrame(f)
		return errLocalInfileRefused
	}
	if err := r.pass(f); err != nil {
		return err
	}
	if err := r.s.client.flush(); err != nil {
		return clientErr(err)
	}
	for first := true; ; {
		cf, err := r.s.client.peekFrame()
		if err != nil {
			return clientErr(err)
		}
		if err, backendSide := r.s.client.copyFrameTo(r.bc.pio, cf); err != nil {
			if backendSide {
				return backendErr(err, r.copied)
			}
			return clientErr(err)
		}
		if first && cf.length == 0 {
			break // an empty packet ends the file (at once: the client has no file to send)
		}
		first = cf.length < maxPayload // a full frame is continued by the next one
	}
	if err := r.bc.pio.flush(); err != nil {
		return backendErr(err, r.copied)
	}
	// The upload may have outlasted the read timeout armed when the statement was sent.
	if err := r.bc.awaitAnswer(); err != nil {
		return backendErr(err, r.copied)
	}
	return nil
}

// rows relays row packets until the EOF or ERR that ends them.
func (r *relayState) rows() error {
	for {
		f, err := r.next()
		if err != nil {
			return err
		}
		if len(f.payload) > 0 {
			switch {
			case isEOF(f.payload, f.length):
				r.setEOF(f.payload)
				r.keepInTrans(f.payload, eofStatusAt)
				return r.pass(f)
			case f.payload[0] == mysql.ERR_HEADER:
				r.out.hasError = true
				return r.pass(f)
			}
		}
		if err := r.pass(f); err != nil {
			return err
		}
	}
}

// setEOF learns the status and warnings of an EOF packet.
func (r *relayState) setEOF(p []byte) {
	r.out.status, r.out.statusSeen = eofStatus(p), true
	if len(p) >= 5 {
		r.out.warnings = binary.LittleEndian.Uint16(p[1:])
	}
}

// defsUntilEOF relays column definitions until EOF (or an ERR instead of the first).
func (r *relayState) defsUntilEOF() error {
	for {
		f, err := r.next()
		if err != nil {
			return err
		}
		if len(f.payload) > 0 {
			if isEOF(f.payload, f.length) {
				r.setEOF(f.payload)
				r.keepInTrans(f.payload, eofStatusAt)
				return r.pass(f)
			}
			if f.payload[0] == mysql.ERR_HEADER {
				r.out.hasError = true
				return r.pass(f)
			}
		}
		if err := r.pass(f); err != nil {
			return err
		}
	}
}

// prepare relays a COM_STMT_PREPARE answer: OK with counts, then parameter and column
// definitions, each block closed by an EOF.
func (r *relayState) prepare() error {
	f, err := r.next()
	if err != nil {
		return err
	}
	p := f.payload
	if len(p) > 0 && p[0] == mysql.ERR_HEADER {
		r.out.hasError = true
		if r.missingTable(f) {
			if err := r.bc.pio.skipFrame(f); err != nil {
				return backendErr(err, false)
			}
			return errMissingOnReplica
		}
		return r.pass(f)
	}
	if len(p) < 9 || p[0] != mysql.OK_HEADER {
		return backendErr(fmt.Errorf("%w: bad COM_STMT_PREPARE answer", errMalformed), r.copied)
	}
	r.out.stmtID = binary.LittleEndian.Uint32(p[1:])
	columns := binary.LittleEndian.Uint16(p[5:])
	r.out.numParams = binary.LittleEndian.Uint16(p[7:])
	if r.stmtID == 0 {
		if err := r.pass(f); err != nil {
			return err
		}
	} else {
		// The client gets the session's statement id, not this connection's.
		r.s.scratch = append(r.s.scratch[:0], p...)
		binary.LittleEndian.PutUint32(r.s.scratch[1:], r.stmtID)
		if err := r.bc.pio.skipFrame(f); err != nil {
			return backendErr(err, r.copied)
		}
		if err := r.s.client.writePacket(r.s.scratch); err != nil {
			return clientErr(err)
		}
		r.copied = true
	}
	for _, n := range []uint16{r.out.numParams, columns} {
		if n == 0 {
			continue
		}
		for i := uint16(0); i < n; i++ {
			f, err := r.next()
			if err != nil {
				return err
			}
			if err := r.pass(f); err != nil {
				return err
			}
		}
		f, err := r.next()
		if err != nil {
			return err
		}
		if !isEOF(f.payload, f.length) {
			return backendErr(fmt.Errorf("%w: expected EOF after prepared statement definitions", errMalformed), r.copied)
		}
		if err := r.pass(f); err != nil {
			return err
		}
	}
	return nil
}

// errWroteOnReplica tells query that a read ran into its replica's read-only error before
// anything reached the client: it writes, and is run on the primary instead.
var errWroteOnReplica = errors.New("a read wrote on a replica")

// errMissingOnReplica tells query that a replica answered a read, before anything reached
// the client, that a table it reads does not exist: the table may be new and not there
// yet, or a temporary table tailgate did not see created on the session's primary
// connection (by EXECUTE IMMEDIATE, a procedure). The read runs again on the primary, which
// answers the same error when there is no such table.
var errMissingOnReplica = errors.New("a table is missing on the replica")

// missingTable reports an ERR packet ER_NO_SUCH_TABLE in answer to a read that may run
// again elsewhere (session.retryable, so only on a replica) before anything reached the
// client.
func (r *relayState) missingTable(f frame) bool {
	return r.s.retryable && !r.copied && len(f.payload) >= 3 &&
		binary.LittleEndian.Uint16(f.payload[1:]) == mysql.ER_NO_SUCH_TABLE
}

// errPrimaryReadOnly tells query that the primary refused a statement as read-only before
// anything reached the client: it waits for the primary to move (session.holdReadOnly).
var errPrimaryReadOnly = errors.New("the primary is read-only")

// readOnlyError reports whether an ERR packet is a server's refusal to write because it
// is read-only: 1290 (ER_OPTION_PREVENTS_STATEMENT) naming --read-only or
// --super-read-only, or 1836 (ER_READ_ONLY_MODE).
func readOnlyError(p []byte) bool {
	if len(p) < 3 {
		return false
	}
	switch binary.LittleEndian.Uint16(p[1:]) {
	case mysql.ER_OPTION_PREVENTS_STATEMENT:
		return bytes.Contains(p[3:], []byte("read-only"))
	case erReadOnlyMode:
		return true
	}
	return false
}

// erReadOnlyMode is ER_READ_ONLY_MODE ("Running in read-only mode", innodb_read_only).
const erReadOnlyMode = 1836
