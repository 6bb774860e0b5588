package router

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	// The parser needs a driver for literal values, or value expressions come back nil.
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
)

const (
	// maxPooledParseLen: a parser keeps the last text and AST it saw, so a parser that has just
	// parsed a long statement is dropped instead of pinning that memory in the pool.
	maxPooledParseLen = 64 << 10
	// maxFallbackDepth bounds the re-parses the lexical fallbacks may trigger for one text.
	maxFallbackDepth = 3
)

// errParserPanic marks text that made the parser panic; it is classified like unparsed text.
var errParserPanic = errors.New("router: parser panicked")

// Classifier turns statement text into a *Statement. Safe for concurrent use.
//
// Each distinct text is parsed once (with the TiDB parser, from a pool) and the result is
// cached at two levels:
//
//  1. by the exact text, leading hint comments included, so a repeated statement costs one
//     map lookup;
//  2. by the statement's shape, its text with literal values replaced by markers (see
//     shape.go), so a text-protocol statement that differs from an earlier one only in its
//     literals (WHERE id=5012, then id=77) costs a scan of the text and one map lookup
//     instead of a parse. Only classifications that no literal can change go there (see
//     shapeIndependent).
//
// A text served from level 2 is not added to level 1: with literals inline, texts rarely
// repeat, and they would only churn it. Each level holds up to cacheSize entries.
type Classifier struct {
	parsers sync.Pool       // of *parser.Parser
	cache   *statementCache // exact text -> statement
	shapes  *statementCache // statement shape -> literal-independent statement

	// mode is the sql_mode text is read in. The statement shapes and the lexical fallbacks
	// read the default mode only, so the other modes' classifiers have neither: they parse
	// (in their mode) and cache exact texts only.
	mode     SQLMode
	variants *[modeCount]*Classifier // by mode, shared by all of them; [0] is the default
	digests  *digestSet              // shared by the variants
	rules    *atomic.Pointer[[]Rule] // shared by the variants (SetRules)
}

// SQLMode holds the sql_mode flags that change how the server reads statement text.
type SQLMode uint8

const (
	// ModeNoBackslashEscapes: a backslash is an ordinary character in string literals, so
	// 'a\' ends at its second quote (the server says so in every OK and EOF packet's status).
	ModeNoBackslashEscapes SQLMode = 1 << iota
	// ModeANSIQuotes: "a" quotes an identifier, not a string.
	ModeANSIQuotes

	modeCount = 4
)

// NewClassifier returns a classifier whose caches (exact texts and statement shapes) hold up
// to cacheSize entries each, texts and shapes of at most 4 KiB; cacheSize <= 0 disables both.
func NewClassifier(cacheSize int) *Classifier {
	c := &Classifier{cache: newStatementCache(cacheSize), shapes: newStatementCache(cacheSize), digests: newDigestSet(),
		rules: &atomic.Pointer[[]Rule]{}}
	c.parsers.New = func() any { return parser.New() }
	c.variants = &[modeCount]*Classifier{c}
	for m := SQLMode(1); m < modeCount; m++ {
		var pm mysql.SQLMode
		if m&ModeNoBackslashEscapes != 0 {
			pm |= mysql.ModeNoBackslashEscapes
		}
		if m&ModeANSIQuotes != 0 {
			pm |= mysql.ModeANSIQuotes
		}
		v := &Classifier{cache: newStatementCache(cacheSize), mode: m, variants: c.variants, digests: c.digests, rules: c.rules}
		v.parsers.New = func() any {
			p := parser.New()
			p.SetSQLMode(pm)
			return p
		}
		c.variants[m] = v
	}
	return c
}

// ForMode returns the classifier for sessions in sql mode m: the same text can hold other
// statements there. SELECT 'x\'; DELETE FROM t; -- ' is one read with backslash escapes and
// a read plus a DELETE without them.
func (c *Classifier) ForMode(m SQLMode) *Classifier { return c.variants[m%modeCount] }

// Classify never fails: text the parser cannot parse is KindWrite with ReasonUnparsed.
// The returned *Statement may be shared (cached): callers must not modify it.
func (c *Classifier) Classify(sql string) *Statement {
	if st := c.cache.get(sql); st != nil {
		return st
	}
	return classifyUncached(c, sql)
}

// ClassifyBytes is Classify for text still in a packet buffer: a cache hit (of either level)
// allocates nothing, and the classifier keeps no reference to sql.
func (c *Classifier) ClassifyBytes(sql []byte) *Statement {
	if st := c.cache.getBytes(sql); st != nil {
		return st
	}
	return classifyUncached(c, sql)
}

// classifyUncached handles a miss of the exact-text cache: shape cache, else parse.
func classifyUncached[T string | []byte](c *Classifier, sql T) *Statement {
	if c.shapes == nil {
		text := string(sql)
		st := c.classify(text)
		annotate(c, st, text)
		return c.cache.add(text, st)
	}
	if len(sql) <= shapeStackLen {
		var buf [shapeStackLen]byte
		return classifyWithShape(c, sql, buf[:])
	}
	buf := shapeBufs.Get().(*[maxCachedLen]byte)
	st := classifyWithShape(c, sql, buf[:])
	shapeBufs.Put(buf)
	return st
}

// annotate gives st, freshly classified, what is known by its digest key (its shape, or its
// text): the digest it counts in and the routing rules that match.
func annotate[T string | []byte](c *Classifier, st *Statement, key T) {
	st.Digest = digestFor(c.digests, key, st)
	applyRules(c, st, key)
}

// classifyWithShape looks sql's shape up, built in buf, and parses on a miss.
func classifyWithShape[T string | []byte](c *Classifier, sql T, buf []byte) *Statement {
	n, ok := statementShape(buf, sql)
	shape := buf[:n]
	if ok {
		if st := c.shapes.getBytes(shape); st != nil {
			return st
		}
	}
	text := string(sql)
	st := c.classify(text)
	if ok {
		annotate(c, st, shape)
	} else {
		annotate(c, st, text)
	}
	if ok && shapeIndependent(st) {
		// An earlier entry wins, as in add: the texts of a shape share one *Statement.
		st = c.shapes.addBytes(shape, st)
	}
	return c.cache.add(text, st)
}

