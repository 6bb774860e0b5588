package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// counters are the status variables read on every server before and after each run.
var counters = []string{"Com_select", "Com_stmt_execute", "Com_stmt_prepare"}

// bench is one benchmark session: the cluster, tailgate, HAProxy and what they need.
type bench struct {
	opts     options
	sysbench string
	cluster  *cluster.Cluster
	roots    []nodeDB // root over each node's socket, primary first
	tailgate *tailgateProc
	l4       *l4Proc // nil unless opts.l4
	hz       int64
	out      io.Writer
}

type nodeDB struct {
	name string
	db   *sql.DB
}

// run is the whole benchmark; cleanup (HAProxy, tailgate, then the cluster) happens on every
// return path, including Ctrl-C.
func run(ctx context.Context, opts options, stdout, stderr io.Writer) (err error) {
	b := &bench{opts: opts, out: stdout}
	res := &results{Started: time.Now().UTC()}

	if b.sysbench, err = exec.LookPath("sysbench"); err != nil {
		return fmt.Errorf("sysbench not found (make deps installs it): %w", err)
	}
	tgBin, err := filepath.Abs(opts.tailgateBin)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(tgBin); err != nil || fi.IsDir() {
		return fmt.Errorf("tailgate binary %s not found: run `make build` first, or use `make bench`", tgBin)
	}
	var haproxyBin string
	if opts.l4 {
		if haproxyBin, err = exec.LookPath("haproxy"); err != nil {
			return fmt.Errorf("%w (%v)", errNoHAProxy, err)
		}
	}
	var hzSource string
	b.hz, hzSource = clockTicks()
	res.Settings = settings{
		Reps:            opts.reps,
		DurationSeconds: int(opts.duration / time.Second),
		Tables:          tables,
		TableSize:       tableSize,
		ServerConfig:    serverConfig,
		ClockTicks:      b.hz,
		ClockTicksFrom:  hzSource,
		Sockets:         opts.sockets,
	}
	res.Host = hostInfo()
	res.Versions.Sysbench = firstLine(commandOutput(b.sysbench, "--version"))
	res.Versions.Tailgate = firstLine(commandOutput(tgBin, "-version"))
	if opts.l4 {
		vv := commandOutput(haproxyBin, "-vv")
		res.Versions.HAProxy = firstLine(vv)
		res.Settings.L4 = &l4Settings{DefaultThreads: haproxyDefaultThreads(vv)}
	}

	targets := []string{targetDirect, targetTailgate}
	if opts.l4 {
		targets = append(targets, targetL4)
	}
	runs := len(opts.workloads) * len(opts.modes) * opts.reps * len(targets)
	fmt.Fprintf(stdout, "tailgate bench: %d runs of %s (%d workloads x %d modes x %d reps x %s, interleaved), about %s\n",
		runs, opts.duration, len(opts.workloads), len(opts.modes), opts.reps, strings.Join(targets, "/"),
		(time.Duration(runs) * opts.duration).Round(time.Second))
	fmt.Fprintf(stdout, "servers:  MariaDB primary + 2 replicas, every server with %s\n", strings.Join(serverConfig, " "))
	fmt.Fprintf(stdout, "          (innodb_flush_log_at_trx_commit=2 and sync_binlog=0: benchmark settings, not crash-safe)\n")
	fmt.Fprintf(stdout, "host:     %d CPUs, load average %s at start; CLK_TCK %d (%s)\n",
		res.Host.CPUs, res.Host.LoadAvgStart, b.hz, hzSource)

	workDir, err := os.MkdirTemp("", "tailgate-bench-")
	if err != nil {
		return err
	}
	keepWork := false
	defer func() {
		if keepWork {
			fmt.Fprintf(stderr, "bench: tailgate's and haproxy's configs and logs kept in %s\n", workDir)
			return
		}
		_ = os.RemoveAll(workDir)
	}()

	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	sctx, cancel := context.WithTimeout(ctx, cluster.DefaultStartTimeout)
	b.cluster, err = cluster.Start(sctx, cluster.Options{Replicas: 2, ExtraConfig: serverConfig, Logf: logf})
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.cluster.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	for _, n := range b.cluster.Nodes() {
		db, err := n.RootDB()
		if err != nil {
			return err
		}
		defer db.Close()
		b.roots = append(b.roots, nodeDB{name: n.Name, db: db})
	}
	if err := b.roots[0].db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&res.Versions.MariaDB); err != nil {
		return fmt.Errorf("primary: SELECT VERSION(): %w", err)
	}

	if err := b.prepare(ctx); err != nil {
		return err
	}

	b.tailgate, err = startTailgate(ctx, tgBin, b.cluster, workDir, opts.sockets)
	if err != nil {
		keepWork = true
		return err
	}
	defer func() {
		if serr := b.tailgate.stop(15 * time.Second); serr != nil {
			keepWork = true
			err = errors.Join(err, serr)
		}
	}()
	ids, rerr := b.tailgate.waitReplicaReads(ctx, b.cluster.Primary.ServerID, 15*time.Second)
	fmt.Fprintf(stdout, "tailgate: pid %d on %s (%s); autocommit SELECT @@server_id answered by server_id %v\n",
		b.tailgate.pid(), b.tailgate.addr, res.Versions.Tailgate, ids)
	if rerr != nil {
		fmt.Fprintf(stdout, "warning:  tailgate does not send reads to the replicas yet (%v); measuring anyway\n", rerr)
	}
	if opts.l4 {
		var replicas []string
		for _, r := range b.cluster.Replicas {
			replicas = append(replicas, r.Addr())
		}
		b.l4, err = startL4(ctx, haproxyBin, b.cluster.Primary.Addr(), replicas, workDir)
		if err != nil {
			keepWork = true
			return err
		}
		defer func() {
			if serr := b.l4.stop(15 * time.Second); serr != nil {
				keepWork = true
				err = errors.Join(err, serr)
			}
		}()
		res.Settings.L4.MaxConn = b.l4.maxConn
		threads := "unknown"
		if n := res.Settings.L4.DefaultThreads; n > 0 {
			threads = fmt.Sprint(n)
		}
		fmt.Fprintf(stdout, "l4:       haproxy pid %d (%s), mode tcp: %s -> primary %s, %s -> replicas %s (round robin, for read-only workloads); "+
			"maxconn %d, nbthread left at its default (%s)\n",
			b.l4.pid(), res.Versions.HAProxy, b.l4.addr, b.cluster.Primary.Addr(), b.l4.readAddr(), strings.Join(replicas, ", "), b.l4.maxConn, threads)
	}
	fmt.Fprintf(stdout, "nodes:    ")
	for _, n := range b.cluster.Nodes() {
		fmt.Fprintf(stdout, "%s %s (server_id %d)  ", n.Name, n.Addr(), n.ServerID)
	}
	fmt.Fprintf(stdout, "\n\n")

	i := 0
