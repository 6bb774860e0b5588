package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/router"
)

// session is one client connection after authentication: it owns its backend connections
// and runs the command loop.
type session struct {
	srv        *Server
	id         uint32
	user       string
	remote     string
	client     *packetIO
	clientCaps uint32
	log        hclog.Logger
	dial       dialParams

	state   sessionState
	primary *backendConn
	reps    map[string]*backendConn

	// Routing state learned from the server and from statements that ran.
	last         *backendConn // served the previous statement
	txn          *backendConn // holds the open transaction (SERVER_STATUS_IN_TRANS), or nil
	autocommit   bool
	tempTables   map[string]struct{}
	locks        int
	tablesLocked bool
	userVarsPin  bool
	writeGTID    string                  // GTID of the session's last write (read-your-writes)
	userWrite    *atomic.Pointer[string] // latest write of the session's user (scope "user")

	scratch []byte // reused for rewritten packets
	started time.Time
	status  atomic.Value // string: "idle", "query"
	inTxn   atomic.Bool  // a transaction is open (read by shutdown without the session's lock)
	pinned  atomic.Value // string: backend the session is pinned to, for SHOW SESSIONS
	// pinnedName is the session goroutine's copy of pinned (stored only on change).
	pinnedName string
}

func (s *session) view() router.SessionView {
	v := router.SessionView{
		AutocommitOff:     !s.autocommit,
		TempTables:        len(s.tempTables) > 0,
		LocksHeld:         s.locks > 0,
		TablesLocked:      s.tablesLocked,
		UserVarsOnPrimary: s.userVarsPin,
	}
	if s.txn != nil {
		v.TransactionBackend = s.txn.b.Name
	}
	if s.last != nil {
		v.LastBackend = s.last.b.Name
	}
	if s.srv.opts.ReadYourWrites {
		v.WritePosition = s.requiredPosition()
	}
	return v
}

// pinnedTo names the backend the session cannot leave now, or "".
func (s *session) pinnedTo() string {
	switch {
	case s.txn != nil:
		return s.txn.b.Name
	case !s.autocommit || len(s.tempTables) > 0 || s.locks > 0 || s.tablesLocked:
		return router.PrimaryName
	}
	return ""
}

// requiredPosition is the write position a read must see under the consistency scope.
func (s *session) requiredPosition() string {
	var p *string
	switch s.srv.opts.ConsistencyScope {
	case "user":
		p = s.userWrite.Load()
	case "global":
		p = s.srv.globalWrite.Load()
	default:
		return s.writeGTID
	}
	if p == nil {
		return ""
	}
	return *p
}

// learnWrite records the GTID of a write the session committed.
func (s *session) learnWrite(gtid string) {
	s.writeGTID = gtid
	switch s.srv.opts.ConsistencyScope {
	case "user":
		s.userWrite.Store(&gtid)
	case "global":
		s.srv.globalWrite.Store(&gtid)
	}
}