// shapeIndependent reports whether st, the classification of one text, holds for every text
// of the same shape, i.e. whatever its literal values (shape.go says which texts share a
// shape: they differ only inside literals of one kind, that the grammar does not check).
//
// Hint and MaxLag come from comments, which shapes keep verbatim. Kind, Reason and Effects
// of reads, writes, transaction control and diagnostics come from the statement's structure:
// node types, clauses (FOR UPDATE, INTO, SQL_CALC_FOUND_ROWS), function names, variables,
// subqueries; the parser's fallbacks look at keywords and token positions, never at a
// literal's value. So a result is shared unless:
//   - it is KindSessionSet: SET autocommit=0 and =1 differ in a literal only (Autocommit), and
//     the session replays each SET by its own text;
//   - it is KindKill: the connection id is a literal;
//   - it is KindUse or carries Schema, SetKey, Tables or EffectSetAutocommit: values taken
//     from the text (names, in fact, but USE and DDL are rare: not worth a rule of their own);
//   - it is Multi: its parts may be any of these;
//   - its Reason is ReasonUnparsed: a failed parse says nothing about the other texts of the
//     shape (the failure may come from a value: 1e400, X'1', ESCAPE 'ab'; the normalizer
//     narrows literal kinds so that such texts get shapes of their own or none, and this is
//     the second guard), and unparsed text goes to the primary, which is cheap to decide;
//   - its Reason is ReasonDDL, ReasonAdminCommand or ReasonGlobalSet: their grammar checks
//     literal values while parsing (STATS_AUTO_RECALC=2, ENCRYPTION='x', YEAR(3), FLASHBACK
//     ... TSO 0), which the normalizer does not track, and they are not worth caching by shape.
func shapeIndependent(st *Statement) bool {
	switch {
	case st.Kind == KindSessionSet, st.Kind == KindUse, st.Kind == KindKill, st.Multi,
		st.Effects.Has(EffectSetAutocommit), st.Schema != "", st.SetKey != "", len(st.Tables) > 0:
		return false
	}
	switch st.Reason {
	case ReasonUnparsed, ReasonDDL, ReasonAdminCommand, ReasonGlobalSet:
		return false
	}
	return true
}

func (c *Classifier) classify(sql string) *Statement {
	var st *Statement
	if c.mode&ModeANSIQuotes != 0 && strings.Contains(sql, `\`) && strings.Contains(sql, `"`) {
		// The parser reads backslash escapes inside "..." in ANSI_QUOTES mode too, where the
		// server reads an identifier that ends at the next quote: in SELECT "a\" FROM t;
		// DELETE FROM t; -- " the parser would see one SELECT. Such text goes to the primary.
		if st = killFallback(sql); st == nil {
			st = unparsed()
		}
	} else {
		st = c.classifyText(sql, 0)
		if st.Kind == KindRead {
			st = c.versionGated(sql, st)
		}
	}
	st.Hint, st.MaxLag = leadingHints(sql)
	st.applyReplicaHint()
	return st
}

// applyReplicaHint makes a replica hint (a comment or a rule) count for the reads kept
// on the primary only because they might write or ask for the primary's binlog.
func (st *Statement) applyReplicaHint() {
	if (st.Reason == ReasonStoredFunc || st.Reason == ReasonPrimaryStatus) && st.Hint == HintReplica && !st.Multi {
		// The application vouches that its functions only read, or asks for a replica's
		// binary log.
		st.Kind, st.Reason = KindRead, ""
	}
}

// classifyText returns a fresh *Statement (never shared) for sql, hints not applied.
func (c *Classifier) classifyText(sql string, depth int) *Statement {
	sql = expandMariaDBComments(sql)
	if st, ok := c.parseAndClassify(sql); ok {
		return st
	}
	if st := killFallback(sql); st != nil {
		return st
	}
	// The fallbacks' tokenizer reads backslash escapes: not under NO_BACKSLASH_ESCAPES.
	// (Under ANSI_QUOTES, "..." is one token either way; classify keeps a backslash and a
	// double quote together away from here.)
	if depth < maxFallbackDepth && c.mode&ModeNoBackslashEscapes == 0 {
		if st := c.fallback(sql, depth); st != nil {
			return st
		}
	}
	return unparsed()
}

// parseAndClassify parses sql with a pooled parser and classifies the statements before the
// parser goes back to the pool: the parser owns the slice it returns.
func (c *Classifier) parseAndClassify(sql string) (*Statement, bool) {
	p := c.parsers.Get().(*parser.Parser)
	stmts, err := parse(p, sql)
	if errors.Is(err, errParserPanic) {
		return nil, false // drop the parser: its state is suspect
	}
	var st *Statement
	if err == nil {
		st = classifyStatements(stmts)
	}
	if len(sql) <= maxPooledParseLen {
		c.parsers.Put(p)
	}
	return st, err == nil
}

// parse shields the proxy from parser panics on hostile input.
func parse(p *parser.Parser, sql string) (stmts []ast.StmtNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmts, err = nil, errParserPanic
		}
	}()
	stmts, _, err = p.Parse(sql, "", "")
	return stmts, err
}

func unparsed() *Statement { return &Statement{Kind: KindWrite, Reason: ReasonUnparsed} }

// classifyStatements classifies parsed text. Several statements are a plain read only when
// every part is; their effects and tables add up either way.
func classifyStatements(stmts []ast.StmtNode) *Statement {
	switch len(stmts) {
	case 0: // empty text, or comments only: the server answers with an error; keep it simple
		return unparsed()
	case 1:
		return classifyNode(stmts[0])
	}
	multi := &Statement{Kind: KindRead, Multi: true}
	onlyState := true // every part is a read, a replayable SET or a USE
	for i, n := range stmts {
		part := classifyNode(n)
		if part.Kind == KindKill {
			return killUnsupported(killInMulti)
		}
		if part.Kind != KindRead {
			multi.Kind, multi.Reason = KindWrite, ReasonMultiWrite
		}
		switch {
		case part.Kind == KindSessionSet && part.SetKey != "" &&
			part.Effects&(EffectSetAutocommit|EffectSetTransaction) == 0:
			// The part's text ends with its ';' and may start with spaces or comments.
			text := strings.TrimRight(strings.TrimSpace(n.Text()), "; \t\r\n")
			multi.Sets = append(multi.Sets, SetPart{Index: i, Key: part.SetKey, SQL: strings.Clone(text),
				Tracking: part.Effects.Has(EffectSessionTracking), ReadsVars: part.SetReadsVars})
		case part.Kind != KindRead && part.Kind != KindUse:
			onlyState = false
		}
		multi.Effects |= part.Effects
		multi.PrimarySession = multi.PrimarySession || part.PrimarySession
		multi.Tables = append(multi.Tables, part.Tables...)
		if part.Kind == KindUse {
			multi.Schema = part.Schema
		}
		if part.Effects.Has(EffectSetAutocommit) {
			multi.Autocommit = part.Autocommit
		}
	}
	if multi.Kind == KindWrite && onlyState {
		// SET NAMES x; SELECT 1: on the primary, and the session replays the SETs elsewhere
		// (no need to keep the primary connection, as after a multi-statement write).
		multi.Reason = ReasonSessionState
	}
	return multi
}