loop:
	for _, w := range opts.workloads {
		for _, m := range opts.modes {
			for rep := 1; rep <= opts.reps; rep++ {
				for _, target := range targets {
					if ctx.Err() != nil {
						res.Interrupted = true
						break loop
					}
					i++
					r := b.measure(ctx, w, m, rep, target)
					if ctx.Err() != nil { // interrupted half-way: not a measurement
						res.Interrupted = true
						break loop
					}
					res.Runs = append(res.Runs, r)
					fmt.Fprintf(stdout, "[%2d/%d] %s\n", i, runs, r.line(m.counter))
					b.settle(ctx)
				}
			}
		}
	}
	res.Finished = time.Now().UTC()
	res.Host.LoadAvgEnd = loadAvg()
	res.TailgateLog = b.tailgateLogProblems()
	res.Summary = summarize(res.Runs, opts)

	fmt.Fprintln(stdout)
	printSummary(stdout, res)
	if len(res.Runs) == 0 {
		return errors.New("interrupted before the first run finished; nothing written")
	}
	path, werr := writeResults(opts.outDir, res)
	if werr != nil {
		return werr
	}
	fmt.Fprintf(stdout, "\nresults:  %s\n", path)
	if res.Interrupted {
		return errors.New("interrupted: the results hold only the runs that finished")
	}
	return nil
}

