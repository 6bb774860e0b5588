package admin

import (
	"errors"
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want command
		code uint16 // error code, 0 when it parses
	}{
		{"SHOW BACKENDS", command{kind: cmdShowBackends}, 0},
		{"show\tbackends\n;", command{kind: cmdShowBackends}, 0},
		{"Show Stats;;", command{kind: cmdShowStats}, 0},
		{"SHOW SESSIONS", command{kind: cmdShowSessions}, 0},
		{"show digests;", command{kind: cmdShowDigests}, 0},
		{"RESET DIGESTS", command{kind: cmdResetDigests}, 0},
		{"SHOW CONFIG", command{kind: cmdShowConfig}, 0},
		{"reload config", command{kind: cmdReloadConfig}, 0},
		{"help;", command{kind: cmdHelp}, 0},
		{"EXPLAIN ROUTE SELECT  *\nFROM t  ", command{kind: cmdExplainRoute, arg: "SELECT  *\nFROM t"}, 0},
		{"explain\troute\n/* tailgate:primary */ SELECT 1;", command{kind: cmdExplainRoute, arg: "/* tailgate:primary */ SELECT 1"}, 0},
		{"SET BACKEND replica1 OFFLINE", command{kind: cmdSetBackend, arg: "replica1", offline: true}, 0},
		{"set backend 'replica-2' online", command{kind: cmdSetBackend, arg: "replica-2"}, 0},
		{"SET NAMES utf8mb4", command{kind: cmdSetSession}, 0},
		{"KILL 10005", command{kind: cmdKill, session: 10005}, 0},
		{"kill connection 7;", command{kind: cmdKill, session: 7}, 0},
		{"KILL QUERY 7", command{kind: cmdKill, session: 7, query: true}, 0},
		{"KILL", command{}, mysql.ER_PARSE_ERROR},
		{"KILL QUERY", command{}, mysql.ER_PARSE_ERROR},
		{"KILL QUERY x", command{}, mysql.ER_PARSE_ERROR},
		{"KILL 1 2", command{}, mysql.ER_PARSE_ERROR},
		{"KILL USER app", command{}, mysql.ER_PARSE_ERROR},
		{"KILL 4294967296", command{}, mysql.ER_PARSE_ERROR},
		{"SELECT @@version_comment LIMIT 1", command{kind: cmdSelect, selects: []string{"@@version_comment"}}, 0},
		{"select @@version_comment limit 1", command{kind: cmdSelect, selects: []string{"@@version_comment"}}, 0},
		{"SELECT \x89\x89 LIMIT 0", command{}, mysql.ER_PARSE_ERROR}, // FuzzParseCommand: invalid UTF-8 before LIMIT
		{"SELECT 1, USER()", command{kind: cmdSelect, selects: []string{"1", "USER()"}}, 0},
		{"SHOW WARNINGS", command{kind: cmdEmptyShow}, 0},
		// The mariadb CLI's status command.
		{"select @@character_set_client, @@character_set_connection, @@character_set_server, @@character_set_database limit 1",
			command{kind: cmdSelect, selects: []string{"@@character_set_client", "@@character_set_connection", "@@character_set_server", "@@character_set_database"}}, 0},
		{"", command{}, mysql.ER_EMPTY_QUERY},
		{" ;\n", command{}, mysql.ER_EMPTY_QUERY},
		{"EXPLAIN ROUTE", command{}, mysql.ER_PARSE_ERROR},
		{"SET BACKEND", command{}, mysql.ER_PARSE_ERROR},
		{"SET BACKEND a b c", command{}, mysql.ER_PARSE_ERROR},
		{"SET", command{}, mysql.ER_PARSE_ERROR},
		{"SHOW", command{}, mysql.ER_PARSE_ERROR},
		{"SHOW DATABASES", command{}, mysql.ER_PARSE_ERROR},
		{"SELECT * FROM t", command{}, mysql.ER_PARSE_ERROR},
		{"SELECT @@hostname", command{}, mysql.ER_PARSE_ERROR},
		{"SELECT 1 LIMIT x", command{}, mysql.ER_PARSE_ERROR},
		{"RELOAD", command{}, mysql.ER_PARSE_ERROR},

		// Comments, as drivers and tools send them.
		{"/* app=ops */ SHOW BACKENDS", command{kind: cmdShowBackends}, 0},
		{"SHOW STATS -- why", command{kind: cmdShowStats}, 0},
		{"SHOW STATS; # why", command{kind: cmdShowStats}, 0},
		{"SHOW/**/SESSIONS", command{kind: cmdShowSessions}, 0},
		{"SET BACKEND 'a--b' OFFLINE -- drain", command{kind: cmdSetBackend, arg: "a--b", offline: true}, 0},
		{"SET BACKEND `r#1` ONLINE", command{kind: cmdSetBackend, arg: "r#1"}, 0},
		{"KILL /* the stuck one */ 7", command{kind: cmdKill, session: 7}, 0},
		{"/* a */ EXPLAIN /* b */ ROUTE /* tailgate:primary */ SELECT 1 -- c", command{kind: cmdExplainRoute, arg: "/* tailgate:primary */ SELECT 1 -- c"}, 0},
		{"# a\nEXPLAIN ROUTE\n-- tailgate:replica\nSELECT 1", command{kind: cmdExplainRoute, arg: "-- tailgate:replica\nSELECT 1"}, 0},
		{"EXPLAIN ROUTE SELECT '/*' FROM t", command{kind: cmdExplainRoute, arg: "SELECT '/*' FROM t"}, 0},
		{"/*!40101 SET NAMES utf8mb4 */", command{kind: cmdSetSession}, 0},
		{"SELECT 1 /* x */ LIMIT 1", command{kind: cmdSelect, selects: []string{"1"}}, 0},
		{"SELECT --1", command{}, mysql.ER_PARSE_ERROR}, // minus minus one, not a comment
		{"/* only a comment */", command{}, mysql.ER_EMPTY_QUERY},
		{"EXPLAIN ROUTE /* x */", command{}, mysql.ER_PARSE_ERROR},
		{"EXPLAIN ROUTE -- x", command{}, mysql.ER_PARSE_ERROR},
		{"SHOW /* unterminated", command{}, mysql.ER_PARSE_ERROR},

		// SET: session settings are chatter; anything else is not a silent no-op.
		{"SET autocommit=1", command{kind: cmdSetSession}, 0},
		{"SET @@session.sql_mode = 'ANSI'", command{kind: cmdSetSession}, 0},
		{"set character set utf8mb4", command{kind: cmdSetSession}, 0},
		{"SET CHARSET latin1", command{kind: cmdSetSession}, 0},
		{"SET BACKENDS replica1 OFFLINE", command{}, mysql.ER_PARSE_ERROR},
		{"SET BAKCEND replica1 OFFLINE", command{}, mysql.ER_PARSE_ERROR},
		{"SET CHARACTER utf8", command{}, mysql.ER_PARSE_ERROR},
	}
	for _, tt := range tests {
		got, err := parseCommand(tt.in)
		if tt.code != 0 {
			var me *mysql.MyError
			if !errors.As(err, &me) || me.Code != tt.code {
				t.Errorf("parseCommand(%q) = %+v, %v; want error %d", tt.in, got, err, tt.code)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCommand(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"SHOW BACKENDS", "EXPLAIN ROUTE SELECT 1", "SET BACKEND r OFFLINE", "SELECT 1 LIMIT 1", "select @@version", ";"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := parseCommand(s)
		if err == nil && cmd.kind == 0 {
			t.Fatalf("parseCommand(%q) returned no command and no error", s)
		}
		var me *mysql.MyError
		if err != nil && !errors.As(err, &me) {
			t.Fatalf("parseCommand(%q): error %T is not a MySQL error", s, err)
		}
	})
}