func classifyNode(n ast.StmtNode) *Statement {
	switch n := n.(type) {
	case *ast.SelectStmt:
		if isDiagnosticsSelect(n) {
			return &Statement{Kind: KindLastBackend}
		}
		return classifyRead(n)
	case *ast.SetOprStmt, *ast.HelpStmt, *ast.DoStmt:
		return classifyRead(n)
	case *ast.ShowStmt:
		switch n.Tp {
		case ast.ShowWarnings, ast.ShowErrors:
			return &Statement{Kind: KindLastBackend}
		case ast.ShowMasterStatus, ast.ShowBinlogStatus:
			return primaryStatus()
		}
		return classifyRead(n)
	case *ast.ExplainStmt:
		return classifyExplain(n)

	case *ast.BeginStmt:
		if n.ReadOnly {
			return &Statement{Kind: KindBeginReadOnly}
		}
		return &Statement{Kind: KindBegin}
	case *ast.CommitStmt:
		return &Statement{Kind: KindEndTransaction}
	case *ast.RollbackStmt:
		if n.SavepointName != "" { // ROLLBACK TO SAVEPOINT: the transaction goes on
			return &Statement{Kind: KindWrite, Reason: ReasonWrite}
		}
		return &Statement{Kind: KindEndTransaction}
	case *ast.SavepointStmt, *ast.ReleaseSavepointStmt:
		return &Statement{Kind: KindWrite, Reason: ReasonWrite}

	case *ast.SetStmt:
		return classifySet(n)
	case *ast.UseStmt:
		return &Statement{Kind: KindUse, Schema: strings.Clone(n.DBName)}

	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.LoadDataStmt,
		*ast.ImportIntoStmt, *ast.NonTransactionalDMLStmt:
		return classifyWrite(n, ReasonWrite)
	case *ast.CallStmt:
		return classifyWrite(n, ReasonCall)
	case *ast.KillStmt:
		return classifyKill(n)

	// LOCK and UNLOCK TABLES are DDL nodes to the parser: match them before ast.DDLNode.
	case *ast.LockTablesStmt:
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand, Effects: EffectLockTables}
	case *ast.UnlockTablesStmt:
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand, Effects: EffectUnlockTables}
	case *ast.CleanupTableLockStmt:
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand}
	case *ast.CreateTableStmt:
		st := &Statement{Kind: KindWrite, Reason: ReasonDDL}
		if n.TemporaryKeyword == ast.TemporaryLocal && n.Table != nil {
			st.Effects = EffectCreateTempTable
			st.Tables = []string{tableName(n.Table)}
		}
		return st
	case *ast.RenameTableStmt:
		st := &Statement{Kind: KindWrite, Reason: ReasonDDL, Effects: EffectRenameTable}
		for _, tt := range n.TableToTables {
			st.Tables = append(st.Tables, tableName(tt.OldTable), tableName(tt.NewTable))
		}
		return st
	case *ast.AlterTableStmt:
		st := &Statement{Kind: KindWrite, Reason: ReasonDDL}
		for _, spec := range n.Specs {
			if spec.Tp == ast.AlterTableRenameTable && spec.NewTable != nil && n.Table != nil {
				st.Effects = EffectRenameTable
				st.Tables = []string{tableName(n.Table), tableName(spec.NewTable)}
			}
		}
		return st
	case *ast.DropTableStmt:
		st := &Statement{Kind: KindWrite, Reason: ReasonDDL}
		if !n.IsView { // a plain DROP TABLE also drops a temporary table of that name
			st.Effects = EffectDropTable
			for _, t := range n.Tables {
				st.Tables = append(st.Tables, tableName(t))
			}
		}
		return st
	case *ast.DropSequenceStmt:
		// DROP SEQUENCE drops a temporary sequence of the name first, as DROP TABLE does.
		st := &Statement{Kind: KindWrite, Reason: ReasonDDL, Effects: EffectDropTable}
		for _, t := range n.Sequences {
			st.Tables = append(st.Tables, tableName(t))
		}
		return st
	case *ast.ProcedureInfo, *ast.DropProcedureStmt, ast.DDLNode:
		return &Statement{Kind: KindWrite, Reason: ReasonDDL}

	case *ast.SetRoleStmt:
		// The session's active roles: its privileges on whichever connection serves the next
		// statement, so the session replays it like a SET.
		return &Statement{Kind: KindSessionSet, SetKey: SetKeyRole}
	case *ast.FlushStmt:
		st := &Statement{Kind: KindWrite, Reason: ReasonAdminCommand}
		if n.Tp == ast.FlushTables && n.ReadLock && len(n.Tables) > 0 {
			// FLUSH TABLES t WITH READ LOCK locks those tables as LOCK TABLES t READ does
			// (without tables it is the global read lock, under which any table can be read).
			st.Effects = EffectLockTables
		}
		return st
	case *ast.ExecuteStmt:
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand, Effects: EffectOpaque}
	case *ast.SetPwdStmt, *ast.SetDefaultRoleStmt,
		*ast.ShutdownStmt, *ast.RestartStmt,
		*ast.GrantStmt, *ast.GrantRoleStmt, *ast.GrantProxyStmt, *ast.RevokeStmt, *ast.RevokeRoleStmt,
		*ast.CreateUserStmt, *ast.AlterUserStmt, *ast.DropUserStmt, *ast.RenameUserStmt,
		*ast.AnalyzeTableStmt, *ast.PrepareStmt, *ast.DeallocateStmt,
		*ast.ExplainForStmt, *ast.TraceStmt, *ast.BinlogStmt, *ast.AdminStmt, *ast.AlterInstanceStmt,
		*ast.SetConfigStmt, *ast.SetSessionStatesStmt, *ast.SetResourceGroupStmt,
		*ast.CreateBindingStmt, *ast.DropBindingStmt, *ast.SetBindingStmt,
		*ast.DropStatsStmt, *ast.LoadStatsStmt, *ast.LockStatsStmt, *ast.UnlockStatsStmt,
		*ast.RefreshStatsStmt, *ast.PlanReplayerStmt, *ast.BRIEStmt, *ast.CompactTableStmt:
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand}
	}
	return &Statement{Kind: KindWrite, Reason: ReasonWrite} // unknown to us: the primary is safe
}

// classifyRead walks a read-shaped statement (including its subqueries) for what would make it
// unfit for a replica.
func classifyRead(n ast.Node) *Statement {
	var s exprScan
	n.Accept(&s)
	return s.readStatement()
}

// classifyWrite records the session effects inside a write (INSERT ... VALUES (GET_LOCK(..)),
// UPDATE ... SET a = @v := 1) so the session knows what the primary now holds.
func classifyWrite(n ast.Node, reason Reason) *Statement {
	var s exprScan
	n.Accept(&s)
	return &Statement{Kind: KindWrite, Reason: reason, Effects: s.effects, PrimarySession: s.primarySession}
}

// classifyExplain: EXPLAIN and DESCRIBE only plan, whatever they explain; EXPLAIN ANALYZE runs
// the statement, so it goes where that statement goes.
func classifyExplain(n *ast.ExplainStmt) *Statement {
	if !n.Analyze || n.Stmt == nil {
		return &Statement{Kind: KindRead}
	}
	inner := classifyNode(n.Stmt)
	if inner.Kind == KindRead || inner.Kind == KindWrite {
		return inner
	}
	return &Statement{Kind: KindWrite, Reason: ReasonWrite}
}