// run is the command loop. It returns when the client quits or fails.
func (s *session) run(ctx context.Context) {
	defer s.closeBackends()
	for {
		s.inTxn.Store(s.txn != nil)
		if p := s.pinnedTo(); p != s.pinnedName {
			s.pinnedName = p
			s.pinned.Store(p)
		}
		s.status.Store("idle")
		// Checked after publishing "idle": a shutdown either sees this session idle and
		// closes its client, or this check sees the shutdown.
		if ctx.Err() != nil && s.txn == nil {
			return
		}
		s.client.resetSeq()
		pkt, err := s.client.readPacket()
		if err != nil {
			if errors.Is(err, ErrPacketTooLarge) {
				s.writeError(mysql.ER_NET_PACKET_TOO_LARGE, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes")
				_ = s.flushClient()
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("client read failed", "error", err)
			}
			return
		}
		if len(pkt) == 0 {
			s.log.Debug("empty command packet")
			return
		}
		s.status.Store("query")
		if err := s.dispatch(pkt); err != nil {
			if !s.fail(err) {
				return
			}
		}
	}
}

// dispatch runs one command.
func (s *session) dispatch(pkt []byte) error {
	switch pkt[0] {
	case mysql.COM_QUIT:
		return io.EOF
	case mysql.COM_PING:
		s.client.scratchOK(s)
		return s.flushClient()
	case mysql.COM_QUERY:
		return s.query(pkt)
	case mysql.COM_INIT_DB:
		return s.initDB(pkt)
	case mysql.COM_FIELD_LIST:
		return s.onPrimary(pkt, respFieldList)
	case mysql.COM_STATISTICS:
		return s.onPrimary(pkt, respSingle)
	case mysql.COM_SET_OPTION:
		return s.setOption(pkt)
	case mysql.COM_RESET_CONNECTION:
		return s.resetConnection()
	case mysql.COM_STMT_PREPARE:
		return s.onPrimary(pkt, respPrepare)
	case mysql.COM_STMT_EXECUTE:
		return s.onPrimary(pkt, respResult)
	case mysql.COM_STMT_FETCH:
		return s.onPrimary(pkt, respRows)
	case mysql.COM_STMT_RESET:
		return s.onPrimary(pkt, respSingle)
	case mysql.COM_STMT_CLOSE, mysql.COM_STMT_SEND_LONG_DATA:
		// No response. The command reaches the primary, where every statement was prepared.
		bc, err := s.conn(router.PrimaryName)
		if err != nil {
			return nil // nothing to answer; a later EXECUTE reports the primary's state
		}
		if err := bc.send(pkt); err != nil {
			return backendErr(err, false)
		}
		return nil
	}
	s.writeError(mysql.ER_UNKNOWN_COM_ERROR, "08S01", fmt.Sprintf("tailgate does not support command 0x%02x", pkt[0]))
	return s.flushClient()
}

// query routes and runs one COM_QUERY.
func (s *session) query(pkt []byte) error {
	sql := string(pkt[1:])
	st := s.srv.classifier.Classify(sql)
	view := s.view()
	d, err := s.srv.router.Route(st, &view)
	if err != nil {
		s.srv.metrics.routeError()
		s.writeError(mysql.ER_UNKNOWN_ERROR, "HY000", "tailgate: "+err.Error())
		return s.flushClient()
	}
	if s.log.IsTrace() {
		s.log.Trace("route", "sql", truncate(sql, 200), "target", d.Target, "backend", d.Backend, "reason", d.Reason)
	}
	bc, err := s.conn(d.Backend)
	if err != nil && d.Target == router.TargetReplica && s.txn == nil {
		// The replica cannot be reached: the read goes to the primary instead.
		s.log.Warn("replica unreachable, read goes to the primary", "replica", d.Backend, "error", err)
		d = router.Decision{Target: router.TargetPrimary, Backend: router.PrimaryName, Reason: router.ReasonNoHealthyReplica, Fallback: true}
		bc, err = s.conn(router.PrimaryName)
	}
	if err != nil {
		s.writeError(mysql.ER_CONNECT_TO_MASTER, "HY000", "tailgate: "+err.Error())
		return s.flushClient()
	}
	s.srv.metrics.routed(d)
	start := time.Now()
	out, err := s.exec(bc, pkt, respResult)
	if obs := s.srv.opts.Observer; obs != nil {
		obs.ObserveQuery(d, err != nil || out.hasError, time.Since(start))
	}
	if err != nil {
		return err
	}
	if !out.hasError {
		s.applyEffects(st, bc, sql)
	}
	return nil
}

// exec syncs session state onto bc, sends the command and relays the response.
func (s *session) exec(bc *backendConn, pkt []byte, kind respKind) (relayOutcome, error) {
	if err := s.state.sync(bc); err != nil {
		var myErr *mysql.MyError
		if errors.As(err, &myErr) {
			s.writeError(myErr.Code, myErr.State, "tailgate could not apply the session state on "+bc.b.Name+": "+myErr.Message)
			return relayOutcome{hasError: true}, s.flushClient()
		}
		return relayOutcome{}, s.backendFailed(bc, err, false)
	}
	bc.b.queries.Add(1)
	if err := bc.send(pkt); err != nil {
		return relayOutcome{}, s.backendFailed(bc, err, false)
	}
	out, err := s.relay(bc, kind)
	if err != nil {
		if se, ok := isBackendErr(err); ok {
			return out, s.backendFailed(bc, se.err, se.midResponse)
		}
		bc.close() // the response was cut off on the client side: bc is mid-stream
		s.forget(bc)
		return out, err
	}
	s.last = bc
	s.learnStatus(bc, out.status)
	return out, nil
}

// learnStatus updates transaction state from the server status flags.
func (s *session) learnStatus(bc *backendConn, status uint16) {
	if bc.b.Primary {
		s.autocommit = status&mysql.SERVER_STATUS_AUTOCOMMIT != 0
	}
	switch {
	case status&mysql.SERVER_STATUS_IN_TRANS != 0:
		s.txn = bc
	case s.txn == bc:
		s.txn = nil
	}
}

// applyEffects records what a successful statement changed in the session.
func (s *session) applyEffects(st *router.Statement, bc *backendConn, sql string) {
	switch st.Kind {
	case router.KindSessionSet:
		if st.Effects&(router.EffectSetAutocommit|router.EffectSetTransaction) == 0 {
			s.state.recordSet(st.SetKey, sql)
			bc.stateVersion = s.state.version
		}
	case router.KindUse:
		s.state.schema = st.Schema
		bc.schema = st.Schema
	}
	e := st.Effects
	if e == 0 {
		return
	}
	if e.Has(router.EffectGetLock) {
		s.locks++
	}
	if e.Has(router.EffectReleaseLock) && s.locks > 0 {
		s.locks--
	}
	if e.Has(router.EffectReleaseAllLocks) {
		s.locks = 0
	}
	if e.Has(router.EffectCreateTempTable) {
		if s.tempTables == nil {
			s.tempTables = map[string]struct{}{}
		}
		for _, t := range st.Tables {
			s.tempTables[t] = struct{}{}
		}
	}
	if e.Has(router.EffectDropTable) {
		for _, t := range st.Tables {
			delete(s.tempTables, t)
		}
	}
	if e.Has(router.EffectUserVarAssign) {
		s.userVarsPin = true
	}
	if e.Has(router.EffectLockTables) {
		s.tablesLocked = true
	}
	if e.Has(router.EffectUnlockTables) {
		s.tablesLocked = false
	}
}

// onSessionTrack learns from an OK packet's session state block: the default database
// (USE inside procedures and multi-statements too) and the GTID of a write.
func (s *session) onSessionTrack(bc *backendConn, block []byte) {
	for len(block) > 0 {
		typ := block[0]
		n, size, ok := readLenEnc(block[1:])
		if !ok || uint64(len(block)-1-size) < n {
			return
		}
		data := block[1+size : 1+size+int(n)]
		block = block[1+size+int(n):]
		switch typ {
		case 0x01: // SESSION_TRACK_SCHEMA
			if name, l, ok := readLenEnc(data); ok && uint64(len(data)-l) >= name {
				schema := string(data[l : l+int(name)])
				bc.schema = schema
				s.state.schema = schema
			}
		case 0x00: // SESSION_TRACK_SYSTEM_VARIABLES: name, value
			name, l, ok := readLenEnc(data)
			if !ok || uint64(len(data)-l) < name {
				continue
			}
			key := data[l : l+int(name)]
			rest := data[l+int(name):]
			val, l2, ok := readLenEnc(rest)
			if !ok || uint64(len(rest)-l2) < val {
				continue
			}
			if string(key) == "last_gtid" && val > 0 && bc.b.Primary {
				s.learnWrite(string(rest[l2 : l2+int(val)]))
			}
		}
	}
}

// onPrimary runs a command on the primary connection.
func (s *session) onPrimary(pkt []byte, kind respKind) error {
	bc, err := s.conn(router.PrimaryName)
	if err != nil {
		s.writeError(mysql.ER_CONNECT_TO_MASTER, "HY000", "tailgate: "+err.Error())
		return s.flushClient()
	}
	d := router.Decision{Target: router.TargetPrimary, Backend: router.PrimaryName, Reason: "command"}
	s.srv.metrics.routed(d)
	start := time.Now()
	out, err := s.exec(bc, pkt, kind)
	if obs := s.srv.opts.Observer; obs != nil {
		obs.ObserveQuery(d, err != nil || out.hasError, time.Since(start))
	}
	return err
}

// initDB handles COM_INIT_DB: it runs where the session last ran (checking the database
// exists and is accessible) and becomes session state.
func (s *session) initDB(pkt []byte) error {
	bc := s.last
	if bc == nil {
		var err error
		if bc, err = s.conn(router.PrimaryName); err != nil {
			s.writeError(mysql.ER_CONNECT_TO_MASTER, "HY000", "tailgate: "+err.Error())
			return s.flushClient()
		}
	}
	out, err := s.exec(bc, pkt, respSingle)
	if err != nil {
		return err
	}
	if !out.hasError {
		s.state.schema = string(pkt[1:])
		bc.schema = s.state.schema
	}
	return nil
}

// setOption handles COM_SET_OPTION (multi-statements on/off) as session state.
func (s *session) setOption(pkt []byte) error {
	if len(pkt) < 3 || pkt[2] != 0 || pkt[1] > 1 {
		s.writeError(mysql.ER_UNKNOWN_COM_ERROR, "HY000", "tailgate: unknown COM_SET_OPTION value")
		return s.flushClient()
	}
	s.state.multiStmtOff = pkt[1] == 1
	// Answered like the server does: an EOF packet.
	s.scratch = append(s.scratch[:0], mysql.EOF_HEADER, 0, 0, byte(s.serverStatus()), byte(s.serverStatus()>>8))
	if err := s.client.writePacket(s.scratch); err != nil {
		return clientErr(err)
	}
	return s.flushClient()
}

// resetConnection handles COM_RESET_CONNECTION: every open backend connection is reset and
// the session forgets its variables, temporary tables, locks and transaction.
func (s *session) resetConnection() error {
	s.state.reset()
	for _, bc := range s.openConns() {
		if err := bc.simpleCommand(mysql.COM_RESET_CONNECTION, ""); err != nil {
			s.log.Debug("backend reset failed; dropping the connection", "backend", bc.b.Name, "error", err)
			bc.close()
			s.forget(bc)
			continue
		}
		if err := bc.initSession(); err != nil {
			s.log.Debug("backend session setup after reset failed; dropping the connection", "backend", bc.b.Name, "error", err)
			bc.close()
			s.forget(bc)
			continue
		}
		bc.stateVersion = s.state.version
		bc.multiStmtOff = false
	}
	s.txn, s.locks, s.tablesLocked, s.userVarsPin, s.tempTables = nil, 0, false, false, nil
	s.autocommit = true
	s.client.scratchOK(s)
	return s.flushClient()
}

// serverStatus is the status the proxy reports in packets it makes itself.
func (s *session) serverStatus() uint16 {
	var st uint16
	if s.autocommit {
		st |= mysql.SERVER_STATUS_AUTOCOMMIT
	}
	if s.txn != nil {
		st |= mysql.SERVER_STATUS_IN_TRANS
	}
	return st
}

// conn returns the session's connection to the named backend, opening it if needed.
func (s *session) conn(name string) (*backendConn, error) {
	if err := s.dropIfClosed(name); err != nil {
		return nil, err
	}
	if name == router.PrimaryName {
		if s.primary == nil {
			bc, err := s.srv.dial(s.srv.primary, &s.dial)
			if err != nil {
				return nil, err
			}
			s.primary = bc
		}
		return s.primary, nil
	}
	if bc := s.reps[name]; bc != nil {
		return bc, nil
	}
	b := s.srv.backend(name)
	if b == nil {
		return nil, fmt.Errorf("replica %q is not configured", name)
	}
	bc, err := s.srv.dial(b, &s.dial)
	if err != nil {
		return nil, err
	}
	if s.reps == nil {
		s.reps = map[string]*backendConn{}
	}
	s.reps[name] = bc
	return bc, nil
}

// dropIfClosed forgets the session's idle connection to the named backend when the server
// closed it (wait_timeout, restart), so that conn opens a new one with the session state
// replayed. Lost state that cannot be replayed (a transaction, temporary tables, locks)
// is reported instead.
func (s *session) dropIfClosed(name string) error {
	bc := s.primary
	if name != router.PrimaryName {
		bc = s.reps[name]
	}
	if bc == nil || time.Since(bc.lastUsed) < idleCheckAfter || bc.alive() {
		return nil
	}
	s.log.Debug("backend closed an idle connection; reconnecting", "backend", bc.b.Name)
	lost := s.txn == bc || bc.b.Primary && (len(s.tempTables) > 0 || s.locks > 0 || s.tablesLocked)
	bc.close()
	s.forget(bc)
	if lost {
		s.tempTables, s.locks, s.tablesLocked = nil, 0, false
		return fmt.Errorf("the connection to %s was closed by the server while idle; the transaction, temporary tables and locks it held are gone", bc.b.Name)
	}
	return nil
}

func (s *session) openConns() []*backendConn {
	var out []*backendConn
	if s.primary != nil {
		out = append(out, s.primary)
	}
	for _, bc := range s.reps {
		out = append(out, bc)
	}
	return out
}

// forget drops a closed connection from the session.
func (s *session) forget(bc *backendConn) {
	if s.primary == bc {
		s.primary = nil
	}
	if s.reps[bc.b.Name] == bc {
		delete(s.reps, bc.b.Name)
	}
	if s.last == bc {
		s.last = nil
	}
	if s.txn == bc {
		s.txn = nil
	}
}

// backendFailed handles a broken backend connection: the client gets an error saying what
// was lost, and the session goes on with a new connection next time.
func (s *session) backendFailed(bc *backendConn, err error, midResponse bool) error {
	lostTxn := s.txn == bc
	primaryState := bc.b.Primary && (len(s.tempTables) > 0 || s.locks > 0 || s.tablesLocked)
	bc.close()
	s.forget(bc)
	s.log.Warn("backend connection failed", "backend", bc.b.Name, "error", err)
	msg := fmt.Sprintf("tailgate: lost connection to %s (%s) during the query: %v", bc.b.Name, bc.b.Address, err)
	if lostTxn {
		msg += "; the open transaction was rolled back"
	}
	if primaryState {
		msg += "; temporary tables and locks of this session are gone"
		s.tempTables, s.locks, s.tablesLocked = nil, 0, false
	}
	s.writeError(crServerLost, "HY000", msg)
	if err := s.flushClient(); err != nil {
		return err
	}
	if midResponse {
		// The client holds part of a result it cannot finish reading: end the session.
		return io.ErrUnexpectedEOF
	}
	return nil
}

// fail decides what a command error means for the session; false ends it.
func (s *session) fail(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	var se *sideError
	if errors.As(err, &se) && !se.backend {
		s.log.Debug("client connection failed", "error", err)
		return false
	}
	s.log.Warn("session ended by an error", "error", err)
	return false
}

// writeError buffers an ERR packet for the client.
func (s *session) writeError(code uint16, state, msg string) {
	s.scratch = appendErr(s.scratch[:0], code, state, msg)
	_ = s.client.writePacket(s.scratch)
}

func (s *session) flushClient() error {
	if err := s.client.flush(); err != nil {
		return clientErr(err)
	}
	return nil
}

func (s *session) closeBackends() {
	for _, bc := range s.openConns() {
		bc.close()
	}
	s.primary, s.reps = nil, nil
}

// scratchOK buffers an OK packet with the session's status.
func (p *packetIO) scratchOK(s *session) {
	s.scratch = appendOK(s.scratch[:0], s.serverStatus())
	_ = p.writePacket(s.scratch)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
