// Package app wires tailgate's components (config, proxy, router, replication, admin)
// together and owns their lifetimes; cmd/tailgate and the integration tests run it.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tailgate-proxy/tailgate/admin"
	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/proxy"
	"github.com/tailgate-proxy/tailgate/replication"
	"github.com/tailgate-proxy/tailgate/router"
)

// App wires the components together and owns their lifetimes.
type App struct {
	cfg     *config.Config
	log     hclog.Logger
	router  *router.Router
	server  *proxy.Server
	monitor *replication.Monitor
	// classifier is shared by live traffic and EXPLAIN ROUTE.
	classifier *router.Classifier
	admin      *admin.Server     // nil without [admin]
	metrics    *admin.HTTPServer // nil without [metrics]

	cfgMu    sync.RWMutex // guards cfg: Reload replaces it while admin connections and scrapes read it
	reloadMu sync.Mutex   // reloads (SIGHUP, RELOAD CONFIG) and followed promotions run one at a time
	// follows are the replicas promoted (primary.follow_promotion) since the config file
	// last named the servers, in order; followBase is the running config before the first
	// of them. Guarded by reloadMu.
	follows        []string
	followBase     *config.Config
	primaryFollows atomic.Uint64 // promotions followed since start
	listening      bool
	draining       atomic.Bool // shutdown started: /readyz fails from then on
	primary        primaryCheck
}

// Listen opens the listeners, so that Run can be called after their addresses are known.
func (a *App) Listen() error {
	if err := a.server.Listen(); err != nil {
		return err
	}
	if a.admin != nil {
		if err := a.admin.Listen(); err != nil {
			return err
		}
	}
	if a.metrics != nil {
		if err := a.metrics.Listen(); err != nil {
			return err
		}
	}
	a.listening = true
	return nil
}

// AdminAddr is the admin listener's address (after Listen), nil when it is off.
func (a *App) AdminAddr() net.Addr {
	if a.admin == nil {
		return nil
	}
	return a.admin.Addr()
}

// MetricsAddr is the metrics listener's address (after Listen), nil when it is off.
func (a *App) MetricsAddr() net.Addr {
	if a.metrics == nil {
		return nil
	}
	return a.metrics.Addr()
}

// ProxyAddr is the client listener's address (after Listen).
func (a *App) ProxyAddr() net.Addr { return a.server.Addr() }

// Server is the proxy server.
func (a *App) Server() *proxy.Server { return a.server }

// Monitor is the replica freshness monitor.
func (a *App) Monitor() *replication.Monitor { return a.monitor }

// Router is the router.
func (a *App) Router() *router.Router { return a.router }

// New wires an App for cfg; it fails when a TLS certificate or CA cannot be loaded.
func New(cfg *config.Config, log hclog.Logger) (*App, error) {
	if cfg.Replication == nil && len(cfg.Replicas) > 0 {
		log.Warn("no [replication] account: tailgate cannot see replica lag and sends reads to every healthy replica")
	}
	mon := replication.NewMonitor(monitorOptions(cfg, log))
	mon.SetFollow(cfg.Primary.FollowPromotion)
	rt := router.New(routerOptions(cfg, mon))
	cl := router.NewClassifier(10000)
	rules, err := routingRules(cfg.Rules)
	if err != nil {
		return nil, err
	}
	cl.SetRules(rules)
	a := &App{cfg: cfg, log: log, router: rt, monitor: mon, classifier: cl, primary: primaryCheck{turn: make(chan struct{}, 1)}}
	popts, err := proxyOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	var reg *prometheus.Registry
	if cfg.Metrics != nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		popts.Observer = admin.NewMetrics(a, reg) // reads a only at scrape time
	}
	popts.OnBackendFailure = mon.ReportFailure
	a.server = proxy.New(popts, rt, cl)
	if cfg.Admin != nil {
		a.admin = admin.New(admin.Options{Listen: cfg.Admin.Listen, User: cfg.Admin.User, Password: cfg.Admin.Password,
			AllowRemote: cfg.Admin.AllowRemote, HandshakeTimeout: cfg.Proxy.HandshakeTimeout.Duration, Logger: log}, a)
	}
	if cfg.Metrics != nil {
		a.metrics = admin.NewHTTP(admin.HTTPOptions{Listen: cfg.Metrics.Listen, Ready: a.ClientListenerReady, Logger: log}, a, reg)
	}
	return a, nil
}