// isDiagnosticsSelect reports SELECT @@warning_count / @@error_count (and nothing else), which
// reads the diagnostics area of the previous statement's connection.
func isDiagnosticsSelect(n *ast.SelectStmt) bool {
	if n.Kind != ast.SelectStmtKindSelect || n.From != nil || n.Where != nil || n.With != nil ||
		n.LockInfo != nil || n.SelectIntoOpt != nil || n.Fields == nil || len(n.Fields.Fields) == 0 {
		return false
	}
	for _, f := range n.Fields.Fields {
		v, ok := f.Expr.(*ast.VariableExpr)
		if !ok || !v.IsSystem || v.Value != nil ||
			!(strings.EqualFold(v.Name, "warning_count") || strings.EqualFold(v.Name, "error_count")) {
			return false
		}
	}
	return true
}

// Names the parser gives the variables of SET [SESSION] TRANSACTION ... and their aliases.
// tx_isolation_one_shot is SET TRANSACTION without a scope (the next transaction only).
// Only that form is EffectSetTransaction (see oneShotTransaction); the others are replayed.
var transactionVars = []string{
	"tx_isolation", "transaction_isolation", "tx_isolation_one_shot",
	"tx_read_only", "transaction_read_only",
}

// classifySet: session assignments become replayable session state; anything whose value
// depends on where or when it runs stays on the primary.
func classifySet(n *ast.SetStmt) *Statement {
	for _, v := range n.Variables {
		// The parser takes @@persist.x and @@persist_only.x for a session variable of that name.
		if v.IsGlobal || v.IsInstance || v.IsSystem && hasPrefixFold(v.Name, "persist") && strings.Contains(v.Name, ".") {
			return &Statement{Kind: KindWrite, Reason: ReasonGlobalSet}
		}
	}
	var s exprScan
	st := &Statement{Kind: KindSessionSet}
	names := make([]string, 0, len(n.Variables))
	for _, v := range n.Variables {
		if v.Value != nil {
			v.Value.Accept(&s)
		}
		name := setName(v)
		switch {
		case name == "autocommit":
			st.Effects |= EffectSetAutocommit
			st.Autocommit = autocommitValue(v.Value)
		case slices.Contains(transactionVars, name) && oneShotTransaction(n):
			st.Effects |= EffectSetTransaction
		case name == "session_track_system_variables" || name == "session_track_gtids":
			st.Effects |= EffectSessionTracking
		}
		names = append(names, name)
	}
	st.Effects |= s.effects
	if s.subquery || s.assign || s.sessionFunc || s.sequence || s.unstable || s.storedFunc || s.primaryStatus {
		// Replaying the text elsewhere would not give the same values (and would run a
		// stored function again, on replicas too): the variables now live on the primary.
		st.Kind, st.Reason = KindWrite, ReasonUserVarAssign
		st.Effects |= EffectUserVarAssign
		st.PrimarySession = s.primarySession
		return st
	}
	slices.Sort(names)
	// Clone: a single name may be a substring of the statement text, which the caller owns.
	st.SetKey = strings.Clone(strings.Join(slices.Compact(names), ","))
	st.SetReadsVars = s.sysVars || s.effects.Has(EffectUsesUserVars)
	return st
}

// oneShotTransaction reports SET TRANSACTION ... without a scope: it sets the next
// transaction only, so it is not session state to replay. (SET SESSION TRANSACTION and
// SET tx_isolation = ... are; the parser names the read-only part of both forms alike.)
func oneShotTransaction(n *ast.SetStmt) bool {
	text := n.Text()
	set := nextToken(text, 0)
	return set.is("SET") && nextToken(text, set.end).is("TRANSACTION")
}

// setName is the SetKey element of one assignment.
func setName(v *ast.VariableAssignment) string {
	switch {
	case v.IsSystem:
		return strings.ToLower(v.Name)
	case v.Name == ast.SetNames || v.Name == ast.SetCharset:
		// SET NAMES / SET CHARACTER SET. A user variable literally named @SetNAMES is
		// indistinguishable in the AST; it would only share the "names" key.
		return "names"
	}
	return "@" + strings.ToLower(v.Name)
}

// autocommitValue reads the value of SET autocommit = ...; a value it cannot read counts as
// off, which keeps the session on the primary (the safe side).
func autocommitValue(e ast.ExprNode) bool {
	switch e := e.(type) {
	case *ast.DefaultExpr:
		return true
	case *ast.ColumnNameExpr: // SET autocommit = OFF parses as an identifier
		return e.Name.Table.L == "" && isTrueWord(e.Name.Name.L)
	case ast.ValueExpr:
		switch v := e.GetValue().(type) {
		case int64:
			return v != 0
		case uint64:
			return v != 0
		case string:
			return isTrueWord(strings.ToLower(v))
		}
	}
	return false
}

func isTrueWord(s string) bool { return s == "on" || s == "true" || s == "1" }

func tableName(t *ast.TableName) string {
	// Clone: the name may be a substring of the statement text, which the caller owns.
	if t.Schema.L != "" {
		return t.Schema.L + "." + t.Name.L
	}
	return strings.Clone(t.Name.L)
}

// exprScan is an ast.Visitor collecting what makes a statement unfit for a replica, and the
// session effects it has.
type exprScan struct {
	effects       Effect
	locking       bool // SELECT ... FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE
	into          bool // SELECT ... INTO
	calcFoundRows bool
	assign        bool // @v := expr
	sessionFunc   bool // GET_LOCK, LAST_INSERT_ID, CONNECTION_ID, ...
	// previous: FOUND_ROWS() or ROW_COUNT(), which answer about the previous statement:
	// an otherwise plain read goes where that ran (KindLastBackend).
	previous bool
	// primarySession: among them, one whose answer is the primary connection's or server's
	// (Statement.PrimarySession).
	primarySession bool
	primaryStatus  bool // @@gtid_binlog_pos, ...: the primary's binlog position
	sequence       bool // NEXTVAL, NEXT VALUE FOR, ...
	storedFunc     bool // a function that is not built in: a stored function or a UDF
	sysVars        bool // reads a system variable (@@x)
	subquery       bool
	unstable       bool // RAND, UUID, NOW, ...: differs between backends or over time
}

func (s *exprScan) Enter(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.SelectStmt:
		if n.LockInfo != nil && n.LockInfo.LockType != ast.SelectLockNone {
			s.locking = true
		}
		if n.SelectIntoOpt != nil {
			s.into = true
			if n.SelectIntoOpt.Tp == ast.SelectIntoVars {
				s.effects |= EffectUserVarAssign
			}
		}
		if n.SelectStmtOpts != nil && n.SelectStmtOpts.CalcFoundRows {
			s.calcFoundRows = true
		}
	case *ast.SubqueryExpr:
		s.subquery = true
	case *ast.VariableExpr:
		if n.IsSystem {
			s.sysVars = true
			s.systemVar(n.Name)
		} else {
			if n.Value != nil {
				s.assign = true
				s.effects |= EffectUserVarAssign
			} else {
				s.effects |= EffectUsesUserVars
			}
		}
	case *ast.FuncCallExpr:
		s.call(n.FnName.L, len(n.Args))
		if _, builtin := builtinFunctions[n.FnName.L]; !builtin || n.Schema.L != "" {
			// db.f() is always a stored function: built-ins take no database.
			s.storedFunc = true
		}
	}
	return n, false
}

