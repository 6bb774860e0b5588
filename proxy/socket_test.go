package proxy

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	gomysql "github.com/go-sql-driver/mysql"
)

// TestSocketClients: clients log in over proxy.socket as over TCP, named "localhost" as
// MySQL names socket clients; a caching_sha2_password user's full authentication takes the
// password in clear there, as MySQL does (the client sends it so: no RSA key exchange).
func TestSocketClients(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "tg.sock")
	s := serveNoBackend(t, Options{Socket: sock, Users: []User{
		{Name: "app", Password: "app-secret"},
		{Name: "sha", Password: "sha-secret", AuthPlugin: mysql.AUTH_CACHING_SHA2_PASSWORD},
	}})

	// login answers the MySQL error number of a login: an accepted one gets 1218 (no
	// backend can be reached), a refused one 1045.
	login := func(network, addr, user, password string) (uint16, string) {
		t.Helper()
		cfg := gomysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = network, addr, user, password
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		err = db.Ping()
		var myErr *gomysql.MySQLError
		if !errors.As(err, &myErr) {
			t.Fatalf("%s login of %s: %v, want a MySQL error", network, user, err)
		}
		return myErr.Number, myErr.Message
	}
	for i, c := range []struct {
		network, user, password string
		want                    uint16
	}{
		{"unix", "app", "app-secret", mysql.ER_CONNECT_TO_MASTER},
		{"unix", "sha", "sha-secret", mysql.ER_CONNECT_TO_MASTER}, // a full authentication
		{"unix", "sha", "sha-secret", mysql.ER_CONNECT_TO_MASTER},
		{"unix", "sha", "wrong", mysql.ER_ACCESS_DENIED_ERROR},
		{"unix", "app", "wrong", mysql.ER_ACCESS_DENIED_ERROR},
		{"unix", "nobody", "sha-secret", mysql.ER_ACCESS_DENIED_ERROR},
		{"tcp", "app", "app-secret", mysql.ER_CONNECT_TO_MASTER},
		{"tcp", "sha", "sha-secret", mysql.ER_CONNECT_TO_MASTER}, // RSA over TCP, as before
	} {
		addr := sock
		if c.network == "tcp" {
			addr = s.Addr().String()
		}
		got, msg := login(c.network, addr, c.user, c.password)
		if got != c.want {
			t.Errorf("%d: %s login of %s with %q: error %d %q, want %d", i, c.network, c.user, c.password, got, msg, c.want)
		}
		if want := fmt.Sprintf("'%s'@'localhost'", c.user); c.network == "unix" && got == mysql.ER_ACCESS_DENIED_ERROR && !strings.Contains(msg, want) {
			t.Errorf("%d: %q does not name the client %s", i, msg, want)
		}
	}
}

// TestSHA2FullAuthFlag: sha2FullAuth reads go-mysql v1.16's unexported flag for a
// caching_sha2_password full authentication; this fails if an upgrade renames it.
func TestSHA2FullAuthFlag(t *testing.T) {
	f, ok := reflect.TypeOf(server.Conn{}).FieldByName("cachingSha2FullAuth")
	if !ok || f.Type.Kind() != reflect.Bool {
		t.Fatalf("go-mysql's server.Conn has no bool cachingSha2FullAuth (found %v): socketFullAuth is never used", ok)
	}
}
