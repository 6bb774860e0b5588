package cluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Accounts created on every node with sql_log_bin=0, identical everywhere, so the primary's
// binlog holds only what tests write. Each exists for 'user'@'127.0.0.1', 'user'@'localhost'
// and 'user'@'%'.
const (
	// AppUser is the application account the proxy logs in with and tests use: ALL PRIVILEGES
	// on *.* except READ_ONLY ADMIN, so that a write sent to a read_only replica fails as it
	// would in production instead of silently diverging the replica.
	AppUser     = "app"
	AppPassword = "app-secret"
	// ReplUser is the account the replicas' IO threads connect with (REPLICATION SLAVE).
	ReplUser     = "repl"
	ReplPassword = "repl-secret"
	// MonitorUser is the account for tailgate's binlog tailer and replica position checks.
	MonitorUser     = "tailgate"
	MonitorPassword = "tailgate-secret"
)

// Databases created on the primary (and replicated).
const (
	// TestDatabase is tailgate's own integration test database.
	TestDatabase = "tailgate_test"
	// GoTestDatabase is the database go-sql-driver's test suite expects.
	GoTestDatabase = "gotest"
)

// DefaultStartTimeout bounds Start when its context has no deadline.
const DefaultStartTimeout = 2 * time.Minute

// manifestName is the file in Cluster.Dir that marks a complete cluster a later Start can restart.
const manifestName = "cluster.json"

// Options configures Start.
type Options struct {
	// Replicas is the number of replicas; 0 starts a lone primary.
	Replicas int
	// Dir is the base directory, one sub-directory per node. Empty means a new temporary
	// directory that Close removes. A Dir that holds a cluster from an earlier Start (with the
	// same number of replicas) is restarted, not re-installed, and Close keeps it.
	Dir string
	// Ports are fixed TCP ports, primary first, one per node. Nil picks free loopback ports (and
	// on a restart reuses the earlier run's ports, picking new ones if they are taken).
	Ports []int
	// ExtraConfig lines are appended to every node's [mariadbd] section, after the defaults, so
	// they override them: "innodb_flush_log_at_trx_commit=2", "max_allowed_packet=48M".
	ExtraConfig []string
	// Logf, when set, receives progress messages (tests pass t.Logf).
	Logf func(format string, args ...any)
}

// Cluster is a running MariaDB primary with its replicas.
type Cluster struct {
	Primary  *Node
	Replicas []*Node
	// Dir holds one sub-directory per node and cluster.json.
	Dir string
	// TLSCert is the PEM certificate every node offers TLS with (not required by the
	// servers). It is self-signed for 127.0.0.1, ::1 and localhost: clients verify the nodes
	// with it as their CA.
	TLSCert string

	temp bool     // Dir was created by Start and is removed by Close
	lock *os.File // flock on Dir/cluster.lock, held from Start to Close
	// removeOnClose are directories Close removes (a failed install's node directories).
	removeOnClose []string
	logf          func(format string, args ...any)
	closeOnce     sync.Once
	closeErr      error
}

// manifest is cluster.json: what a restart needs to know about an earlier run.
type manifest struct {
	Replicas int   `json:"replicas"`
	Ports    []int `json:"ports"`
}