func (s *exprScan) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// call notes a function call by its lower-case name and number of arguments.
func (s *exprScan) call(name string, args int) {
	switch name {
	case ast.GetLock:
		s.sessionFunc, s.primarySession = true, true
		s.effects |= EffectGetLock
	case ast.ReleaseLock:
		s.sessionFunc, s.primarySession = true, true
		s.effects |= EffectReleaseLock
	case ast.ReleaseAllLocks:
		s.sessionFunc, s.primarySession = true, true
		s.effects |= EffectReleaseAllLocks
	case ast.LastInsertId:
		s.sessionFunc, s.primarySession = true, true
		s.effects |= EffectLastInsertID
		if args > 0 {
			s.effects |= EffectSetsLastInsertID
		}
	case ast.IsUsedLock, ast.IsFreeLock:
		// User locks are the primary server's: the session takes them there.
		s.sessionFunc, s.primarySession = true, true
	case ast.FoundRows, ast.RowCount:
		s.previous = true
	case ast.ConnectionID:
		// A replica's thread id means nothing to the application, and the primary's must
		// be the session's own: read on the primary, which the session then keeps.
		s.sessionFunc, s.primarySession = true, true
		s.effects |= EffectConnectionID
	case ast.NextVal, ast.SetVal:
		s.sequence = true
		s.effects |= EffectSequence
	case ast.LastVal:
		// The session's last value of the sequence is its primary connection's, as
		// LAST_INSERT_ID() is: a read-only transaction on a replica leaves it to the primary.
		s.sessionFunc, s.primarySession = true, true
	case ast.Rand, ast.UUID, ast.UUIDShort, ast.Sleep,
		ast.Now, ast.CurrentTimestamp, ast.LocalTime, ast.LocalTimestamp, ast.Sysdate,
		ast.Curdate, ast.CurrentDate, ast.Curtime, ast.CurrentTime,
		ast.UTCDate, ast.UTCTime, ast.UTCTimestamp, ast.UnixTimestamp, ast.RandomBytes:
		s.unstable = true // fine in a read; only a replayed SET cares
	}
}

// systemVar notes a read of a system variable that holds a result of the session's own
// earlier statements (so a replica's value, or another session's, would be wrong), or the
// primary's binlog position.
func (s *exprScan) systemVar(name string) {
	switch strings.ToLower(name) {
	case "last_insert_id", "identity": // LAST_INSERT_ID() by another name
		s.sessionFunc, s.primarySession = true, true
		s.effects |= EffectLastInsertID
	case "last_gtid": // MariaDB: the GTID of the session's last transaction
		s.sessionFunc, s.primarySession = true, true
	case "gtid_binlog_pos", "gtid_current_pos", "gtid_binlog_state", "gtid_executed":
		// An application doing its own causal reads asks these for the position its
		// writes reached, to wait for on a replica: as SHOW MASTER STATUS, the primary's
		// (a replica's own is behind). gtid_current_pos is the binlog's on a primary.
		s.primaryStatus = true
	case "server_id", "server_uuid", "hostname", "port", "socket", "report_host", "report_port",
		"read_only", "super_read_only", "innodb_read_only", "pid_file", "datadir", "log_bin",
		"log_bin_basename", "gtid_slave_pos", "gtid_domain_id", "timestamp", "pseudo_thread_id",
		"warning_count", "error_count", "rand_seed1", "rand_seed2":
		// Each server's (or each connection's, or now's) own: SET @v = @@server_id replayed
		// on a replica would give the replica's.
		s.unstable = true
	}
}

// readStatement turns the scan of a read-shaped statement into its classification. When
// several things force the primary, the most specific reason is reported.
func (s *exprScan) readStatement() *Statement {
	st := &Statement{Kind: KindWrite, Effects: s.effects, PrimarySession: s.primarySession}
	switch {
	case s.into:
		st.Reason = ReasonSelectInto
	case s.locking:
		st.Reason = ReasonLockingRead
	case s.assign:
		st.Reason = ReasonUserVarAssign
	case s.sequence:
		st.Reason = ReasonSequence
	case s.sessionFunc:
		st.Reason = ReasonSessionFunc
	case s.calcFoundRows:
		st.Reason = ReasonCalcFoundRows
	case s.storedFunc:
		// It may write (MariaDB and MySQL run it wherever it is called; on a replica the
		// write fails read-only or, worse, lands there), as MaxScale judges such calls.
		st.Reason = ReasonStoredFunc
	case s.primaryStatus:
		st.Reason = ReasonPrimaryStatus
	case s.previous:
		st.Kind = KindLastBackend
	default:
		st.Kind = KindRead
	}
	return st
}

// versionGated checks a read for executable comments that a supported server skips:
// MariaDB skips MySQL's 5.7 and 8.x ones (/*!50700 to /*!99999), MySQL those of versions
// above its own and MariaDB's /*M! ... */. Comments of older versions (/*!40101, /*!50000)
// run everywhere. The parser runs them all. Which reading the server takes depends on its
// flavour and version, so a read that is no longer a plain read with them skipped (SELECT 1
// /*!50700 , ' */; DELETE FROM t; -- ' */) goes where that reading must: it may be the one
// that runs.
func (c *Classifier) versionGated(sql string, st *Statement) *Statement {
	skipped, ok := skipGatedComments(sql, c.mode&ModeNoBackslashEscapes == 0)
	if !ok {
		return st
	}
	if alt := c.classifyText(skipped, 0); alt.Kind != KindRead {
		return alt
	}
	return st
}

// gatedFrom is the first executable-comment version some supported server skips: MariaDB
// skips 50700 to 99999, MySQL 8 the versions above its own.
const gatedFrom = 50700

// skipGatedComments returns sql with each executable comment that a supported server may
// skip (/*M!, /*! with a version from gatedFrom) replaced by a space, and whether it had one.
// Quoted strings and names, and other comments, are copied as they are. backslash:
// backslashes escape in quoted strings (no NO_BACKSLASH_ESCAPES).
func skipGatedComments(sql string, backslash bool) (string, bool) {
	if !strings.Contains(sql, "/*M!") && !strings.Contains(sql, "/*!") {
		return sql, false
	}
	var b strings.Builder
	found := false
	for i := 0; i < len(sql); {
		rest := sql[i:]
		end := i + 1
		switch c := sql[i]; {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == '\\' && backslash && c != '`' {
					j++
				} else if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c { // a doubled quote
						j++
						continue
					}
					break
				}
			}
			end = min(j+1, len(sql))
		case strings.HasPrefix(rest, "/*M!") || strings.HasPrefix(rest, "/*!") && commentVersion(rest[3:]) >= gatedFrom:
			if end = commentEnd(sql, i+2); end < 0 {
				end = len(sql)
			}
			b.WriteByte(' ')
			i, found = end, true
			continue
		case strings.HasPrefix(rest, "/*") && !strings.HasPrefix(rest, "/*!"):
			if end = commentEnd(sql, i+2); end < 0 {
				end = len(sql)
			}
		case c == '#' || isDashComment(rest):
			end = lineEnd(sql, i+1)
		}
		b.WriteString(sql[i:end])
		i = end
	}
	return b.String(), found
}

