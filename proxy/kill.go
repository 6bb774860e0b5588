package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/router"
)

// KILL [CONNECTION | QUERY] id names a connection id from tailgate's handshake: clients
// take it from there (the mysql client's Ctrl-C, JDBC's Statement.cancel) or from an
// earlier session. A server would read it as one of its own thread ids and kill an
// unrelated connection, so tailgate runs KILL itself: it finds the session, kills the
// backend thread running that session's statement with a KILL of its own, and for KILL
// CONNECTION closes the client's connection.

// erConnectionKilled is MariaDB's ER_CONNECTION_KILLED ("Connection was killed").
const erConnectionKilled = 1927

// errKilled ends a session that KILL CONNECTION named.
var errKilled = errors.New("connection killed")

// killSlot lets another session's KILL reach this session's running statement.
type killSlot struct {
	mu sync.Mutex
	// running is the backend connection the session's statement runs on, nil between
	// statements. The session clears it before it lets the connection go, and a KILL holds
	// mu while it kills the connection's thread: the thread cannot be another session's by
	// the time the KILL arrives.
	running *backendConn
	killed  bool // KILL CONNECTION named the session: no statement may start
}

// startStatement publishes bc as running the session's next statement.
func (s *session) startStatement(bc *backendConn) error {
	s.kill.mu.Lock()
	defer s.kill.mu.Unlock()
	if s.kill.killed {
		return errKilled
	}
	s.kill.running = bc
	return nil
}

// endStatement withdraws the running statement, once any KILL sent for it is done, and
// reports whether the session was killed meanwhile.
func (s *session) endStatement() (killed bool) {
	s.kill.mu.Lock()
	defer s.kill.mu.Unlock()
	s.kill.running = nil
	return s.kill.killed
}

// closeClient ends t as a KILL CONNECTION does: no statement starts on it from now on, and
// its client sees its connection close. It returns the backend connection t's statement
// runs on, if any: t drops that connection when the statement ends (endStatement reports the
// kill), so its thread stays t's, and never another session's, until the server ends it.
func (t *session) closeClient() (running *backendConn) {
	t.kill.mu.Lock()
	t.kill.killed = true
	running = t.kill.running
	t.kill.mu.Unlock()
	_ = t.raw.Close()
	return running
}

// processKill answers COM_PROCESS_KILL, the old command form of KILL CONNECTION.
func (s *session) processKill(pkt []byte) error {
	if len(pkt) < 5 {
		return s.clientError(mysql.ER_MALFORMED_PACKET, "malformed COM_PROCESS_KILL")
	}
	return s.killStatement(router.Kill{ID: uint64(binary.LittleEndian.Uint32(pkt[1:]))})
}

// killStatement runs a KILL statement for the client.
func (s *session) killStatement(k router.Kill) error {
	e := s.runKill(k)
	if e == nil {
		s.client.scratchOK(s)
		return s.flushClient()
	}
	s.writeError(e.Code, e.State, e.Message)
	if e.Code == erConnectionKilled {
		_ = s.flushClient()
		return errKilled
	}
	return s.flushClient()
}

// runKill runs k and returns the error for the client, nil for OK.
func (s *session) runKill(k router.Kill) *mysql.MyError {
	switch {
	case k.Unsupported != "":
		return mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "tailgate: "+k.Unsupported)
	case k.ID == uint64(s.id) && k.Query:
		// The session's own statement is the KILL itself, as on a server.
		return mysql.NewError(mysql.ER_QUERY_INTERRUPTED, "Query execution was interrupted")
	case k.ID == uint64(s.id):
		return &mysql.MyError{Code: erConnectionKilled, State: "70100", Message: "Connection was killed"}
	}
	t := s.srv.session(k.ID)
	switch {
	case t == nil:
		return unknownThread(k.ID)
	case s.srv.userOf(t) != s.user:
		// A server lets accounts with CONNECTION ADMIN or SUPER kill others' threads;
		// tailgate does not know the grants, and lets each account kill only its own.
		return mysql.NewError(mysql.ER_KILL_DENIED_ERROR, fmt.Sprintf("You are not owner of thread %d", k.ID))
	}
	return s.srv.kill(t, k.Query, s)
}

// userOf returns the user of session t, which COM_CHANGE_USER may change at any time.
func (s *Server) userOf(t *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.user
}

// unknownThread is a server's answer to KILL of an id it does not know.
func unknownThread(id uint64) *mysql.MyError {
	return mysql.NewError(mysql.ER_NO_SUCH_THREAD, fmt.Sprintf("Unknown thread id: %d", id))
}

// KillSession is KILL [CONNECTION | QUERY] id from the admin interface: it ends client
// session id, or stops the statement it runs. The backend KILL runs with the session's own
// login. An unknown id is a *mysql.MyError, as a server reports it.
func (s *Server) KillSession(id uint32, query bool) error {
	t := s.session(uint64(id))
	if t == nil {
		return unknownThread(uint64(id))
	}
	if e := s.kill(t, query, loginLender{s, t}); e != nil {
		return e
	}
	return nil
}

// lender lends a connection to a backend for a KILL and takes it back: err is the KILL's.
type lender interface {
	lend(b *Backend) (*backendConn, error)
	takeBack(bc *backendConn, err error)
}

// A session's KILL runs on one of its own connections, as the session's statements do.
func (s *session) lend(b *Backend) (*backendConn, error) { return s.conn(b.Name) }

func (s *session) takeBack(bc *backendConn, err error) {
	var myErr *mysql.MyError
	if err != nil && !errors.As(err, &myErr) {
		s.drop(bc)
		return
	}
	s.settle(bc, relayOutcome{hasError: err != nil}, nil)
}

