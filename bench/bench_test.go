package main

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// The testdata files are real sysbench 1.0.20 output against MariaDB 10.11.
func TestParseSysbench(t *testing.T) {
	tests := []struct {
		file string
		want sysbenchResult
	}{
		{"sysbench-ok.txt", sysbenchResult{
			Queries: 21800, QPS: 21369.31, Transactions: 1090, TPS: 1068.47,
			P95Ms: 3.62, AvgMs: 1.83, TotalSeconds: 1.0193, Complete: true,
		}},
		{"sysbench-noconn.txt", sysbenchResult{
			ErrorLines: 7, FailedThreads: 2,
			Messages: []string{
				"FATAL: unable to connect to MySQL server on host '127.0.0.1', port 1, aborting...",
				"FATAL: error 2002: Can't connect to server on '127.0.0.1' (115)",
				"FATAL: `thread_init' function failed: /usr/share/sysbench/oltp_common.lua:349: connection creation failed",
				"FATAL: Thread initialization failed!",
			},
		}},
		{"sysbench-midrun-error.txt", sysbenchResult{
			ErrorLines: 8, FailedThreads: 4,
			Messages: []string{
				"FATAL: mysql_stmt_execute() returned error 1146 (Table 'sbtest.sbtest2' doesn't exist) for query 'SELECT c FROM sbtest2 WHERE id=?'",
				"FATAL: `thread_run' function failed: /usr/share/sysbench/oltp_common.lua:419: SQL error, errno = 1146, state = '42S02': Table 'sbtest.sbtest2' doesn't exist",
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := parseSysbench(string(b)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseSysbench:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseSysbenchRepeatedAndIgnored(t *testing.T) {
	out := `FATAL: mysql_drv_query() returned error 2013 (Lost connection to server during query) for query 'SELECT 1'
(last message repeated 3 times)
    queries:                             100  (10.00 per sec.)
    ignored errors:                      5      (0.50 per sec.)
    reconnects:                          2      (0.20 per sec.)
`
	r := parseSysbench(out)
	if r.ErrorLines != 4 || r.IgnoredErrors != 5 || r.Reconnects != 2 || !r.Complete {
		t.Fatalf("got %+v; want 4 error lines, 5 ignored errors, 2 reconnects, complete", r)
	}
	if got := r.errors(); got != 9 {
		t.Errorf("errors() = %d, want 9 (5 ignored + 4 error lines)", got)
	}
}

func TestParseProcStat(t *testing.T) {
	// Field 14 utime=250, 15 stime=125; the command name holds a space and a ')'.
	stat := "4242 (tail gate) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 125 0 0 20 0 9 0 1234 100000 500\n"
	got, err := parseProcStat([]byte(stat))
	if err != nil || got != 375 {
		t.Fatalf("parseProcStat = %d, %v; want 375", got, err)
	}
	if _, err := parseProcStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("parseProcStat accepted a truncated line")
	}
	self, err := procCPUTicks(os.Getpid())
	if err != nil || self < 0 {
		t.Errorf("procCPUTicks(self) = %d, %v", self, err)
	}
}

func TestClockTicks(t *testing.T) {
	if hz, src := clockTicks(); hz <= 0 {
		t.Errorf("clockTicks() = %d (%s)", hz, src)
	}
}

func TestSummarize(t *testing.T) {
	opts := options{reps: 3, workloads: allWorkloads[:1], modes: allModes[:1]}
	run := func(rep int, target string, qps, p95, cpu float64, errMsg string) Run {
		r := Run{Workload: "oltp_point_select", Mode: "text", Rep: rep, Target: target,
			QPS: qps, Queries: int64(qps * 10), P95Ms: p95, CPUMicrosPerQuery: cpu, Error: errMsg,
			Servers: map[string]map[string]int64{"primary": {"Com_select": 10}, "replica1": {"Com_select": 45}}}
		if errMsg != "" {
			r.Errors = 1
		}
		return r
	}
	runs := []Run{
		run(1, targetDirect, 1000, 1.0, 0, ""), run(1, targetTailgate, 800, 1.5, 40, ""),
		run(2, targetDirect, 1200, 1.2, 0, ""), run(2, targetTailgate, 0, 0, 0, "sysbench: exit status 1"),
		run(3, targetDirect, 1100, 0.9, 0, ""), run(3, targetTailgate, 900, 1.3, 30, ""),
	}
	// CPU use in us per run (queries = 10 x QPS): the medians are taken per field, per query.
	runs[1].CPU = &cpuUse{Machine: 8000 * 50, Idle: 8000 * 4, Servers: 8000 * 20, Proxy: 8000 * 25, Other: 8000}
	runs[3].CPU = &cpuUse{Machine: 99} // a failed run's does not count
	runs[5].CPU = &cpuUse{Machine: 9000 * 60, Idle: 9000 * 2, Servers: 9000 * 30, Proxy: 9000 * 27, Other: 9000 * 3}
	got := summarize(runs, opts)
	if len(got) != 1 {
		t.Fatalf("got %d summaries, want 1", len(got))
	}
	s := got[0]
	if s.Direct.MedianQPS != 1100 || s.Tailgate.MedianQPS != 850 || s.Tailgate.FailedRuns != 1 || s.Tailgate.Errors != 1 {
		t.Errorf("summary %+v", s)
	}
	if s.Tailgate.MedianCPUPerQuery != 35 || s.Direct.MedianP95 != 1.0 {
		t.Errorf("cpu %v p95 %v; want 35 and 1.0", s.Tailgate.MedianCPUPerQuery, s.Direct.MedianP95)
	}
	if want := []float64{0.8, 900.0 / 1100}; !reflect.DeepEqual(s.PairRatios, want) {
		t.Errorf("pair ratios %v, want %v", s.PairRatios, want)
	}
	if want := (cpuUse{Machine: 55, Idle: 3, Servers: 25, Proxy: 26, Other: 2}); s.Tailgate.CPUPerQuery == nil || *s.Tailgate.CPUPerQuery != want {
		t.Errorf("tailgate CPU per query %+v, want %+v", s.Tailgate.CPUPerQuery, want)
	}
	if s.Direct.CPUPerQuery != nil {
		t.Errorf("direct CPU per query %+v without a measured run", s.Direct.CPUPerQuery)
	}
	if s.TailgateSplit["replica1"] != 135 || s.DirectSplit["primary"] != 30 {
		t.Errorf("splits %v / %v", s.TailgateSplit, s.DirectSplit)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-workloads", "oltp_read_write", "-modes", "ps"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.reps != 1 || o.duration != 3*time.Second || len(o.workloads) != 1 || o.workloads[0].name != "oltp_read_write" ||
		len(o.modes) != 1 || o.modes[0].psMode != "auto" {
		t.Errorf("got %+v", o)
	}
	o, err = parseFlags([]string{"-quick", "-reps", "2"}, os.Stderr)
	if err != nil || o.reps != 2 || o.duration != 3*time.Second || len(o.workloads) != 3 {
		t.Errorf("-quick -reps 2: %+v, %v", o, err)
	}
	if !o.l4 {
		t.Error("-l4 is off by default")
	}
	if o, err = parseFlags([]string{"-l4=false"}, os.Stderr); err != nil || o.l4 {
		t.Errorf("-l4=false: l4 %v, %v", o.l4, err)
	}
	if o.sockets != socketsNone {
		t.Errorf("-sockets is %q by default, want none", o.sockets)
	}
	if o, err = parseFlags([]string{"-sockets", "all", "-l4=false"}, os.Stderr); err != nil || o.sockets != socketsAll {
		t.Errorf("-sockets all -l4=false: %q, %v", o.sockets, err)
	}
	for _, bad := range [][]string{{"-workloads", "oltp_nope"}, {"-duration", "1500ms"}, {"-reps", "0"}, {"extra"},
		{"-sockets", "some"}, {"-sockets", "all"}} { // all needs -l4=false
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestSummarizeL4(t *testing.T) {
	opts := options{reps: 2, workloads: allWorkloads[:1], modes: allModes[:1], l4: true}
	run := func(rep int, target string, qps float64) Run {
		r := Run{Workload: "oltp_point_select", Mode: "text", Rep: rep, Target: target, QPS: qps, Queries: int64(qps * 10),
			Servers: map[string]map[string]int64{"primary": {"Com_select": 10}}}
		switch target {
		case targetTailgate:
			r.CPUMicrosPerQuery = 30
		case targetL4:
			r.HAProxyCPUMicrosPerQuery = float64(5 * rep)
		}
		return r
	}
	runs := []Run{
		run(1, targetDirect, 1000), run(1, targetTailgate, 500), run(1, targetL4, 800),
		run(2, targetDirect, 1200), run(2, targetTailgate, 600), run(2, targetL4, 900),
	}
	s := summarize(runs, opts)[0]
	if s.L4.Runs != 2 || s.L4.MedianQPS != 850 || s.L4.MedianCPUPerQuery != 7.5 || s.Tailgate.MedianCPUPerQuery != 30 {
		t.Errorf("l4 summary %+v, tailgate %+v", s.L4, s.Tailgate)
	}
	if s.L4Ratio != 850.0/1100 || s.Ratio != 550.0/1100 {
		t.Errorf("l4 ratio %v, ratio %v", s.L4Ratio, s.Ratio)
	}
	if want := []float64{0.8, 0.75}; !reflect.DeepEqual(s.L4PairRatios, want) {
		t.Errorf("l4 pair ratios %v, want %v", s.L4PairRatios, want)
	}
	// The l4 runs' statements ran on the primary too, but are not direct runs.
	if s.DirectSplit["primary"] != 20 || s.L4Split["primary"] != 20 {
		t.Errorf("direct split %v, l4 split %v", s.DirectSplit, s.L4Split)
	}

	// Without l4 runs there is no l4 summary.
	s = summarize(runs[:2], opts)[0]
	if s.L4 != (targetSummary{}) || s.L4Ratio != 0 || s.L4PairRatios != nil || s.L4Split != nil {
		t.Errorf("l4 parts without l4 runs: %+v %v %v %v", s.L4, s.L4Ratio, s.L4PairRatios, s.L4Split)
	}
}

// TestTailingCPU: for a workload that writes, the summary reports tailgate's CPU per transaction
// in the direct runs (its binlog tailing), the median of the good runs; not for read-only ones.
func TestTailingCPU(t *testing.T) {
	opts := options{reps: 3, workloads: []workload{allWorkloads[0], allWorkloads[2]}, modes: allModes[:1]}
	var runs []Run
	for i, us := range []float64{260e3, 200e3, 0} { // the third run failed: not counted
		for _, w := range opts.workloads {
			r := Run{Workload: w.name, Mode: "text", Rep: i + 1, Target: targetDirect, QPS: 1000, Queries: 10000,
				Transactions: 2000, TailgateCPUTicks: int64(us / 1e4), TailgateCPUMicros: us}
			if us == 0 {
				r.Error, r.Queries = "sysbench failed", 0
			}
			runs = append(runs, r,
				Run{Workload: w.name, Mode: "text", Rep: i + 1, Target: targetTailgate, QPS: 500, Queries: 5000,
					Transactions: 1000, TailgateCPUTicks: 900, TailgateCPUMicros: 9e6})
		}
	}
	sums := summarize(runs, opts)
	if got := sums[0].TailingCPUPerTxn; got != 0 {
		t.Errorf("oltp_point_select: tailing CPU %v, want none for a read-only workload", got)
	}
	if got := sums[1].TailingCPUPerTxn; got != 115 { // median of 130 and 100 us per transaction
		t.Errorf("oltp_read_write: tailing CPU %v us per transaction, want 115", got)
	}
	var b strings.Builder
	printSummary(&b, &results{Runs: runs, Summary: sums, Settings: settings{Reps: 3}})
	if want := "(the primary's binlog and each replica's; median): oltp_read_write text 115.0 us."; !strings.Contains(b.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, b.String())
	}
}

func TestPrintSummary(t *testing.T) {
	opts := options{reps: 1, workloads: allWorkloads[:1], modes: allModes[:1]}
	runs := []Run{
		{Workload: "oltp_point_select", Mode: "text", Rep: 1, Target: targetDirect, QPS: 1000, Queries: 10000, P95Ms: 0.25},
		{Workload: "oltp_point_select", Mode: "text", Rep: 1, Target: targetTailgate, QPS: 400, Queries: 4000, P95Ms: 0.6, CPUMicrosPerQuery: 26},
		{Workload: "oltp_point_select", Mode: "text", Rep: 1, Target: targetL4, QPS: 700, Queries: 7000, P95Ms: 0.4, HAProxyCPUMicrosPerQuery: 9.5},
	}
	summary := func(res *results) string {
		res.Summary = summarize(res.Runs, opts)
		var b strings.Builder
		printSummary(&b, res)
		return b.String()
	}

	res := &results{Runs: runs, Settings: settings{Reps: 1, L4: &l4Settings{MaxConn: 10000, DefaultThreads: 2}}}
	res.Versions.HAProxy = "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/"
	out := summary(res)
	var header, row string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "workload") && header == "":
			header = l
		case strings.HasPrefix(strings.TrimSpace(l), "oltp_point_select") && row == "":
			row = l
		}
	}
	for _, col := range []string{"QPS l4", "l4 ratio", "l4 CPU us/query", "errors direct/tailgate/l4", "tailgate CPU us/query"} {
		if !strings.Contains(header, col) {
			t.Errorf("header %q lacks %q", header, col)
		}
	}
	if want := strings.Fields("oltp_point_select text 8 1000 400 700 0.400 0.700 0.40 0.25 0.60 0/0/0 26.0 9.5"); !reflect.DeepEqual(strings.Fields(row), want) {
		t.Errorf("row %q, want the fields %q", row, want)
	}
	if strings.Contains(out, "Where a query's CPU time went") {
		t.Errorf("CPU use table without any measured run:\n%s", out)
	}
	for _, s := range []string{
		"l4 = HAProxy in TCP mode in front of the servers tailgate uses (read-only workloads: the replicas, round robin per connection; " +
			"oltp_read_write: the primary): the same extra hop without any parsing; tailgate's ratio cannot be expected above it on this machine",
		"(HAProxy 2.6.12-1+deb12u4, maxconn 10000, nbthread at its default, 2)",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}

	// With CPU use measured (none for l4): one row per workload and mode, a cell per target.
	runs[0].CPU = &cpuUse{Machine: 10000 * 20, Idle: 100, Servers: 10000 * 12, Sysbench: 10000 * 7.5, Other: 10000*0.5 - 100}
	runs[1].CPU = &cpuUse{Machine: 4000 * 50, Idle: 4000 * 3, Servers: 4000 * 16, Sysbench: 4000 * 8, Proxy: 4000 * 21, Other: 4000 * 2}
	out = summary(&results{Runs: runs, Settings: settings{Reps: 1, L4: &l4Settings{}}})
	_, table, found := strings.Cut(out, "Where a query's CPU time went, in us per query (direct / tailgate / l4; each the median of the runs):")
	if !found {
		t.Fatalf("no CPU use table:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if want := strings.Fields("workload mode all CPUs servers sysbench proxy idle other"); !reflect.DeepEqual(strings.Fields(lines[0]), want) {
		t.Errorf("CPU use header %q", lines[0])
	}
	want := strings.Fields("oltp_point_select text 20.0 / 50.0 / - 12.0 / 16.0 / - 7.5 / 8.0 / - 0.0 / 21.0 / - 0.0 / 3.0 / - 0.5 / 2.0 / -")
	if len(lines) < 2 || !reflect.DeepEqual(strings.Fields(lines[1]), want) {
		t.Errorf("CPU use row %q, want the fields %q", lines[1:], want)
	}

	// -l4=false: the table as before, without l4 columns or sentence.
	out = summary(&results{Runs: runs[:2], Settings: settings{Reps: 1}})
	if strings.Contains(out, "l4") || !strings.Contains(out, "errors direct/tailgate") {
		t.Errorf("summary without l4 runs:\n%s", out)
	}
	if !strings.Contains(out, "in us per query (direct / tailgate; each") || !strings.Contains(out, "20.0 / 50.0 ") {
		t.Errorf("CPU use table without l4:\n%s", out)
	}
}

func TestMaxConnFor(t *testing.T) {
	for _, tt := range []struct {
		hard uint64
		want int
	}{
		{1 << 20, 10000}, {20100, 10000}, {20000, 9950}, {1024, 462}, {100, 100},
	} {
		if got := maxConnFor(tt.hard); got != tt.want {
			t.Errorf("maxConnFor(%d) = %d, want %d", tt.hard, got, tt.want)
		}
	}
}

func TestHAProxyConfig(t *testing.T) {
	cfg := haproxyConfig("127.0.0.1:1000", "127.0.0.1:1001", "127.0.0.1:3306", []string{"127.0.0.1:3307", "127.0.0.1:3308"}, 10000)
	for _, s := range []string{"maxconn 10000\n", "mode tcp", "timeout connect 5s", "timeout client 1h", "timeout server 1h",
		"frontend mysql\n    bind 127.0.0.1:1000\n    default_backend primary\n",
		"frontend mysql_reads\n    bind 127.0.0.1:1001\n    default_backend replicas\n",
		"backend primary\n    server primary 127.0.0.1:3306\n",
		"backend replicas\n    balance roundrobin\n    server replica1 127.0.0.1:3307\n    server replica2 127.0.0.1:3308\n",
	} {
		if !strings.Contains(cfg, s) {
			t.Errorf("config lacks %q:\n%s", s, cfg)
		}
	}
	for _, s := range []string{"daemon", "nbthread"} {
		if strings.Contains(cfg, "\n    "+s) {
			t.Errorf("config sets %s:\n%s", s, cfg)
		}
	}
	// Read-only workloads go to the replicas, oltp_read_write to the primary.
	for _, w := range allWorkloads {
		if w.reads != (w.name != "oltp_read_write") {
			t.Errorf("workload %s: reads = %v", w.name, w.reads)
		}
	}
}

func TestHAProxyDefaultThreads(t *testing.T) {
	vv := "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\n" +
		"Built with multi-threading support (MAX_THREADS=64, default=2).\n"
	if got := haproxyDefaultThreads(vv); got != 2 {
		t.Errorf("haproxyDefaultThreads = %d, want 2", got)
	}
	if got := haproxyDefaultThreads("unknown (exec: not found)"); got != 0 {
		t.Errorf("haproxyDefaultThreads(no output) = %d, want 0", got)
	}
}

// A haproxy that refuses its config: startL4 says so, with its stderr.
func TestStartL4Fails(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "haproxy")
	script := "#!/bin/sh\necho '[ALERT] (1) : config : parsing failed' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := startL4(context.Background(), bin, "127.0.0.1:1", []string{"127.0.0.1:2"}, dir)
	if err == nil || !strings.Contains(err.Error(), "haproxy exited") || !strings.Contains(err.Error(), "[ALERT] (1) : config : parsing failed") {
		t.Errorf("startL4 = %v; want haproxy's exit and its stderr", err)
	}
}

// echoServer answers every connection by echoing what it reads after the bytes of hello.
func echoServer(t *testing.T, hello string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				if _, err := c.Write([]byte(hello)); err == nil {
					_, _ = io.Copy(c, c)
				}
				c.Close()
			}()
		}
	}()
	return l.Addr().String()
}

// The real haproxy relays bytes both ways, from its first port to the primary and from its
// read port to the replicas, and stops on SIGTERM.
func TestStartL4Relays(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatalf("this test needs HAProxy: apt-get install -y haproxy, or make deps (%v)", err)
	}
	primary := echoServer(t, "p:")
	replicas := []string{echoServer(t, "1:"), echoServer(t, "2:")}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := startL4(ctx, bin, primary, replicas, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.stop(5 * time.Second); err != nil || !p.exited() {
			t.Errorf("stop: %v, exited %v", err, p.exited())
		}
	}()
	echo := func(addr string) string {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Errorf("echo through haproxy at %s: %q, %v", addr, buf, err)
		}
		return string(buf)
	}
	if got := echo(p.addr); got != "p:ping" {
		t.Errorf("haproxy's primary port answered %q, want the primary's p:ping", got)
	}
	// Round robin per connection over the replicas.
	var got []string
	for range 4 {
		got = append(got, echo(p.readAddr()))
	}
	slices.Sort(got)
	if want := []string{"1:ping", "1:ping", "2:ping", "2:ping"}; !slices.Equal(got, want) {
		t.Errorf("haproxy's read port answered %q, want each replica twice", got)
	}
	if ticks, err := p.cpuTicks(); err != nil || ticks < 0 {
		t.Errorf("cpuTicks = %d, %v", ticks, err)
	}
}

