package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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
	remote     string // the client's host, as servers name clients and failed logins count
	client     *packetIO
	clientCaps uint32
	log        hclog.Logger // connLog with the user
	connLog    hclog.Logger // conn_id and client address
	dial       dialParams

	state sessionState
	key   poolKey // which pooled backend connections fit this session
	// owner marks the backend connections that carry this session's state; it is
	// replaced by COM_RESET_CONNECTION, after which they count as another session's.
	owner *stateOwner
	// held are the backend connections the session keeps between statements: pinned ones
	// (transaction, temporary tables, locks...) and one held over for the next statement
	// (after warnings or an error, for SHOW WARNINGS). Others go back to the pool after
	// each response. Keyed by backend name (a reload may replace the Backend).
	held map[string]*backendConn

	// Routing state learned from the server and from statements that ran.
	last         *Backend     // served the previous statement
	lastConn     *backendConn // its connection, while held over for the next statement
	txn          *backendConn // holds the open transaction (SERVER_STATUS_IN_TRANS), or nil
	autocommit   bool
	tempTables   map[string]struct{}
	locks        int
	tablesLocked bool
	userVarsPin  bool // user variables assigned in statements: reads that use them stay on the primary
	// stateOnPrimary: session variables were set where they cannot be replayed (a prepared
	// SET): every read stays on the primary connection that has them.
	stateOnPrimary bool
	// stickyPrimary keeps the primary connection after state that cannot be replayed on
	// another connection (user variables assigned in statements, SQL PREPARE, CALL,
	// multi-statements with writes, admin statements).
	stickyPrimary bool
	// sqlMode: how the servers read the session's text (NO_BACKSLASH_ESCAPES from every
	// status, ANSI_QUOTES from the tracked sql_mode).
	sqlMode      router.SQLMode
	lastInsertID uint64       // from OK packets: replayed before LAST_INSERT_ID() elsewhere
	insertConn   *backendConn // connection whose LAST_INSERT_ID() is lastInsertID
	// insertUnknown: insertConn's LAST_INSERT_ID() is the session's but not lastInsertID (an
	// insert answered without an OK packet's id: learnInsert).
	insertUnknown bool
	stmts         map[uint32]*prepared
	cursors       int                     // statements in stmts with an open cursor (setCursor, clearCursor)
	stmtSeq       uint32                  // the last statement id handed out
	lastStmtID    uint32                  // the statement mariadbLastStmt names: the last prepare's, or 0 when it failed
	writeGTID     string                  // GTID of the session's last write (read-your-writes)
	userWrite     *atomic.Pointer[string] // latest write of the session's user (scope "user")

	ctx       context.Context // ends when tailgate shuts down
	retryable bool            // the statement running may be retried on another backend
	// holdReadOnly: the statement running is on its first attempt, so that if the primary
	// refuses it as read-only it may wait for the primary to move (mayHoldReadOnly decides,
	// then).
	holdReadOnly bool
	loginCheck   bool   // checking the login during the handshake: no waiting for the primary
	scratch      []byte // reused for rewritten packets
	execBuf      []byte // reused for rewritten COM_STMT_EXECUTE packets
	started      time.Time
	status       atomic.Value // string: "idle", "query"
	inTxn        atomic.Bool  // a transaction is open (read by shutdown without the session's lock)
	pinned       atomic.Value // string: backend the session is pinned to, for SHOW SESSIONS
	// pinnedName is the session goroutine's copy of pinned (stored only on change).
	pinnedName string
	raw        net.Conn // the client's connection as accepted (under TLS and compression)
	kill       killSlot // how another session's KILL reaches this one
	// scramble is the last one sent to the client (the handshake's, then COM_CHANGE_USER's
	// auth switches): a client answers COM_CHANGE_USER with it.
	scramble []byte
	// failedChangeUsers counts failed COM_CHANGE_USER (maxFailedChangeUsers).
	failedChangeUsers int
}

// userLog is the session's logger for its current user.
func (s *session) userLog() hclog.Logger { return s.connLog.With("user", s.user) }

func (s *session) view() router.SessionView {
	v := router.SessionView{
		AutocommitOff:     !s.autocommit,
		TempTables:        len(s.tempTables) > 0,
		LocksHeld:         s.locks > 0,
		TablesLocked:      s.tablesLocked,
		UserVarsOnPrimary: s.userVarsPin,
		StateOnPrimary:    s.stateOnPrimary,
	}
	if s.txn != nil {
		v.TransactionBackend = s.txn.b.Name
	}
	if s.last != nil {
		v.LastBackend = s.last.Name
	}
	if live := s.srv.live(); live.ReadYourWrites {
		v.WritePosition = s.requiredPosition()
		v.WaitForWrite = live.ReplicaWait > 0 && v.WritePosition != ""
	}
	return v
}

// pinnedTo names the backend the session cannot leave now, or "".
func (s *session) pinnedTo() string {
	switch {
	case s.txn != nil:
		return s.txn.b.Name
	case s.primaryPinned():
		return router.PrimaryName
	}
	return ""
}

// primaryPinned reports whether the session must keep its primary connection.
func (s *session) primaryPinned() bool {
	return !s.autocommit || s.heldOnPrimary()
}

// heldOnPrimary reports state of the session that lives on its primary connection only
// and goes with it: temporary tables, locks, what a sticky statement left.
func (s *session) heldOnPrimary() bool {
	return len(s.tempTables) > 0 || s.locks > 0 || s.tablesLocked || s.stickyPrimary
}

