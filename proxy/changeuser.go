package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// changeUserRequest is a COM_CHANGE_USER packet.
type changeUserRequest struct {
	user, schema string
	auth         []byte // the client's answer to the session's current scramble
	plugin       string // the method auth is for ("" when the client did not say)
	collation    int    // 0 when the client sent none
}

var errMalformedChangeUser = errors.New("malformed COM_CHANGE_USER")

// parseChangeUser reads a COM_CHANGE_USER payload (after the command byte) as a client
// with capabilities caps sends it: user, auth response, database, then optionally the
// character set, the auth plugin and connection attributes (not needed: ignored).
func parseChangeUser(b []byte, caps uint32) (changeUserRequest, error) {
	var req changeUserRequest
	cstring := func() (string, bool) {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return "", false
		}
		v := string(b[:i])
		b = b[i+1:]
		return v, true
	}
	var ok bool
	if req.user, ok = cstring(); !ok {
		return req, errMalformedChangeUser
	}
	if caps&mysql.CLIENT_SECURE_CONNECTION != 0 {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return req, errMalformedChangeUser
		}
		req.auth = slices.Clone(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
	} else {
		auth, ok := cstring()
		if !ok {
			return req, errMalformedChangeUser
		}
		req.auth = []byte(auth)
	}
	if len(b) == 0 {
		return req, nil // an old client: no database
	}
	if req.schema, ok = cstring(); !ok {
		return req, errMalformedChangeUser
	}
	if len(b) >= 2 {
		req.collation = int(b[0]) | int(b[1])<<8
		b = b[2:]
	}
	if caps&mysql.CLIENT_PLUGIN_AUTH != 0 && len(b) > 0 {
		if req.plugin, ok = cstring(); !ok {
			req.plugin, b = string(b), nil // the last field may lack its NUL
		}
	}
	return req, nil
}

// changeUser handles COM_CHANGE_USER: the client logs in again, as the same or another
// user, with a database. As on MariaDB the session starts afresh first (variables,
// temporary tables, locks and the transaction are gone, prepared statements closed),
// whether or not the login succeeds; a failed one keeps the user and database.
//
// As a server does, tailgate checks the client's answer to the scramble it last sent
// (the handshake's), and asks again with a new scramble (an auth switch) only when the
// user's method is not the one the client answered with.
func (s *session) changeUser(pkt []byte) error {
	if s.failedChangeUsers >= maxFailedChangeUsers {
		return s.clientError(mysql.ER_UNKNOWN_COM_ERROR, "Unknown command")
	}
	req, err := parseChangeUser(pkt[1:], s.clientCaps)
	if err != nil {
		return s.clientError(mysql.ER_MALFORMED_PACKET, "tailgate: "+err.Error())
	}
	s.resetState()
	users := *s.srv.users.Load()
	u, known := users[req.user]
	plugin := u.authPlugin()
	if !known {
		plugin = s.srv.sha2.decoyPlugin(req.user, users)
	}
	answer := req.auth
	if req.plugin != "" && req.plugin != plugin {
		if s.clientCaps&mysql.CLIENT_PLUGIN_AUTH == 0 {
			return s.clientError(mysql.ER_NOT_SUPPORTED_AUTH_MODE, "Client does not support authentication protocol requested by server; consider upgrading MariaDB client")
		}
		if s.scramble, err = newScramble(); err != nil {
			return err
		}
		s.scratch = append(append(append(append(s.scratch[:0], mysql.EOF_HEADER), plugin...), 0), s.scramble...)
		s.scratch = append(s.scratch, 0) // servers end the scramble with a NUL; clients expect it
		_ = s.client.writePacket(s.scratch)
		if err := s.flushClient(); err != nil {
			return err
		}
		if answer, err = s.client.readPacket(); err != nil {
			return clientErr(err)
		}
	}
	host := s.remote
	if !known || !scrambleMatches(plugin, s.scramble, answer, u.Password) {
		s.srv.metrics.authFailed.Add(1)
		s.srv.throttle.failed(host, time.Now())
		using := "YES"
		if len(answer) == 0 {
			using = "NO"
		}
		return s.changeUserFailed(mysql.NewError(mysql.ER_ACCESS_DENIED_ERROR,
			fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", req.user, host, using)))
	}
	if plugin == mysql.AUTH_CACHING_SHA2_PASSWORD && len(answer) > 0 {
		// As a server with the password cached: tailgate has it, and the answer proves it.
		_ = s.client.writePacket([]byte{mysql.MORE_DATE_HEADER, mysql.CACHE_SHA2_FAST_AUTH})
	}
	undo := s.becomeUser(u, req)
	if myErr := s.checkBackendLogin(); myErr != nil {
		undo()
		return s.changeUserFailed(myErr)
	}
	s.srv.throttle.succeeded(host)
	s.log.Debug("user changed")
	s.client.scratchOK(s)
	return s.flushClient()
}

// maxFailedChangeUsers is how many failed COM_CHANGE_USER a connection gets; the next ones
// are refused as an unknown command, as MariaDB does against password guessing.
const maxFailedChangeUsers = 3

// changeUserDelay is how long a failed COM_CHANGE_USER waits before its error (MariaDB's
// delay against password guessing).
const changeUserDelay = time.Second

// changeUserFailed answers a failed COM_CHANGE_USER with e, after changeUserDelay.
func (s *session) changeUserFailed(e *mysql.MyError) error {
	s.failedChangeUsers++
	t := time.NewTimer(changeUserDelay)
	select {
	case <-t.C:
	case <-s.ctx.Done():
		t.Stop()
	}
	s.writeError(e.Code, e.State, e.Message)
	return s.flushClient()
}

// becomeUser makes the session u's, in req's database and character set, and returns
// what puts the previous user and database back.
func (s *session) becomeUser(u User, req changeUserRequest) (undo func()) {
	type identity struct {
		user      string
		dial      dialParams
		key       poolKey
		schema    string
		userWrite *atomic.Pointer[string]
	}
	save := identity{s.user, s.dial, s.key, s.state.schema, s.userWrite}
	set := func(id identity) {
		s.srv.mu.Lock() // SHOW SESSIONS and KILL read user; the admin's KILL, dial and key
		s.user, s.dial, s.key = id.user, id.dial, id.key
		s.srv.mu.Unlock()
		s.state.schema, s.userWrite = id.schema, id.userWrite
		s.log = s.userLog()
	}
	next := save
	next.user, next.schema, next.userWrite = u.Name, req.schema, s.srv.userWrite(u.Name)
	next.dial.user, next.dial.password = u.backendCredentials()
	next.dial.schema = req.schema
	if req.collation != 0 {
		next.dial.collation = collationName(req.collation)
	}
	next.key = next.dial.poolKey()
	set(next)
	return func() { set(save) }
}

// newScramble returns 20 random bytes as servers send them: printable ASCII, no NUL.
func newScramble() ([]byte, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("scramble: %w", err)
	}
	for i := range b {
		b[i] = 33 + b[i]%94
	}
	return b, nil
}

// scrambleMatches checks a client's answer to scramble for password under plugin.
func scrambleMatches(plugin string, scramble, answer []byte, password string) bool {
	var want []byte
	if plugin == mysql.AUTH_CACHING_SHA2_PASSWORD {
		want = mysql.CalcCachingSha2Password(scramble, []byte(password))
	} else {
		want = mysql.CalcNativePassword(scramble, []byte(password))
	}
	return len(want) == len(answer) && subtle.ConstantTimeCompare(want, answer) == 1
}
