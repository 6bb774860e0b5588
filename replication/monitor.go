package replication

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/hashicorp/go-hclog"

	"github.com/tailgate-proxy/tailgate/router"
)

var _ router.Freshness = (*Monitor)(nil)

// Replica names one replica to watch.
type Replica struct {
	Name    string
	Address string
}

// Options configure a Monitor.
type Options struct {
	// Replicas are the servers to watch.
	Replicas []Replica
	// User and Password log in to the replicas to read their GTID position; reading
	// @@gtid_slave_pos needs no privilege.
	User, Password string
	// PollInterval is how often each replica's position is read.
	PollInterval time.Duration
	// ConnectTimeout bounds each connection attempt.
	ConnectTimeout time.Duration
	// DownAfter is how many failed polls in a row mark a replica down.
	DownAfter int
	Logger    hclog.Logger
}

// Monitor keeps each replica's applied GTID position and reachability current, and
// answers the router's freshness questions from that snapshot without blocking.
type Monitor struct {
	opts Options
	log  hclog.Logger
	reps atomic.Pointer[map[string]*replicaView]
}

// replicaView is what is known about one replica; its fields are swapped atomically.
type replicaView struct {
	name  string
	state atomic.Uint32 // router.ReplicaState
	pos   atomic.Pointer[mariaPos]
	// fails counts failed polls in a row.
	fails int
}

// NewMonitor returns a monitor; Run starts watching.
func NewMonitor(opts Options) *Monitor {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.DownAfter <= 0 {
		opts.DownAfter = 2
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 2 * time.Second
	}
	m := &Monitor{opts: opts, log: opts.Logger.Named("replication")}
	views := make(map[string]*replicaView, len(opts.Replicas))
	for _, r := range opts.Replicas {
		v := &replicaView{name: r.Name}
		empty := mariaPos{}
		v.pos.Store(&empty)
		views[r.Name] = v
	}
	m.reps.Store(&views)
	return m
}

// Run polls every replica until ctx ends; it returns when all its goroutines have.
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range m.opts.Replicas {
		v := (*m.reps.Load())[r.Name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.watch(ctx, r, v)
		}()
	}
	wg.Wait()
}

// watch polls one replica's position on a ticker, over one kept connection.
func (m *Monitor) watch(ctx context.Context, r Replica, v *replicaView) {
	log := m.log.With("replica", r.Name)
	var conn *client.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		var err error
		if conn == nil {
			conn, err = m.connect(ctx, r)
		}
		if err == nil {
			err = m.poll(conn, v)
			if err != nil {
				_ = conn.Close()
				conn = nil
			}
		}
		m.record(log, v, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Monitor) connect(ctx context.Context, r Replica) (*client.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.ConnectTimeout)
	defer cancel()
	c, err := client.ConnectWithContext(ctx, r.Address, m.opts.User, m.opts.Password, "", m.opts.ConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	c.ReadTimeout = m.opts.ConnectTimeout
	return c, nil
}

// poll reads the replica's applied position.
func (m *Monitor) poll(c *client.Conn, v *replicaView) error {
	if err := c.SetDeadline(time.Now().Add(m.opts.ConnectTimeout)); err != nil {
		return err
	}
	res, err := c.Execute("SELECT @@gtid_slave_pos")
	if err != nil {
		return fmt.Errorf("read position: %w", err)
	}
	s, err := res.GetString(0, 0)
	if err != nil {
		return fmt.Errorf("read position: %w", err)
	}
	pos, ok := parseMariaPos(s)
	if !ok {
		return fmt.Errorf("unexpected GTID position %q", s)
	}
	v.pos.Store(&pos)
	return nil
}

// record updates the replica's state after a poll, logging each change once.
func (m *Monitor) record(log hclog.Logger, v *replicaView, err error) {
	old := router.ReplicaState(v.state.Load())
	next := router.StateOnline
	if err != nil {
		v.fails++
		if v.fails < m.opts.DownAfter && old != router.StateDown {
			return
		}
		next = router.StateDown
	} else {
		v.fails = 0
	}
	if next == old {
		return
	}
	v.state.Store(uint32(next))
	if next == router.StateDown {
		log.Warn("replica down", "error", err)
	} else {
		log.Info("replica back online")
	}
}

// ReplicaStatus implements router.Freshness.
func (m *Monitor) ReplicaStatus(name string) router.ReplicaStatus {
	v := (*m.reps.Load())[name]
	if v == nil {
		return router.ReplicaStatus{State: router.StateDown}
	}
	return router.ReplicaStatus{State: router.ReplicaState(v.state.Load())}
}

// HasApplied implements router.Freshness for MariaDB GTIDs ("domain-server-seq", or a
// comma-separated position).
func (m *Monitor) HasApplied(name, position string) bool {
	if position == "" {
		return true
	}
	v := (*m.reps.Load())[name]
	if v == nil {
		return false
	}
	pos := *v.pos.Load()
	if g, ok := parseMariaGTID(position); ok {
		return pos.contains(g)
	}
	want, ok := parseMariaPos(position)
	return ok && pos.containsAll(want)
}

// Position returns the replica's last known applied GTID position as text.
func (m *Monitor) Position(name string) string {
	v := (*m.reps.Load())[name]
	if v == nil {
		return ""
	}
	return v.pos.Load().String()
}
