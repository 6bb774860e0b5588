package cluster

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	// pollInterval is how often readiness and replication waits look again.
	pollInterval = 50 * time.Millisecond
	// stopTimeout bounds a clean shutdown before Stop falls back to SIGKILL.
	stopTimeout = 2 * time.Minute
	// maxSocketPath is the longest unix socket path Linux accepts (sun_path is 108 bytes).
	maxSocketPath = 107
)

// Node is one mariadbd server of a Cluster. Its exported fields describe it and do not change
// while it runs; the methods are safe for concurrent use.
type Node struct {
	// Name is "primary", "replica1", "replica2", ...
	Name string
	// Port is the TCP port the server listens on, on 127.0.0.1 only.
	Port int
	// ServerID is the server's @@server_id: 1 for the primary, 2.. for the replicas.
	ServerID uint32
	// Dir holds the node's my.cnf, data directory, error log, pid file and socket.
	Dir string
	// Socket is the server's unix socket; root logs in over it without a password.
	Socket string

	replica bool
	extra   []string
	tlsCert string // ssl_cert: TLS is offered, not required
	tlsKey  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	pid    int
	done   chan struct{} // closed by the reaper goroutine once the process has exited
	reaped error         // cmd.Wait's result, valid once done is closed
}

// Addr is the node's TCP address, "127.0.0.1:port".
func (n *Node) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port)) }

// DSN is a go-sql-driver DSN for user over TCP: "user:pass@tcp(127.0.0.1:port)/db".
func (n *Node) DSN(user, pass, db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = user, pass
	cfg.Net, cfg.Addr = "tcp", n.Addr()
	cfg.DBName = db
	return cfg.FormatDSN()
}

// RootDB opens a pool that logs in as root over the node's unix socket. The caller closes it.
func (n *Node) RootDB() (*sql.DB, error) { return n.rootDB(nil) }

func (n *Node) rootDB(logger mysql.Logger) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net, cfg.Addr = "unix", n.Socket
	cfg.Timeout = 5 * time.Second
	if logger != nil {
		cfg.Logger = logger
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: root connector: %w", n.Name, err)
	}
	return sql.OpenDB(conn), nil
}

// Exec runs stmts in order as root on one connection, so session settings such as
// `SET SESSION sql_log_bin=0` apply to the statements after them.
func (n *Node) Exec(ctx context.Context, stmts ...string) error {
	db, err := n.RootDB()
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: connect as root: %w", n.Name, err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %s: %w", n.Name, redact(s), err)
		}
	}
	return nil
}

// ReplicaStatus returns the node's SHOW SLAVE STATUS row by column name, or nil when the node
// has no replication configured.
func (n *Node) ReplicaStatus(ctx context.Context) (map[string]string, error) {
	db, err := n.RootDB()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return replicaStatus(ctx, db)
}

func replicaStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, fmt.Errorf("SHOW SLAVE STATUS: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("SHOW SLAVE STATUS: %w", err)
	}
	st := make(map[string]string, len(cols))
	for i, c := range cols {
		st[c] = vals[i].String
	}
	return st, rows.Err()
}

// Start starts mariadbd on the node's existing data directory and waits until it answers or ctx
// ends. A replica resumes replication by itself. Starting a running node is an error.
func (n *Node) Start(ctx context.Context) error {
	bin, err := findBinary("mariadbd")
	if err != nil {
		return err
	}
	if !n.installed() {
		return fmt.Errorf("%s: no data directory in %s", n.Name, n.dataDir())
	}

	n.mu.Lock()
	if n.runningLocked() {
		n.mu.Unlock()
		return fmt.Errorf("%s: already running as pid %d", n.Name, n.pid)
	}
	// Readiness is judged by pinging the socket, so a server that already answers on it
	// (someone else's) would pass for ours.
	if conn, err := net.DialTimeout("unix", n.Socket, time.Second); err == nil {
		conn.Close()
		n.mu.Unlock()
		return fmt.Errorf("%s: a server not started by this Node already answers on %s: stop it first", n.Name, n.Socket)
	}
	logStart := fileSize(n.errorLog())
	cmd := exec.Command(bin, "--defaults-file="+n.cnfPath())
	// Own process group: a terminal's Ctrl-C reaches only the controlling program, which then
	// stops the servers cleanly. Pdeathsig: a parent that dies any other way takes them along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Dir = n.Dir
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("%s: start mariadbd: %w", n.Name, err)
	}
	done := make(chan struct{})
	n.cmd, n.pid, n.done, n.reaped = cmd, cmd.Process.Pid, done, nil
	n.mu.Unlock()

	go func() { // the reaper: the only caller of cmd.Wait
		err := cmd.Wait()
		n.mu.Lock()
		n.reaped = err
		n.mu.Unlock()
		close(done)
	}()

	if err := n.waitReady(ctx, done); err != nil {
		_ = n.Kill()
		tail := tailLines(readFrom(n.errorLog(), logStart), 20)
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return fmt.Errorf("%s (port %d): mariadbd did not come up: %w\n--- %s (tail) ---\n%s",
			n.Name, n.Port, err, n.errorLog(), tail)
	}
	return nil
}