// monitorOptions: the replication account reads replica positions; without one the
// first application account does (reading @@gtid_slave_pos needs no privilege).
func monitorOptions(cfg *config.Config, log hclog.Logger) replication.Options {
	opts := replication.Options{
		PollInterval:   cfg.Lag.PollInterval.Duration,
		ConnectTimeout: cfg.Proxy.BackendConnectTimeout.Duration,
		Logger:         log,
	}
	opts.MaxLag, opts.Recover = cfg.Lag.Max.Duration, cfg.Lag.Recover.Duration
	switch {
	case cfg.Replication != nil:
		opts.User, opts.Password = cfg.Replication.User, cfg.Replication.Password
		opts.Tailer = &replication.TailerOptions{
			Address:  cfg.Primary.Address,
			User:     cfg.Replication.User,
			Password: cfg.Replication.Password,
			ServerID: cfg.Replication.ServerID,
		}
	case len(cfg.Users) > 0:
		u := cfg.Users[0]
		opts.User, opts.Password = u.Name, u.Password
		if u.BackendUser != "" {
			opts.User, opts.Password = u.BackendUser, u.BackendPassword
		}
	}
	for _, r := range cfg.Replicas {
		opts.Replicas = append(opts.Replicas, replication.Replica{Name: r.Name, Address: r.Address})
	}
	return opts
}

// routingRules compiles the [[rules]] of the config (checked: the expressions compile).
func routingRules(rules []config.Rule) ([]router.Rule, error) {
	out := make([]router.Rule, 0, len(rules))
	for i, r := range rules {
		re, err := regexp.Compile(r.Match)
		if err != nil {
			return nil, fmt.Errorf("rules[%d].match: %w", i, err)
		}
		rule := router.Rule{Name: r.Name, Match: re, MaxLag: r.MaxLag.Duration}
		switch r.Target {
		case config.RuleTargetPrimary:
			rule.Hint = router.HintPrimary
		case config.RuleTargetReplica:
			rule.Hint = router.HintReplica
		}
		out = append(out, rule)
	}
	return out, nil
}

func routerOptions(cfg *config.Config, fresh router.Freshness) router.Options {
	opts := router.Options{FailWhenStale: cfg.Lag.OnAllStale == "error", Freshness: fresh}
	for _, r := range cfg.Replicas {
		opts.Replicas = append(opts.Replicas, router.ReplicaConfig{Name: r.Name, Weight: r.Weight})
	}
	return opts
}

func proxyOptions(cfg *config.Config, log hclog.Logger) (proxy.Options, error) {
	users, primary, replicas, err := proxyBackends(cfg)
	if err != nil {
		return proxy.Options{}, err
	}
	clientTLS, err := serverTLS(cfg.Proxy.TLS)
	if err != nil {
		return proxy.Options{}, err
	}
	lbs, err := config.ParseNetworks(cfg.Proxy.ProxyProtocolNetworks)
	if err != nil {
		return proxy.Options{}, fmt.Errorf("proxy.proxy_protocol_networks: %w", err)
	}
	opts := proxyTuning(cfg)
	opts.ClientTLS = clientTLS
	opts.RequireTLS = cfg.Proxy.TLS != nil && cfg.Proxy.TLS.RequireTLS
	opts.Listen, opts.Socket = cfg.Proxy.Listen, cfg.Proxy.Socket
	opts.Users, opts.Primary, opts.Replicas = users, primary, replicas
	opts.Compression = cfg.Proxy.Compression
	opts.LocalInfile = cfg.Proxy.LocalInfile
	opts.ProxyProtocolNetworks = lbs
	opts.Logger = log
	return opts, nil
}

// proxyTuning is the part of the proxy's options that a reload changes: its (live) fields.
func proxyTuning(cfg *config.Config) proxy.Options {
	return proxy.Options{
		MaxConnections:        cfg.Proxy.MaxConnections,
		HandshakeTimeout:      cfg.Proxy.HandshakeTimeout.Duration,
		MaxAllowedPacket:      int(cfg.Proxy.MaxAllowedPacket),
		BackendConnectTimeout: cfg.Proxy.BackendConnectTimeout.Duration,
		MaxBackendConnections: cfg.Proxy.MaxBackendConnections,
		BackendReadTimeout:    cfg.Proxy.BackendReadTimeout.Duration,
		ReadYourWrites:        cfg.Consistency.ReadYourWrites,
		ReplicaWait:           cfg.Consistency.ReplicaWait.Duration,
		SlowStatement:         cfg.Log.SlowStatement.Duration,
		ConsistencyScope:      cfg.Consistency.Scope,
		PrimaryWait:           cfg.Proxy.PrimaryWait.Duration,
		MaxAuthFailures:       cfg.Proxy.MaxAuthFailures,
	}
}