// commentVersion reads the version digits that open an executable comment's body (5 or 6
// of them); 0 when there are none.
func commentVersion(s string) int {
	v, n := 0, 0
	for n < len(s) && n < 6 && '0' <= s[n] && s[n] <= '9' {
		v = v*10 + int(s[n]-'0')
		n++
	}
	if n < 5 {
		return 0
	}
	return v
}

// expandMariaDBComments turns MariaDB's executable comments /*M!###### ... */ into MySQL's
// /*! ... */ (which the parser executes) so their content is classified like MariaDB runs it.
// The version digits are blanked: the parser only skips five of them.
func expandMariaDBComments(sql string) string {
	i := strings.Index(sql, "/*M!")
	if i < 0 {
		return sql
	}
	var b strings.Builder
	b.Grow(len(sql))
	for i >= 0 {
		b.WriteString(sql[:i])
		b.WriteString("/*! ")
		j := i + len("/*M!")
		for j < len(sql) && j-i-len("/*M!") < 6 && '0' <= sql[j] && sql[j] <= '9' {
			b.WriteByte(' ')
			j++
		}
		sql = sql[j:]
		i = strings.Index(sql, "/*M!")
	}
	b.WriteString(sql)
	return b.String()
}

// fallback classifies some text the parser rejects, by its tokens: MariaDB and MySQL syntax
// the TiDB parser lacks but whose routing is clear. It returns nil when it cannot tell.
func (c *Classifier) fallback(sql string, depth int) *Statement {
	// SELECT ... INTO @var / INTO DUMPFILE: cut the INTO clause and classify the rest.
	if cut, assignsVars, ok := cutSelectInto(sql); ok {
		st := c.classifyText(cut, depth+1)
		st.Kind = KindWrite
		switch {
		case st.Multi:
			st.Reason = ReasonMultiWrite
		case st.Reason != ReasonUnparsed:
			st.Reason = ReasonSelectInto
		}
		if assignsVars {
			st.Effects |= EffectUserVarAssign
		}
		return st
	}
	toks, ok := singleStatementTokens(sql)
	if !ok || len(toks) == 0 {
		return nil
	}
	switch first := toks[0]; {
	case first.is("SHOW"):
		return showFallback(toks)
	case first.is("BEGIN"), first.is("START"), first.is("COMMIT"), first.is("ROLLBACK"):
		return transactionFallback(toks)
	case first.is("SET"):
		return c.setFallback(sql, toks, depth)
	case first.is("XA"), first.is("HANDLER"):
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand}
	case first.is("EXECUTE") && len(toks) > 1 && toks[1].is("IMMEDIATE"):
		return &Statement{Kind: KindWrite, Reason: ReasonUnparsed, Effects: EffectOpaque}
	case first.is("LOCK") && len(toks) > 1 && (toks[1].is("TABLE") || toks[1].is("TABLES")):
		// MariaDB's forms the parser rejects (LOW_PRIORITY WRITE, WRITE CONCURRENT, WAIT n,
		// LOCK TABLE t AS a): the session holds table locks all the same.
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand, Effects: EffectLockTables}
	case first.is("FLUSH") && len(toks) > 2 && (toks[1].is("TABLE") || toks[1].is("TABLES")) && toks[len(toks)-2].is("FOR") && toks[len(toks)-1].is("EXPORT"):
		// FLUSH TABLES t FOR EXPORT read-locks the tables until UNLOCK TABLES.
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand, Effects: EffectLockTables}
	case first.is("CREATE"):
		return createTempFallback(toks)
	case first.is("DROP"):
		return dropTableFallback(toks)
	}
	return nil
}

// createTempFallback reads CREATE [OR REPLACE] TEMPORARY {TABLE | SEQUENCE} [IF NOT EXISTS]
// name ...: MariaDB forms the parser rejects (OR REPLACE, a temporary sequence, MariaDB's
// table options), whose temporary table lives on the session's primary connection all the
// same, so the session must learn of it as of a parsed CREATE TEMPORARY TABLE, or its next
// read of the table goes to a replica that has none. Any other CREATE it rejects stays
// unparsed: on the primary, creating nothing the session must follow.
func createTempFallback(toks []token) *Statement {
	rest := toks[1:]
	if len(rest) >= 2 && rest[0].is("OR") && rest[1].is("REPLACE") {
		rest = rest[2:]
	}
	if len(rest) < 2 || !rest[0].is("TEMPORARY") || !(rest[1].is("TABLE") || rest[1].is("SEQUENCE")) {
		return nil
	}
	rest = rest[2:]
	if len(rest) >= 3 && rest[0].is("IF") && rest[1].is("NOT") && rest[2].is("EXISTS") {
		rest = rest[3:]
	}
	name, rest, ok := objectName(rest)
	if !ok || len(rest) > 0 && rest[0].is(",") {
		return nil
	}
	return &Statement{Kind: KindWrite, Reason: ReasonDDL, Effects: EffectCreateTempTable, Tables: []string{name}}
}

// dropTableFallback reads DROP [TEMPORARY] {TABLE | TABLES | SEQUENCE} [IF EXISTS] name[,
// name...] [WAIT n | NOWAIT] [RESTRICT | CASCADE], which the parser rejects for MariaDB's
// temporary sequences and lock waits: a temporary table or sequence of a name it drops is
// gone from the session's primary connection, so the session need not stay there for it.
// Text that does not end there stays unparsed, and the session keeps its temporary tables
// (the safe side: only their reads stay on the primary). So does a list of names longer
// than the fallback's tokens: the names cut off stay the session's.
func dropTableFallback(toks []token) *Statement {
	rest := toks[1:]
	if len(rest) > 0 && rest[0].is("TEMPORARY") {
		rest = rest[1:]
	}
	if len(rest) == 0 || !(rest[0].is("TABLE") || rest[0].is("TABLES") || rest[0].is("SEQUENCE")) {
		return nil
	}
	rest = rest[1:]
	if len(rest) >= 2 && rest[0].is("IF") && rest[1].is("EXISTS") {
		rest = rest[2:]
	}
	var names []string
	for {
		name, after, ok := objectName(rest)
		if !ok {
			return nil
		}
		names, rest = append(names, name), after
		if len(rest) == 0 || !rest[0].is(",") {
			break
		}
		rest = rest[1:]
	}
	switch {
	case len(rest) >= 2 && rest[0].is("WAIT") && rest[1].kind == tokWord:
		rest = rest[2:]
	case len(rest) >= 1 && rest[0].is("NOWAIT"):
		rest = rest[1:]
	}
	if len(rest) > 0 && (rest[0].is("RESTRICT") || rest[0].is("CASCADE")) {
		rest = rest[1:]
	}
	if len(rest) > 0 {
		return nil
	}
	return &Statement{Kind: KindWrite, Reason: ReasonDDL, Effects: EffectDropTable, Tables: names}
}