// waitReady pings the server over its socket until it answers, the process exits or ctx ends.
func (n *Node) waitReady(ctx context.Context, exited <-chan struct{}) error {
	db, err := n.rootDB(discardLogger{})
	if err != nil {
		return err
	}
	defer db.Close()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		last = db.PingContext(pctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			n.mu.Lock()
			err := n.reaped
			n.mu.Unlock()
			return fmt.Errorf("mariadbd exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last ping: %v)", ctx.Err(), last)
		case <-t.C:
		}
	}
}

// Stop shuts the server down cleanly (SIGTERM) and waits for it to exit; after stopTimeout it
// kills it. Stopping a node that is not running does nothing.
func (n *Node) Stop() error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return nil
	}
	term := func() error {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot shut down
		err := cmd.Process.Signal(syscall.SIGTERM)
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return err
	}
	if err := term(); err != nil {
		return fmt.Errorf("%s: SIGTERM: %w", n.Name, err)
	}
	// mariadbd ignores a SIGTERM that arrives while it is still initialising (for instance
	// while it waits for a data file lock), so repeat it; during shutdown repeats are harmless.
	again := time.NewTicker(time.Second)
	defer again.Stop()
	deadline := time.NewTimer(stopTimeout)
	defer deadline.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-again.C:
			_ = term()
		case <-deadline.C:
			_ = n.Kill()
			return fmt.Errorf("%s: no clean shutdown within %s; killed", n.Name, stopTimeout)
		}
	}
}

// Kill sends SIGKILL to the server and waits until it has been reaped. Killing a node that is not
// running does nothing.
func (n *Node) Kill() error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return nil
	}
	// The whole group, so nothing the server might have spawned survives it.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s: SIGKILL: %w", n.Name, err)
	}
	<-done
	return nil
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing answers. It
// returns once the kernel reports the process stopped (signal delivery is asynchronous).
func (n *Node) Pause() error {
	if err := n.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	n.mu.Lock()
	pid := n.cmd.Process.Pid
	n.mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return err
		}
		// The state follows the parenthesised command name: "pid (comm) T ...".
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'T' {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("%s: not stopped 2s after SIGSTOP", n.Name)
}

// Resume continues a paused server (SIGCONT).
func (n *Node) Resume() error { return n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return fmt.Errorf("%s: not running", n.Name)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %v: %w", n.Name, sig, err)
	}
	return nil
}

// Running reports whether the node's mariadbd process is alive (paused counts as alive).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runningLocked()
}

func (n *Node) runningLocked() bool { return n.cmd != nil && !isClosed(n.done) }

// Pid is the node's mariadbd process id while this process runs it, else 0.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return 0
	}
	return n.pid
}

func (n *Node) cnfPath() string  { return filepath.Join(n.Dir, "my.cnf") }
func (n *Node) dataDir() string  { return filepath.Join(n.Dir, "data") }
func (n *Node) errorLog() string { return filepath.Join(n.Dir, "error.log") }
func (n *Node) pidFile() string  { return filepath.Join(n.Dir, "mariadbd.pid") }
func (n *Node) tmpDir() string   { return filepath.Join(n.Dir, "tmp") }

// installed reports whether the data directory holds an installed system schema.
func (n *Node) installed() bool {
	fi, err := os.Stat(filepath.Join(n.dataDir(), "mysql"))
	return err == nil && fi.IsDir()
}