// backendConfig is one backend as the proxy connects to it.
func backendConfig(name, address string, t *config.BackendTLS) (proxy.BackendConfig, error) {
	tlsCfg, id, err := backendTLS(t, address)
	if err != nil {
		return proxy.BackendConfig{}, err
	}
	return proxy.BackendConfig{Name: name, Address: address, TLS: tlsCfg, TLSRequired: t != nil && t.Required, TLSID: id}, nil
}

// proxyBackends are the users, primary and replicas of cfg as the proxy takes them.
func proxyBackends(cfg *config.Config) (users []proxy.User, primary proxy.BackendConfig, reps []proxy.BackendConfig, err error) {
	for _, u := range cfg.Users {
		users = append(users, proxy.User{Name: u.Name, Password: u.Password, BackendUser: u.BackendUser, BackendPassword: u.BackendPassword, AuthPlugin: u.AuthPlugin})
	}
	if primary, err = backendConfig(router.PrimaryName, cfg.Primary.Address, cfg.Primary.TLS); err != nil {
		return nil, primary, nil, fmt.Errorf("primary.tls: %w", err)
	}
	for i, r := range cfg.Replicas {
		b, err := backendConfig(r.Name, r.Address, r.TLS)
		if err != nil {
			return nil, primary, nil, fmt.Errorf("replicas[%d].tls: %w", i, err)
		}
		reps = append(reps, b)
	}
	return users, primary, reps, nil
}

// Run serves until ctx ends, then shuts down: stop accepting, let sessions finish within
// proxy.shutdown_timeout, then close the rest.
func (a *App) Run(ctx context.Context) error {
	// Before the listeners open: once a client (or a supervisor) can see tailgate up, a
	// SIGHUP must reload it, not kill it with the default action.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if !a.listening {
		if err := a.Listen(); err != nil {
			return err
		}
	}

	monCtx, stopMonitor := context.WithCancel(context.Background())
	monDone := make(chan struct{})
	go func() { defer close(monDone); a.monitor.Run(monCtx) }()
	defer func() { stopMonitor(); <-monDone }()

	// The admin and metrics listeners stop after the proxy drained, before the monitor.
	auxCtx, stopAux := context.WithCancel(context.Background())
	var aux sync.WaitGroup
	for _, serve := range a.auxServers() {
		aux.Add(1)
		go func() {
			defer aux.Done()
			if err := serve(auxCtx); err != nil {
				a.log.Error("admin/metrics listener stopped", "error", err)
			}
		}()
	}
	defer func() { stopAux(); aux.Wait() }()

	// Promotions found by the monitor move the primary, until the proxy has drained.
	followCtx, stopFollowing := context.WithCancel(context.Background())
	var following sync.WaitGroup
	following.Add(1)
	go func() {
		defer following.Done()
		for {
			select {
			case <-followCtx.Done():
				return
			case p := <-a.monitor.Promotions():
				a.follow(p)
			}
		}
	}()
	defer func() { stopFollowing(); following.Wait() }()

	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	done := make(chan error, 1)
	go func() { done <- a.server.Serve(serveCtx) }()
	for {
		select {
		case err := <-done:
			return err
		case <-hup:
			if err := a.Reload(); err != nil {
				a.log.Error("reload refused; the running configuration stays", "error", err)
			}
		case <-ctx.Done():
			a.draining.Store(true)
			timeout := a.config().Proxy.ShutdownTimeout.Duration
			a.log.Info("shutting down", "timeout", timeout)
			stopServe()
			select {
			case err := <-done:
				return err
			case <-time.After(timeout):
				a.log.Warn("shutdown timeout reached; closing the remaining sessions and killing their running statements")
				a.server.CloseAll()
				err := <-done
				if errors.Is(err, context.Canceled) {
					err = nil
				}
				return err
			}
		}
	}
}

func (a *App) auxServers() []func(context.Context) error {
	var s []func(context.Context) error
	if a.admin != nil {
		s = append(s, a.admin.Serve)
	}
	if a.metrics != nil {
		s = append(s, a.metrics.Serve)
	}
	return s
}

// Reload validates the config file again and applies what can change live.
func (a *App) Reload() error { _, err := a.reload(); return err }