// requiredPosition is the write position a read must see under the consistency scope.
func (s *session) requiredPosition() string {
	var p *string
	switch s.srv.live().ConsistencyScope {
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
	var shared *atomic.Pointer[string]
	switch s.srv.live().ConsistencyScope {
	case "user":
		shared = s.userWrite
	case "global":
		shared = &s.srv.globalWrite
	default:
		return
	}
	p := gtid // on the heap only for a shared scope
	shared.Store(&p)
}

// run is the command loop. It returns when the client quits or fails.
func (s *session) run(ctx context.Context) {
	s.ctx = ctx
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
		err = s.dispatch(pkt)
		switch {
		case err == nil:
			// One flush per command, after it is accounted for: SHOW DIGESTS, SHOW STATS
			// and the metrics already count a statement whose answer a client has.
			err = s.flushClient()
		case errors.Is(err, errAnswered):
			err = nil // the client has its error, flushed
		}
		if err != nil {
			if errors.Is(err, errKilled) {
				s.log.Debug("session killed")
				return
			}
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
	case mysql.COM_CHANGE_USER:
		return s.changeUser(pkt)
	case mysql.COM_STMT_PREPARE:
		return s.stmtPrepare(pkt)
	case mysql.COM_STMT_EXECUTE:
		return s.stmtExecute(pkt)
	case mysql.COM_STMT_FETCH:
		return s.stmtFetch(pkt)
	case mysql.COM_STMT_RESET:
		return s.stmtReset(pkt)
	case mysql.COM_STMT_SEND_LONG_DATA:
		s.stmtLongData(pkt)
		return nil
	case mysql.COM_STMT_CLOSE:
		s.stmtClose(pkt)
		return nil
	case mysql.COM_PROCESS_KILL:
		return s.processKill(pkt)
	}
	s.writeError(mysql.ER_UNKNOWN_COM_ERROR, "08S01", fmt.Sprintf("tailgate does not support command 0x%02x", pkt[0]))
	return s.flushClient()
}

// classifier reads statement text the way the session's sql_mode makes the server read it.
func (s *session) classifier() *router.Classifier {
	return s.srv.classifier.ForMode(s.sqlMode)
}

// query routes and runs one COM_QUERY.
func (s *session) query(pkt []byte) error {
	// The statement text stays in the read buffer: a classifier cache hit copies nothing.
	st := s.classifier().ClassifyBytes(pkt[1:])
	if st.Kind == router.KindKill {
		return s.killStatement(st.Kill)
	}
	if s.txn != nil && !s.txn.b.Primary && st.CommitsImplicitly() {
		s.endReplicaTransaction()
	}
	d, bc, err := s.route(st, true)
	if err != nil {
		return err
	}
	if s.log.IsTrace() {
		s.log.Trace("route", "sql", truncate(string(pkt[1:]), 200), "target", d.Target, "backend", d.Backend, "reason", d.Reason)
	}
	if err := s.prepareSessionFunc(st, bc); err != nil {
		return err
	}
	start := time.Now()
	var out relayOutcome
run:
	for attempt := 0; ; attempt++ {
		// Once, and only before anything reached the client, a statement runs again: an
		// autocommit read whose replica failed (errRetry: elsewhere) or refused it as a
		// write (errWroteOnReplica: on the primary), an autocommit statement the primary
		// refused as read-only (errPrimaryReadOnly: once the primary moved, or failing
		// there again). Writes and transactions are never sent twice.
		first := attempt == 0
		s.retryable = first && d.Target == router.TargetReplica && s.txn == nil && st.Kind == router.KindRead
		s.holdReadOnly = first
		out, err = s.exec(bc, pkt, respResult)
		s.retryable, s.holdReadOnly = false, false
		var again bool
		if d, bc, again, err = s.reroute(st, d, bc, err, true); !again {
			break run
		}
		if err != nil {
			return err
		}
		if err := s.prepareSessionFunc(st, bc); err != nil {
			return err
		}
	}
	s.observe(st, d, out, err, start)
	if err != nil {
		return err
	}
	if !out.hasError {
		s.applyEffects(st, bc, pkt[1:])
	}
	s.recordMultiSets(st, bc, out.results)
	s.learnInsert(st, bc, out)
	s.learnResultSetWrite(st, bc, out)
	s.settle(bc, out, st)
	return nil
}

// learnResultSetWrite learns where the primary stands after a statement that may have
// written and answered with a result set (MariaDB's INSERT, REPLACE and DELETE ...
// RETURNING, a SELECT calling a stored function, a multi-statement text ending in a
// SELECT): a result set ends with an EOF
// packet, which carries no session state, so the write's GTID was not in the answer. In
// autocommit the write is committed: the primary's binlog position now covers it, and the
// session's reads must see that position. Inside a transaction the COMMIT's OK tells.
func (s *session) learnResultSetWrite(st *router.Statement, bc *backendConn, out relayOutcome) {
	if !out.resultSet || out.hasError || !bc.b.Primary || s.txn != nil || !st.MayWrite() || !s.srv.live().ReadYourWrites {
		return
	}
	// The answer is complete and counted: the client need not wait for this round trip. (A
	// failed flush stays in the writer; the session loop's flush reports it.)
	_ = s.client.flush()
	q := "SELECT @@GLOBAL.gtid_executed"
	if bc.mariadb {
		q = "SELECT @@GLOBAL.gtid_binlog_pos"
	}
	if pos, ok := s.askBackend(bc, q, "cannot read the primary's position after a write answered by a result set; the session's next reads may miss it"); ok && pos != "" {
		s.learnWrite(pos)
	}
}

// askBackend runs a query of tailgate's own on bc, between the client's statements, for
// one value. No error of it reaches the client: a server error is logged as failed says,
// and any other leaves bc unusable, so it is dropped too. ok is false in both cases.
func (s *session) askBackend(bc *backendConn, query, failed string) (string, bool) {
	v, err := bc.queryValue(query)
	if err == nil {
		return v, true
	}
	var myErr *mysql.MyError
	if errors.As(err, &myErr) {
		s.log.Warn(failed, "backend", bc.b.Name, "error", err)
	} else {
		s.log.Warn(failed+"; the connection failed and is dropped", "backend", bc.b.Name, "error", err)
		s.drop(bc)
	}
	return "", false
}

// recordMultiSets records the SET statements of a multi-statement text that ran (its first
// ran parts), so that later statements on other connections see them too.
func (s *session) recordMultiSets(st *router.Statement, bc *backendConn, ran int) {
	if len(st.Sets) == 0 {
		return
	}
	retrack := false
	for _, p := range st.Sets {
		if p.Index >= ran {
			break
		}
		s.state.recordSet(p.Key, p.SQL, p.Tracking, p.ReadsVars)
		retrack = retrack || p.Tracking
		bc.ranSet(p.Key)
	}
	// bc was brought to the session's state before the text ran: it has these too.
	bc.stateVersion = s.state.version
	bc.dirty, bc.owner = true, s.owner
	if retrack {
		s.retrack(bc)
	}
}

// retrack restores tailgate's session tracking on bc after the client's own SET of it
// ran there: drivers set session_track_system_variables at connect, which replaces
// tailgate's, and without it the primary's answers would stop carrying the GTIDs of writes
// (read-your-writes) and sql_mode changes would go unseen. A connection that fails on it
// is dropped.
func (s *session) retrack(bc *backendConn) {
	_, err := bc.trackSession()
	var myErr *mysql.MyError
	switch {
	case err == nil:
	case errors.As(err, &myErr):
		s.log.Warn("could not restore session tracking after the client's SET", "backend", bc.b.Name, "error", err)
	default:
		s.log.Warn("backend connection failed restoring session tracking; dropped", "backend", bc.b.Name, "error", err)
		s.drop(bc)
	}
}

// errRetry tells query that a read failed before any byte reached the client and may be
// sent elsewhere.
var errRetry = errors.New("retry on another backend")

// route decides where st goes and returns a connection there, brought to the session's
// state. When it cannot (stale policy, backend unreachable) it answers the client itself
// and returns errAnswered. mayWait lets a read after the session's write wait on a
// replica for it (consistency.replica_wait).
func (s *session) route(st *router.Statement, mayWait bool) (router.Decision, *backendConn, error) {
	view := s.view()
	view.WaitForWrite = view.WaitForWrite && mayWait
	d, err := s.srv.router.Route(st, &view)
	if err != nil {
		s.srv.metrics.routeError()
		s.writeError(mysql.ER_UNKNOWN_ERROR, "HY000", "tailgate: "+err.Error())
		return d, nil, s.answered()
	}
	bc, err := s.conn(d.Backend)
	if err != nil && d.Target == router.TargetReplica && s.txn == nil {
		// The replica cannot be reached: the read goes to the primary instead.
		s.log.Warn("replica unreachable, read goes to the primary", "replica", d.Backend, "error", err)
		d = router.Decision{Target: router.TargetPrimary, Backend: router.PrimaryName, Reason: router.ReasonNoHealthyReplica, Fallback: true}
		bc, err = s.conn(router.PrimaryName)
	}
	if err == nil && d.WaitFor != "" && !s.waitForWrite(bc, d.WaitFor) {
		d = router.Decision{Target: router.TargetPrimary, Backend: router.PrimaryName, Reason: router.ReasonReadYourWrites, Fallback: true}
		bc, err = s.conn(router.PrimaryName)
	}
	return s.routed(d, bc, err)
}

// routed ends a routing: it counts the decision, or answers the client when no connection
// could be had for it (errAnswered then).
func (s *session) routed(d router.Decision, bc *backendConn, err error) (router.Decision, *backendConn, error) {
	if err != nil {
		s.writeError(mysql.ER_CONNECT_TO_MASTER, "HY000", "tailgate: "+err.Error())
		return d, nil, s.answered()
	}
	s.srv.metrics.routed(d)
	return d, bc, nil
}

// reroute decides where a statement runs again after err, its first attempt's error:
// again is false when err allows no other attempt (d, bc and err are then as given).
// mayWait is route's.
func (s *session) reroute(st *router.Statement, d router.Decision, bc *backendConn, err error, mayWait bool) (router.Decision, *backendConn, bool, error) {
	switch {
	case errors.Is(err, errRetry): // the replica failed: another one
		s.srv.metrics.retries.Add(1)
		d, bc, err = s.route(st, mayWait)
	case errors.Is(err, errWroteOnReplica): // the read writes: the primary
		s.learnWrites(st, d.Backend)
		d, bc, err = s.routePrimary(router.ReasonWroteOnReplica)
	case errors.Is(err, errMissingOnReplica): // a table the replica lacks: the primary
		s.srv.metrics.retries.Add(1)
		d, bc, err = s.routePrimary(router.ReasonMissingOnReplica)
	case errors.Is(err, errPrimaryReadOnly): // a switchover: the next primary
		s.awaitPrimaryMove(bc.b)
		d, bc, err = s.route(st, mayWait)
	default:
		return d, bc, false, err
	}
	return d, bc, true, err
}

// routePrimary sends the statement to the primary for reason, as route would.
func (s *session) routePrimary(reason router.Reason) (router.Decision, *backendConn, error) {
	bc, err := s.conn(router.PrimaryName)
	return s.routed(router.Decision{Target: router.TargetPrimary, Backend: router.PrimaryName, Reason: reason}, bc, err)
}

// waitForWrite waits on bc, a replica connection, until its server shows the write position
// pos (MASTER_GTID_WAIT, WAIT_FOR_EXECUTED_GTID_SET on MySQL) or consistency.replica_wait
// passes, and reports whether it does. bc goes back when it does not, so that the read goes
// to the primary.
func (s *session) waitForWrite(bc *backendConn, pos string) bool {
	if strings.ContainsFunc(pos, notGTIDText) {
		return false // not a GTID text tailgate learned: never put it in a statement
	}
	secs := strconv.FormatFloat(s.srv.live().ReplicaWait.Seconds(), 'f', 3, 64)
	q, reached := "SELECT MASTER_GTID_WAIT('"+pos+"', "+secs+")", "0"
	if !bc.mariadb {
		q = "SELECT WAIT_FOR_EXECUTED_GTID_SET('" + pos + "', " + secs + ")"
	}
	got, ok := s.askBackend(bc, q, "cannot wait on a replica for the session's write; the read goes to the primary")
	switch {
	case ok && got == reached:
		s.srv.metrics.waitedForWrite.Add(1)
		return true
	case ok:
		s.srv.metrics.waitTimedOut.Add(1)
	}
	if !bc.closed {
		s.settleConn(bc)
	}
	return false
}

// notGTIDText reports a character that no MariaDB or MySQL GTID position or set has
// (digits, '-', ',', ':', UUID hex, MySQL tags' letters and '_', spaces and newlines).
func notGTIDText(r rune) bool {
	switch {
	case '0' <= r && r <= '9', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		return false
	}
	return !strings.ContainsRune("-:,_ \n", r)
}

// observe counts a command that ran: in the metrics, and when st (the statement it
// executed) is given, in st's digest.
func (s *session) observe(st *router.Statement, d router.Decision, out relayOutcome, err error, start time.Time) {
	took, failed := time.Since(start), err != nil || out.hasError
	if st != nil {
		st.Digest.Record(d.Target, failed, took)
		if out.readOnly && d.Target == router.TargetReplica {
			s.learnWrites(st, d.Backend) // a prepared read, or a retry: the client got the error
		}
		if slow := s.srv.live().SlowStatement; slow > 0 && took >= slow {
			s.srv.metrics.slow.Add(1)
			digest := "(unknown)"
			if st.Digest != nil {
				digest = truncate(st.Digest.Text, 500) // no literal values: they may be secrets
			}
			s.log.Warn("slow statement", "took", took.Round(time.Microsecond), "backend", d.Backend, "reason", d.Reason, "failed", failed, "digest", digest)
		}
	}
	if obs := s.srv.opts.Observer; obs != nil {
		obs.ObserveQuery(d, failed, took)
	}
}

// mayHoldReadOnly reports whether a statement that the primary refused as read-only on bc
// may wait for the primary to move: in autocommit, outside a transaction, on a connection
// the session is not pinned to (what the session left on the old primary stays there, as
// after a reload). Asked only when that happens, not for every statement.
func (s *session) mayHoldReadOnly(bc *backendConn) bool {
	return bc.b.Primary && s.txn == nil && s.autocommit && !s.pinnedConn(bc) && s.srv.live().PrimaryWait > 0
}

// awaitPrimaryMove waits up to primary_wait for the primary to be another than from: a
// switchover made the primary read-only, and a followed promotion
// (primary.follow_promotion) or a reload moves it.
func (s *session) awaitPrimaryMove(from *Backend) {
	s.srv.metrics.readOnlyWaits.Add(1)
	deadline := time.Now().Add(s.srv.live().PrimaryWait)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.srv.primary.Load() == from && time.Now().Before(deadline) {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
	}
}

// learnWrites records that a read of st ran into replica's read-only error: the reads of
// its digest go to the primary from now on.
func (s *session) learnWrites(st *router.Statement, replica string) {
	if st.Digest.MarkWrites() {
		s.log.Warn("a read wrote on a replica (read-only error): statements of its digest go to the primary from now on",
			"replica", replica, "digest", truncate(st.Digest.Text, 200))
	}
}

// prepareSessionFunc makes LAST_INSERT_ID() right for a statement that calls it (a read,
// or a write such as INSERT ... VALUES (LAST_INSERT_ID())) on a primary connection other
// than insertConn. Any other connection holds the value of whichever session inserted on
// it last (a clean pooled connection is not reset), so the session's own is replayed
// there, 0 too when it never inserted; not when an insert set it unseen (insertUnknown).
// Only then: the replayed DO resets ROW_COUNT(), which a statement without
// LAST_INSERT_ID() may be asking for. When bc fails the statement must not run: the error
// is backendFailed's.
func (s *session) prepareSessionFunc(st *router.Statement, bc *backendConn) error {
	if !st.Effects.Has(router.EffectLastInsertID) || !bc.b.Primary || bc == s.insertConn || s.insertUnknown {
		return nil
	}
	if err := bc.simpleCommand(mysql.COM_QUERY, fmt.Sprintf("DO LAST_INSERT_ID(%d)", s.lastInsertID)); err != nil {
		var myErr *mysql.MyError
		if errors.As(err, &myErr) {
			return nil // reported by the statement itself if it matters
		}
		return s.backendFailed(bc, err, false)
	}
	s.insertConn = bc
	return nil
}

// learnInsert notes a statement on the primary that may have set LAST_INSERT_ID() without
// an OK packet saying so: a result set (INSERT ... RETURNING), a CALL, several results (an
// earlier part's OK is not the last one). bc then holds the session's value, which tailgate
// does not know: it is not replayed elsewhere (prepareSessionFunc), where the old behaviour
// of leaving the server's value stands.
func (s *session) learnInsert(st *router.Statement, bc *backendConn, out relayOutcome) {
	if !bc.b.Primary || out.insertID != 0 || !st.MayWrite() {
		return
	}
	if out.resultSet || out.results > 1 || st.Reason == router.ReasonCall {
		s.insertConn, s.insertUnknown = bc, true
	}
}

// exec syncs session state onto bc, sends the command and relays the response.
func (s *session) exec(bc *backendConn, pkt []byte, kind respKind) (relayOutcome, error) {
	return s.execRelay(bc, pkt, kind, 0)
}

// execRelay is exec with a statement id to give the client in a COM_STMT_PREPARE answer.
func (s *session) execRelay(bc *backendConn, pkt []byte, kind respKind, stmtID uint32) (relayOutcome, error) {
	if err := s.state.sync(bc); err != nil {
		return relayOutcome{hasError: true}, s.syncFailed(bc, err)
	}
	if err := s.startStatement(bc); err != nil {
		return relayOutcome{}, err
	}
	bc.b.queries.Add(1)
	err := bc.send(pkt)
	var out relayOutcome
	if err == nil {
		out, err = s.relay(bc, kind, stmtID)
	} else {
		err = backendErr(err, false)
	}
	if s.endStatement() {
		// KILL CONNECTION: the client's connection is closed, bc's thread killed.
		s.drop(bc)
		return out, errKilled
	}
	if errors.Is(err, errWroteOnReplica) || errors.Is(err, errPrimaryReadOnly) || errors.Is(err, errMissingOnReplica) {
		s.settleConn(bc) // it answered in full: the connection is as before
		return out, err
	}
	if err != nil {
		if errors.Is(err, errLocalInfileRefused) {
			return relayOutcome{hasError: true}, s.localInfileRefused(bc)
		}
		if se, ok := isBackendErr(err); ok {
			if !se.midResponse {
				return out, s.failedBeforeAnswer(bc, se.err)
			}
			return out, s.backendFailed(bc, se.err, se.midResponse)
		}
		s.drop(bc) // the response was cut off on the client side: bc is mid-stream
		return out, err
	}
	s.last = bc.b
	if out.statusSeen {
		s.learnStatus(bc, out.status)
	}
	if out.insertID != 0 && bc.b.Primary {
		s.lastInsertID, s.insertConn, s.insertUnknown = out.insertID, bc, false
	}
	return out, nil
}

// syncFailed reports a failure to bring bc to the session's state: a server error goes to
// the client (and bc stays usable), anything else is a broken connection.
func (s *session) syncFailed(bc *backendConn, err error) error {
	var myErr *mysql.MyError
	if errors.As(err, &myErr) {
		s.writeError(myErr.Code, myErr.State, "tailgate could not apply the session state on "+bc.b.Name+": "+myErr.Message)
		s.settle(bc, relayOutcome{hasError: true}, nil)
		return s.flushClient()
	}
	return s.failedBeforeAnswer(bc, err)
}

// endReplicaTransaction ends the session's read-only transaction on a replica before a
// statement that commits implicitly (router.Statement.CommitsImplicitly), as the server
// would: the statement then runs where it goes outside a transaction. The COMMIT of a
// read-only transaction has nothing to lose; a connection that fails it is dropped.
func (s *session) endReplicaTransaction() {
	bc := s.txn
	s.txn = nil
	if err := bc.simpleCommand(mysql.COM_QUERY, "COMMIT"); err != nil {
		s.log.Warn("ending a read-only transaction on a replica failed; connection dropped", "backend", bc.b.Name, "error", err)
		s.drop(bc)
		return
	}
	s.settleConn(bc)
}

// learnStatus updates transaction state from the server status flags.
func (s *session) learnStatus(bc *backendConn, status uint16) {
	if bc.b.Primary {
		s.autocommit = status&mysql.SERVER_STATUS_AUTOCOMMIT != 0
	}
	// sql_mode is replayed on every backend connection: any of them tells.
	s.sqlMode &^= router.ModeNoBackslashEscapes
	if status&mysql.SERVER_STATUS_NO_BACKSLASH_ESCAPED != 0 {
		s.sqlMode |= router.ModeNoBackslashEscapes
	}
	switch {
	case status&mysql.SERVER_STATUS_IN_TRANS != 0:
		s.txn = bc
	case s.txn == bc:
		s.txn = nil
	}
}

// applyEffects records what a successful statement changed in the session.
func (s *session) applyEffects(st *router.Statement, bc *backendConn, sql []byte) {
	switch st.Kind {
	case router.KindSessionSet:
		if st.Effects&(router.EffectSetAutocommit|router.EffectSetTransaction) == 0 {
			s.state.recordSet(st.SetKey, string(sql), st.Effects.Has(router.EffectSessionTracking), st.SetReadsVars)
			bc.stateVersion = s.state.version
		}
		bc.ranSet(st.SetKey)
		bc.owner = s.owner
	case router.KindUse:
		s.state.schema = st.Schema
		bc.schema = st.Schema
	}
	if st.Effects.Has(router.EffectSessionTracking) { // a SET, prepared ones too
		s.retrack(bc)
	}
	if bc.b.Primary {
		switch {
		case st.Reason == router.ReasonCall || st.Effects.Has(router.EffectOpaque):
			// What a procedure or EXECUTE left on the connection cannot be replayed (its
			// variables, OUT parameters, temporary tables, locks): the session keeps the
			// connection, and its reads of user variables go there.
			s.stickyPrimary, s.userVarsPin = true, true
		case st.Reason == router.ReasonAdminCommand, st.Reason == router.ReasonMultiWrite:
			s.stickyPrimary = true
		}
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
			s.tempTables[s.tableKey(t)] = struct{}{}
		}
		// Should the session lose track of it (a DROP tailgate reads as dropping it that
		// does not), the table must still never reach another session.
		bc.dirty = true
	}
	if e.Has(router.EffectDropTable) {
		for _, t := range st.Tables {
			delete(s.tempTables, s.tableKey(t))
		}
	}
	if e.Has(router.EffectRenameTable) {
		for i := 0; i+1 < len(st.Tables); i += 2 {
			if old := s.tableKey(st.Tables[i]); hasKey(s.tempTables, old) {
				delete(s.tempTables, old)
				s.tempTables[s.tableKey(st.Tables[i+1])] = struct{}{}
			}
		}
	}
	if e.Has(router.EffectUserVarAssign) {
		s.userVarsPin = true
		s.stickyPrimary = s.stickyPrimary || bc.b.Primary
	}
	if e.Has(router.EffectUnreplayableState) {
		s.stateOnPrimary = s.stateOnPrimary || bc.b.Primary
	}
	if e.Has(router.EffectSequence) {
		// LASTVAL() / PREVIOUS VALUE FOR now answer with this connection's value.
		s.stickyPrimary = s.stickyPrimary || bc.b.Primary
	}
	if e.Has(router.EffectConnectionID) {
		// The session has seen this connection's thread id: later CONNECTION_ID() calls,
		// and rows or locks it stamped with it, must find the same one.
		s.stickyPrimary = s.stickyPrimary || bc.b.Primary
	}
	if e.Has(router.EffectSetsLastInsertID) && st.Reason != router.ReasonWrite {
		// SELECT / DO LAST_INSERT_ID(expr): no OK packet tells the value, so it cannot be
		// replayed elsewhere. (In INSERT and UPDATE the OK packet carries it.)
		s.stickyPrimary = s.stickyPrimary || bc.b.Primary
	}
	if e.Has(router.EffectLockTables) {
		s.tablesLocked = true
	}
	if e.Has(router.EffectUnlockTables) {
		s.tablesLocked = false
	}
}

