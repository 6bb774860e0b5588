package admin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/config"
)

// fakeSource is an in-memory Source.
type fakeSource struct {
	mu          sync.Mutex
	backends    []BackendInfo
	stats       []Stat
	sessions    []SessionInfo
	offline     map[string]bool
	explained   []string
	cfg         *config.Config
	reloadErr   error
	changes     []string
	primaryErr  error
	panicStats  bool
	explainErrs map[string]error
	killed      []string // "7" or "query 7", in order
	digests     []DigestInfo
}

func newFakeSource() *fakeSource {
	cfg := config.Default()
	cfg.Admin = &config.Admin{Listen: "127.0.0.1:6034", User: "admin", Password: "admin-secret"}
	cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
	cfg.Primary.Address = "127.0.0.1:3306"
	cfg.Replicas = []config.Replica{{Name: "replica1", Address: "127.0.0.1:3307", Weight: 2}}
	return &fakeSource{
		backends: []BackendInfo{
			{Name: "primary", Role: RolePrimary, Address: "127.0.0.1:3306", State: StateOnline, GTID: "0-1-42", Connections: 3, Queries: 100},
			{Name: "replica1", Role: RoleReplica, Address: "127.0.0.1:3307", State: StateLagging, LagMS: 1500, GTID: "0-1-40", Weight: 2, Connections: 1, Queries: 7},
		},
		stats: []Stat{
			{Name: StatQueriesPrimary, Value: 100},
			{Name: StatQueriesReplica, Value: 7},
			{Name: StatFallbacks, Value: 5},
			{Name: StatClientConnections, Value: 2},
			{Name: StatTailerReconnects, Value: 3},
		},
		sessions: []SessionInfo{
			{ID: 7, User: "app", Client: "127.0.0.1:5000", State: "idle", Since: time.Date(2025, 1, 2, 3, 4, 5, 0, time.Local)},
			{ID: 9, User: "app", Client: "127.0.0.1:5001", State: "query", Pinned: "primary", InTxn: true, Since: time.Date(2025, 1, 2, 3, 4, 6, 0, time.Local)},
		},
		offline: map[string]bool{},
		cfg:     cfg,
		changes: []string{`lag.max 1s -> 2s`},
	}
}

func (f *fakeSource) Backends() []BackendInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]BackendInfo(nil), f.backends...)
	for i := range out {
		if f.offline[out[i].Name] {
			out[i].State = StateOffline
		}
	}
	return out
}

func (f *fakeSource) ExplainRoute(sql string) (Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.explained = append(f.explained, sql)
	if err := f.explainErrs[sql]; err != nil {
		return Route{}, err
	}
	return Route{Target: "replica", Backend: "replica1", Reason: "autocommit_read"}, nil
}

func (f *fakeSource) Stats() []Stat {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicStats {
		panic("stats exploded")
	}
	return append([]Stat(nil), f.stats...)
}

func (f *fakeSource) Sessions() []SessionInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SessionInfo(nil), f.sessions...)
}

func (f *fakeSource) Digests() []DigestInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DigestInfo(nil), f.digests...)
}

func (f *fakeSource) ResetDigests() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.digests = nil
}

func (f *fakeSource) KillSession(id uint32, query bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.sessions {
		if s.ID != id {
			continue
		}
		if query {
			f.killed = append(f.killed, fmt.Sprintf("query %d", id))
		} else {
			f.killed = append(f.killed, fmt.Sprint(id))
			f.sessions = append(f.sessions[:i:i], f.sessions[i+1:]...)
		}
		return nil
	}
	return mysql.NewError(mysql.ER_NO_SUCH_THREAD, fmt.Sprintf("Unknown thread id: %d", id))
}

func (f *fakeSource) SetBackendOffline(name string, offline bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.backends {
		if b.Name == name {
			f.offline[name] = offline
			return nil
		}
	}
	return fmt.Errorf("no backend named %q", name)
}

func (f *fakeSource) Config() *config.Config { return f.cfg.Masked() }

func (f *fakeSource) ReloadConfig() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changes, f.reloadErr
}

func (f *fakeSource) CheckPrimary(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.primaryErr
}

func (f *fakeSource) set(fn func(f *fakeSource)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

var errFake = errors.New("fake failure")