// reload is Reload, returning the changes it found (those that need a restart say so). An
// invalid file changes nothing.
func (a *App) reload() ([]string, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	old := a.config()
	file, err := config.Load(old.Path)
	if err != nil {
		return nil, err
	}
	file = a.followed(file)
	changes := config.Diff(old, file)
	for _, change := range changes {
		a.log.Info("config change", "change", change)
	}
	// What applies now; changes that need a restart stay out of the running config and
	// are reported again by every reload until then.
	if err := a.apply(old, config.Live(old, file)); err != nil {
		return nil, err
	}
	return changes, nil
}

// apply makes cfg the running config, replacing old. Caller holds reloadMu.
func (a *App) apply(old, cfg *config.Config) error {
	users, primary, reps, err := proxyBackends(cfg)
	if err != nil {
		return err
	}
	if cfg.Log.Level != old.Log.Level {
		a.log.SetLevel(hclog.LevelFromString(cfg.Log.Level)) // shared by every Named logger
	}
	mopts := monitorOptions(cfg, a.log)
	a.monitor.SetAccount(mopts.User, mopts.Password)
	a.monitor.SetPolling(mopts.PollInterval, mopts.ConnectTimeout)
	a.monitor.SetPrimary(cfg.Primary.Address)
	a.monitor.SetReplicas(mopts.Replicas)
	a.monitor.SetThresholds(cfg.Lag.Max.Duration, cfg.Lag.Recover.Duration)
	a.monitor.SetFollow(cfg.Primary.FollowPromotion)
	a.server.Tune(proxyTuning(cfg))
	a.server.UpdateBackends(users, primary, reps)
	a.router.Update(routerOptions(cfg, a.router.Freshness()))
	for _, r := range old.Replicas {
		if _, kept := cfg.Replica(r.Name); !kept {
			// Its drain left with it: a replica added later under the name is a new
			// entry, online unless an operator drains it.
			a.router.SetOffline(r.Name, false)
		}
	}
	if !slices.Equal(cfg.Rules, old.Rules) {
		rules, err := routingRules(cfg.Rules)
		if err != nil {
			return err
		}
		a.classifier.SetRules(rules)
	}
	if a.admin != nil && cfg.Admin != nil {
		_ = a.admin.SetCredentials(cfg.Admin.User, cfg.Admin.Password) // Load validated: not empty
		a.admin.SetHandshakeTimeout(cfg.Proxy.HandshakeTimeout.Duration)
	}
	a.cfgMu.Lock()
	a.cfg = cfg
	a.cfgMu.Unlock()
	return nil
}

// follow moves the primary to a replica the monitor found promoted
// (primary.follow_promotion): the two servers swap places in the running config, which
// is applied as a reload applies a config. A promotion found for a primary that a reload
// replaced meanwhile is ignored.
func (a *App) follow(p replication.Promotion) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	old := a.config()
	if !old.Primary.FollowPromotion || old.Primary.Address != p.From {
		return
	}
	cfg, err := old.Promoted(p.Name)
	if err == nil && cfg.Primary.Address != p.Address {
		err = fmt.Errorf("replica %s is at %s now, not %s", p.Name, cfg.Primary.Address, p.Address)
	}
	if err == nil {
		err = a.apply(old, cfg)
	}
	if err != nil {
		a.log.Error("cannot follow the promoted replica", "replica", p.Name, "error", err)
		return
	}
	// SET BACKEND OFFLINE drained the server that is the primary now, not the one that
	// takes its name.
	a.router.SetOffline(p.Name, false)
	if len(a.follows) == 0 {
		a.followBase = old
	}
	a.follows = append(a.follows, p.Name)
	a.primaryFollows.Add(1)
	a.log.Warn("primary moved to the promoted replica; the old primary takes its name among the replicas",
		"replica", p.Name, "primary", p.Address, "old_primary", p.From)
}

// followed is file with the promotions followed since the file last named the servers
// applied to it again, while it still names the servers it named then: a reload of an
// unchanged file does not move the primary back. Once the file names other servers, or
// turns following off, it decides again. Caller holds reloadMu.
func (a *App) followed(file *config.Config) *config.Config {
	if len(a.follows) == 0 {
		return file
	}
	if !file.Primary.FollowPromotion || !config.SameServers(file, a.followBase) {
		a.log.Info("the config file names the servers anew: the promotions tailgate followed are forgotten", "primary", file.Primary.Address)
		a.follows, a.followBase = nil, nil
		return file
	}
	for _, name := range a.follows {
		next, err := file.Promoted(name)
		if err != nil { // cannot happen: SameServers matched the names
			return file
		}
		file = next
	}
	a.log.Info("the config file still names the servers it named before tailgate followed a promotion; the followed primary stays",
		"primary", file.Primary.Address)
	return file
}
