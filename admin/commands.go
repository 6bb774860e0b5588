package admin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// commandList is what an unknown command or HELP shows.
var commandList = [...][2]string{
	{"SHOW BACKENDS", "one row per backend: name, role, address, state, lag_ms, gtid, weight, connections, queries"},
	{"EXPLAIN ROUTE <sql>", "where <sql> would go now in a fresh autocommit session: target, backend, reason"},
	{"SHOW STATS", "the proxy's counters: name, value"},
	{"SHOW SESSIONS", "client sessions: id, user, client, state, pinned, in_transaction, since"},
	{"RESET DIGESTS", "zero SHOW DIGESTS' counters and forget which reads were found to write on a replica (their reads go to replicas again)"},
	{"SHOW DIGESTS", "statements run since start by digest (literals replaced), most total time first: digest, class, count, primary, replica, errors, total_ms, avg_us"},
	{"KILL [CONNECTION] <id>", "end a client session (SHOW SESSIONS' id): its statement stops, its transaction rolls back"},
	{"KILL QUERY <id>", "stop the statement a client session runs; the session goes on"},
	{"SET BACKEND <name> OFFLINE", "drain a backend: no new statements go there, running ones finish"},
	{"SET BACKEND <name> ONLINE", "bring a drained backend back"},
	{"SHOW CONFIG", "the running configuration, secrets masked: key, value"},
	{"RELOAD CONFIG", "reload the config file: one row per change (\"needs a restart\" when it waits for one)"},
	{"HELP", "this list"},
}

// commandNames lists the commands in one line, for error messages.
func commandNames() string {
	names := make([]string, len(commandList))
	for i, c := range commandList {
		names[i] = c[0]
	}
	return strings.Join(names, ", ")
}

type commandKind uint8

const (
	cmdShowBackends commandKind = iota + 1
	cmdExplainRoute
	cmdShowStats
	cmdShowSessions
	cmdShowDigests
	cmdResetDigests
	cmdSetBackend
	cmdKill
	cmdShowConfig
	cmdReloadConfig
	cmdHelp
	// Client chatter: statements clients send on their own (the mariadb CLI asks for
	// @@version_comment at connect, drivers send SET NAMES) that must not fail.
	cmdSetSession // SET NAMES / SET autocommit / ...: accepted and ignored
	cmdSelect     // SELECT of constants and a few system variables
	cmdEmptyShow  // SHOW WARNINGS / SHOW ERRORS: never any
)

// command is one parsed admin statement.
type command struct {
	kind commandKind
	// arg is the backend name of SET BACKEND or the statement of EXPLAIN ROUTE.
	arg     string
	offline bool
	// session and query are KILL's: the session id, and QUERY.
	session uint32
	query   bool
	// selects are the items of a chatter SELECT.
	selects []string
}

// Parse errors. Their messages are what the client sees.
var (
	errEmptyQuery = mysql.NewError(mysql.ER_EMPTY_QUERY, "Query was empty")
	errSetBackend = syntaxError("usage: SET BACKEND <name> OFFLINE|ONLINE")
	errExplain    = syntaxError("usage: EXPLAIN ROUTE <sql>, for example EXPLAIN ROUTE SELECT * FROM t WHERE id = 1")
	errKill       = syntaxError("usage: KILL [CONNECTION | QUERY] <id>, with an id from SHOW SESSIONS")
)

func syntaxError(msg string) *mysql.MyError {
	return mysql.NewError(mysql.ER_PARSE_ERROR, "tailgate admin: "+msg)
}

func unknownCommand(text string) *mysql.MyError {
	const maxShown = 64
	if len(text) > maxShown {
		text = text[:maxShown] + "..."
	}
	return syntaxError(fmt.Sprintf("unknown command %q; the admin port takes only: %s", text, commandNames()))
}

// trimStatement drops surrounding whitespace and trailing semicolons.
func trimStatement(text string) string {
	return strings.TrimRightFunc(strings.TrimSpace(text), func(r rune) bool { return r == ';' || unicode.IsSpace(r) })
}

// afterWords returns text after its first n whitespace-separated words and the
// whitespace that follows them: the verbatim rest of the statement.
func afterWords(text string, n int) string {
	rest := strings.TrimLeftFunc(text, unicode.IsSpace)
	for range n {
		i := strings.IndexFunc(rest, unicode.IsSpace)
		if i < 0 {
			return ""
		}
		rest = strings.TrimLeftFunc(rest[i:], unicode.IsSpace)
	}
	return rest
}