func hasKey(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}

// tableKey names a table of a statement (router.Statement.Tables) with its database: the
// session's when the statement names none.
func (s *session) tableKey(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	return strings.ToLower(s.state.schema) + "." + name
}

// onSessionTrack learns from an OK packet's session state block: the default database
// (USE inside procedures and multi-statements too), the GTID of a write and sql_mode.
func (s *session) onSessionTrack(bc *backendConn, block []byte) {
	eachSessionTrack(block, func(typ byte, data []byte) {
		switch typ {
		case sessionTrackSchema:
			if name, _, ok := readLenEncBytes(data); ok {
				schema := string(name)
				bc.schema = schema
				s.state.schema = schema
			}
		case sessionTrackSystemVariables:
			name, value, ok := trackedVariable(data)
			switch {
			case !ok:
			case string(name) == "last_gtid" && len(value) > 0 && bc.b.Primary:
				s.learnWrite(string(value))
			case string(name) == "sql_mode":
				// The mode is replayed on every backend connection: any of them tells.
				s.sqlMode = sqlModeOf(value)
			}
		case sessionTrackGTIDs: // MySQL, session_track_gtids = OWN_GTID
			// An encoding specification byte (0: the GTID set as text), then the GTIDs the
			// statement committed as a length-encoded string: "uuid:23", or a set such as
			// "uuid:23-24" after a statement that committed several transactions.
			if len(data) < 1 || data[0] != 0x00 || !bc.b.Primary {
				return
			}
			if set, _, ok := readLenEncBytes(data[1:]); ok && len(set) > 0 {
				s.learnWrite(string(set))
			}
		}
	})
}

