package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// connArgs are sysbench's options to reach a server: 127.0.0.1:port, or a unix socket.
func connArgs(port int, socket string) []string {
	if socket != "" {
		return []string{"--mysql-socket=" + socket}
	}
	return []string{"--mysql-host=127.0.0.1", "--mysql-port=" + strconv.Itoa(port)}
}

// sysbenchArgs are the options every sysbench call shares: connection (connArgs) and table
// layout.
func sysbenchArgs(conn []string) []string {
	return append(conn,
		"--mysql-user="+cluster.AppUser,
		"--mysql-password="+cluster.AppPassword,
		"--mysql-db="+database,
		"--tables="+strconv.Itoa(tables),
		"--table-size="+strconv.Itoa(tableSize),
	)
}

// runArgs is the command line of one measured run.
func runArgs(w workload, m mode, conn []string, d time.Duration) []string {
	args := []string{
		w.name,
		"--threads=" + strconv.Itoa(w.threads),
		"--time=" + strconv.Itoa(int(d/time.Second)),
		"--report-interval=0",
		"--histogram=off",
		"--percentile=95",
		"--db-ps-mode=" + m.psMode,
	}
	args = append(args, sysbenchArgs(conn)...)
	args = append(args, w.extra...)
	return append(args, "run")
}

// redactArgs hides the password in a command line that goes into the results.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "--mysql-password=") {
			a = "--mysql-password=***"
		}
		out[i] = a
	}
	return out
}

// sysbench runs the sysbench binary with args and returns its combined output and its CPU time
// (user+system, 0 when it did not run). It is killed when ctx ends or after timeout, whichever is
// first.
func sysbench(ctx context.Context, bin string, args []string, timeout time.Duration) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Own process group: a terminal's Ctrl-C reaches only this program, which then stops
	// sysbench, tailgate and the servers in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil && ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
		err = fmt.Errorf("killed after %s: %w", timeout, err)
	}
	var cpu time.Duration
	if ps := cmd.ProcessState; ps != nil {
		cpu = ps.UserTime() + ps.SystemTime()
	}
	return out.String(), cpu, err
}

// sysbenchResult is what a `sysbench ... run` printed.
type sysbenchResult struct {
	Queries       int64
	QPS           float64
	Transactions  int64
	TPS           float64
	IgnoredErrors int64
	Reconnects    int64
	P95Ms         float64
	AvgMs         float64
	TotalSeconds  float64
	// ErrorLines counts FATAL/error lines, including "(last message repeated N times)".
	ErrorLines int
	// FailedThreads counts "`thread_run' function failed" lines and the like: a sysbench thread
	// stops at its first error that is not in --mysql-ignore-errors, and reports it on two lines.
	FailedThreads int
	// Messages are the first distinct error lines, for the report.
	Messages []string
	// Complete is true when the statistics block was found.
	Complete bool
}

var (
	reQueries      = regexp.MustCompile(`(?m)^\s*queries:\s+(\d+)\s+\(([\d.]+) per sec\.\)`)
	reTransactions = regexp.MustCompile(`(?m)^\s*transactions:\s+(\d+)\s+\(([\d.]+) per sec\.\)`)
	reIgnored      = regexp.MustCompile(`(?m)^\s*ignored errors:\s+(\d+)`)
	reReconnects   = regexp.MustCompile(`(?m)^\s*reconnects:\s+(\d+)`)
	reP95          = regexp.MustCompile(`(?m)^\s*95th percentile:\s+([\d.]+)`)
	reAvg          = regexp.MustCompile(`(?m)^\s*avg:\s+([\d.]+)`)
	reTotalTime    = regexp.MustCompile(`(?m)^\s*total time:\s+([\d.]+)s`)
	reRepeated     = regexp.MustCompile(`last message repeated (\d+) times`)
	reErrorLine    = regexp.MustCompile(`(?i)^\s*(FATAL|ERROR)\b`)
	reThreadFailed = regexp.MustCompile("`thread_\\w+' function failed")
)

const maxMessages = 5

// parseSysbench reads sysbench 1.0's run output.
func parseSysbench(out string) sysbenchResult {
	var r sysbenchResult
	if m := reQueries.FindStringSubmatch(out); m != nil {
		r.Queries, _ = strconv.ParseInt(m[1], 10, 64)
		r.QPS, _ = strconv.ParseFloat(m[2], 64)
		r.Complete = true
	}
	if m := reTransactions.FindStringSubmatch(out); m != nil {
		r.Transactions, _ = strconv.ParseInt(m[1], 10, 64)
		r.TPS, _ = strconv.ParseFloat(m[2], 64)
	}
	if m := reIgnored.FindStringSubmatch(out); m != nil {
		r.IgnoredErrors, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reReconnects.FindStringSubmatch(out); m != nil {
		r.Reconnects, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reP95.FindStringSubmatch(out); m != nil {
		r.P95Ms, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reAvg.FindStringSubmatch(out); m != nil {
		r.AvgMs, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reTotalTime.FindStringSubmatch(out); m != nil {
		r.TotalSeconds, _ = strconv.ParseFloat(m[1], 64)
	}
	seen := map[string]bool{}
	lastWasError := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if m := reRepeated.FindStringSubmatch(line); m != nil {
			if lastWasError {
				n, _ := strconv.Atoi(m[1])
				r.ErrorLines += n
			}
			continue
		}
		lastWasError = reErrorLine.MatchString(line)
		if !lastWasError {
			continue
		}
		r.ErrorLines++
		if reThreadFailed.MatchString(line) {
			r.FailedThreads++
		}
		if !seen[line] && len(r.Messages) < maxMessages {
			seen[line] = true
			r.Messages = append(r.Messages, line)
		}
	}
	return r
}

// errors is the run's error count: ignored errors plus one per failed thread (or per error line
// when no thread reported failing).
func (r sysbenchResult) errors() int64 {
	if r.FailedThreads > 0 {
		return r.IgnoredErrors + int64(r.FailedThreads)
	}
	return r.IgnoredErrors + int64(r.ErrorLines)
}

// tailOf returns the last n non-empty lines of s.
func tailOf(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