// Start brings a cluster up and returns once every replica's IO and SQL threads run and each has
// applied the primary's current GTID position. On a fresh Dir it installs one data directory,
// copies it for the replicas, starts the servers in parallel, creates the accounts and databases
// and sets up GTID replication; on a Dir from an earlier run it only starts the servers and
// checks replication. If Start fails it stops whatever it started and removes a temporary Dir.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	began := time.Now()
	if err := opts.check(); err != nil {
		return nil, err
	}
	for _, bin := range []string{"mariadbd", "mariadb-install-db"} {
		if _, err := findBinary(bin); err != nil {
			return nil, err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}

	c := &Cluster{Dir: opts.Dir, logf: opts.Logf}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "tailgate-cluster-"); err != nil {
			return nil, fmt.Errorf("cluster: temporary directory: %w", err)
		}
		c.temp = true
	} else {
		if c.Dir, err = filepath.Abs(c.Dir); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	installing := false
	defer func() {
		if err == nil {
			return
		}
		if installing && !c.temp {
			// Half-installed nodes would make the next Start refuse this Dir.
			for _, n := range c.Nodes() {
				c.removeOnClose = append(c.removeOnClose, n.Dir)
			}
		}
		_ = c.Close()
	}()
	if err := c.lockDir(); err != nil {
		return nil, err
	}

	prev, err := c.readManifest()
	if err != nil {
		return nil, err
	}
	restart := prev != nil
	if restart && prev.Replicas != opts.Replicas {
		return nil, fmt.Errorf("cluster: %s holds a cluster with %d replicas, not %d: use another directory or remove it",
			c.Dir, prev.Replicas, opts.Replicas)
	}
	ports, fixed := opts.Ports, opts.Ports != nil
	switch {
	case fixed:
	case restart && len(prev.Ports) == opts.Replicas+1:
		ports = prev.Ports
	default:
		if ports, err = FreePorts(opts.Replicas + 1); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	certFile, keyFile, err := ensureTLS(c.Dir)
	if err != nil {
		return nil, err
	}
	c.TLSCert = certFile
	c.newNodes(ports, opts.ExtraConfig, keyFile)

	for _, n := range c.Nodes() {
		switch {
		case restart && !n.installed():
			return nil, fmt.Errorf("cluster: %s lists %s but %s has no data: remove %s and start afresh",
				filepath.Join(c.Dir, manifestName), n.Name, n.dataDir(), c.Dir)
		case !restart && n.installed():
			return nil, fmt.Errorf("cluster: %s already holds a data directory but %s has no %s (an earlier start failed half-way?): remove it and start afresh",
				n.dataDir(), c.Dir, manifestName)
		}
		if err := n.writeConfig(); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}

	if restart {
		c.log("cluster: restarting the %d-node cluster in %s", len(c.Nodes()), c.Dir)
		// The primary first, so the replicas' IO threads find it on their first attempt.
		if err := c.startNode(ctx, c.Primary, fixed); err != nil {
			return nil, err
		}
		if err := parallel(c.Replicas, func(n *Node) error { return c.startNode(ctx, n, fixed) }); err != nil {
			return nil, err
		}
		c.log("cluster: servers up after %s", since(began))
		if err := parallel(c.Nodes(), func(n *Node) error { return n.Exec(ctx, accountStatements()...) }); err != nil {
			return nil, fmt.Errorf("cluster: accounts: %w", err)
		}
		if err := parallel(c.Replicas, func(r *Node) error { return c.repoint(ctx, r) }); err != nil {
			return nil, fmt.Errorf("cluster: replication: %w", err)
		}
	} else {
		c.log("cluster: installing a %d-node cluster in %s", len(c.Nodes()), c.Dir)
		installing = true
		// One bootstrap, then copies: a fresh data directory holds nothing node-specific (no
		// binlog, no server UUID; server_id and port come from my.cnf), and bootstrapping is
		// CPU-bound, which matters when several test packages start clusters at once.
		if err := c.Primary.install(ctx); err != nil {
			return nil, fmt.Errorf("cluster: install: %w", err)
		}
		if err := parallel(c.Replicas, func(r *Node) error {
			return copyTree(c.Primary.dataDir(), r.dataDir())
		}); err != nil {
			return nil, fmt.Errorf("cluster: install: %w", err)
		}
		c.log("cluster: installed after %s", since(began))
		if err := parallel(c.Nodes(), func(n *Node) error { return c.startNode(ctx, n, fixed) }); err != nil {
			return nil, err
		}
		c.log("cluster: servers up after %s", since(began))
		if err := parallel(c.Nodes(), func(n *Node) error { return n.Exec(ctx, accountStatements()...) }); err != nil {
			return nil, fmt.Errorf("cluster: accounts: %w", err)
		}
		// Binlogged, so the replicas create them too when they replay the primary's binlog.
		if err := c.Primary.Exec(ctx,
			"CREATE DATABASE IF NOT EXISTS "+TestDatabase,
			"CREATE DATABASE IF NOT EXISTS "+GoTestDatabase,
		); err != nil {
			return nil, fmt.Errorf("cluster: databases: %w", err)
		}
		if err := parallel(c.Replicas, func(r *Node) error {
			return r.Exec(ctx, "SET GLOBAL gtid_slave_pos=''", c.changeMaster(), "START SLAVE")
		}); err != nil {
			return nil, fmt.Errorf("cluster: replication: %w", err)
		}
	}

	if err := c.waitReplicasRunning(ctx); err != nil {
		return nil, err
	}
	if err := c.WaitReplicated(ctx); err != nil {
		return nil, err
	}
	if err := c.writeManifest(); err != nil {
		return nil, err
	}
	c.log("cluster: primary %s and %d replicas replicating; up in %s", c.Primary.Addr(), len(c.Replicas), since(began))
	return c, nil
}

// StartT starts a cluster for a test or benchmark and closes it in t.Cleanup, so teardown happens
// even when the test fails. It fails the test (never skips it) when MariaDB is missing or the
// cluster does not come up. Options.Logf defaults to t.Logf.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStartTimeout)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		if errors.Is(err, ErrNotInstalled) {
			t.Fatal(err)
		}
		t.Fatalf("start MariaDB cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("%s error log (tail):\n%s", n.Name, n.errorLogTail(15))
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("close MariaDB cluster: %v", err)
		}
	})
	return c
}