// TestTailgateConfigSockets: -sockets backends names the servers' unix sockets, all adds
// tailgate's own, and tailgate's own validation takes each config.
func TestTailgateConfigSockets(t *testing.T) {
	c := &cluster.Cluster{Primary: &cluster.Node{Name: "primary", Port: 3306, Socket: "/tmp/c/primary/mariadbd.sock"},
		Replicas: []*cluster.Node{{Name: "replica1", Port: 3307, Socket: "/tmp/c/replica1/mariadbd.sock"}}}
	for _, sockets := range []string{socketsNone, socketsBackends, socketsAll} {
		cfg, err := config.Parse([]byte(tailgateConfig("127.0.0.1:6033", "/tmp/tg.sock", c, sockets)), "bench.toml")
		if err != nil {
			t.Fatalf("%s: %v", sockets, err)
		}
		want := []string{"127.0.0.1:3306", "127.0.0.1:3307", ""}
		switch sockets {
		case socketsBackends:
			want = []string{c.Primary.Socket, c.Replicas[0].Socket, ""}
		case socketsAll:
			want = []string{c.Primary.Socket, c.Replicas[0].Socket, "/tmp/tg.sock"}
		}
		if got := []string{cfg.Primary.Address, cfg.Replicas[0].Address, cfg.Proxy.Socket}; !slices.Equal(got, want) {
			t.Errorf("%s: addresses and socket %v, want %v", sockets, got, want)
		}
	}
	if got := runArgs(allWorkloads[0], allModes[0], connArgs(0, "/tmp/tg.sock"), time.Second); !slices.Contains(got, "--mysql-socket=/tmp/tg.sock") || slices.ContainsFunc(got, func(a string) bool { return strings.HasPrefix(a, "--mysql-host") }) {
		t.Errorf("runArgs over a socket: %q", got)
	}
}
