package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/tailgate-proxy/tailgate/admin"
	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/router"
)

// The App is what the admin commands and metrics read and steer.
var _ admin.Source = (*App)(nil)

// primaryStateTimeout bounds the primary check behind SHOW BACKENDS and a scrape.
const primaryStateTimeout = time.Second

// config returns the running configuration. Reload replaces a.cfg while admin
// connections and scrapes read it, so they read it only through here, where the lock
// guarding a.cfg belongs.
func (a *App) config() *config.Config {
	a.cfgMu.RLock()
	defer a.cfgMu.RUnlock()
	return a.cfg
}

// Backends implements admin.Source: the primary, then the replicas in name order.
func (a *App) Backends() []admin.BackendInfo {
	weights := map[string]int{}
	for _, r := range a.router.Replicas() {
		weights[r.Name] = r.Weight
	}
	fresh := a.router.Freshness()
	backends := a.server.Backends()
	out := make([]admin.BackendInfo, 0, len(backends))
	for _, b := range backends {
		info := admin.BackendInfo{
			Name:        b.Name,
			Role:        b.Role(),
			Address:     b.Address,
			Connections: b.Connections(),
			Queries:     b.Queries(),
		}
		if b.Primary {
			info.GTID = a.monitor.PrimaryPosition()
			info.State = admin.StateOnline
			ctx, cancel := context.WithTimeout(context.Background(), primaryStateTimeout)
			if err := a.CheckPrimary(ctx); err != nil {
				info.State = admin.StateDown
			}
			cancel()
		} else {
			st := fresh.ReplicaStatus(b.Name)
			info.State = st.State.String()
			info.LagMS = st.Lag.Milliseconds()
			info.GTID = a.monitor.Position(b.Name)
			info.Weight = weights[b.Name]
			if a.router.Offline(b.Name) {
				info.State = admin.StateOffline
			}
		}
		out = append(out, info)
	}
	return out
}

// ExplainRoute implements admin.Source with the classifier and router of live traffic,
// for a fresh autocommit session.
func (a *App) ExplainRoute(sql string) (admin.Route, error) {
	st := a.classifier.Classify(sql)
	d, err := a.router.Explain(st, &router.SessionView{})
	if err != nil {
		return admin.Route{}, err
	}
	reason := string(d.Reason)
	if d.Reason == router.ReasonRulePrimary || d.Reason == router.ReasonRuleReplica {
		reason += " (" + st.Rule + ")" // which [[rules]] entry
	}
	return admin.Route{Target: d.Target.String(), Backend: d.Backend, Reason: reason}, nil
}

// Stats implements admin.Source.
func (a *App) Stats() []admin.Stat {
	s := a.server.Stats().Snapshot()
	lagging := 0
	fresh := a.router.Freshness()
	for _, r := range a.router.Replicas() {
		if fresh.ReplicaStatus(r.Name).State == router.StateLagging {
			lagging++
		}
	}
	stats := []admin.Stat{
		{Name: admin.StatQueriesPrimary, Value: s.QueriesPrimary},
		{Name: admin.StatQueriesReplica, Value: s.QueriesReplica},
		{Name: admin.StatFallbacks, Value: s.Fallbacks},
		{Name: admin.StatRouteErrors, Value: s.RouteErrors},
		{Name: admin.StatReplicasLagging, Value: uint64(lagging)},
		{Name: admin.StatClientConnections, Value: uint64(max(s.Sessions, 0))},
		{Name: admin.StatRefused, Value: s.Refused},
		{Name: admin.StatHandshakeFailures, Value: s.HandshakeFailures},
		{Name: admin.StatAuthFailures, Value: s.AuthFailures},
		{Name: admin.StatBackendDialErrors, Value: s.BackendDialErrors},
		{Name: admin.StatReadRetries, Value: s.Retries},
		{Name: admin.StatReplicaWaits, Value: s.ReplicaWaits},
		{Name: admin.StatReplicaWaitMisses, Value: s.ReplicaWaitMisses},
		{Name: admin.StatPrimaryFollows, Value: a.primaryFollows.Load()},
		{Name: admin.StatSlowStatements, Value: s.SlowStatements},
		{Name: admin.StatReadOnlyWaits, Value: s.ReadOnlyWaits},
	}
	if connected, reconnects, seq, ok := a.monitor.TailerStats(); ok {
		up := uint64(0)
		if connected {
			up = 1
		}
		stats = append(stats,
			admin.Stat{Name: admin.StatTailerConnected, Value: up},
			admin.Stat{Name: admin.StatTailerPosition, Value: seq},
			admin.Stat{Name: admin.StatTailerReconnects, Value: reconnects})
	}
	return stats
}