// writeConfig writes the node's my.cnf. Both mariadb-install-db and mariadbd read it, and it is
// rewritten on every start so that port and extra settings follow the caller's options.
func (n *Node) writeConfig() error {
	if len(n.Socket) > maxSocketPath {
		return fmt.Errorf("%s: socket path %q is longer than %d bytes: use a shorter directory",
			n.Name, n.Socket, maxSocketPath)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by tailgate's integration/cluster; rewritten on every start.\n[mariadbd]\n")
	lines := []string{
		"user=root",
		"datadir=" + n.dataDir(),
		"socket=" + n.Socket,
		"pid-file=" + n.pidFile(),
		"log-error=" + n.errorLog(),
		// Own tmpdir: a starting server deletes every #sql* file in its tmpdir, so servers
		// sharing /tmp delete each other's temporary tables (and parallel installs fail).
		"tmpdir=" + n.tmpDir(),
		"port=" + strconv.Itoa(n.Port),
		"bind-address=127.0.0.1",
		"skip-name-resolve",
		"server_id=" + strconv.FormatUint(uint64(n.ServerID), 10),
		// Fixed names: the defaults derive from the host name, which may change between runs.
		"log_bin=mariadb-bin",
		"relay_log=relay-bin",
		"binlog_format=ROW",
		"log_slave_updates=ON",
		"gtid_strict_mode=ON",
		"innodb_buffer_pool_size=64M",
		"innodb_log_file_size=32M",
		"innodb_buffer_pool_dump_at_shutdown=OFF",
		"innodb_buffer_pool_load_at_startup=OFF",
		"performance_schema=OFF",
		"max_connections=1000",
		// Lets SHOW SLAVE HOSTS on the primary name each replica's address.
		"report_host=127.0.0.1",
		"report_port=" + strconv.Itoa(n.Port),
	}
	if n.tlsCert != "" {
		lines = append(lines, "ssl_cert="+n.tlsCert, "ssl_key="+n.tlsKey)
	}
	if n.replica {
		lines = append(lines, "read_only=ON")
	}
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if len(n.extra) > 0 {
		b.WriteString("# Options.ExtraConfig (later lines win)\n")
		for _, l := range n.extra {
			b.WriteString(strings.TrimSpace(l))
			b.WriteByte('\n')
		}
	}
	if err := os.MkdirAll(n.tmpDir(), 0o755); err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	if err := os.WriteFile(n.cnfPath(), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("%s: write my.cnf: %w", n.Name, err)
	}
	return nil
}

// install creates the node's data directory with mariadb-install-db.
func (n *Node) install(ctx context.Context) error {
	bin, err := findBinary("mariadb-install-db")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin,
		"--defaults-file="+n.cnfPath(), // must come first
		"--user=root",
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
	)
	// The script runs mariadbd --bootstrap as its child: kill the whole group on cancel.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = n.Dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("%s: mariadb-install-db: %w", n.Name, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("%s: mariadb-install-db: %w\n%s", n.Name, err, tailLines(string(out), 20))
	}
	return nil
}

// errorLogTail returns the last lines of the node's error log, for diagnosing failures.
func (n *Node) errorLogTail(lines int) string {
	return tailLines(readFrom(n.errorLog(), 0), lines)
}

var errPortInUse = errors.New("port already in use")

// ErrNotInstalled means the MariaDB server or client programs were not found.
var ErrNotInstalled = errors.New("MariaDB is not installed: apt-get install -y mariadb-server mariadb-client")

// findBinary looks name up in PATH and then in the directories Debian and others install
// MariaDB into; /usr/sbin is often missing from a non-root PATH.
func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/mysql/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (%s not found)", ErrNotInstalled, name)
}

// FreePorts returns n distinct loopback ports that were free a moment ago. All listeners stay open
// until every port is picked, so the ports differ; someone may still take one before it is bound
// (Start handles that for mariadbd by picking again).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom reads a file from offset on, at most its last 64 KiB.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	if size := fileSize(path); size-offset > 64<<10 {
		offset = size - 64<<10
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var secretRE = regexp.MustCompile(`(?i)(IDENTIFIED BY|MASTER_PASSWORD\s*=)\s*'[^']*'`)

// redact hides passwords in a statement before it goes into an error message.
func redact(stmt string) string { return secretRE.ReplaceAllString(stmt, "$1 '***'") }

// discardLogger silences go-sql-driver's logging while a server is still coming up.
type discardLogger struct{}

func (discardLogger) Print(...any) {}