// objectName reads a table name, [db.]name, each part a word or a `quoted` identifier, and
// returns it as Statement.Tables holds names with the tokens after it.
func objectName(toks []token) (name string, rest []token, ok bool) {
	part := func(t token) (string, bool) {
		switch t.kind {
		case tokWord:
			return t.text, true
		case tokQuotedIdent:
			if len(t.text) < 3 { // `` is no name
				return "", false
			}
			return strings.ReplaceAll(t.text[1:len(t.text)-1], "``", "`"), true
		}
		return "", false
	}
	if len(toks) == 0 {
		return "", nil, false
	}
	name, ok = part(toks[0])
	rest = toks[1:]
	if ok && len(rest) >= 2 && rest[0].is(".") {
		var table string
		table, ok = part(rest[1])
		name, rest = name+"."+table, rest[2:]
	}
	if !ok {
		return "", nil, false
	}
	return strings.ToLower(name), rest, true
}

// classifyKill: KILL [CONNECTION | QUERY] n names a connection id that a client got from
// tailgate. KILL TIDB n is TiDB's own syntax, which the server rejects.
func classifyKill(n *ast.KillStmt) *Statement {
	switch {
	case n.TiDBExtension:
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand}
	case n.Expr != nil:
		return killUnsupported(killNumberOnly)
	}
	return &Statement{Kind: KindKill, Kill: Kill{ID: n.ConnectionID, Query: n.Query}}
}

// Why tailgate refuses a KILL (Kill.Unsupported).
const (
	killNumberOnly = "KILL takes a connection id number here, not an expression"
	killInMulti    = "KILL must be a statement of its own, not part of a multi-statement"
)

func killUnsupported(why string) *Statement {
	return &Statement{Kind: KindKill, Kill: Kill{Unsupported: why}}
}

// killFallback reads text the parser rejected that holds a KILL statement: MariaDB's KILL
// [HARD | SOFT] [CONNECTION | QUERY] n, an expression as the id, or KILL QUERY ID n and KILL
// USER name, which name the server's own queries and accounts and go to the primary. No
// other KILL may reach a server: it would read tailgate's connection id as one of its
// threads. It returns nil for text without a KILL statement.
func killFallback(sql string) *Statement {
	var kill []token // the first KILL statement, from its KILL keyword
	statements, start, inKill := 0, true, false
	for t := nextToken(sql, 0); t.kind != tokEOF && t.kind != tokBad && t.kind != tokExecComment; t = nextToken(sql, t.end) {
		if t.is(";") {
			start = true
			continue
		}
		if start {
			statements++
			start, inKill = false, t.is("KILL") && kill == nil
		}
		if inKill && len(kill) < 8 {
			kill = append(kill, t)
		}
	}
	if kill == nil {
		return nil
	}
	if statements > 1 {
		return killUnsupported(killInMulti)
	}
	rest := kill[1:]
	if len(rest) > 0 && (rest[0].is("HARD") || rest[0].is("SOFT")) {
		rest = rest[1:]
	}
	query := false
	if len(rest) > 0 && (rest[0].is("CONNECTION") || rest[0].is("QUERY")) {
		query = rest[0].is("QUERY")
		rest = rest[1:]
	}
	switch {
	case len(rest) > 0 && (rest[0].is("USER") || query && rest[0].is("ID")):
		return &Statement{Kind: KindWrite, Reason: ReasonAdminCommand}
	case len(rest) != 1 || rest[0].kind != tokWord:
		return killUnsupported(killNumberOnly)
	}
	id, err := strconv.ParseUint(rest[0].text, 10, 64)
	if err != nil {
		return killUnsupported(killNumberOnly)
	}
	return &Statement{Kind: KindKill, Kill: Kill{ID: id, Query: query}}
}

// showFallback: every SHOW the parser rejects reads server state, harmless on a replica (SHOW
// ALL SLAVES STATUS, SHOW ENGINE ... STATUS...), except the primary's binary log and
// replicas, and the diagnostics of the previous statement (SHOW WARNINGS LIMIT n...).
func showFallback(toks []token) *Statement {
	if len(toks) >= 3 && (toks[1].is("BINARY") || toks[1].is("MASTER")) && toks[2].is("LOGS") ||
		len(toks) >= 3 && toks[1].is("BINLOG") && (toks[2].is("EVENTS") || toks[2].is("STATUS")) ||
		len(toks) >= 3 && (toks[1].is("SLAVE") || toks[1].is("REPLICA")) && toks[2].is("HOSTS") ||
		len(toks) == 2 && toks[1].is("REPLICAS") {
		return primaryStatus()
	}
	if len(toks) >= 2 && (toks[1].is("WARNINGS") || toks[1].is("ERRORS")) ||
		len(toks) >= 6 && toks[1].is("COUNT") && toks[2].is("(") && toks[3].is("*") && toks[4].is(")") &&
			(toks[5].is("WARNINGS") || toks[5].is("ERRORS")) {
		return &Statement{Kind: KindLastBackend}
	}
	return &Statement{Kind: KindRead}
}

// primaryStatus is a SHOW of the primary's binary log or its replicas: a replica would
// answer about its own.
func primaryStatus() *Statement { return &Statement{Kind: KindWrite, Reason: ReasonPrimaryStatus} }

// transactionFallback: BEGIN WORK, COMMIT WORK, ROLLBACK WORK [AND [NO] CHAIN] [[NO] RELEASE],
// START TRANSACTION with several characteristics, which the parser does not take.
func transactionFallback(toks []token) *Statement {
	switch first := toks[0]; {
	case first.is("BEGIN"):
		if len(toks) == 2 && toks[1].is("WORK") {
			return &Statement{Kind: KindBegin}
		}
	case first.is("COMMIT"), first.is("ROLLBACK"):
		if first.is("ROLLBACK") && len(toks) >= 3 && (toks[1].is("TO") || toks[1].is("WORK") && toks[2].is("TO")) {
			return &Statement{Kind: KindWrite, Reason: ReasonWrite} // to a savepoint
		}
		for _, t := range toks[1:] {
			if !(t.is("WORK") || t.is("AND") || t.is("NO") || t.is("CHAIN") || t.is("RELEASE")) {
				return nil
			}
		}
		return &Statement{Kind: KindEndTransaction}
	case first.is("START"):
		if len(toks) < 2 || !toks[1].is("TRANSACTION") {
			return nil
		}
		readOnly := false
		for i, t := range toks[2:] {
			switch {
			case t.is("READ") && i+3 < len(toks) && toks[i+3].is("ONLY"):
				readOnly = true
			case t.is("READ"), t.is("ONLY"), t.is("WRITE"), t.is("WITH"), t.is("CONSISTENT"),
				t.is("SNAPSHOT"), t.is(","):
			default:
				return nil
			}
		}
		if readOnly {
			return &Statement{Kind: KindBeginReadOnly}
		}
		return &Statement{Kind: KindBegin}
	}
	return nil
}