// Digests implements admin.Source.
func (a *App) Digests() []admin.DigestInfo {
	ds := a.classifier.Digests()
	out := make([]admin.DigestInfo, len(ds))
	for i, d := range ds {
		class := d.Kind.String()
		switch {
		case d.Text == router.OtherDigest:
			class = "" // statements of every kind
		case d.Writes:
			class += "/" + string(router.ReasonWroteOnReplica)
		case d.Reason != "":
			class += "/" + string(d.Reason)
		}
		out[i] = admin.DigestInfo{Digest: d.Text, Class: class, Count: d.Count, Primary: d.Primary, Replica: d.Replica, Errors: d.Errors, Total: d.Total}
	}
	return out
}

// ResetDigests implements admin.Source.
func (a *App) ResetDigests() { a.classifier.ResetDigests() }

// Sessions implements admin.Source.
func (a *App) Sessions() []admin.SessionInfo {
	ss := a.server.Sessions()
	out := make([]admin.SessionInfo, len(ss))
	for i, s := range ss {
		out[i] = admin.SessionInfo{ID: s.ID, User: s.User, Client: s.Client, State: s.State, Pinned: s.Pinned, InTxn: s.InTxn, Since: s.Since}
	}
	return out
}

// KillSession implements admin.Source.
func (a *App) KillSession(id uint32, query bool) error { return a.server.KillSession(id, query) }

// SetBackendOffline implements admin.Source: it drains or restores a replica. The
// primary cannot be drained: writes have nowhere else to go.
func (a *App) SetBackendOffline(name string, offline bool) error {
	if name == router.PrimaryName {
		return errors.New("the primary cannot be taken offline or online: only replicas can be drained")
	}
	var names []string
	for _, r := range a.router.Replicas() {
		if r.Name == name {
			a.router.SetOffline(name, offline)
			return nil
		}
		names = append(names, r.Name)
	}
	return fmt.Errorf("no backend named %q; replicas are: %s", name, strings.Join(names, ", "))
}

// Config implements admin.Source: the running configuration with secrets masked.
func (a *App) Config() *config.Config { return a.config().Masked() }

// ReloadConfig implements admin.Source with Reload, reporting the changes it applied.
func (a *App) ReloadConfig() ([]string, error) {
	old := a.config()
	if old.Path == "" {
		return nil, errors.New("the running configuration was not loaded from a file; there is nothing to reload")
	}
	return a.reload()
}

// primaryCheckTTL is how long one primary check answers for: /readyz probes from several
// load balancers, SHOW BACKENDS and metric scrapes then cost at most one login a second.
const primaryCheckTTL = time.Second

// primaryCheck is the latest primary check; one runs at a time.
type primaryCheck struct {
	turn chan struct{} // a token: whoever holds it may check or read the result
	at   time.Time
	err  error
}

// CheckPrimary implements admin.Source: it logs in to the primary with the monitor's
// account (a bare TCP connect would count as an aborted handshake and, repeated by load
// balancer probes, get tailgate's host blocked by max_connect_errors). A result younger
// than primaryCheckTTL is reused; callers that arrive during a check wait for it.
func (a *App) CheckPrimary(ctx context.Context) error {
	select {
	case a.primary.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.primary.turn }()
	if !a.primary.at.IsZero() && time.Since(a.primary.at) < primaryCheckTTL {
		return a.primary.err
	}
	err := a.loginPrimary(ctx)
	if ctx.Err() == nil { // a caller's own deadline says nothing about the primary
		a.primary.at, a.primary.err = time.Now(), err
	}
	return err
}

// loginPrimary logs in to the primary and out again.
func (a *App) loginPrimary(ctx context.Context) error {
	cfg := a.config()
	opts := monitorOptions(cfg, a.log)
	timeout := cfg.Proxy.BackendConnectTimeout.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	c, err := client.ConnectWithContext(ctx, cfg.Primary.Address, opts.User, opts.Password, "", timeout)
	if err != nil {
		return err
	}
	return c.Close()
}

// ClientListenerReady reports whether the client listener is open, for
// admin.HTTPOptions.Ready: /readyz fails before Listen.
func (a *App) ClientListenerReady() error {
	if a.draining.Load() {
		return errors.New("shutting down: not accepting new clients")
	}
	if !a.listening {
		return errors.New("not listening yet")
	}
	return nil
}