// prepare creates the sysbench tables on the primary and waits until both replicas have them.
func (b *bench) prepare(ctx context.Context) error {
	began := time.Now()
	if err := b.cluster.Primary.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+database); err != nil {
		return err
	}
	args := append([]string{"oltp_read_write", "--threads=" + fmt.Sprint(tables)}, sysbenchArgs(connArgs(b.cluster.Primary.Port, ""))...)
	out, _, err := sysbench(ctx, b.sysbench, append(args, "prepare"), 5*time.Minute)
	if err != nil {
		return fmt.Errorf("sysbench prepare: %w\n%s", err, tailOf(out, 20))
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := b.cluster.WaitReplicated(wctx); err != nil {
		return fmt.Errorf("replicas did not apply the sysbench tables: %w", err)
	}
	fmt.Fprintf(b.out, "prepare:  %d tables x %d rows (%s.sbtest1..%d) on the primary, replicated, in %s\n",
		tables, tableSize, database, tables, time.Since(began).Round(time.Millisecond))
	return nil
}

// settle waits until the replicas have applied everything, so every run starts from caught-up
// replicas (only the read-write workload writes).
func (b *bench) settle(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.cluster.WaitReplicated(wctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(b.out, "warning: replicas did not catch up within a minute: %v\n", err)
	}
}

const (
	targetDirect   = "direct"
	targetTailgate = "tailgate"
	targetL4       = "l4" // HAProxy in TCP mode: to the replicas for read-only workloads, else to the primary
)

// measure runs one sysbench run against one target, with the server counters and tailgate's (and
// HAProxy's) CPU time around it. A run that fails still returns a Run, with its error.
func (b *bench) measure(ctx context.Context, w workload, m mode, rep int, target string) Run {
	conn := connArgs(b.cluster.Primary.Port, "")
	switch {
	case target == targetTailgate && b.opts.sockets == socketsAll:
		conn = connArgs(0, b.tailgate.socket)
	case target == targetTailgate:
		conn = connArgs(b.tailgate.port, "")
	case target == targetL4 && w.reads:
		conn = connArgs(b.l4.readPort, "")
	case target == targetL4:
		conn = connArgs(b.l4.port, "")
	case b.opts.sockets == socketsAll:
		conn = connArgs(0, b.cluster.Primary.Socket)
	}
	args := runArgs(w, m, conn, b.opts.duration)
	r := Run{
		Workload: w.name, Mode: m.name, PSMode: m.psMode, Threads: w.threads, Rep: rep, Target: target,
		Command: append([]string{"sysbench"}, redactArgs(args)...),
		Started: time.Now().UTC(),
	}
	if target == targetTailgate && b.tailgate.exited() {
		r.Error = fmt.Sprintf("tailgate is not running (%v): %s", b.tailgate.waitErr, b.tailgate.logTail(3))
		r.Errors = 1
		return r
	}
	if target == targetL4 && b.l4.exited() {
		r.Error = fmt.Sprintf("haproxy is not running (%v): %s", b.l4.waitErr, b.l4.logTail(3))
		r.Errors = 1
		return r
	}
	// Tailgate's CPU is read for direct runs too: what its tailer and monitor cost in the background.
	servers := b.serverPids()
	cpu0 := b.sampleCPU(servers)
	before, cerr := b.snapshot(ctx)
	if cerr != nil {
		r.Notes = append(r.Notes, "counters before: "+cerr.Error())
	}

	began := time.Now()
	out, sysbenchCPU, runErr := sysbench(ctx, b.sysbench, args, b.opts.duration+time.Minute)
	r.WallSeconds = time.Since(began).Seconds()
	cpu1 := b.sampleCPU(servers)
	r.Notes = append(r.Notes, cpuNotes(cpu0, cpu1)...)
	if after, err := b.snapshot(ctx); err != nil {
		r.Notes = append(r.Notes, "counters after: "+err.Error())
	} else if cerr == nil {
		r.Servers = delta(before, after)
	}

	p := parseSysbench(out)
	r.Queries, r.QPS = p.Queries, p.QPS
	r.Transactions, r.TPS = p.Transactions, p.TPS
	r.IgnoredErrors, r.Reconnects = p.IgnoredErrors, p.Reconnects
	r.ErrorLines, r.ErrorMessages = p.ErrorLines, p.Messages
	r.P95Ms, r.AvgMs, r.SysbenchSeconds = p.P95Ms, p.AvgMs, p.TotalSeconds
	r.FailedThreads = p.FailedThreads
	r.Errors = p.errors()
	switch {
	case runErr != nil:
		r.Error = "sysbench: " + runErr.Error()
		if len(p.Messages) > 0 {
			r.Error += ": " + p.Messages[0]
		}
	case !p.Complete:
		r.Error = "no statistics in sysbench's output"
	}
	if r.Error != "" {
		r.OutputTail = tailOf(out, 15)
		if r.Errors == 0 {
			r.Errors = 1 // a failed run is at least one error
		}
		if target == targetTailgate && b.tailgate.exited() {
			r.Error += fmt.Sprintf("; tailgate exited (%v): %s", b.tailgate.waitErr, b.tailgate.logTail(3))
		}
		if target == targetL4 && b.l4.exited() {
			r.Error += fmt.Sprintf("; haproxy exited (%v): %s", b.l4.waitErr, b.l4.logTail(3))
		}
	}
	if ticks, ok := ticksDelta(cpu0.tailgate, cpu1.tailgate); ok {
		r.TailgateCPUTicks = ticks
		r.TailgateCPUMicros = ticksMicros(ticks, b.hz)
		if target == targetTailgate && r.Queries > 0 {
			r.CPUMicrosPerQuery = r.TailgateCPUMicros / float64(r.Queries)
		}
	}
	if ticks, ok := ticksDelta(cpu0.haproxy, cpu1.haproxy); ok {
		r.HAProxyCPUTicks = ticks
		r.HAProxyCPUMicros = ticksMicros(ticks, b.hz)
		if target == targetL4 && r.Queries > 0 {
			r.HAProxyCPUMicrosPerQuery = r.HAProxyCPUMicros / float64(r.Queries)
		}
	}
	if use, ok := cpuUseOf(cpu0, cpu1, sysbenchCPU, target, b.hz); ok {
		r.CPU = &use
	}
	return r
}

