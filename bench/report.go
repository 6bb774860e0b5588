package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// results is the JSON file: settings, every run, and the summary printed as a table.
type results struct {
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Interrupted bool      `json:"interrupted,omitempty"`
	Settings    settings  `json:"settings"`
	Host        host      `json:"host"`
	Versions    struct {
		Tailgate string `json:"tailgate"`
		MariaDB  string `json:"mariadb"`
		Sysbench string `json:"sysbench"`
		HAProxy  string `json:"haproxy,omitempty"`
	} `json:"versions"`
	Summary []Summary `json:"summary"`
	Runs    []Run     `json:"runs"`
	// TailgateLog holds tailgate's WARN and ERROR log lines during the whole session.
	TailgateLog []string `json:"tailgate_log_problems,omitempty"`
}

type settings struct {
	Reps            int      `json:"reps"`
	DurationSeconds int      `json:"duration_seconds"`
	Tables          int      `json:"tables"`
	TableSize       int      `json:"table_size"`
	ServerConfig    []string `json:"server_config"`
	ClockTicks      int64    `json:"clk_tck"`
	ClockTicksFrom  string   `json:"clk_tck_source"`
	// L4 describes the l4 target's HAProxy; nil with -l4=false.
	L4 *l4Settings `json:"l4,omitempty"`
	// Sockets: which hops used unix sockets (-sockets: none, backends, all).
	Sockets string `json:"sockets,omitempty"`
}

type l4Settings struct {
	// MaxConn is the global maxconn: 10,000 unless RLIMIT_NOFILE cannot hold it (maxConnFor).
	MaxConn int `json:"maxconn"`
	// DefaultThreads is the nbthread HAProxy picks when none is configured (none is), from
	// `haproxy -vv`; 0 when it did not say.
	DefaultThreads int `json:"nbthread_default"`
}