// onPrimary runs a command on a primary connection.
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
	s.observe(nil, d, out, err, start)
	if err == nil {
		s.settle(bc, out, nil)
	}
	return err
}

// initDB handles COM_INIT_DB: it runs where the session last ran (checking the database
// exists and is accessible) and becomes session state.
func (s *session) initDB(pkt []byte) error {
	name := router.PrimaryName
	if s.last != nil {
		name = s.last.Name
	}
	bc, err := s.conn(name)
	if err != nil {
		s.writeError(mysql.ER_CONNECT_TO_MASTER, "HY000", "tailgate: "+err.Error())
		return s.flushClient()
	}
	out, err := s.exec(bc, pkt, respSingle)
	if err != nil {
		return err
	}
	if !out.hasError {
		s.state.schema = string(pkt[1:])
		bc.schema = s.state.schema
	}
	s.settle(bc, out, nil)
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
	st := s.serverStatus()
	s.scratch = append(s.scratch[:0], mysql.EOF_HEADER, 0, 0, byte(st), byte(st>>8))
	if err := s.client.writePacket(s.scratch); err != nil {
		return clientErr(err)
	}
	return s.flushClient()
}

// resetConnection handles COM_RESET_CONNECTION: every open backend connection is reset and
// the session forgets its variables, temporary tables, locks and transaction.
func (s *session) resetConnection() error {
	s.resetState()
	s.client.scratchOK(s)
	return s.flushClient()
}