// parseCommand parses one admin statement. Keywords are case-insensitive; comments,
// trailing semicolons and whitespace are ignored (EXPLAIN ROUTE passes its statement on
// as written, comments and all: they may be routing hints). The error is a
// *mysql.MyError for the client.
func parseCommand(text string) (command, error) {
	written := trimStatement(text)
	text = trimStatement(uncomment(written))
	if text == "" {
		return command{}, errEmptyQuery
	}
	words := strings.Fields(text)
	kw := func(i int) string {
		if i < len(words) {
			return strings.ToUpper(words[i])
		}
		return ""
	}
	switch kw(0) {
	case "SHOW":
		if len(words) == 2 {
			switch kw(1) {
			case "BACKENDS":
				return command{kind: cmdShowBackends}, nil
			case "STATS":
				return command{kind: cmdShowStats}, nil
			case "SESSIONS":
				return command{kind: cmdShowSessions}, nil
			case "DIGESTS":
				return command{kind: cmdShowDigests}, nil
			case "CONFIG":
				return command{kind: cmdShowConfig}, nil
			case "WARNINGS", "ERRORS":
				return command{kind: cmdEmptyShow}, nil
			}
		}
	case "EXPLAIN":
		if kw(1) == "ROUTE" {
			if len(words) == 2 { // nothing but comments after ROUTE
				return command{}, errExplain
			}
			return command{kind: cmdExplainRoute, arg: explained(written)}, nil
		}
	case "SET":
		if kw(1) == "BACKEND" {
			if len(words) != 4 {
				return command{}, errSetBackend
			}
			name := unquote(words[2])
			switch {
			case name == "":
				return command{}, errSetBackend
			case kw(3) == "OFFLINE":
				return command{kind: cmdSetBackend, arg: name, offline: true}, nil
			case kw(3) == "ONLINE":
				return command{kind: cmdSetBackend, arg: name}, nil
			}
			return command{}, errSetBackend
		}
		if sessionSet(words[1:]) {
			return command{kind: cmdSetSession}, nil
		}
	case "KILL":
		query, id := false, words[1:]
		if len(id) == 2 && (kw(1) == "CONNECTION" || kw(1) == "QUERY") {
			query, id = kw(1) == "QUERY", id[1:]
		}
		if len(id) != 1 {
			return command{}, errKill
		}
		n, err := strconv.ParseUint(id[0], 10, 32)
		if err != nil {
			return command{}, errKill
		}
		return command{kind: cmdKill, session: uint32(n), query: query}, nil
	case "RESET":
		if len(words) == 2 && kw(1) == "DIGESTS" {
			return command{kind: cmdResetDigests}, nil
		}
	case "RELOAD":
		if kw(1) == "CONFIG" && len(words) == 2 {
			return command{kind: cmdReloadConfig}, nil
		}
	case "HELP":
		if len(words) == 1 {
			return command{kind: cmdHelp}, nil
		}
	case "SELECT":
		if items, ok := chatterSelect(afterWords(text, 1)); ok {
			return command{kind: cmdSelect, selects: items}, nil
		}
	}
	return command{}, unknownCommand(text)
}

// sessionSet reports whether the words after SET are one of the session settings clients
// send when they connect (SET NAMES, SET CHARACTER SET, SET autocommit=1, SET @@x = y):
// harmless chatter, answered OK. Anything else, such as a mistyped SET BACKEND, is an
// unknown command rather than a silent no-op.
func sessionSet(words []string) bool {
	if len(words) == 0 {
		return false
	}
	switch strings.ToUpper(words[0]) {
	case "NAMES", "CHARSET":
		return true
	case "CHARACTER":
		return len(words) > 1 && strings.EqualFold(words[1], "SET")
	}
	return strings.Contains(strings.Join(words, " "), "=")
}