type host struct {
	CPUs         int    `json:"cpus"`
	Kernel       string `json:"kernel"`
	GoVersion    string `json:"go"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
}

// Run is one sysbench run against one target.
type Run struct {
	Workload string    `json:"workload"`
	Mode     string    `json:"mode"`
	PSMode   string    `json:"db_ps_mode"`
	Threads  int       `json:"threads"`
	Rep      int       `json:"rep"`
	Target   string    `json:"target"`
	Command  []string  `json:"command"`
	Started  time.Time `json:"started"`

	WallSeconds     float64 `json:"wall_seconds"`
	SysbenchSeconds float64 `json:"sysbench_seconds"`
	Queries         int64   `json:"queries"`
	QPS             float64 `json:"qps"`
	Transactions    int64   `json:"transactions"`
	TPS             float64 `json:"tps"`
	P95Ms           float64 `json:"p95_ms"`
	AvgMs           float64 `json:"avg_ms"`
	IgnoredErrors   int64   `json:"ignored_errors"`
	Reconnects      int64   `json:"reconnects"`
	ErrorLines      int     `json:"error_lines"`
	FailedThreads   int     `json:"failed_threads"`
	// Errors is IgnoredErrors + FailedThreads (or ErrorLines when no thread failed), and at
	// least 1 for a failed run.
	Errors        int64    `json:"errors"`
	ErrorMessages []string `json:"error_messages,omitempty"`
	// Error says why the run failed; empty for a run that produced statistics.
	Error      string   `json:"error,omitempty"`
	OutputTail string   `json:"output_tail,omitempty"`
	Notes      []string `json:"notes,omitempty"`

	// Tailgate's utime+stime during the run; for direct runs that is its background work
	// (binlog tailer, replica position polls).
	TailgateCPUTicks  int64   `json:"tailgate_cpu_ticks"`
	TailgateCPUMicros float64 `json:"tailgate_cpu_us"`
	// CPUMicrosPerQuery is TailgateCPUMicros / Queries, for tailgate runs only.
	CPUMicrosPerQuery float64 `json:"tailgate_cpu_us_per_query,omitempty"`

	// HAProxy's utime+stime during the run when the l4 target is on; for direct and tailgate
	// runs that is what it costs idle.
	HAProxyCPUTicks  int64   `json:"haproxy_cpu_ticks,omitempty"`
	HAProxyCPUMicros float64 `json:"haproxy_cpu_us,omitempty"`
	// HAProxyCPUMicrosPerQuery is HAProxyCPUMicros / Queries, for l4 runs only.
	HAProxyCPUMicrosPerQuery float64 `json:"haproxy_cpu_us_per_query,omitempty"`

	// CPU is where the machine's CPU time went during the run; nil when a reading failed
	// (Notes says which).
	CPU *cpuUse `json:"cpu,omitempty"`

	// Servers are the status counter deltas per server during the run.
	Servers map[string]map[string]int64 `json:"servers,omitempty"`
}

func (r Run) ok() bool { return r.Error == "" && r.Queries > 0 }

// proxyCPUPerQuery is the CPU time per query of the proxy the run went through: tailgate's for
// tailgate runs, HAProxy's for l4 runs, 0 for direct runs.
func (r Run) proxyCPUPerQuery() float64 {
	switch r.Target {
	case targetTailgate:
		return r.CPUMicrosPerQuery
	case targetL4:
		return r.HAProxyCPUMicrosPerQuery
	}
	return 0
}

// line is the progress line printed after each run.
func (r Run) line(counter string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-17s %-4s rep %d  %-8s", r.Workload, r.Mode, r.Rep, r.Target)
	if r.Queries > 0 {
		fmt.Fprintf(&b, "  %8.0f qps  p95 %6.2f ms", r.QPS, r.P95Ms)
	}
	fmt.Fprintf(&b, "  errors %d", r.Errors)
	switch {
	case r.Target == targetTailgate && r.CPUMicrosPerQuery > 0:
		fmt.Fprintf(&b, "  tailgate cpu %.1f us/query", r.CPUMicrosPerQuery)
	case r.Target == targetL4 && r.HAProxyCPUMicrosPerQuery > 0:
		fmt.Fprintf(&b, "  haproxy cpu %.1f us/query", r.HAProxyCPUMicrosPerQuery)
	case r.Target == targetDirect:
		fmt.Fprintf(&b, "  (tailgate idle cpu %.2fs)", r.TailgateCPUMicros/1e6)
	}
	if r.Target == targetTailgate && r.Servers != nil {
		cells := make([]string, len(nodeOrder))
		for i, n := range nodeOrder {
			cells[i] = thousands(r.Servers[n][counter])
		}
		fmt.Fprintf(&b, "  %s on %s: %s", counter, strings.Join(nodeOrder, "/"), strings.Join(cells, "/"))
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  FAILED: %s", r.Error)
	}
	return b.String()
}

// Summary is one workload and mode: medians over the repetitions of each target.
type Summary struct {
	Workload string        `json:"workload"`
	Mode     string        `json:"mode"`
	Threads  int           `json:"threads"`
	Direct   targetSummary `json:"direct"`
	Tailgate targetSummary `json:"tailgate"`
	// Ratio is median tailgate QPS / median direct QPS; 0 when either has no good run.
	Ratio float64 `json:"qps_ratio"`
	// PairRatios are tailgate/direct for each repetition (direct and tailgate run back to back).
	PairRatios []float64 `json:"pair_ratios"`
	// L4 is HAProxy in TCP mode in front of the servers tailgate uses; absent with -l4=false.
	L4 targetSummary `json:"l4,omitzero"`
	// L4Ratio is median l4 QPS / median direct QPS; 0 when either has no good run. Tailgate's
	// Ratio cannot be expected above it on the same machine.
	L4Ratio float64 `json:"l4_ratio"`
	// L4PairRatios are l4/direct for each repetition.
	L4PairRatios []float64 `json:"l4_pair_ratios,omitempty"`
	// Counter is the status variable that shows where this mode's statements ran, and
	// TailgateSplit its delta per server summed over the tailgate runs.
	Counter       string           `json:"counter"`
	TailgateSplit map[string]int64 `json:"tailgate_split"`
	DirectSplit   map[string]int64 `json:"direct_split"`
	L4Split       map[string]int64 `json:"l4_split,omitempty"`
	// TailingCPUPerTxn is, for a workload that writes, the median over the direct runs of
	// tailgate's CPU microseconds per transaction: with no client of its own, that is what
	// tailing the binlogs (the primary's and each replica's) costs per write transaction.
	TailingCPUPerTxn float64 `json:"direct_tailgate_cpu_us_per_txn,omitempty"`
}

type targetSummary struct {
	Runs       int     `json:"runs"`
	FailedRuns int     `json:"failed_runs"`
	MedianQPS  float64 `json:"median_qps"`
	MedianP95  float64 `json:"median_p95_ms"`
	Errors     int64   `json:"errors"`
	Reconnects int64   `json:"reconnects"`
	// MedianCPUPerQuery is the proxy's CPU microseconds per query: tailgate's for tailgate,
	// HAProxy's for l4, none for direct.
	MedianCPUPerQuery float64 `json:"median_cpu_us_per_query,omitempty"`
	// CPUPerQuery is where a query's CPU time went: each field's median over the good runs
	// that measured it, in microseconds per query.
	CPUPerQuery *cpuUse `json:"median_cpu_use_us_per_query,omitempty"`
}

// nodeOrder is how servers are listed.
var nodeOrder = []string{"primary", "replica1", "replica2"}

func summarize(runs []Run, opts options) []Summary {
	var out []Summary
	for _, w := range opts.workloads {
		for _, m := range opts.modes {
			s := Summary{Workload: w.name, Mode: m.name, Threads: w.threads, Counter: m.counter,
				TailgateSplit: map[string]int64{}, DirectSplit: map[string]int64{}}
			byRep := map[int]map[string]Run{}
			var mine []Run
			for _, r := range runs {
				if r.Workload != w.name || r.Mode != m.name {
					continue
				}
				mine = append(mine, r)
				if byRep[r.Rep] == nil {
					byRep[r.Rep] = map[string]Run{}
				}
				byRep[r.Rep][r.Target] = r
				var split map[string]int64
				switch r.Target {
				case targetDirect:
					split = s.DirectSplit
				case targetTailgate:
					split = s.TailgateSplit
				case targetL4:
					if s.L4Split == nil {
						s.L4Split = map[string]int64{}
					}
					split = s.L4Split
				}
				for node, vals := range r.Servers {
					split[node] += vals[m.counter]
				}
			}
			if len(mine) == 0 {
				continue
			}
			s.Direct = summarizeTarget(mine, targetDirect)
			s.Tailgate = summarizeTarget(mine, targetTailgate)
			s.L4 = summarizeTarget(mine, targetL4)
			if !w.reads {
				s.TailingCPUPerTxn = tailingCPUPerTxn(mine)
			}
			s.Ratio = ratio(s.Tailgate.MedianQPS, s.Direct.MedianQPS)
			s.L4Ratio = ratio(s.L4.MedianQPS, s.Direct.MedianQPS)
			for rep := 1; rep <= opts.reps; rep++ {
				d, t, l := byRep[rep][targetDirect], byRep[rep][targetTailgate], byRep[rep][targetL4]
				if d.ok() && t.ok() {
					s.PairRatios = append(s.PairRatios, t.QPS/d.QPS)
				}
				if d.ok() && l.ok() {
					s.L4PairRatios = append(s.L4PairRatios, l.QPS/d.QPS)
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func summarizeTarget(runs []Run, target string) targetSummary {
	var ts targetSummary
	var qps, p95, cpu []float64
	var uses []cpuUse
	for _, r := range runs {
		if r.Target != target {
			continue
		}
		ts.Runs++
		ts.Errors += r.Errors
		ts.Reconnects += r.Reconnects
		if !r.ok() {
			ts.FailedRuns++
			continue
		}
		qps = append(qps, r.QPS)
		p95 = append(p95, r.P95Ms)
		if c := r.proxyCPUPerQuery(); c > 0 {
			cpu = append(cpu, c)
		}
		if r.CPU != nil {
			uses = append(uses, r.CPU.perQuery(r.Queries))
		}
	}
	ts.MedianQPS, ts.MedianP95, ts.MedianCPUPerQuery = median(qps), median(p95), median(cpu)
	if len(uses) > 0 {
		ts.CPUPerQuery = medianUse(uses)
	}
	return ts
}

// medianUse is the median of each field of uses, taken separately.
func medianUse(uses []cpuUse) *cpuUse {
	var m cpuUse
	xs := make([]float64, len(uses))
	for i, f := range m.fields() {
		for j := range uses {
			xs[j] = *uses[j].fields()[i]
		}
		*f = median(xs)
	}
	return &m
}

// tailingCPUPerTxn is the median of tailgate's CPU microseconds per transaction over the good
// direct runs; 0 when none measured it.
func tailingCPUPerTxn(runs []Run) float64 {
	var per []float64
	for _, r := range runs {
		if r.Target == targetDirect && r.ok() && r.Transactions > 0 && r.TailgateCPUTicks > 0 {
			per = append(per, r.TailgateCPUMicros/float64(r.Transactions))
		}
	}
	return median(per)
}

// ratio is x/direct, or 0 when either is 0 (no good run).
func ratio(x, direct float64) float64 {
	if x == 0 || direct == 0 {
		return 0
	}
	return x / direct
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func printSummary(w io.Writer, res *results) {
	st := res.Settings
	hasL4 := false
	for _, s := range res.Summary {
		hasL4 = hasL4 || s.L4.Runs > 0
	}
	if hasL4 {
		fmt.Fprintf(w, "Summary: median of %d run(s) x %ds per target; ratio = median QPS tailgate / direct, l4 ratio = median QPS l4 / direct;\n"+
			"errors summed over the runs.\n", st.Reps, st.DurationSeconds)
		fmt.Fprintf(w, "Servers ran with %s. Tailgate and HAProxy CPU from /proc/<pid>/stat (utime+stime, CLK_TCK %d).\n\n",
			strings.Join(st.ServerConfig, ", "), st.ClockTicks)
	} else {
		fmt.Fprintf(w, "Summary: median of %d run(s) x %ds per target; ratio = median QPS tailgate / direct; errors summed over the runs.\n",
			st.Reps, st.DurationSeconds)
		fmt.Fprintf(w, "Servers ran with %s. Tailgate CPU from /proc/<pid>/stat (utime+stime, CLK_TCK %d).\n\n",
			strings.Join(st.ServerConfig, ", "), st.ClockTicks)
	}
	switch st.Sockets {
	case socketsBackends:
		fmt.Fprintf(w, "Tailgate reached the servers over their unix sockets (-sockets backends); sysbench connected over TCP.\n\n")
	case socketsAll:
		fmt.Fprintf(w, "Every hop over unix sockets (-sockets all): sysbench to the primary's socket and to tailgate's, tailgate to the servers'.\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	if hasL4 {
		row("workload", "mode", "threads", "QPS direct", "QPS tailgate", "QPS l4", "ratio", "l4 ratio", "pair ratios",
			"p95 ms direct", "p95 ms tailgate", "errors direct/tailgate/l4", "tailgate CPU us/query", "l4 CPU us/query")
	} else {
		row("workload", "mode", "threads", "QPS direct", "QPS tailgate", "ratio", "pair ratios",
			"p95 ms direct", "p95 ms tailgate", "errors direct/tailgate", "tailgate CPU us/query")
	}
	for _, s := range res.Summary {
		threads := strconv.Itoa(s.Threads)
		if hasL4 {
			row(s.Workload, s.Mode, threads,
				num(s.Direct.MedianQPS, 0), num(s.Tailgate.MedianQPS, 0), num(s.L4.MedianQPS, 0),
				num(s.Ratio, 3), num(s.L4Ratio, 3), ratios(s.PairRatios),
				num(s.Direct.MedianP95, 2), num(s.Tailgate.MedianP95, 2),
				errCell(s.Direct)+"/"+errCell(s.Tailgate)+"/"+errCell(s.L4),
				num(s.Tailgate.MedianCPUPerQuery, 1), num(s.L4.MedianCPUPerQuery, 1))
			continue
		}
		row(s.Workload, s.Mode, threads,
			num(s.Direct.MedianQPS, 0), num(s.Tailgate.MedianQPS, 0), num(s.Ratio, 3), ratios(s.PairRatios),
			num(s.Direct.MedianP95, 2), num(s.Tailgate.MedianP95, 2),
			errCell(s.Direct)+"/"+errCell(s.Tailgate), num(s.Tailgate.MedianCPUPerQuery, 1))
	}
	tw.Flush()
	if hasL4 {
		fmt.Fprintf(w, "l4 = HAProxy in TCP mode in front of the servers tailgate uses (read-only workloads: the replicas, "+
			"round robin per connection; oltp_read_write: the primary): the same extra hop without any parsing; "+
			"tailgate's ratio cannot be expected above it on this machine%s.\n", l4Note(res))
	}
	var tailing []string
	for _, s := range res.Summary {
		if s.TailingCPUPerTxn > 0 {
			tailing = append(tailing, fmt.Sprintf("%s %s %.1f us", s.Workload, s.Mode, s.TailingCPUPerTxn))
		}
	}
	if len(tailing) > 0 {
		fmt.Fprintf(w, "Binlog tailing: tailgate's CPU per transaction during the direct runs, when it has no client "+
			"(the primary's binlog and each replica's; median): %s.\n", strings.Join(tailing, ", "))
	}

	printCPUUse(w, res.Summary, hasL4)

	fmt.Fprintf(w, "\nWhere the tailgate runs' statements ran (counter delta per server, summed over the runs):\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\tmode\tcounter\t%s\t(direct runs: primary)\t\n", strings.Join(nodeOrder, "\t"))
	for _, s := range res.Summary {
		var total int64
		for _, n := range nodeOrder {
			total += s.TailgateSplit[n]
		}
		cells := make([]string, len(nodeOrder))
		for i, n := range nodeOrder {
			cells[i] = share(s.TailgateSplit[n], total)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", s.Workload, s.Mode, s.Counter, strings.Join(cells, "\t"),
			thousands(s.DirectSplit["primary"]))
	}
	tw.Flush()
	fmt.Fprintf(w, "(The replicas' Com_select includes tailgate's own position polls, SELECT @@gtid_slave_pos, about 10 a second each.)\n")

	var failed []Run
	for _, r := range res.Runs {
		if r.Error != "" {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFailed runs (%d):\n", len(failed))
		for _, r := range failed {
			fmt.Fprintf(w, "  %s %s rep %d %s: %s\n", r.Workload, r.Mode, r.Rep, r.Target, r.Error)
			if r.OutputTail != "" {
				fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(tailOf(r.OutputTail, 5), "\n", "\n    "))
			}
		}
	}
	if len(res.TailgateLog) > 0 {
		fmt.Fprintf(w, "\ntailgate logged %d warning/error line(s), first:\n  %s\n", len(res.TailgateLog),
			strings.Join(res.TailgateLog[:min(5, len(res.TailgateLog))], "\n  "))
	}
	fmt.Fprintf(w, "\nload average: %s at start, %s at end (%d CPUs); only ratios measured side by side mean something.\n",
		res.Host.LoadAvgStart, res.Host.LoadAvgEnd, res.Host.CPUs)
}

// printCPUUse prints where a query's CPU time went, per target. Nothing when no run measured it.
func printCPUUse(w io.Writer, sums []Summary, hasL4 bool) {
	measured := false
	for _, s := range sums {
		measured = measured || s.Direct.CPUPerQuery != nil || s.Tailgate.CPUPerQuery != nil
	}
	if !measured {
		return
	}
	targets := "direct / tailgate"
	if hasL4 {
		targets += " / l4"
	}
	fmt.Fprintf(w, "\nWhere a query's CPU time went, in us per query (%s; each the median of the runs):\n\n", targets)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	row("workload", "mode", "all CPUs", "servers", "sysbench", "proxy", "idle", "other")
	for _, s := range sums {
		cell := func(get func(cpuUse) float64) string {
			ts := []targetSummary{s.Direct, s.Tailgate}
			if hasL4 {
				ts = append(ts, s.L4)
			}
			parts := make([]string, len(ts))
			for i, t := range ts {
				parts[i] = "-"
				if t.CPUPerQuery != nil {
					parts[i] = strconv.FormatFloat(get(*t.CPUPerQuery), 'f', 1, 64)
				}
			}
			return strings.Join(parts, " / ")
		}
		row(s.Workload, s.Mode,
			cell(func(u cpuUse) float64 { return u.Machine }),
			cell(func(u cpuUse) float64 { return u.Servers }),
			cell(func(u cpuUse) float64 { return u.Sysbench }),
			cell(func(u cpuUse) float64 { return u.Proxy }),
			cell(func(u cpuUse) float64 { return u.Idle }),
			cell(func(u cpuUse) float64 { return u.Other }))
	}
	tw.Flush()
	fmt.Fprintf(w, "all CPUs = CPUs x wall time / queries; servers = the three mariadbd; idle = idle and iowait; "+
		"other = the rest (kernel threads, stolen time, tailgate's background work in the other targets' runs).\n")
}

// l4Note is what the report says about the HAProxy that ran: version, maxconn, nbthread.
func l4Note(res *results) string {
	l4 := res.Settings.L4
	if l4 == nil {
		return ""
	}
	var parts []string
	if v, ok := strings.CutPrefix(res.Versions.HAProxy, "HAProxy version "); ok {
		v, _, _ = strings.Cut(v, " ")
		parts = append(parts, "HAProxy "+v)
	}
	if l4.MaxConn > 0 {
		parts = append(parts, fmt.Sprintf("maxconn %d", l4.MaxConn))
	}
	if l4.DefaultThreads > 0 {
		parts = append(parts, fmt.Sprintf("nbthread at its default, %d", l4.DefaultThreads))
	} else {
		parts = append(parts, "nbthread at its default")
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func errCell(ts targetSummary) string {
	s := strconv.FormatInt(ts.Errors, 10)
	if ts.FailedRuns > 0 {
		s += fmt.Sprintf(" (%d failed)", ts.FailedRuns)
	}
	return s
}

func num(x float64, prec int) string {
	if x == 0 {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

func ratios(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, " ")
}

func share(n, total int64) string {
	if total == 0 {
		return thousands(n)
	}
	return fmt.Sprintf("%s (%.0f%%)", thousands(n), 100*float64(n)/float64(total))
}

// thousands formats n with comma separators: 1234567 -> "1,234,567".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// writeResults writes res as indented JSON to dir/<UTC start time>.json and returns the path.
func writeResults(dir string, res *results) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, res.Started.Format("20060102T150405Z")+".json")
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path+".tmp", append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return "", err
	}
	return path, nil
}