// loginLender lends pooled connections with session t's login (the admin's KILL).
type loginLender struct {
	srv *Server
	t   *session
}

func (l loginLender) lend(b *Backend) (*backendConn, error) {
	// t's own goroutine changes them on COM_CHANGE_USER, under srv.mu (becomeUser).
	l.srv.mu.Lock()
	key, dial := l.t.key, l.t.dial
	l.srv.mu.Unlock()
	return b.pool.get(context.Background(), key, nil, func() (*backendConn, error) {
		return l.srv.dial(b, &dial)
	}, l.srv.live().BackendConnectTimeout)
}

func (l loginLender) takeBack(bc *backendConn, err error) {
	var myErr *mysql.MyError
	switch {
	case err == nil:
	case errors.As(err, &myErr):
		// The error is in its diagnostics now: the next borrower resets it.
		bc.diag, bc.dirty, bc.owner = true, true, nil
	default:
		bc.pool.discard(bc)
		return
	}
	bc.pool.put(bc)
}

// kill stops t's running statement (query) or ends t, with a connection from l, and
// returns the error for whoever asked, if any.
func (s *Server) kill(t *session, query bool, l lender) *mysql.MyError {
	var target *backendConn
	if query {
		t.kill.mu.Lock()
		target = t.kill.running
		t.kill.mu.Unlock()
	} else {
		s.log.Info("KILL CONNECTION", "session", t.id)
		target = t.closeClient()
	}
	if target == nil {
		return nil // nothing running: nothing more to do
	}
	// Borrow a connection to the backend before taking t's lock: t may hold the last
	// connection of a full pool, which it gives back only after its statement.
	kc, err := l.lend(target.b)
	if err != nil {
		return s.killFailed(target.b.Name, query, err)
	}
	var killErr error
	if query {
		t.kill.mu.Lock()
		if t.kill.running == target { // else the statement ended: nothing to stop
			killErr = kc.simpleCommand(mysql.COM_QUERY, fmt.Sprintf("KILL QUERY %d", target.threadID))
		}
		t.kill.mu.Unlock()
	} else {
		// Killed, t drops target when its statement ends, whether before this KILL or
		// after: the thread is t's until the server ends it.
		killErr = kc.simpleCommand(mysql.COM_QUERY, fmt.Sprintf("KILL CONNECTION %d", target.threadID))
	}
	l.takeBack(kc, killErr)
	var myErr *mysql.MyError
	switch {
	case killErr == nil:
		return nil
	case errors.As(killErr, &myErr):
		if myErr.Code == mysql.ER_NO_SUCH_THREAD {
			return nil // the backend connection is gone already
		}
		return myErr
	}
	return s.killFailed(target.b.Name, query, killErr)
}

// killFailed reports that the backend running the statement could not be told to stop it.
// KILL CONNECTION still ends the session: its backend connection is closed with it.
func (s *Server) killFailed(backend string, query bool, err error) *mysql.MyError {
	s.log.Warn("KILL could not reach the backend", "backend", backend, "error", err)
	if !query {
		return nil
	}
	return &mysql.MyError{Code: mysql.ER_UNKNOWN_ERROR, State: "HY000",
		Message: fmt.Sprintf("tailgate: could not reach %s to stop the query: %v", backend, err)}
}

// killLogin is a backend and the client account whose statements run there.
type killLogin struct {
	b    *Backend
	user string
}

// killRunning kills the backend threads of conns, all on login.b and running login.user's
// statements, over one connection with that user's backend login: a server lets an account
// kill its own threads without privileges. The connection is opened outside the pool, where
// every connection may be running one of those statements, and bounded by
// backend_connect_timeout in all it waits for, so that a shutdown ends.
func (s *Server) killRunning(login killLogin, conns []*backendConn) {
	u, ok := (*s.users.Load())[login.user]
	if !ok {
		s.log.Warn("shutdown: the account of running statements was removed; their connections are closed, the statements may run on",
			"backend", login.b.Name, "user", login.user, "statements", len(conns))
		return
	}
	user, pass := u.backendCredentials()
	timeout := s.live().BackendConnectTimeout
	p := dialParams{user: user, password: pass, collation: collationName(0), timeout: timeout, readTimeout: timeout,
		maxPacket: 1 << 20, attrs: map[string]string{"_client_name": "tailgate", "program_name": "tailgate shutdown"}}
	kc, err := s.dial(login.b, &p)
	if err != nil {
		s.log.Warn("shutdown: cannot reach the backend to stop running statements; their connections are closed, the statements may run on",
			"backend", login.b.Name, "user", login.user, "statements", len(conns), "error", err)
		return
	}
	defer kc.close()
	for _, bc := range conns {
		err := kc.simpleCommand(mysql.COM_QUERY, fmt.Sprintf("KILL CONNECTION %d", bc.threadID))
		var myErr *mysql.MyError
		switch {
		case err == nil || errors.As(err, &myErr) && myErr.Code == mysql.ER_NO_SUCH_THREAD:
			s.log.Info("shutdown: running statement killed", "backend", login.b.Name, "thread", bc.threadID)
		case errors.As(err, &myErr):
			s.log.Warn("shutdown: the backend refused to kill a running statement; its connection is closed", "backend", login.b.Name, "thread", bc.threadID, "error", err)
		default:
			s.log.Warn("shutdown: lost the backend while stopping running statements; their connections are closed", "backend", login.b.Name, "error", err)
			return
		}
	}
}
