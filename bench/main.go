// Command bench is `make bench`: it measures what tailgate costs next to talking to the primary
// directly. It starts its own MariaDB primary and two replicas (integration/cluster), prepares
// sysbench tables on the primary, starts bin/tailgate in front of the cluster and HAProxy in TCP
// mode in front of the servers, and then runs every workload and statement mode against the
// primary directly, through tailgate and through HAProxy ("l4"), interleaved (direct, tailgate,
// l4, direct, tailgate, l4, ...) so that all targets see the same machine, the same data and the
// same background load. The l4 target is the same extra hop without any parsing, to the servers
// tailgate uses (the replicas for read-only workloads, balanced per connection; the primary for
// oltp_read_write): the floor of what any proxy costs on this machine.
//
//	go run ./bench [-reps 3] [-duration 15s] [-workloads oltp_point_select,oltp_read_only,oltp_read_write]
//	               [-modes text,ps] [-quick] [-l4=true] [-tailgate bin/tailgate] [-out bench/results]
//
// It prints, per workload and mode, the median QPS of each target and their ratios to direct, p95
// latencies, errors, tailgate's and HAProxy's CPU time per query (from /proc/<pid>/stat), where
// each target's CPU time per query went (the servers, sysbench, the proxy, idle CPUs: from
// /proc/<pid>/stat, sysbench's rusage and /proc/stat) and on which server tailgate's statements
// ran (Com_select / Com_stmt_execute deltas), and writes every run as JSON to
// bench/results/<UTC time>.json.
//
// Absolute numbers describe this machine at that moment; only ratios measured side by side in one
// run mean something, which is why nothing here belongs in a test's assertions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// workload is a sysbench test with the thread count the issue asks for.
type workload struct {
	name    string
	threads int
	extra   []string // extra sysbench options
	// reads is set when every statement is an autocommit read: the l4 target then balances the
	// connections over the replicas, the servers tailgate reads from, instead of the primary.
	reads bool
}

var allWorkloads = []workload{
	{name: "oltp_point_select", threads: 8, reads: true},
	// skip_trx: autocommit reads, which tailgate may send to the replicas.
	{name: "oltp_read_only", threads: 8, extra: []string{"--skip_trx=on"}, reads: true},
	{name: "oltp_read_write", threads: 4},
}

// mode is how sysbench sends its statements: text queries or server-side prepared statements.
type mode struct {
	name   string
	psMode string // --db-ps-mode
	// counter is the status variable that shows where this mode's statements ran.
	counter string
}

var allModes = []mode{
	{name: "text", psMode: "disable", counter: "Com_select"},
	{name: "ps", psMode: "auto", counter: "Com_stmt_execute"},
}

// Fixed by the issue: 4 tables of 10,000 rows.
const (
	tables    = 4
	tableSize = 10000
	database  = "sbtest"
)

// serverConfig is appended to every server's my.cnf. Not durable: benchmark settings only, so that
// writes are not bound by this disk's fsync latency.
var serverConfig = []string{
	"innodb_flush_log_at_trx_commit=2",
	"sync_binlog=0",
	"max_connections=2000",
}

type options struct {
	reps        int
	duration    time.Duration
	workloads   []workload
	modes       []mode
	tailgateBin string
	outDir      string
	// l4 adds the HAProxy (TCP mode) target to every repetition.
	l4 bool
	// sockets says which hops use unix sockets instead of TCP on loopback (-sockets).
	sockets string
}

// The -sockets choices.
const (
	socketsNone     = "none"     // TCP everywhere
	socketsBackends = "backends" // tailgate reaches the servers over their sockets
	socketsAll      = "all"      // every hop: sysbench to the primary and to tailgate, tailgate to the servers
)

func main() {
	os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
}

func mainExit(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the program (the servers die with it: PDEATHSIG)
	}()
	if err := run(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names []string
	for _, w := range allWorkloads {
		names = append(names, w.name)
	}
	var (
		opts     options
		wls      = fs.String("workloads", "", "comma-separated sysbench `tests` to run (default: "+strings.Join(names, ",")+")")
		modes    = fs.String("modes", "text,ps", "comma-separated statement `modes`: text (--db-ps-mode=disable), ps (prepared statements)")
		quick    = fs.Bool("quick", false, "smoke run: -duration 3s -reps 1 (unless given explicitly)")
		reps     = fs.Int("reps", 3, "repetitions of each direct/tailgate(/l4) round")
		duration = fs.Duration("duration", 15*time.Second, "length of each sysbench run")
	)
	fs.StringVar(&opts.tailgateBin, "tailgate", "bin/tailgate", "tailgate `binary` (make bench builds it)")
	fs.StringVar(&opts.outDir, "out", "bench/results", "`directory` for the JSON results")
	fs.StringVar(&opts.sockets, "sockets", socketsNone, "`hops` over unix sockets instead of TCP: none; backends (tailgate to the servers, as on the database host); "+
		"all (also sysbench to the primary and to tailgate's proxy.socket; needs -l4=false)")
	fs.BoolVar(&opts.l4, "l4", true, "also measure HAProxy in TCP mode in front of the servers tailgate uses (the cost of the extra hop alone; needs haproxy)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench [flags]   (or: make bench BENCH_ARGS='...')\n\n"+
			"Starts a MariaDB primary + 2 replicas, tailgate and HAProxy (TCP mode), and compares sysbench\n"+
			"against the primary directly with sysbench through tailgate and through HAProxy, interleaved.\n"+
			"Run from the repository root.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	opts.reps, opts.duration = *reps, *duration
	if *quick {
		if !set["reps"] {
			opts.reps = 1
		}
		if !set["duration"] {
			opts.duration = 3 * time.Second
		}
	}
	if opts.reps < 1 {
		return opts, fmt.Errorf("-reps %d: want 1 or more", opts.reps)
	}
	switch opts.sockets {
	case socketsNone, socketsBackends:
	case socketsAll:
		if opts.l4 {
			return opts, fmt.Errorf("-sockets all: the l4 target (HAProxy) runs over TCP only; add -l4=false")
		}
	default:
		return opts, fmt.Errorf("-sockets %q: want none, backends or all", opts.sockets)
	}
	if opts.duration < time.Second || opts.duration%time.Second != 0 {
		return opts, fmt.Errorf("-duration %s: want whole seconds, at least 1s (sysbench --time takes seconds)", opts.duration)
	}
	var err error
	if opts.workloads, err = pick(*wls, allWorkloads, func(w workload) string { return w.name }); err != nil {
		return opts, fmt.Errorf("-workloads: %w", err)
	}
	if opts.modes, err = pick(*modes, allModes, func(m mode) string { return m.name }); err != nil {
		return opts, fmt.Errorf("-modes: %w", err)
	}
	return opts, nil
}

// pick returns the items named in the comma-separated list, in the list's order; an empty list
// means all of them.
func pick[T any](list string, all []T, name func(T) string) ([]T, error) {
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	var out []T
	var known []string
	for _, it := range all {
		known = append(known, name(it))
	}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		found := false
		for _, it := range all {
			if name(it) == f {
				out, found = append(out, it), true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown %q (known: %s)", f, strings.Join(known, ", "))
		}
	}
	return out, nil
}