// Nodes returns the primary followed by the replicas.
func (c *Cluster) Nodes() []*Node {
	return append([]*Node{c.Primary}, c.Replicas...)
}

// Close stops every node cleanly (in parallel) and removes Dir if Start created it. It is safe to
// call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		began := time.Now()
		var nodes []*Node
		for _, n := range c.Nodes() {
			if n != nil {
				nodes = append(nodes, n)
			}
		}
		err := parallel(nodes, (*Node).Stop)
		for _, d := range c.removeOnClose {
			if rerr := os.RemoveAll(d); rerr != nil {
				err = errors.Join(err, fmt.Errorf("cluster: remove %s: %w", d, rerr))
			}
		}
		if c.lock != nil {
			_ = c.lock.Close() // releases the flock
		}
		if c.temp {
			if rerr := os.RemoveAll(c.Dir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("cluster: remove %s: %w", c.Dir, rerr))
			}
		}
		c.closeErr = err
		if len(nodes) > 0 {
			c.log("cluster: stopped in %s", since(began))
		}
	})
	return c.closeErr
}

// WaitReplicated waits until every replica has applied the primary's current @@gtid_binlog_pos,
// using MASTER_GTID_WAIT. It fails fast when a replica's SQL thread has stopped with an error.
func (c *Cluster) WaitReplicated(ctx context.Context) error {
	db, err := c.Primary.RootDB()
	if err != nil {
		return err
	}
	defer db.Close()
	var pos string
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		return fmt.Errorf("cluster: primary @@gtid_binlog_pos: %w", err)
	}
	if pos == "" {
		return nil // nothing written yet
	}
	return parallel(c.Replicas, func(r *Node) error { return waitGTID(ctx, r, pos) })
}

func waitGTID(ctx context.Context, r *Node, pos string) error {
	db, err := r.RootDB()
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		// Short server-side waits, so a stopped SQL thread is noticed and ctx is honoured.
		wait := time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if wait <= 0 {
			return replicaStuck(ctx, r, db, pos, ctx.Err())
		}
		var res sql.NullInt64
		err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, wait.Seconds()).Scan(&res)
		if err != nil {
			return replicaStuck(ctx, r, db, pos, err)
		}
		if res.Valid && res.Int64 == 0 {
			return nil
		}
		st, err := replicaStatus(ctx, db)
		if err != nil {
			return replicaStuck(ctx, r, db, pos, err)
		}
		if st == nil {
			return fmt.Errorf("%s: waiting for GTID %s: replication is not configured", r.Name, pos)
		}
		if st["Slave_SQL_Running"] != "Yes" && st["Last_SQL_Errno"] != "0" {
			return fmt.Errorf("%s: waiting for GTID %s: SQL thread stopped: %s", r.Name, pos, st["Last_SQL_Error"])
		}
	}
}