// uncomment returns text with each comment outside quotes replaced by a space: /* ... */,
// "# ..." and "-- ..." to the end of the line. The content of an executable comment
// (/*! ... */, /*M! ... */) is kept, as the server would run it.
func uncomment(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); {
		switch c := text[i]; {
		case c == '\'' || c == '"' || c == '`':
			end := closingQuote(text, i)
			b.WriteString(text[i:end])
			i = end
		case strings.HasPrefix(text[i:], "/*!") || strings.HasPrefix(text[i:], "/*M!"):
			i += strings.IndexByte(text[i:], '!') + 1
			for i < len(text) && '0' <= text[i] && text[i] <= '9' { // the version
				i++
			}
			end := strings.Index(text[i:], "*/")
			if end < 0 {
				end = len(text) - i
			}
			b.WriteString(uncomment(text[i : i+end]))
			i = min(len(text), i+end+2)
		case strings.HasPrefix(text[i:], "/*"):
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return b.String() // unterminated: the rest is comment
			}
			b.WriteByte(' ')
			i += 2 + end + 2
		case isLineComment(text[i:]):
			end := strings.IndexByte(text[i:], '\n')
			if end < 0 {
				return b.String()
			}
			b.WriteByte(' ')
			i += end
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// closingQuote returns the index after the quoted string or name that starts at text[i]:
// a doubled quote stands for itself, and so does a backslash-escaped one in strings.
func closingQuote(text string, i int) int {
	q := text[i]
	for j := i + 1; j < len(text); j++ {
		switch {
		case text[j] == '\\' && q != '`':
			j++
		case text[j] == q && j+1 < len(text) && text[j+1] == q:
			j++
		case text[j] == q:
			return j + 1
		}
	}
	return len(text)
}

// explained returns the statement of an EXPLAIN ROUTE as written: what follows the words
// EXPLAIN and ROUTE and the comments before each of them. Comments after ROUTE are the
// statement's own (routing hints among them).
func explained(written string) string {
	i := 0
	for range 2 { // EXPLAIN, ROUTE
		i = skipComments(written, i)
		for i < len(written) && !unicode.IsSpace(rune(written[i])) && !strings.HasPrefix(written[i:], "/*") && !isLineComment(written[i:]) {
			i++
		}
	}
	return strings.TrimLeftFunc(written[i:], unicode.IsSpace)
}

// skipComments returns the index of the first byte at or after i that is neither
// whitespace nor in a comment (executable comments are not comments: they are run).
func skipComments(text string, i int) int {
	for i < len(text) {
		rest := text[i:]
		switch {
		case unicode.IsSpace(rune(rest[0])):
			i++
		case strings.HasPrefix(rest, "/*") && !strings.HasPrefix(rest, "/*!") && !strings.HasPrefix(rest, "/*M!"):
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				return len(text)
			}
			i += 2 + end + 2
		case isLineComment(rest):
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				return len(text)
			}
			i += end + 1
		default:
			return i
		}
	}
	return i
}

// isLineComment reports whether s starts a "# ..." or "-- ..." comment (the dashes must be
// followed by whitespace, a control character or the end: "--1" is minus minus one).
func isLineComment(s string) bool {
	return strings.HasPrefix(s, "#") || strings.HasPrefix(s, "--") && (len(s) == 2 || s[2] <= ' ')
}

// unquote strips one pair of backticks or quotes around a name.
func unquote(s string) string {
	if len(s) >= 2 {
		if q := s[0]; (q == '`' || q == '\'' || q == '"') && s[len(s)-1] == q {
			return s[1 : len(s)-1]
		}
	}
	return s
}

// chatterSelect accepts "item, item ... [LIMIT n]" when every item is one chatterValue
// knows.
func chatterSelect(list string) ([]string, bool) {
	if f := strings.Fields(list); len(f) >= 2 && strings.EqualFold(f[len(f)-2], "LIMIT") {
		if _, err := strconv.ParseUint(f[len(f)-1], 10, 64); err != nil {
			return nil, false
		}
		// The LIMIT word as written (its last occurrence: only the number follows it).
		// Not an index into strings.ToUpper(list), whose length differs for invalid UTF-8.
		list = list[:strings.LastIndex(list, f[len(f)-2])]
	}
	items := strings.Split(list, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
		if _, ok := chatterValue(items[i], chatterEnv{}); !ok {
			return nil, false
		}
	}
	return items, true
}

// chatterEnv is what chatter SELECTs may ask about the connection.
type chatterEnv struct {
	user, client string
	connID       uint32
}

const (
	versionComment = "tailgate admin"
	adminVersion   = "8.0.11-tailgate-admin"
	adminMaxPacket = 16 << 20
)

// chatterValue evaluates one SELECT item: an integer, NULL, or a system variable or
// function clients ask for at connect.
func chatterValue(item string, env chatterEnv) (any, bool) {
	if n, err := strconv.ParseInt(item, 10, 64); err == nil {
		return n, true
	}
	name := strings.ToLower(strings.ReplaceAll(item, " ", ""))
	if v, ok := strings.CutPrefix(name, "@@"); ok {
		v = strings.TrimPrefix(v, "session.")
		switch v {
		case "version_comment":
			return versionComment, true
		case "version":
			return adminVersion, true
		case "max_allowed_packet":
			return int64(adminMaxPacket), true
		case "autocommit":
			return int64(1), true
		}
		switch {
		case strings.HasPrefix(v, "character_set_"):
			return "utf8mb4", true
		case strings.HasPrefix(v, "collation_"):
			return "utf8mb4_general_ci", true
		}
		return nil, false
	}
	switch name {
	case "null", "database()", "schema()":
		return nil, true
	case "version()":
		return adminVersion, true
	case "user()", "current_user()", "session_user()", "system_user()":
		return env.user + "@" + env.client, true
	case "connection_id()":
		return int64(env.connID), true
	}
	return nil, false
}

// sourceError wraps an error of the Source for the client.
func sourceError(what string, err error) *mysql.MyError {
	var my *mysql.MyError
	if errors.As(err, &my) {
		return my
	}
	return mysql.NewError(mysql.ER_UNKNOWN_ERROR, "tailgate admin: "+what+": "+err.Error())
}
