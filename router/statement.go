package router

import (
	"strings"
	"time"
)

// Kind is what a statement does, as far as routing cares.
type Kind uint8

const (
	// KindRead is a plain read (SELECT, SHOW, DESCRIBE, EXPLAIN, DO without side effects):
	// a replica may serve it when the session is in autocommit mode and not pinned.
	KindRead Kind = iota
	// KindWrite must run on the primary (writes, DDL, locking reads, reads with session-bound
	// functions, CALL, unparseable text, multi-statements with a non-read part...). Reason says why.
	KindWrite
	// KindBegin opens a read-write transaction (BEGIN, START TRANSACTION [READ WRITE]).
	KindBegin
	// KindBeginReadOnly opens a read-only transaction (START TRANSACTION READ ONLY): a replica may
	// serve the whole transaction.
	KindBeginReadOnly
	// KindEndTransaction is COMMIT or ROLLBACK (without AND CHAIN/RELEASE variants being special):
	// it goes to wherever the transaction is.
	KindEndTransaction
	// KindSessionSet changes session state that must follow the session to every backend
	// (SET [SESSION] var=..., SET @uservar=..., SET NAMES, SET CHARACTER SET). See Statement.SetKey.
	KindSessionSet
	// KindUse is USE db. Statement.Schema holds the database name.
	KindUse
	// KindLastBackend reads the diagnostics of the previous statement (SHOW WARNINGS, SHOW ERRORS,
	// SHOW COUNT(*) WARNINGS, SELECT @@warning_count / @@error_count) or its counts (a read
	// calling FOUND_ROWS() or ROW_COUNT()): it must go to the backend that served the
	// previous statement, where the session's connection there has them.
	KindLastBackend
	// KindKill is KILL [CONNECTION | QUERY] id: the id is a connection id tailgate gave a
	// client (the handshake's), never a backend's, so tailgate runs it itself. See
	// Statement.Kill.
	KindKill
)

// String names the kind for logs and EXPLAIN ROUTE.
func (k Kind) String() string {
	switch k {
	case KindRead:
		return "read"
	case KindWrite:
		return "write"
	case KindBegin:
		return "begin"
	case KindBeginReadOnly:
		return "begin_read_only"
	case KindEndTransaction:
		return "end_transaction"
	case KindSessionSet:
		return "session_set"
	case KindUse:
		return "use"
	case KindLastBackend:
		return "last_backend"
	case KindKill:
		return "kill"
	}
	return "unknown"
}

// Reason is the code a routing decision reports (EXPLAIN ROUTE, logs, metrics).
type Reason string

// Reasons set by the classifier on KindWrite statements.
const (
	ReasonWrite         Reason = "write"            // INSERT/UPDATE/DELETE/REPLACE/LOAD DATA/...
	ReasonDDL           Reason = "ddl"              // CREATE/ALTER/DROP/TRUNCATE/RENAME/...
	ReasonLockingRead   Reason = "locking_read"     // SELECT ... FOR UPDATE / LOCK IN SHARE MODE / FOR SHARE
	ReasonSelectInto    Reason = "select_into"      // SELECT ... INTO @var / OUTFILE / DUMPFILE
	ReasonSessionFunc   Reason = "session_function" // GET_LOCK, RELEASE_LOCK, LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT(), CONNECTION_ID(), ...
	ReasonUserVarAssign Reason = "user_var_assign"  // @v := expr inside a statement
	ReasonCalcFoundRows Reason = "calc_found_rows"  // SELECT SQL_CALC_FOUND_ROWS (FOUND_ROWS() follows on the primary)
	ReasonCall          Reason = "call"             // CALL proc()
	ReasonMultiWrite    Reason = "multi_statement"  // several statements, not all plain reads
	ReasonUnparsed      Reason = "unparsed"         // the parser could not parse it
	ReasonGlobalSet     Reason = "global_set"       // SET GLOBAL / SET PERSIST: server state, primary only
	ReasonAdminCommand  Reason = "admin_statement"  // FLUSH, KILL, LOCK TABLES, GRANT, PREPARE/EXECUTE (SQL-level), XA, HANDLER, ...
	ReasonSequence      Reason = "sequence"         // NEXTVAL/SETVAL, NEXT VALUE FOR
	ReasonStoredFunc    Reason = "stored_function"  // calls a stored function or UDF, which may write
	ReasonPrimaryStatus Reason = "primary_status"   // SHOW MASTER STATUS, BINARY LOGS, BINLOG EVENTS, SLAVE HOSTS, @@gtid_binlog_pos: the primary's binlog
)

