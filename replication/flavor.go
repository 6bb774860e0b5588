package replication

import (
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// dialect is what differs between MariaDB and MySQL when tailgate reads GTID state and
// replication health, chosen from the server's version string at each connection.
type dialect struct {
	// flavor is go-mysql's name for the binlog protocol: mysql.MariaDBFlavor or
	// mysql.MySQLFlavor.
	flavor string
	// pollQuery reads a replica's applied GTIDs and its read_only flag (which
	// primary.follow_promotion watches).
	pollQuery string
	// binlogQuery reads the GTIDs in a server's binlog, where a stream of it starts. On
	// MySQL it also reads gtid_mode (first column), which must be ON.
	binlogQuery string
	// statusQuery shows the replication threads, with the names of its columns for the IO
	// and SQL threads; the error columns are Last_IO_Error and Last_SQL_Error in both.
	statusQuery   string
	ioCol, sqlCol string
}

var (
	mariaDialect = dialect{
		flavor:      mysql.MariaDBFlavor,
		pollQuery:   "SELECT @@gtid_slave_pos, @@GLOBAL.read_only",
		binlogQuery: "SELECT @@gtid_binlog_pos",
		statusQuery: "SHOW SLAVE STATUS",
		ioCol:       "Slave_IO_Running",
		sqlCol:      "Slave_SQL_Running",
	}
	// mysqlDialect is for MySQL 8.0.22 and later. gtid_executed is what a server has
	// committed: on a replica, what it has applied (received transactions are in the
	// Retrieved_Gtid_Set instead); reading it needs no privilege.
	mysqlDialect = dialect{
		flavor:      mysql.MySQLFlavor,
		pollQuery:   "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.read_only",
		binlogQuery: "SELECT @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed",
		statusQuery: "SHOW REPLICA STATUS",
		ioCol:       "Replica_IO_Running",
		sqlCol:      "Replica_SQL_Running",
	}
	// mysqlOldDialect is for MySQL before 8.0.22, which has no SHOW REPLICA STATUS.
	mysqlOldDialect = dialect{
		flavor:      mysql.MySQLFlavor,
		pollQuery:   mysqlDialect.pollQuery,
		binlogQuery: mysqlDialect.binlogQuery,
		statusQuery: "SHOW SLAVE STATUS",
		ioCol:       "Slave_IO_Running",
		sqlCol:      "Slave_SQL_Running",
	}
)

// dialectFor picks the dialect for a server version string ("10.11.19-MariaDB-log",
// "8.0.36", "8.4.3-commercial", "5.7.44-log").
func dialectFor(version string) dialect {
	if isMariaDB(version) {
		return mariaDialect
	}
	if versionAtLeast(version, 8, 0, 22) {
		return mysqlDialect
	}
	return mysqlOldDialect
}

func (d dialect) isMySQL() bool { return d.flavor == mysql.MySQLFlavor }

// parse parses a GTID position in the dialect's text.
func (d dialect) parse(s string) (position, bool) {
	if d.isMySQL() {
		return parseMySQLSet(s)
	}
	return parseMariaPos(s)
}

func isMariaDB(version string) bool { return strings.Contains(version, "MariaDB") }

// versionAtLeast compares the leading major.minor.patch of a version string.
func versionAtLeast(version string, want ...int) bool {
	fields := strings.SplitN(version, ".", len(want))
	for i, w := range want {
		if i >= len(fields) {
			return false
		}
		f := fields[i]
		end := 0
		for end < len(f) && isDigit(f[end]) {
			end++
		}
		n, err := strconv.Atoi(f[:end])
		if err != nil {
			return false
		}
		if n != w {
			return n > w
		}
	}
	return true
}
