package admin

import (
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/hashicorp/go-hclog"
)

// Column names of each command's result: the admin contract of DESIGN.md.
var (
	backendColumns = []string{"name", "role", "address", "state", "lag_ms", "gtid", "weight", "connections", "queries"}
	routeColumns   = []string{"target", "backend", "reason"}
	statColumns    = []string{"name", "value"}
	sessionColumns = []string{"id", "user", "client", "state", "pinned", "in_transaction", "since"}
	digestColumns  = []string{"digest", "class", "count", "primary", "replica", "errors", "total_ms", "avg_us"}
	configColumns  = []string{"key", "value"}
	changeColumns  = []string{"change"}
	helpColumns    = []string{"command", "description"}
)

// sinceLayout formats SHOW SESSIONS' since column (local time of the proxy).
const sinceLayout = "2006-01-02 15:04:05"

// run executes a parsed command.
func (s *Server) run(cmd command, env chatterEnv, log hclog.Logger) (*mysql.Result, error) {
	switch cmd.kind {
	case cmdShowBackends:
		var rows [][]any
		for _, b := range s.src.Backends() {
			rows = append(rows, []any{b.Name, b.Role, b.Address, b.State, b.LagMS, b.GTID, int64(b.Weight), b.Connections, b.Queries})
		}
		return resultset(backendColumns, rows)

	case cmdExplainRoute:
		r, err := s.src.ExplainRoute(cmd.arg)
		if err != nil {
			return nil, sourceError("the statement would fail to route", err)
		}
		return resultset(routeColumns, [][]any{{r.Target, r.Backend, r.Reason}})

	case cmdShowStats:
		var rows [][]any
		for _, st := range s.src.Stats() {
			rows = append(rows, []any{st.Name, st.Value})
		}
		return resultset(statColumns, rows)

	case cmdShowSessions:
		var rows [][]any
		for _, ss := range s.src.Sessions() {
			inTxn := int64(0)
			if ss.InTxn {
				inTxn = 1
			}
			since := ""
			if !ss.Since.IsZero() {
				since = ss.Since.Format(sinceLayout)
			}
			rows = append(rows, []any{uint64(ss.ID), ss.User, ss.Client, ss.State, ss.Pinned, inTxn, since})
		}
		return resultset(sessionColumns, rows)

	case cmdShowDigests:
		var rows [][]any
		for _, d := range s.src.Digests() {
			avg := 0.0
			if d.Count > 0 {
				avg = float64(d.Total.Microseconds()) / float64(d.Count)
			}
			rows = append(rows, []any{d.Digest, d.Class, d.Count, d.Primary, d.Replica, d.Errors,
				fmt.Sprintf("%.3f", float64(d.Total.Microseconds())/1000), fmt.Sprintf("%.1f", avg)})
		}
		return resultset(digestColumns, rows)

	case cmdResetDigests:
		s.src.ResetDigests()
		log.Info("digests reset by operator")
		return &mysql.Result{StatusMessage: "digests reset"}, nil

	case cmdSetBackend:
		if err := s.src.SetBackendOffline(cmd.arg, cmd.offline); err != nil {
			return nil, sourceError("SET BACKEND", err)
		}
		state := "online"
		if cmd.offline {
			state = "offline (draining)"
		}
		log.Info("backend set by operator", "backend", cmd.arg, "state", state)
		return &mysql.Result{StatusMessage: fmt.Sprintf("backend %s is %s", cmd.arg, state)}, nil

	case cmdKill:
		what := "KILL CONNECTION"
		if cmd.query {
			what = "KILL QUERY"
		}
		if err := s.src.KillSession(cmd.session, cmd.query); err != nil {
			return nil, sourceError(what, err)
		}
		log.Info("client session killed by operator", "session", cmd.session, "query_only", cmd.query)
		return &mysql.Result{}, nil

	case cmdShowConfig:
		var rows [][]any
		for _, kv := range s.src.Config().Flatten() {
			rows = append(rows, []any{kv[0], kv[1]})
		}
		return resultset(configColumns, rows)

	case cmdReloadConfig:
		start := time.Now()
		changes, err := s.src.ReloadConfig()
		if err != nil {
			log.Warn("config reload refused; the running configuration stays", "error", err)
			return nil, sourceError("RELOAD CONFIG refused; the running configuration stays", err)
		}
		log.Info("config reloaded", "changes", len(changes), "elapsed", time.Since(start))
		rows := make([][]any, 0, len(changes))
		for _, c := range changes {
			rows = append(rows, []any{c})
		}
		return resultset(changeColumns, rows)

	case cmdHelp:
		rows := make([][]any, 0, len(commandList))
		for _, c := range commandList {
			rows = append(rows, []any{c[0], c[1]})
		}
		return resultset(helpColumns, rows)

	case cmdSetSession:
		return nil, nil

	case cmdEmptyShow:
		return resultset([]string{"Level", "Code", "Message"}, nil)

	case cmdSelect:
		row := make([]any, len(cmd.selects))
		for i, item := range cmd.selects {
			row[i], _ = chatterValue(item, env)
		}
		return resultset(cmd.selects, [][]any{row})
	}
	return nil, fmt.Errorf("admin: command kind %d has no implementation", cmd.kind)
}

// resultset builds a text result set, which every client reads.
func resultset(columns []string, rows [][]any) (*mysql.Result, error) {
	for _, row := range rows {
		for i, v := range row {
			if s, ok := v.(string); ok {
				// go-mysql encodes an empty string as NULL; a non-nil []byte it does not.
				row[i] = append(make([]byte, 0, len(s)), s...)
			}
		}
	}
	rs, err := mysql.BuildSimpleTextResultset(columns, rows)
	if err != nil {
		return nil, fmt.Errorf("admin: build result: %w", err)
	}
	return mysql.NewResult(rs), nil
}
