package proxy

import (
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// sessionState is the client-visible session state that must be in effect on whichever
// backend connection serves the next statement: the default database and the replayable
// SET statements (session variables, user variables, SET NAMES, SET ROLE), in the order they
// ran.
type sessionState struct {
	schema  string
	sets    []setEntry // ordered by version
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
	// readsVars: its values read variables (router.Statement.SetReadsVars).
	readsVars bool
	// quoted: it has a quoted literal, which the server reads by the sql_mode and character
	// set in effect.
	quoted bool
}

// maxSets bounds the replay list of a session whose SETs keep depending on earlier ones:
// past it, superseded SETs are dropped all the same.
const maxSets = 64

// recordSet remembers a SET that succeeded, in the order SETs ran. The earlier SETs of
// the same key are dropped when nothing needs them on replay: the new one reads no
// variable (SET @n = @n + 1 needs the earlier @n), and no SET of another key recorded since
// does (one that reads variables, or after a SET of sql_mode or the character set, one
// with a quoted literal, which the server reads by them).
func (st *sessionState) recordSet(key, sql string, tracking, readsVars bool) {
	first := slices.IndexFunc(st.sets, func(e setEntry) bool { return e.key == key })
	if first >= 0 && (!readsVars && !dependedOn(key, st.sets[first+1:]) || len(st.sets) >= maxSets) {
		st.sets = slices.DeleteFunc(st.sets, func(e setEntry) bool { return e.key == key })
	}
	st.version++
	st.sets = append(st.sets, setEntry{key: key, sql: sql, version: st.version, tracking: tracking,
		readsVars: readsVars, quoted: strings.ContainsAny(sql, "'\"")})
}

// dependedOn reports whether a SET in later (recorded after one of key) may read what
// key's SET set.
func dependedOn(key string, later []setEntry) bool {
	shapesLiterals := false
	for name := range strings.SplitSeq(key, ",") {
		switch name {
		case "sql_mode", "names", "character_set_client", "character_set_connection", "collation_connection":
			shapesLiterals = true
		}
	}
	for _, e := range later {
		if e.key != key && (e.readsVars || e.quoted && shapesLiterals) {
			return true
		}
	}
	return false
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