// Reasons set by the router on its decisions.
const (
	ReasonRead             Reason = "autocommit_read"
	ReasonHintPrimary      Reason = "hint_primary"
	ReasonHintReplica      Reason = "hint_replica"
	ReasonInTransaction    Reason = "in_transaction"
	ReasonAutocommitOff    Reason = "autocommit_off"
	ReasonReadOnlyTxn      Reason = "read_only_transaction"
	ReasonTempTable        Reason = "temporary_table"
	ReasonLockHeld         Reason = "user_lock_held"
	ReasonUserVarsPinned   Reason = "user_vars_on_primary"
	ReasonSessionState     Reason = "session_state"
	ReasonLastBackend      Reason = "previous_statement_backend"
	ReasonNoReplica        Reason = "no_replica_configured"
	ReasonNoHealthyReplica Reason = "no_eligible_replica"
	ReasonReadYourWrites   Reason = "read_your_writes"
	ReasonWaitForWrite     Reason = "wait_for_write" // on a replica once it shows the session's write (consistency.replica_wait)
	ReasonKillSession      Reason = "kill_tailgate_session"
	// ReasonWroteOnReplica: a read of the statement's digest ran into a replica's
	// read-only error (it writes: a view or trigger calling a writing function).
	ReasonWroteOnReplica Reason = "wrote_on_replica"
	// ReasonMissingOnReplica: a replica answered a read that a table it reads does not
	// exist; the read ran again on the primary.
	ReasonMissingOnReplica Reason = "missing_on_replica"
	// ReasonRulePrimary, ReasonRuleReplica: a routing rule (config [[rules]]) said so.
	ReasonRulePrimary Reason = "rule_primary"
	ReasonRuleReplica Reason = "rule_replica"
)

// Hint is a routing hint from a leading comment.
type Hint uint8

const (
	HintNone    Hint = iota
	HintPrimary      // /* tailgate:primary */
	HintReplica      // /* tailgate:replica */
)

// Effect is a bit set of session side effects a statement has once it ran.
type Effect uint32

const (
	EffectGetLock          Effect = 1 << iota // calls GET_LOCK()
	EffectReleaseLock                         // calls RELEASE_LOCK()
	EffectReleaseAllLocks                     // calls RELEASE_ALL_LOCKS()
	EffectCreateTempTable                     // CREATE TEMPORARY TABLE (Statement.Tables holds the names)
	EffectDropTable                           // DROP [TEMPORARY] TABLE (Statement.Tables holds the names)
	EffectUserVarAssign                       // assigns user variables outside a replayable SET (SELECT @v:=1, SELECT ... INTO @v)
	EffectUsesUserVars                        // reads user variables (@v)
	EffectSetAutocommit                       // SET autocommit=... (Statement.Autocommit holds the value)
	EffectSetTransaction                      // SET TRANSACTION ... without a scope: the next transaction only (not replayed)
	EffectLockTables                          // LOCK TABLES
	EffectUnlockTables                        // UNLOCK TABLES
	EffectLastInsertID                        // calls LAST_INSERT_ID() (the session's value must be on its connection)
	EffectSetsLastInsertID                    // calls LAST_INSERT_ID(expr), which sets the session's value
	// EffectSessionTracking sets session_track_system_variables or session_track_gtids: what
	// the server reports in OK packets, which the proxy relies on (write GTIDs, sql_mode).
	EffectSessionTracking
	// EffectConnectionID calls CONNECTION_ID(): the session has seen (and may have stored)
	// its primary connection's thread id, which must stay the same from then on.
	EffectConnectionID
	// EffectSequence calls NEXTVAL() or SETVAL() (NEXT VALUE FOR): the connection's
	// LASTVAL() of the sequence is now the session's, which cannot be replayed elsewhere.
	EffectSequence
	// EffectRenameTable: RENAME TABLE or ALTER TABLE ... RENAME, which renames a temporary
	// table too (Statement.Tables holds each old name followed by its new one).
	EffectRenameTable
	// EffectUnreplayableState sets session variables to values the text does not show (a
	// prepared SET takes them with each execute): they live on the connection it ran on.
	EffectUnreplayableState
	// EffectOpaque runs statements the text does not show (EXECUTE of a SQL prepared
	// statement, EXECUTE IMMEDIATE), which may leave variables, temporary tables or locks on
	// the connection, as a CALL may.
	EffectOpaque
)

// Has reports whether every bit of f is in e.
func (e Effect) Has(f Effect) bool { return e&f == f }

