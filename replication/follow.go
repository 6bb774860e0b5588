package replication

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/hashicorp/go-hclog"
)

// Promotion is a replica the monitor found promoted while following promotions
// (SetFollow): the primary at From is read-only or unreachable, and the replica Name at
// Address is the one server that can be the new primary.
type Promotion struct {
	Name, Address, From string
}

// primaryView is what the primary's watcher knows of it.
type primaryView struct {
	address   string
	reachable atomic.Bool
	readOnly  atomic.Bool // read_only = 1 in its last answer
	// upAt is when a poll last showed it taking writes (reachable, read_only = 0), unix
	// nanoseconds; 0 not since it is watched.
	upAt  atomic.Int64
	fails int // failed polls in a row (watcher goroutine only)
}

func newPrimaryView(address string) *primaryView {
	p := &primaryView{address: address}
	p.reachable.Store(true)
	return p
}

// gone reports whether the primary no longer takes writes: read-only, or unreachable.
func (p *primaryView) gone() bool { return !p.reachable.Load() || p.readOnly.Load() }

// SetFollow turns following promotions on or off (primary.follow_promotion).
func (m *Monitor) SetFollow(on bool) { m.follow.Store(on) }

// Promotions delivers the promotions found while following; each primary is reported
// at most once. The receiver decides whether to move the primary (SetPrimary).
func (m *Monitor) Promotions() <-chan Promotion { return m.promotions }

