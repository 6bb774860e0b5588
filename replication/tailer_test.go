package replication

import "testing"

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
