package proxy

import (
	"github.com/go-mysql-org/go-mysql/mysql"
)

// sessionState is the client-visible session state that must be in effect on whichever
// backend connection serves the next statement: the default database and the replayable
// SET statements (session variables, user variables, SET NAMES, SET ROLE), in the order they
// ran.
type sessionState struct {
	schema  string
	sets    []setEntry // ordered by version; at most one entry per key
	version uint64     // version of the newest entry
	// multiStmtOff: multi-statements are off, for want of CLIENT_MULTI_STATEMENTS in the
	// handshake or after COM_SET_OPTION(MYSQL_OPTION_MULTI_STATEMENTS_OFF).
	multiStmtOff bool
}

type setEntry struct {
	key     string
	sql     string
	version uint64
	// tracking: it sets the session tracking tailgate relies on (router.EffectSessionTracking),
	// which trackSession restores after it.
	tracking bool
}

// recordSet remembers a SET that succeeded, replacing an earlier one of the same key.
func (st *sessionState) recordSet(key, sql string, tracking bool) {
	for i := range st.sets {
		if st.sets[i].key == key {
			st.sets = append(st.sets[:i], st.sets[i+1:]...)
			break
		}
	}
	st.version++
	st.sets = append(st.sets, setEntry{key: key, sql: sql, version: st.version, tracking: tracking})
}

// reset forgets variables. COM_RESET_CONNECTION keeps the default database, and the
// multi-statement option: MariaDB and MySQL keep it with the client's capabilities.
func (st *sessionState) reset() {
	st.sets = nil
	st.version++
}

// sync brings bc up to the session's state before it serves a statement.
func (st *sessionState) sync(bc *backendConn) error {
	if bc.schema != st.schema && st.schema != "" {
		if err := bc.simpleCommand(mysql.COM_INIT_DB, st.schema); err != nil {
			return err
		}
		bc.schema = st.schema
	}
	if bc.multiStmtOff != st.multiStmtOff {
		opt := "\x00\x00" // MYSQL_OPTION_MULTI_STATEMENTS_ON
		if st.multiStmtOff {
			opt = "\x01\x00"
		}
		if err := bc.simpleCommand(mysql.COM_SET_OPTION, opt); err != nil {
			return err
		}
		bc.multiStmtOff = st.multiStmtOff
	}
	if bc.stateVersion == st.version {
		return nil
	}
	retrack := false
	for _, e := range st.sets {
		if e.version <= bc.stateVersion {
			continue
		}
		if err := bc.simpleCommand(mysql.COM_QUERY, e.sql); err != nil {
			return err
		}
		bc.ranSet(e.key)
		retrack = retrack || e.tracking
	}
	bc.stateVersion = st.version
	if retrack {
		_, err := bc.trackSession()
		return err
	}
	return nil
}
