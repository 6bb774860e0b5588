// Command tailgate-cluster runs a local MariaDB primary with replicas for `make demo` and
// `make bench`, in the foreground, until SIGINT or SIGTERM.
//
//	tailgate-cluster -dir .cluster -replicas 2 -ports 23306,23307,23308 -extra innodb_flush_log_at_trx_commit=2
//
// A -dir that holds a cluster from an earlier run is restarted, not re-installed. Once replication
// runs it prints one line per node and writes DIR/cluster.env (KEY=value lines that both a shell
// and make can include). On SIGINT or SIGTERM it stops every server cleanly and exits 0.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tailgate-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dir      = fs.String("dir", "", "cluster `directory`; an existing cluster there is restarted (default: a temporary directory, removed on exit)")
		replicas = fs.Int("replicas", 2, "number of replicas")
		ports    = fs.String("ports", "", "comma-separated TCP `ports`, primary first, one per node (default: free ports)")
		timeout  = fs.Duration("timeout", cluster.DefaultStartTimeout, "give up if the cluster is not replicating within this `duration`")
		quiet    = fs.Bool("quiet", false, "do not print start-up progress")
		extra    listFlag
	)
	fs.Var(&extra, "extra", "extra `key=value` line for every server's [mariadbd] section (repeatable), e.g. innodb_flush_log_at_trx_commit=2")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tailgate-cluster [flags]\n\n"+
			"Runs a MariaDB primary and replicas with GTID replication on 127.0.0.1 until SIGINT/SIGTERM,\n"+
			"and writes DIR/cluster.env with their addresses and accounts.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tailgate-cluster: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	portList, err := parsePorts(*ports)
	if err != nil {
		fmt.Fprintf(stderr, "tailgate-cluster: -ports: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := cluster.Options{Replicas: *replicas, Dir: *dir, Ports: portList, ExtraConfig: extra}
	if !*quiet {
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	began := time.Now()
	startCtx, cancel := context.WithTimeout(ctx, *timeout)
	c, err := cluster.Start(startCtx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "tailgate-cluster: %v\n", err)
		return 1
	}
	elapsed := time.Since(began).Round(time.Millisecond)

	env := filepath.Join(c.Dir, "cluster.env")
	if err := writeEnv(env, c); err != nil {
		fmt.Fprintf(stderr, "tailgate-cluster: %v\n", err)
		_ = c.Close()
		return 1
	}
	for _, n := range c.Nodes() {
		fmt.Fprintf(stdout, "%-9s %-16s server_id=%d\n", n.Name, n.Addr(), n.ServerID)
	}
	fmt.Fprintf(stdout, "DSN:      %s\n", c.Primary.DSN(cluster.AppUser, cluster.AppPassword, cluster.TestDatabase))
	fmt.Fprintf(stdout, "client:   mariadb --no-defaults -h127.0.0.1 -P%d -u%s -p%s %s\n",
		c.Primary.Port, cluster.AppUser, cluster.AppPassword, cluster.TestDatabase)
	if len(extra) > 0 {
		fmt.Fprintf(stdout, "extra:    %s\n", strings.Join(extra, " "))
	}
	fmt.Fprintf(stdout, "TLS CA:   %s (TLS offered, not required)\n", c.TLSCert)
	fmt.Fprintf(stdout, "env:      %s\n", env)
	fmt.Fprintf(stdout, "ready in %s; Ctrl-C stops the cluster\n", elapsed)

	<-ctx.Done()
	stop() // a second Ctrl-C now kills the program (and with it the servers)
	fmt.Fprintln(stderr, "tailgate-cluster: stopping")
	if err := c.Close(); err != nil {
		fmt.Fprintf(stderr, "tailgate-cluster: %v\n", err)
		return 1
	}
	return 0
}

func parsePorts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ports []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a port number", f)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// writeEnv writes the cluster's addresses and accounts as KEY=value lines, without quotes or
// spaces, so that `. cluster.env` in a shell and `include cluster.env` in make both read it.
func writeEnv(path string, c *cluster.Cluster) error {
	var b bytes.Buffer
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s=%v\n", k, v) }
	b.WriteString("# Written by tailgate-cluster; rewritten on every start.\n")
	kv("CLUSTER_DIR", c.Dir)
	kv("PRIMARY_ADDR", c.Primary.Addr())
	kv("PRIMARY_PORT", c.Primary.Port)
	addrs := make([]string, len(c.Replicas))
	for i, r := range c.Replicas {
		kv(fmt.Sprintf("REPLICA%d_ADDR", i+1), r.Addr())
		kv(fmt.Sprintf("REPLICA%d_PORT", i+1), r.Port)
		addrs[i] = r.Addr()
	}
	kv("REPLICA_ADDRS", strings.Join(addrs, ","))
	kv("APP_USER", cluster.AppUser)
	kv("APP_PASSWORD", cluster.AppPassword)
	kv("MONITOR_USER", cluster.MonitorUser)
	kv("MONITOR_PASSWORD", cluster.MonitorPassword)
	kv("DATABASE", cluster.TestDatabase)
	kv("TLS_CERT", c.TLSCert)
	if err := os.WriteFile(path+".tmp", b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