// sampleCPU is the CPU time so far of the machine, tailgate, HAProxy (when it runs) and the
// servers.
func (b *bench) sampleCPU(servers []int) cpuSample {
	var l4 *child
	if b.l4 != nil {
		l4 = &b.l4.child
	}
	return sampleCPU(&b.tailgate.child, l4, servers)
}

// serverPids are the cluster's mariadbd process ids (0 for one that is not running).
func (b *bench) serverPids() []int {
	var pids []int
	for _, n := range b.cluster.Nodes() {
		pids = append(pids, n.Pid())
	}
	return pids
}

// snapshot reads the counters on every server, as root over its socket.
func (b *bench) snapshot(ctx context.Context) (map[string]map[string]int64, error) {
	q := "SHOW GLOBAL STATUS WHERE Variable_name IN ('" + strings.Join(counters, "','") + "')"
	snap := make(map[string]map[string]int64, len(b.roots))
	for _, n := range b.roots {
		rows, err := n.db.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.name, err)
		}
		vals := map[string]int64{}
		for rows.Next() {
			var name string
			var v int64
			if err := rows.Scan(&name, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: %w", n.name, err)
			}
			vals[name] = v
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("%s: %w", n.name, err)
		}
		snap[n.name] = vals
	}
	return snap, nil
}

func delta(before, after map[string]map[string]int64) map[string]map[string]int64 {
	d := make(map[string]map[string]int64, len(after))
	for node, vals := range after {
		d[node] = make(map[string]int64, len(vals))
		for k, v := range vals {
			d[node][k] = v - before[node][k]
		}
	}
	return d
}

// tailgateLogProblems returns tailgate's warning and error lines (at most 20), for the results.
func (b *bench) tailgateLogProblems() []string {
	data, err := os.ReadFile(b.tailgate.logPath)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "[WARN]") || strings.Contains(l, "[ERROR]") {
			if len(out) == 20 {
				out = append(out, "...")
				break
			}
			out = append(out, l)
		}
	}
	return out
}

func hostInfo() host {
	h := host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	return h
}

// loadAvg is the first three fields of /proc/loadavg: others may be using this machine.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func commandOutput(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return string(out)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