// resetState is a new session's state on the same login: held backend connections are
// reset and given back, variables, temporary tables, locks, the transaction and prepared
// statements are gone. The database stays.
func (s *session) resetState() {
	s.state.reset()
	for _, bc := range s.held { // drop and release delete from s.held: allowed while ranging
		if err := bc.reset(); err != nil {
			s.log.Debug("backend reset failed; dropping the connection", "backend", bc.b.Name, "error", err)
			s.drop(bc)
			continue
		}
		bc.stateVersion = s.state.version
		s.release(bc)
	}
	s.txn, s.locks, s.tablesLocked, s.userVarsPin, s.stickyPrimary, s.tempTables = nil, 0, false, false, false, nil
	s.stateOnPrimary = false
	s.autocommit, s.lastInsertID, s.insertConn, s.insertUnknown, s.lastConn = true, 0, nil, false, nil
	s.sqlMode = s.srv.defaultSQLMode()
	s.owner = &stateOwner{}
	s.stmts, s.cursors = nil, 0
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

// conn returns a connection to the named backend for the next command: the one the
// session holds, or one borrowed from the backend's pool, brought to the session's state.
func (s *session) conn(name string) (*backendConn, error) {
	b := s.srv.primary.Load()
	if name != router.PrimaryName {
		b = s.srv.backend(name) // nil when a reload removed it
	}
	if s.lastConn != nil && s.lastConn.b != b {
		// The connection held over for SHOW WARNINGS is not needed after all (or a reload
		// replaced its backend).
		lc := s.lastConn
		s.lastConn = nil
		s.settleConn(lc)
	}
	// Held by name: a connection the session is pinned to keeps serving it after a reload
	// moved or removed its backend, so that a transaction never leaves its server (its
	// COMMIT must not go to a fresh connection on the new primary).
	if bc := s.held[name]; bc != nil {
		if err := s.dropIfClosed(bc); err != nil {
			return nil, err
		}
		if bc = s.held[name]; bc != nil {
			return bc, nil
		}
	}
	if b == nil {
		return nil, fmt.Errorf("replica %q is not configured", name)
	}
	bc, err := b.pool.get(context.Background(), s.key, s.owner, func() (*backendConn, error) {
		return s.dialWaiting(b)
	}, s.srv.live().BackendConnectTimeout)
	if errors.Is(err, errPrimaryMoved) {
		return s.conn(name) // waited for a primary that a reload or a followed promotion replaced
	}
	if err != nil {
		var myErr *mysql.MyError
		if f := s.srv.opts.OnBackendFailure; f != nil && !b.Primary && !errors.As(err, &myErr) && !errors.Is(err, ErrPoolExhausted) {
			f(b.Name) // unreachable: route around it until it answers its poll
		}
		return nil, err
	}
	fresh := false // bc cannot be made clean: use a new connection
	if bc.dirty && bc.owner != s.owner {
		// Another session's variables live on it: start from a clean session.
		if err := bc.reset(); errors.Is(err, errRoleKept) {
			fresh = true
		} else if err != nil {
			b.pool.discard(bc)
			return nil, fmt.Errorf("reset a pooled connection to %s: %w", b.Name, err)
		}
	}
	if bc.owner != s.owner {
		bc.stateVersion = 0 // a clean session: every recorded SET applies
		if bc == s.insertConn {
			// Another session used it since the insert: its LAST_INSERT_ID() is not ours.
			s.insertConn = nil
		}
	}
	if fresh || s.state.schema == "" && bc.schema != "" {
		// No way to "unselect" a database (nor a role): use a new connection, in the
		// session's database (none, after the client dropped the one it was in). It takes
		// the old one's place in the pool: given back first, the place could go to another
		// session meanwhile, and the pool would hold more than max_backend_connections.
		pool := bc.pool
		bc.close()
		p := s.dial
		p.schema = s.state.schema
		if bc, err = s.srv.dial(b, &p); err != nil {
			pool.dropped()
			return nil, err
		}
		bc.pool, bc.key = pool, s.key
	}
	bc.owner = s.owner
	if b.Primary && !s.autocommit {
		// autocommit=0 keeps the session on its primary connection, so taking another one
		// means that one is gone (closed by the server, failed, or the primary moved). The
		// setting is the session's: it carries over, as its recorded SETs do, or the
		// statements after an error would each commit on their own.
		if err := bc.simpleCommand(mysql.COM_QUERY, "SET autocommit=0"); err != nil {
			b.pool.discard(bc)
			return nil, fmt.Errorf("restore autocommit=0 on a new connection to %s: %w", b.Name, err)
		}
	}
	if s.held == nil {
		s.held = map[string]*backendConn{}
	}
	s.held[b.Name] = bc
	return bc, nil
}

// checkBackendLogin checks the session's backend login and database, so that they fail a
// connect (or COM_CHANGE_USER) as they would on the server: on the primary, or on a replica
// while the primary is unreachable (reads keep working then). The error is the client's.
func (s *session) checkBackendLogin() *mysql.MyError {
	s.loginCheck = true
	defer func() { s.loginCheck = false }()
	err := s.checkLogin(router.PrimaryName)
	var myErr *mysql.MyError
	if err != nil && !errors.As(err, &myErr) {
		for _, r := range s.srv.Backends()[1:] {
			if rerr := s.checkLogin(r.Name); rerr == nil || errors.As(rerr, &myErr) {
				s.srv.log.Warn("primary unreachable; client login checked on a replica", "replica", r.Name, "error", err)
				err = rerr
				break
			}
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.As(err, &myErr):
		return myErr
	}
	return mysql.NewError(mysql.ER_CONNECT_TO_MASTER, "tailgate: "+err.Error())
}

// checkLogin borrows a connection to the named backend with the session's login and
// database, and gives it back.
func (s *session) checkLogin(name string) error {
	bc, err := s.conn(name)
	if err != nil {
		return err
	}
	if err := s.state.sync(bc); err != nil {
		s.drop(bc)
		return err
	}
	s.release(bc)
	return nil
}

// errPrimaryMoved ends a wait for a primary that is no longer the primary.
var errPrimaryMoved = errors.New("the primary moved")

// dialWaiting opens a connection to b. A primary that cannot be reached is waited for up
// to primary_wait (it may be restarting, or a replica may be promoted in its place: then
// the wait ends with errPrimaryMoved); a server error (bad login, unknown database) fails
// at once.
func (s *session) dialWaiting(b *Backend) (*backendConn, error) {
	deadline := time.Now().Add(s.srv.live().PrimaryWait)
	backoff := 50 * time.Millisecond
	for {
		if b.Primary && s.srv.primary.Load() != b {
			return nil, errPrimaryMoved
		}
		bc, err := s.srv.dial(b, &s.dial)
		var myErr *mysql.MyError
		if err == nil || !b.Primary || s.loginCheck || errors.As(err, &myErr) || time.Now().Add(backoff).After(deadline) {
			if err != nil && b.Primary && s.srv.live().PrimaryWait > 0 && !errors.As(err, &myErr) {
				err = fmt.Errorf("the primary did not come back within primary_wait (%s): %w", s.srv.live().PrimaryWait, err)
			}
			return bc, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return nil, err
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// settle decides after a response whether the session keeps bc: pinned connections stay,
// a connection whose statement left warnings or an error is held over for the next
// statement (SHOW WARNINGS), and the others go back to the pool.
func (s *session) settle(bc *backendConn, out relayOutcome, st *router.Statement) {
	if bc.closed {
		return
	}
	lastBackend := st != nil && st.Kind == router.KindLastBackend
	if !lastBackend { // SELECT @@warning_count and SHOW WARNINGS leave the diagnostics as they were
		bc.diag = out.hasError || out.warnings > 0
	}
	holdOver := out.hasError || out.warnings > 0 || lastBackend && bc == s.lastConn ||
		st != nil && (st.Reason == router.ReasonCalcFoundRows || st.Effects.Has(router.EffectSetTransaction))
	if holdOver {
		s.lastConn = bc
		return
	}
	if s.lastConn == bc {
		s.lastConn = nil
	}
	s.settleConn(bc)
}

// settleConn returns bc to its pool unless the session is pinned to it.
func (s *session) settleConn(bc *backendConn) {
	if s.pinnedConn(bc) {
		return
	}
	s.release(bc)
}

// pinnedConn reports whether the session must keep bc between statements.
func (s *session) pinnedConn(bc *backendConn) bool {
	if bc == s.txn || bc == s.lastConn {
		return true
	}
	if bc.b.Primary && s.primaryPinned() {
		return true
	}
	if s.cursors == 0 {
		return false // the common case: no map to scan per statement
	}
	for _, ps := range s.stmts {
		if ps.cursor == bc {
			return true
		}
	}
	return false
}

// release gives a held connection back to its pool.
func (s *session) release(bc *backendConn) {
	if s.held[bc.b.Name] == bc {
		delete(s.held, bc.b.Name)
	}
	// s.insertConn stays: if the session gets this connection back before another session
	// borrows it (the pool prefers it), LAST_INSERT_ID(), ROW_COUNT() and FOUND_ROWS() are
	// still the session's own and need no replay (which would reset ROW_COUNT()).
	bc.owner = s.owner
	if bc.diag {
		// Its warnings or error must not reach another session's SHOW WARNINGS, nor this
		// session's once it has moved on (MariaDB keeps them until a statement uses a
		// table): the next borrower resets it (COM_RESET_CONNECTION clears them).
		bc.dirty, bc.owner = true, nil
	}
	if bc.schema != s.key.schema && s.key.schema == "" {
		bc.pool.discard(bc) // keyed for sessions without a database
		return
	}
	bc.pool.put(bc)
}

// dropIfClosed forgets a held connection the server closed while it was idle (wait_timeout,
// restart), so that conn borrows another one with the session state replayed. Lost state
// that cannot be replayed (a transaction, temporary tables, locks) is reported instead.
func (s *session) dropIfClosed(bc *backendConn) error {
	if time.Since(bc.lastUsed) < idleCheckAfter || bc.alive() {
		return nil
	}
	s.log.Debug("backend closed an idle connection; reconnecting", "backend", bc.b.Name)
	// autocommit=0 alone is not lost: conn restores it on the next connection.
	lost := s.txn == bc || bc.b.Primary && s.heldOnPrimary()
	s.drop(bc)
	if lost {
		s.tempTables, s.locks, s.tablesLocked, s.stickyPrimary = nil, 0, false, false
		return fmt.Errorf("the connection to %s was closed by the server while idle; the transaction, temporary tables, locks and variables it held are gone", bc.b.Name)
	}
	return nil
}

// drop closes a held connection and forgets it.
func (s *session) drop(bc *backendConn) {
	if s.held[bc.b.Name] == bc {
		delete(s.held, bc.b.Name)
	}
	bc.pool.discard(bc)
	s.forget(bc)
}

// forget clears references to a connection that is gone.
func (s *session) forget(bc *backendConn) {
	if s.lastConn == bc {
		s.lastConn = nil
	}
	if s.txn == bc {
		s.txn = nil
	}
	if s.insertConn == bc {
		s.insertConn = nil
	}
	for _, ps := range s.stmts {
		if ps.cursor == bc {
			s.clearCursor(ps)
		}
	}
}

// failedBeforeAnswer handles a backend connection that broke before any byte of the
// answer reached the client: a retryable read is sent elsewhere, anything else fails.
func (s *session) failedBeforeAnswer(bc *backendConn, err error) error {
	if !s.retryable {
		return s.backendFailed(bc, err, false)
	}
	s.retryable = false
	s.log.Warn("replica failed before answering; the read is retried elsewhere", "backend", bc.b.Name, "error", err)
	s.dropFailed(bc)
	return errRetry
}

// dropFailed forgets a connection that failed, and the backend's idle connections (they
// likely failed too), and tells the freshness view so that routing avoids the backend
// until it answers again.
func (s *session) dropFailed(bc *backendConn) {
	s.drop(bc)
	bc.b.pool.closeIdle()
	if f := s.srv.opts.OnBackendFailure; f != nil && !bc.b.Primary {
		f(bc.b.Name)
	}
}

// errAnswered is what a command returns once it told the client why it could not run
// (backendFailed: its backend connection broke; route: no backend for it): every caller
// stops there, recording nothing the statement would have changed (the database,
// variables, locks, a prepared statement), and the session goes on with the next command.
var errAnswered = errors.New("the command failed; the client was told")

// answered flushes the error written for the client and ends the command (errAnswered).
func (s *session) answered() error {
	if err := s.flushClient(); err != nil {
		return err
	}
	return errAnswered
}

// backendFailed handles a broken backend connection: the client gets an error saying what
// was lost, and the session goes on with a new connection next time (errAnswered).
func (s *session) backendFailed(bc *backendConn, err error, midResponse bool) error {
	lost := s.loseState(bc)
	s.dropFailed(bc)
	s.log.Warn("backend connection failed", "backend", bc.b.Name, "error", err)
	msg := fmt.Sprintf("tailgate: lost connection to %s (%s) during the query: %v", bc.b.Name, bc.b.Address, err)
	s.writeError(erBackendLost, stateLinkFailure, msg+lost)
	if midResponse {
		// The client holds part of a result it cannot finish reading: end the session.
		if err := s.flushClient(); err != nil {
			return err
		}
		return io.ErrUnexpectedEOF
	}
	return s.answered()
}

// loseState forgets the session state that goes away with bc, which is about to be closed,
// and returns what to add to the client's error message about it.
func (s *session) loseState(bc *backendConn) string {
	var msg string
	if s.txn == bc {
		msg += "; the open transaction was rolled back"
	}
	if bc.b.Primary && (len(s.tempTables) > 0 || s.locks > 0 || s.tablesLocked) {
		msg += "; temporary tables and locks of this session are gone"
		s.tempTables, s.locks, s.tablesLocked = nil, 0, false
	}
	return msg
}

// localInfileRefused answers for a backend that asked for a LOAD DATA LOCAL INFILE file
// the client did not offer (the relay did not pass the request on). bc waits for file data
// that will not come, so it is closed; the client gets an error in place of the statement's
// answer (valid after earlier results of a multi-statement too) and the session goes on.
func (s *session) localInfileRefused(bc *backendConn) error {
	lost := s.loseState(bc)
	s.drop(bc)
	s.log.Warn("backend asked for a LOCAL INFILE file the client did not offer; connection closed", "backend", bc.b.Name)
	s.writeError(mysql.ER_NOT_ALLOWED_COMMAND, "42000", "tailgate: "+errLocalInfileRefused.Error()+lost)
	return s.flushClient()
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

// closeBackends gives the session's connections back when it ends. What the session held
// on a connection it was pinned to (table locks, GET_LOCK locks, temporary tables) must end
// with it, as on a direct connection: such a connection is reset now, not by its next
// borrower, which may come much later or never (the pool prefers clean connections) while
// the locks block everyone. A reset keeps the connection for the pool at one round trip,
// once per client and only for such a connection. One that cannot be reset is closed, and
// so is one with an open transaction: the server rolls it back without this goroutine
// waiting for a rollback of any size.
func (s *session) closeBackends() {
	for _, bc := range s.held { // drop and release delete from s.held: allowed while ranging
		if bc == s.txn {
			s.drop(bc)
			continue
		}
		if s.pinnedConn(bc) {
			if err := s.resetAtEnd(bc); err != nil {
				s.log.Debug("backend reset failed; dropping the connection", "backend", bc.b.Name, "error", err)
				s.drop(bc)
				continue
			}
		}
		s.release(bc)
	}
	s.lastConn, s.txn = nil, nil
}

// resetAtEnd resets bc for its pool as its session ends, waiting for the answer no longer
// than backend_connect_timeout (or backend_read_timeout when shorter), as for a login:
// nobody waits for this reset, and a backend that stopped answering must not hold the
// ending session, nor a shutdown waiting for it, without end.
func (s *session) resetAtEnd(bc *backendConn) error {
	saved := bc.readTimeout
	if bound := s.srv.live().BackendConnectTimeout; saved == 0 || saved > bound {
		bc.readTimeout = bound
	}
	err := bc.reset()
	bc.readTimeout = saved
	if err == nil && saved == 0 {
		err = bc.pio.conn.SetReadDeadline(time.Time{}) // awaitAnswer sets none when 0
	}
	return err
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
