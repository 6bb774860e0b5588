package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
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
	for _, bad := range [][]string{{"-workloads", "oltp_nope"}, {"-duration", "1500ms"}, {"-reps", "0"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}