// Statement is what the classifier learned about one statement text. Classifier results are
// cached and shared between sessions: treat a *Statement as read-only.
type Statement struct {
	Kind    Kind
	Reason  Reason // set for KindWrite; empty otherwise
	Hint    Hint
	MaxLag  time.Duration // from /* tailgate:max_lag=500ms */; 0 when absent
	Effects Effect

	// Tables lists the temporary tables created, the tables dropped, or the tables renamed
	// as old, new pairs: lower case, "db.name" when the statement names the database.
	Tables []string
	// Schema is the database of a USE statement.
	Schema string
	// SetKey identifies what a KindSessionSet statement sets (sorted, lower-case variable names
	// joined by ",", e.g. "@a,sql_mode" or "names"), so that a later SET of the same things
	// replaces it in the session's replay list.
	SetKey string
	// SetReadsVars: a KindSessionSet whose values read variables (SET @n = @n + 1, SET
	// sql_mode = CONCAT(@@sql_mode, ...)), so its replay needs the SETs before it.
	SetReadsVars bool
	// Autocommit is the value of SET autocommit=... (with EffectSetAutocommit).
	Autocommit bool
	// Multi is true when the text holds several statements.
	Multi bool
	// Sets are the replayable SET statements among the parts of a Multi text, in order: the
	// session replays them elsewhere like single SETs (those before a failed part ran).
	Sets []SetPart
	// Kill is what a KindKill statement asks for.
	Kill Kill
	// Digest counts the executions of the statements of its shape (digest.go); nil for a
	// statement that did not come from a Classifier.
	Digest *Digest
	// Rule names the routing rule (config [[rules]]) whose target Hint is; "" when Hint
	// is the text's own or none.
	Rule string
	// PrimarySession: it calls a function whose answer belongs to the session's primary
	// connection or to the primary server, not to a transaction's snapshot (GET_LOCK and
	// the other user-lock functions, LAST_INSERT_ID(), CONNECTION_ID(), LASTVAL(),
	// @@last_gtid), so a read-only transaction on a replica leaves such a read to the
	// primary (Pin).
	// FOUND_ROWS() and ROW_COUNT() are not among them: they answer about the previous
	// statement, which ran in the transaction.
	PrimarySession bool
}

// SetsSessionVars reports a KindSessionSet or KindUse that sets more than user variables
// (SetKey names them "@name").
func (st *Statement) SetsSessionVars() bool {
	for name := range strings.SplitSeq(st.SetKey, ",") {
		if !strings.HasPrefix(name, "@") {
			return true
		}
	}
	return false
}

// CommitsImplicitly reports a statement that ends the session's transaction before it
// runs: BEGIN and START TRANSACTION, DDL, LOCK TABLES. Inside a read-only transaction on a
// replica it must not run there: the transaction ends, and the statement goes where it
// would outside one.
func (st *Statement) CommitsImplicitly() bool {
	return st.Kind == KindBegin || st.Kind == KindBeginReadOnly ||
		st.Kind == KindWrite && (st.Reason == ReasonDDL || st.Effects.Has(EffectLockTables))
}

// MayWrite reports whether the statement may change data on the primary: a write, text
// tailgate cannot see into (unparsed, a CALL, a multi-statement, EXECUTE of a SQL-level
// prepared statement, a sequence), or a read whose digest ran into a replica's read-only
// error. KindWrite statements that are reads kept on the primary
// for their session effects (LAST_INSERT_ID(), locking reads, ...) do not.
func (st *Statement) MayWrite() bool {
	if st.Kind == KindRead && st.Digest.Writes() {
		return true // learned: it ran into a replica's read-only error
	}
	if st.Kind != KindWrite {
		return false
	}
	switch st.Reason {
	case ReasonWrite, ReasonDDL, ReasonUnparsed, ReasonCall, ReasonMultiWrite, ReasonAdminCommand, ReasonSequence, ReasonStoredFunc:
		return true
	}
	return false
}

// SetKeyRole is the SetKey of SET ROLE.
const SetKeyRole = "role"

// Kill is a KILL statement for tailgate to run.
type Kill struct {
	ID    uint64 // the connection id named
	Query bool   // KILL QUERY: only the statement the connection runs, not the connection
	// Unsupported says why tailgate cannot run it (the id is an expression, the KILL is part
	// of a multi-statement); "" when it can. It is never sent to a server either: the
	// server would read the id as one of its own threads.
	Unsupported string
}

// SetPart is one SET statement inside a multi-statement text.
type SetPart struct {
	Index int    // position among the text's statements, from 0
	Key   string // as Statement.SetKey
	SQL   string // its own text, to replay
	// Tracking: it has EffectSessionTracking.
	Tracking bool
	// ReadsVars: as Statement.SetReadsVars.
	ReadsVars bool
}