// watchPrimary watches the primary over one kept connection, every PollInterval, for two
// things the binlog tailer t cannot tell:
//   - while following promotions, its read_only flag and reachability (unreachable after
//     DownAfter failed polls);
//   - while t is disconnected after it first connected (a primary restart, or a stream it
//     cannot get back: a revoked privilege, a killed binlog dump, a server_id another
//     client took), the primary's binlog position. What each poll finds new is stamped as
//     seen at the previous poll (the first poll's: when the watcher saw t lost, within a
//     poll interval of it): erring early, as the tailer does with delayed events, so lag
//     keeps growing for a replica that stops applying, at poll resolution instead of per
//     transaction.
//
// It holds no connection while neither is needed.
func (m *Monitor) watchPrimary(ctx context.Context, p *primaryView, t *tailer) {
	log := m.log.With("primary", p.address)
	var conn *client.Conn
	var d dialect // conn's server's
	closeConn := func() {
		if conn != nil {
			_ = conn.Close()
			conn = nil
		}
	}
	defer closeConn()
	interval := time.Duration(m.pollEvery.Load())
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var since time.Time // standing in for t: what the next poll finds is stamped at this
	for {
		following := m.follow.Load()
		standIn := !t.connected.Load() && m.tl.size() > 0
		switch {
		case standIn && since.IsZero():
			since = time.Now()
			log.Info("binlog tailer disconnected; lag is measured from polls of the primary's binlog position until it is back")
		case !standIn && !since.IsZero():
			since = time.Time{}
			log.Info("binlog tailer back; lag is measured per transaction again")
		}
		if !following {
			p.fails = 0
			p.reachable.Store(true)
			p.readOnly.Store(false)
			p.upAt.Store(0)
		}
		if !following && !standIn {
			closeConn()
		} else {
			var err error
			if conn == nil {
				if conn, err = m.connect(ctx, p.address); err == nil {
					d = dialectFor(conn.GetServerVersion())
				}
			}
			if err == nil && following {
				err = m.pollReadOnly(log, conn, p)
			}
			if err == nil && standIn {
				polled := time.Now()
				var pos position
				if pos, err = m.pollBinlog(conn, d); err == nil {
					m.tl.seed(pos, since)
					since = polled
				}
			}
			if err != nil {
				closeConn()
			}
			if following {
				m.recordPrimaryPoll(log, p, err)
			}
		}
		if next := time.Duration(m.pollEvery.Load()); next != interval {
			interval = next
			tick.Reset(interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pollReadOnly reads the primary's read_only flag into p.
func (m *Monitor) pollReadOnly(log hclog.Logger, c *client.Conn, p *primaryView) error {
	if err := c.SetDeadline(time.Now().Add(time.Duration(m.pollTimeout.Load()))); err != nil {
		return err
	}
	ro, err := readReadOnly(c)
	if err != nil {
		return err
	}
	if p.readOnly.Swap(ro) != ro {
		// A switchover starts like this; writes get the server's error 1290 until a
		// replica is promoted.
		log.Info("primary read_only changed", "read_only", ro)
	}
	if !ro {
		p.upAt.Store(time.Now().UnixNano())
	}
	return nil
}

// pollBinlog reads the primary's binlog position.
func (m *Monitor) pollBinlog(c *client.Conn, d dialect) (position, error) {
	if err := c.SetDeadline(time.Now().Add(time.Duration(m.pollTimeout.Load()))); err != nil {
		return nil, err
	}
	return binlogPosition(c, d)
}

// readReadOnly reads a server's read_only flag.
func readReadOnly(c *client.Conn) (bool, error) {
	res, err := c.Execute("SELECT @@GLOBAL.read_only")
	if err != nil {
		return false, fmt.Errorf("read read_only: %w", err)
	}
	ro, err := res.GetInt(0, 0)
	if err != nil {
		return false, fmt.Errorf("read read_only: %w", err)
	}
	return ro != 0, nil
}

// recordPrimaryPoll turns the primary watcher's polls into reachability.
func (m *Monitor) recordPrimaryPoll(log hclog.Logger, p *primaryView, err error) {
	if err == nil {
		p.fails = 0
		p.reachable.Store(true)
		return
	}
	p.fails++
	if p.fails >= m.opts.DownAfter && p.reachable.Swap(false) {
		log.Warn("primary unreachable", "error", err)
	}
}

// primaryFacts is the primary as the promotion check sees it.
type primaryFacts struct {
	gone bool // read-only or unreachable
	// upAt is when it was last seen taking writes (zero: not since tailgate watches it).
	upAt time.Time
}

// candidate is one replica as the promotion check sees it.
type candidate struct {
	name, address string
	reachable     bool
	writable      bool      // read_only = 0 in its last poll
	threads       string    // checkThreads' text, "" when unknown
	pos           position  // what it has applied
	replicaAt     time.Time // when it was last seen a replica (zero: never)
}

// promotedWithin is how long before the primary was last seen taking writes a promoted
// replica must still have been a replica: a promotion happens once the primary stopped
// taking writes (a poll or two may fall in between).
func promotedWithin(pollInterval time.Duration) time.Duration {
	return max(time.Second, 3*pollInterval)
}

// replicating reports whether the threads text shows a server that replicates (or tries
// to): either thread running or connecting.
func replicating(threads string) bool {
	return threads != "not a replica" && !strings.HasPrefix(threads, "io=No sql=No")
}

// pickPromoted applies primary.follow_promotion's rules. The primary is gone (read-only
// or unreachable), and exactly one replica
//   - is reachable and writable (read_only = 0),
//   - replicates from no one (SHOW SLAVE STATUS empty, or both threads stopped),
//   - was still a replica (read-only, or replicating) when the primary was last seen
//     taking writes, give or take within (when it was seen taking writes at all since
//     tailgate watches it): a server that has been writable and on its own since before
//     (an old primary back from a crash, a misconfigured replica stopped for
//     maintenance) was not promoted,
//   - has applied at least what every other reachable replica has: following a less
//     advanced one would lose what they have.
//
// It returns that replica, or nil with a note saying why nothing is followed when a
// replica looks promoted ("" when none does).
func pickPromoted(primary primaryFacts, reps []candidate, within time.Duration) (pick *candidate, note string) {
	var promoted []*candidate
	for i := range reps {
		c := &reps[i]
		if !c.reachable || !c.writable {
			continue
		}
		switch {
		case c.threads == "":
			note = fmt.Sprintf("replica %s is writable but its replication status is unknown: "+
				"grant the replication account SLAVE MONITOR (REPLICATION CLIENT on MySQL) to follow a promotion", c.name)
		case !replicating(c.threads):
			promoted = append(promoted, c)
		}
	}
	switch {
	case len(promoted) == 0:
		return nil, note
	case !primary.gone:
		return nil, fmt.Sprintf("replica %s is writable and replicates from no one, but the primary still takes writes: "+
			"writes stay on the primary until it is read-only or unreachable", promoted[0].name)
	case len(promoted) > 1:
		return nil, fmt.Sprintf("replicas %s and %s are both writable and replicate from no one: following neither",
			promoted[0].name, promoted[1].name)
	}
	c := promoted[0]
	if !primary.upAt.IsZero() && c.replicaAt.Before(primary.upAt.Add(-within)) {
		return nil, fmt.Sprintf("replica %s is writable and replicates from no one, but it already was before the primary stopped taking writes: "+
			"not following a server that was not promoted now", c.name)
	}
	for i := range reps {
		o := &reps[i]
		if o != c && o.reachable && !c.pos.containsAll(o.pos) {
			return nil, fmt.Sprintf("replica %s looks promoted but lacks transactions replica %s has applied (%s): not following it",
				c.name, o.name, o.pos.String())
		}
	}
	return c, ""
}

// checkPromotion runs pickPromoted over the current views (evaluator only) and reports a
// promotion once per primary.
func (m *Monitor) checkPromotion() {
	p := m.primary.Load()
	if !m.follow.Load() || p == nil {
		return
	}
	cands := m.cands[:0]
	for _, v := range m.set.Load().order {
		cands = append(cands, candidate{
			name: v.name, address: v.address,
			reachable: v.reachable.Load(), writable: v.writable.Load(),
			threads: *v.threads.Load(), pos: *v.pos.Load(),
			replicaAt: unixTime(v.replicaAt.Load()),
		})
	}
	facts := primaryFacts{gone: p.gone(), upAt: unixTime(p.upAt.Load())}
	pick, note := pickPromoted(facts, cands, promotedWithin(time.Duration(m.pollEvery.Load())))
	if note != m.followNote {
		m.followNote = note
		if note != "" {
			m.log.Warn(note)
		}
	}
	if pick != nil && m.proposed != p {
		m.proposed = p
		m.log.Warn("primary gone and a replica promoted: following it",
			"primary", p.address, "read_only", p.readOnly.Load(), "reachable", p.reachable.Load(),
			"replica", pick.name, "address", pick.address)
		select {
		case m.promotions <- Promotion{Name: pick.name, Address: pick.address, From: p.address}:
		default: // one pending is enough: the receiver re-reads the running config
		}
	}
	clear(cands)
	m.cands = cands
}

// unixTime is t (unix nanoseconds) as a time, the zero time for 0.
func unixTime(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(0, t)
}