// setFallback: SET PERSIST / PERSIST_ONLY (MySQL 8) and MariaDB's SET STATEMENT ... FOR stmt,
// which routes like stmt since its settings last for that statement only.
func (c *Classifier) setFallback(sql string, toks []token, depth int) *Statement {
	// Walk all the tokens, not the first maxTokens kept in toks: whether a keyword is seen must
	// not depend on how many tokens the literals before it make (1.5e-3 is five tokens to this
	// lexer, 2 is one), or texts of one shape could classify apart. singleStatementTokens has
	// checked the text: one statement, no bad tokens.
	for t := nextToken(sql, toks[0].end); t.kind != tokEOF && !t.is(";"); t = nextToken(sql, t.end) {
		if t.is("PERSIST") || t.is("PERSIST_ONLY") || t.kind == tokSysVar &&
			(hasPrefixFold(t.text, "@@global.") || hasPrefixFold(t.text, "@@persist")) {
			return &Statement{Kind: KindWrite, Reason: ReasonGlobalSet}
		}
	}
	if len(toks) < 2 || !toks[1].is("STATEMENT") {
		return nil
	}
	depthParen := 0
	for t := nextToken(sql, toks[1].end); t.kind != tokEOF && !t.is(";"); t = nextToken(sql, t.end) {
		switch {
		case t.is("("):
			depthParen++
		case t.is(")"):
			depthParen--
		case depthParen == 0 && t.is("FOR"):
			return c.classifyText(sql[t.end:], depth+1)
		}
	}
	return nil
}

// cutSelectInto removes every "INTO @v[, @w...]" and "INTO DUMPFILE 'file'" clause from sql
// (the parser takes neither). ok is false when there is none.
func cutSelectInto(sql string) (cut string, assignsVars, ok bool) {
	var b strings.Builder
	last := 0
	for t := nextToken(sql, 0); t.kind != tokEOF && t.kind != tokBad && t.kind != tokExecComment; t = nextToken(sql, t.end) {
		if !t.is("INTO") {
			continue
		}
		next := nextToken(sql, t.end)
		end := 0
		switch {
		case next.kind == tokUserVar:
			assignsVars = true
			end = next.end
			for comma := nextToken(sql, end); comma.is(","); comma = nextToken(sql, end) {
				v := nextToken(sql, comma.end)
				if v.kind != tokUserVar {
					break
				}
				end = v.end
			}
		case next.is("DUMPFILE"):
			file := nextToken(sql, next.end)
			if file.kind != tokString {
				continue
			}
			end = file.end
		default:
			continue
		}
		b.WriteString(sql[last:t.start])
		b.WriteByte(' ')
		last = end
		t.end = end
	}
	if last == 0 {
		return sql, false, false
	}
	b.WriteString(sql[last:])
	return b.String(), assignsVars, true
}

// singleStatementTokens returns the tokens of sql, without trailing semicolons; ok is false when
// the text holds more than one statement, an executable comment or an unterminated literal.
func singleStatementTokens(sql string) (toks []token, ok bool) {
	const maxTokens = 64 // enough for every fallback; the rest is only checked for a second statement
	ended := false
	for t := nextToken(sql, 0); t.kind != tokEOF; t = nextToken(sql, t.end) {
		switch {
		case t.kind == tokBad || t.kind == tokExecComment:
			return nil, false
		case t.is(";"):
			ended = true
		case ended:
			return nil, false
		case len(toks) < maxTokens:
			toks = append(toks, t)
		}
	}
	return toks, true
}

// tokenKind classifies a token of the fallback lexer.
type tokenKind uint8

const (
	tokEOF         tokenKind = iota
	tokWord                  // keyword, identifier or number
	tokString                // '...' or "..."
	tokQuotedIdent           // `...`
	tokUserVar               // @name, @'name', @`name`
	tokSysVar                // @@name, @@scope.name
	tokPunct                 // any other single byte
	tokExecComment           // /*! or /*M!: the rest is not lexed
	tokBad                   // unterminated literal or comment
)

// token is one lexical token of statement text: text is sql[start:end].
type token struct {
	kind       tokenKind
	text       string
	start, end int
}

// is reports whether t is the keyword or punctuation s (ASCII case-insensitive).
func (t token) is(s string) bool {
	return (t.kind == tokWord || t.kind == tokPunct) && strings.EqualFold(t.text, s)
}

// nextToken lexes the token at or after i, skipping whitespace and comments. It is a small
// MySQL lexer for the fallbacks, not the parser's: enough to find keywords outside literals.
func nextToken(s string, i int) token {
skip:
	for {
		i = skipSpace(s, i)
		rest := s[i:]
		switch {
		case rest == "":
			return token{kind: tokEOF, start: i, end: i}
		case strings.HasPrefix(rest, "/*!"), strings.HasPrefix(rest, "/*M!"):
			return token{kind: tokExecComment, text: rest, start: i, end: len(s)}
		case strings.HasPrefix(rest, "/*"):
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				return token{kind: tokBad, text: rest, start: i, end: len(s)}
			}
			i += 2 + end + 2
			continue
		case rest[0] == '#':
			_, i = lineComment(s, i+1)
			continue
		case isDashComment(rest):
			_, i = lineComment(s, i+2)
			continue
		}
		break skip
	}
	start, kind, end := i, tokPunct, i+1
	switch ch := s[i]; {
	case ch == '\'' || ch == '"' || ch == '`':
		kind = tokString
		if ch == '`' {
			kind = tokQuotedIdent
		}
		end = quotedEnd(s, i)
	case ch == '@' && i+1 < len(s) && s[i+1] == '@':
		kind, end = tokSysVar, i+2
		for end < len(s) && (isWordByte(s[end]) || s[end] == '.') {
			end++
		}
	case ch == '@':
		kind, end = tokUserVar, i+1
		if end < len(s) && (s[end] == '\'' || s[end] == '"' || s[end] == '`') {
			end = quotedEnd(s, end)
		} else {
			for end < len(s) && (isWordByte(s[end]) || s[end] == '.') {
				end++
			}
		}
	case isWordByte(ch):
		kind, end = tokWord, i
		for end < len(s) && isWordByte(s[end]) {
			end++
		}
	}
	if end < 0 {
		return token{kind: tokBad, text: s[start:], start: start, end: len(s)}
	}
	return token{kind: kind, text: s[start:end], start: start, end: end}
}

func isWordByte(b byte) bool {
	return b == '_' || b == '$' || b >= 0x80 ||
		('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || ('0' <= b && b <= '9')
}