// replicaStuck builds the error for a replica that did not reach pos, with what it knows.
func replicaStuck(ctx context.Context, r *Node, db *sql.DB, pos string, cause error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	st, err := replicaStatus(sctx, db)
	if err != nil || st == nil {
		return fmt.Errorf("%s: waiting for GTID %s: %w", r.Name, pos, cause)
	}
	return fmt.Errorf("%s: waiting for GTID %s: %w (at %s; IO %s %q; SQL %s %q)", r.Name, pos, cause,
		st["Gtid_Slave_Pos"], st["Slave_IO_Running"], st["Last_IO_Error"], st["Slave_SQL_Running"], st["Last_SQL_Error"])
}

// waitReplicasRunning waits until every replica's IO and SQL threads both run.
func (c *Cluster) waitReplicasRunning(ctx context.Context) error {
	return parallel(c.Replicas, func(r *Node) error {
		db, err := r.RootDB()
		if err != nil {
			return err
		}
		defer db.Close()
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		for {
			st, err := replicaStatus(ctx, db)
			switch {
			case err != nil:
				return fmt.Errorf("%s: %w", r.Name, err)
			case st == nil:
				return fmt.Errorf("%s: replication is not configured", r.Name)
			case st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes":
				return nil
			case st["Slave_SQL_Running"] == "No" && st["Last_SQL_Errno"] != "0":
				return fmt.Errorf("%s: replication SQL thread stopped: %s", r.Name, st["Last_SQL_Error"])
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: replication threads not running (IO %s, last IO error %q; SQL %s): %w",
					r.Name, st["Slave_IO_Running"], st["Last_IO_Error"], st["Slave_SQL_Running"], ctx.Err())
			case <-t.C:
			}
		}
	})
}

// repoint makes a restarted replica replicate from the primary's current port, keeping its
// applied GTID position. Replicas whose settings still match are left alone: they resumed
// replication by themselves when they started.
func (c *Cluster) repoint(ctx context.Context, r *Node) error {
	st, err := r.ReplicaStatus(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	if st != nil && st["Master_Host"] == "127.0.0.1" && st["Master_Port"] == strconv.Itoa(c.Primary.Port) &&
		st["Using_Gtid"] == "Slave_Pos" {
		return nil
	}
	c.log("cluster: pointing %s at the primary on port %d", r.Name, c.Primary.Port)
	return r.Exec(ctx, "STOP SLAVE", c.changeMaster(), "START SLAVE")
}

func (c *Cluster) changeMaster() string {
	return fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', "+
		"MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
		c.Primary.Port, ReplUser, ReplPassword)
}

