package replication

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// TestSyncerAddress: go-mysql's binlog syncer takes a host and port, or a unix socket's path
// with port 0.
func TestSyncerAddress(t *testing.T) {
	for _, c := range []struct {
		in   string
		host string
		port uint16
		bad  bool
	}{
		{in: "127.0.0.1:3306", host: "127.0.0.1", port: 3306},
		{in: "[::1]:3307", host: "::1", port: 3307},
		{in: "/run/mysqld/mysqld.sock", host: "/run/mysqld/mysqld.sock"},
		{in: "db", bad: true},
		{in: "db:70000", bad: true},
	} {
		host, port, err := syncerAddress(c.in)
		if (err != nil) != c.bad || host != c.host || port != c.port {
			t.Errorf("syncerAddress(%q) = %q, %d, %v; want %q, %d, error %v", c.in, host, port, err, c.host, c.port, c.bad)
		}
	}
}

// TestServerIDInUse: the two ways a primary says that another connection uses the tailer's
// server id, as go-mysql returns them, and errors that are something else.
func TestServerIDInUse(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{mysql.NewError(4052, "A slave with the same server_uuid/server_id is already connected"), true},
		{fmt.Errorf("dump: %w", mysql.NewError(4052, "")), true},
		{mysql.NewError(1236, "A replica with the same server_uuid/server_id as this replica has connected to the source; "+
			"the first event 'binlog.000002' at 4, the last event read from './binlog.000002' at 126"), true},
		{mysql.NewError(1236, "A slave with the same server_uuid/server_id as this slave has connected to the master; "+
			"the first event 'binlog.000002' at 119263798"), true}, // MySQL before 8.0.26
		{mysql.NewError(1236, "Could not find first log file name in binary log index file"), false},
		{mysql.NewError(1045, "Access denied for user 'tailgate'@'localhost'"), false},
		{io.EOF, false},
		{errors.New("connection reset by peer"), false},
		{nil, false},
	} {
		if got := serverIDInUse(c.err); got != c.want {
			t.Errorf("serverIDInUse(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
