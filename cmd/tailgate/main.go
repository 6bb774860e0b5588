// Command tailgate is a MySQL-protocol proxy that sends writes to the primary and spreads
// reads over fresh replicas.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/app"
	"github.com/tailgate-proxy/tailgate/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("tailgate", flag.ContinueOnError)
	path := fs.String("config", "tailgate.toml", "configuration file (TOML)")
	check := fs.Bool("check", false, "validate the configuration, print every problem, and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		// "tailgate -check other.toml" would otherwise check tailgate.toml and say it is fine.
		fmt.Fprintf(os.Stderr, "tailgate: unexpected argument %q: name the configuration file with -config\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVersion {
		fmt.Println("tailgate", version)
		return 0
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *check {
		fmt.Printf("%s: configuration OK\n", *path)
		return 0
	}
	log := newLogger(cfg)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	a, err := app.New(cfg, log)
	if err != nil {
		log.Error("tailgate cannot start", "error", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		log.Error("tailgate stopped", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config.Config) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "tailgate",
		Level:      hclog.LevelFromString(cfg.Log.Level),
		JSONFormat: cfg.Log.Format == "json",
		Output:     os.Stderr,
	})
}