// startNode starts n; when its port was picked here rather than by the caller and someone took
// it in the meantime, it picks another and tries again.
func (c *Cluster) startNode(ctx context.Context, n *Node, fixedPort bool) error {
	for attempt := 1; ; attempt++ {
		err := n.Start(ctx)
		if err == nil || fixedPort || !errors.Is(err, errPortInUse) || attempt == 3 {
			if err != nil {
				return fmt.Errorf("cluster: %w", err)
			}
			return nil
		}
		ports, perr := FreePorts(1)
		if perr != nil {
			return fmt.Errorf("cluster: %w", perr)
		}
		c.log("cluster: %s: port %d was taken; retrying on %d", n.Name, n.Port, ports[0])
		n.Port = ports[0]
		if err := n.writeConfig(); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
}

func (c *Cluster) newNodes(ports []int, extra []string, tlsKey string) {
	mk := func(name string, i int) *Node {
		dir := filepath.Join(c.Dir, name)
		return &Node{
			Name:     name,
			Port:     ports[i],
			ServerID: uint32(i + 1),
			Dir:      dir,
			Socket:   filepath.Join(dir, "mariadbd.sock"),
			replica:  i > 0,
			extra:    extra,
			tlsCert:  c.TLSCert,
			tlsKey:   tlsKey,
		}
	}
	c.Primary = mk("primary", 0)
	c.Replicas = make([]*Node, len(ports)-1)
	for i := range c.Replicas {
		c.Replicas[i] = mk(fmt.Sprintf("replica%d", i+1), i+1)
	}
}

// lockDir takes an exclusive flock on Dir/cluster.lock so that two programs never run servers on
// the same data directories: the second would ping the first one's sockets and think its own
// servers were up. The kernel drops the lock when the process dies.
func (c *Cluster) lockDir() error {
	path := filepath.Join(c.Dir, "cluster.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(f)
		f.Close()
		return fmt.Errorf("cluster: %s is in use by another process (pid %s): stop it or use another directory: %w",
			c.Dir, strings.TrimSpace(string(holder)), err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	c.lock = f
	return nil
}

func (c *Cluster) readManifest() (*manifest, error) {
	path := filepath.Join(c.Dir, manifestName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("cluster: %s: %w (remove the directory and start afresh)", path, err)
	}
	return &m, nil
}

func (c *Cluster) writeManifest() error {
	m := manifest{Replicas: len(c.Replicas)}
	for _, n := range c.Nodes() {
		m.Ports = append(m.Ports, n.Port)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(c.Dir, manifestName)
	if err := os.WriteFile(path+".tmp", append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

func (c *Cluster) log(format string, args ...any) {
	if c.logf != nil {
		c.logf(format, args...)
	}
}

func (o *Options) check() error {
	if o.Replicas < 0 {
		return fmt.Errorf("cluster: Options.Replicas is %d; want 0 or more", o.Replicas)
	}
	if o.Ports == nil {
		return nil
	}
	if len(o.Ports) != o.Replicas+1 {
		return fmt.Errorf("cluster: %d ports for %d nodes: give one per node, primary first", len(o.Ports), o.Replicas+1)
	}
	seen := make(map[int]bool, len(o.Ports))
	for _, p := range o.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("cluster: port %d out of range", p)
		}
		if seen[p] {
			return fmt.Errorf("cluster: port %d given twice", p)
		}
		seen[p] = true
	}
	return nil
}

// accountStatements creates the test accounts, idempotently and without binlogging them.
func accountStatements() []string {
	stmts := []string{"SET SESSION sql_log_bin=0"}
	accounts := []struct{ user, pass, grants string }{
		{AppUser, AppPassword, "ALL PRIVILEGES"},
		{ReplUser, ReplPassword, "REPLICATION SLAVE"},
		{MonitorUser, MonitorPassword, "REPLICATION SLAVE, BINLOG MONITOR, SLAVE MONITOR, REPLICATION CLIENT"},
	}
	for _, host := range []string{"127.0.0.1", "localhost", "%"} {
		for _, a := range accounts {
			acct := fmt.Sprintf("'%s'@'%s'", a.user, host)
			stmts = append(stmts,
				fmt.Sprintf("CREATE USER IF NOT EXISTS %s IDENTIFIED BY '%s'", acct, a.pass),
				fmt.Sprintf("ALTER USER %s IDENTIFIED BY '%s'", acct, a.pass),
				fmt.Sprintf("GRANT %s ON *.* TO %s", a.grants, acct))
		}
		// ALL PRIVILEGES includes READ_ONLY ADMIN (MariaDB 10.11), which would let the app
		// account write to read_only replicas.
		stmts = append(stmts, fmt.Sprintf("REVOKE READ_ONLY ADMIN ON *.* FROM '%s'@'%s'", AppUser, host))
	}
	return append(stmts, "SET SESSION sql_log_bin=1")
}

// copyTree copies the directories and regular files under src to dst, which must not exist.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			return copyFile(path, target, info.Mode().Perm())
		default:
			return fmt.Errorf("copy %s: not a regular file or directory", path)
		}
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// parallel runs f for every node at once and joins the errors.
func parallel(nodes []*Node, f func(*Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = f(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
