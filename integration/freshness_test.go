package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
	"github.com/tailgate-proxy/tailgate/router"
)

// tailerIDs hands out distinct tailer server ids, so that two tailgates never clash.
var tailerIDs atomic.Uint32

// freshConfig is a test config with the binlog tailer on.
func freshConfig(c *cluster.Cluster, maxLag, recover time.Duration) *config.Config {
	cfg := testConfig(c)
	cfg.Replication = &config.Replication{User: cluster.MonitorUser, Password: cluster.MonitorPassword, ServerID: 4200100 + tailerIDs.Add(1)}
	cfg.Lag.Max = config.Duration{Duration: maxLag}
	cfg.Lag.Recover = config.Duration{Duration: recover}
	return cfg
}

// writer writes to the primary directly on a ticker until the test ends or stop is called,
// remembering when each write was issued and acknowledged.
type writer struct {
	stop func()
	mu   sync.Mutex
	acks [][2]time.Time // issued, acknowledged
}

// firstAckAfter returns when the first write issued after t was acknowledged: a replica
// whose SQL thread stopped at t misses that write, and is stale from its commit on (the
// primary may stall writes for a while after heavy load, and a replica is not stale while
// the primary commits nothing). It waits for that write.
func (w *writer) firstAckAfter(t time.Time) time.Time {
	for {
		w.mu.Lock()
		for _, a := range w.acks {
			if a[0].After(t) {
				w.mu.Unlock()
				return a[1]
			}
		}
		w.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

func writeEvery(t *testing.T, c *cluster.Cluster, interval time.Duration) *writer {
	t.Helper()
	db, err := sql.Open("mysql", c.Primary.DSN(cluster.AppUser, cluster.AppPassword, "tailgate_test"))
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "CREATE TABLE IF NOT EXISTS ticks (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))")
	w := &writer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				issued := time.Now()
				if _, err := db.ExecContext(ctx, "INSERT INTO ticks (at) VALUES (NOW(6))"); err != nil {
					if ctx.Err() == nil {
						t.Errorf("writer: %v", err)
					}
					return
				}
				w.mu.Lock()
				w.acks = append(w.acks, [2]time.Time{issued, time.Now()})
				w.mu.Unlock()
			}
		}
	}()
	var once sync.Once
	w.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			_ = db.Close()
		})
	}
	t.Cleanup(w.stop)
	return w
}

// sqlThread stops or starts a replica's SQL thread; the test's cleanup starts it again.
func sqlThread(t *testing.T, n *cluster.Node, start bool) {
	t.Helper()
	stmt := "STOP SLAVE SQL_THREAD"
	if start {
		stmt = "START SLAVE SQL_THREAD"
	}
	if err := n.Exec(context.Background(), stmt); err != nil {
		t.Fatalf("%s on %s: %v", stmt, n.Name, err)
	}
	if !start {
		t.Cleanup(func() { _ = n.Exec(context.Background(), "START SLAVE SQL_THREAD") })
	}
}

// waitState waits until the monitor shows the replica in state, returning how long it took.
func waitState(t *testing.T, tg *tailgate, name string, state router.ReplicaState, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if tg.app.Monitor().ReplicaStatus(name).State == state {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s did not become %s within %s (now %+v)", name, state, within, tg.app.Monitor().ReplicaStatus(name))
	return 0
}

// waitTailer waits until the binlog tailer streams and every replica is online: only then
// does lag measure from the moment a transaction appears (before, what the primary already
// had counts as seen when the tailer started).
func waitTailer(t *testing.T, tg *tailgate, c *cluster.Cluster) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		connected, _, _, _ := tg.app.Monitor().TailerStats()
		if connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the binlog tailer did not connect within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Caught up: the tailer has seen the primary's position of now (starting from a GTID,
	// the primary first reads through its binlog file to find it, which takes a while
	// after heavy writes).
	pos := gtidBinlogPos(t, c.Primary)
	for !positionReached(tg.app.Monitor().PrimaryPosition(), pos) {
		if time.Now().After(deadline) {
			t.Fatalf("the binlog tailer did not reach %s within 10s (at %s)", pos, tg.app.Monitor().PrimaryPosition())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, r := range c.Replicas {
		waitState(t, tg, r.Name, router.StateOnline, 5*time.Second)
	}
	waitSeenReplicated(t, tg, c)
}

// positionReached reports whether MariaDB position have includes want (single domain
// positions, as the test clusters have: "0-1-42").
func positionReached(have, want string) bool {
	seq := func(p string) int64 {
		var d, s, n int64
		if _, err := fmt.Sscanf(p, "%d-%d-%d", &d, &s, &n); err != nil {
			return -1
		}
		return n
	}
	return have != "" && seq(have) >= seq(want)
}

func trials() int {
	if n, err := strconv.Atoi(os.Getenv("TAILGATE_LAG_TRIALS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// TestStoppedReplicaLeavesAndReturns: STOP SLAVE SQL_THREAD on one replica while the
// primary takes a write every 20 ms: it stops getting reads within lag.max + 250 ms and
// is back within lag.recover + 250 ms of START SLAVE SQL_THREAD, with no flapping.
// TAILGATE_LAG_TRIALS=20 repeats it for the detection-latency figures.
func TestStoppedReplicaLeavesAndReturns(t *testing.T) {
	const maxLag, recover = time.Second, 500 * time.Millisecond
	tg := startTailgate(t, freshConfig(shared, maxLag, recover))
	w := writeEvery(t, shared, 20*time.Millisecond)
	victim := shared.Replicas[0]
	victimID := int(victim.ServerID)
	c := conn(t, tg.db(t, ""))
	waitTailer(t, tg, shared)

	var detect, back []time.Duration
	for trial := range trials() {
		changesBefore := tg.app.Monitor().StateChanges(victim.Name)
		// Measured from the commit of the first write the replica misses: the first write
		// issued after STOP SLAVE SQL_THREAD returned (until then the SQL thread may still
		// finish its event group).
		sqlThread(t, victim, false)
		stopped := w.firstAckAfter(time.Now())
		// Read until the victim has served nothing for a while; the last read it
		// served must come within lag.max + 250 ms of the stop.
		var lastServed time.Time
		for time.Since(stopped) < maxLag+time.Second {
			if serverID(t, c, "SELECT @@server_id") == victimID {
				lastServed = time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
		if lastServed.IsZero() {
			// It stays eligible until its lag passes lag.max: with reads every 5 ms it must
			// have served some; none means it was not in rotation and nothing was measured.
			t.Fatalf("trial %d: the stopped replica served no read at all after STOP", trial)
		}
		excluded := lastServed.Sub(stopped)
		if excluded > maxLag+250*time.Millisecond {
			t.Errorf("trial %d: stopped replica served reads until %s after STOP, want <= %s", trial, excluded, maxLag+250*time.Millisecond)
		}
		if st := tg.app.Monitor().ReplicaStatus(victim.Name); st.State != router.StateLagging {
			t.Fatalf("trial %d: stopped replica is %+v, want lagging", trial, st)
		}
		detect = append(detect, excluded)

		started := time.Now()
		sqlThread(t, victim, true)
		var firstServed time.Duration
		for time.Since(started) < recover+2*time.Second {
			if serverID(t, c, "SELECT @@server_id") == victimID {
				firstServed = time.Since(started)
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if firstServed == 0 || firstServed > recover+250*time.Millisecond {
			t.Errorf("trial %d: replica back in rotation after %s, want <= %s", trial, firstServed, recover+250*time.Millisecond)
		}
		back = append(back, firstServed)
		if n := tg.app.Monitor().StateChanges(victim.Name) - changesBefore; n > 2 {
			t.Errorf("trial %d: %d state changes, want <= 2 (flapping)", trial, n)
		}
	}
	slices.Sort(detect)
	slices.Sort(back)
	t.Logf("lag.max=%s: last read served after STOP: median %s max %s over %d trials; back after START: median %s max %s",
		maxLag, detect[len(detect)/2], detect[len(detect)-1], len(detect), back[len(back)/2], back[len(back)-1])
}

// TestStalenessProbe: a heartbeat row updated on the primary every 20 ms, read through
// tailgate at 50 Hz while one replica's SQL thread is stopped: no read is staler than
// lag.max + 100 ms.
func TestStalenessProbe(t *testing.T) {
	const maxLag = time.Second
	duration := 30 * time.Second
	if testing.Short() {
		duration = 10 * time.Second
	}
	tg := startTailgate(t, freshConfig(shared, maxLag, 500*time.Millisecond))
	primary, err := sql.Open("mysql", shared.Primary.DSN(cluster.AppUser, cluster.AppPassword, "tailgate_test"))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	mustExec(t, primary, "CREATE TABLE IF NOT EXISTS heartbeat (id INT PRIMARY KEY, ts BIGINT)")
	if _, err := primary.Exec("REPLACE INTO heartbeat VALUES (1, ?)", time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var acked atomic.Int64 // newest heartbeat value the primary acknowledged
	var beats, beatErrs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				ts := time.Now().UnixMicro()
				_, err := primary.ExecContext(ctx, "UPDATE heartbeat SET ts = ? WHERE id = 1", ts)
				switch {
				case err == nil:
					acked.Store(ts)
					beats.Add(1)
				case ctx.Err() == nil:
					beatErrs.Add(1)
					t.Logf("heartbeat: %v", err)
				}
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(100 * time.Millisecond) // heartbeats flowing
	waitTailer(t, tg, shared)
	stopped := shared.Replicas[1]
	sqlThread(t, stopped, false)
	beatsBefore := beats.Load()

	c := conn(t, tg.db(t, ""))
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	var reads, stale int
	var worst time.Duration
	perServer := map[int]int{}
	for end := time.Now().Add(duration); time.Now().Before(end); <-tk.C {
		var ts int64
		var sid int
		// A read's staleness: how far the heartbeat it sees is behind the newest one the
		// primary had acknowledged when the read started (the primary's own stalls, e.g.
		// fsync after heavy load, do not make a replica stale).
		newest := acked.Load()
		if err := c.QueryRowContext(context.Background(), "SELECT ts, @@server_id FROM heartbeat WHERE id = 1").Scan(&ts, &sid); err != nil {
			t.Fatal(err)
		}
		age := time.Duration(max(newest-ts, 0)) * time.Microsecond
		reads++
		perServer[sid]++
		worst = max(worst, age)
		if age > maxLag+100*time.Millisecond {
			stale++
		}
	}
	newBeats := beats.Load() - beatsBefore
	t.Logf("%d reads in %s (per server_id %v): worst age %s, %d older than %s; %d heartbeats, %d failed",
		reads, duration, perServer, worst, stale, maxLag+100*time.Millisecond, newBeats, beatErrs.Load())
	if stale > 0 {
		t.Errorf("%d of %d reads were older than lag.max + 100ms (worst %s)", stale, reads, worst)
	}
	// The probe must have measured something: heartbeats kept coming (one per 20 ms tick,
	// allowing for ticks dropped while one was slow), and the stopped replica served reads
	// while its lag was below lag.max, so some read saw an old heartbeat.
	if beatErrs.Load() != 0 || newBeats < int64(duration/(20*time.Millisecond))/2 {
		t.Errorf("%d heartbeats in %s, %d failed: the primary's heartbeat did not advance as the probe needs", newBeats, duration, beatErrs.Load())
	}
	if perServer[int(stopped.ServerID)] == 0 {
		t.Errorf("the stopped replica served no read: it should stay in rotation until its lag passes lag.max")
	}
	if worst < maxLag/2 {
		t.Errorf("worst age %s: no read saw the stopped replica's lag (want one older than %s)", worst, maxLag/2)
	}
}

// lagOneReplica starts tailgate with lag.max high enough that a replica whose SQL thread
// stops stays "online", creates table (id, v) and stops replica1's SQL thread: its reads are
// then stale by whatever the session writes. It returns a connection with DSN params.
func lagOneReplica(t *testing.T, params, table string) *sql.Conn {
	t.Helper()
	tg := startTailgate(t, freshConfig(shared, time.Minute, 30*time.Second))
	c := conn(t, tg.db(t, params))
	mustExec(t, c, "CREATE TABLE IF NOT EXISTS "+table+" (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	waitReplicated(t, shared)
	sqlThread(t, shared.Replicas[0], false)
	return c
}

// TestReadYourWritesWithLaggingReplica: INSERT then SELECT of that row, 1,000 times on one
// autocommit connection, with one replica's SQL thread stopped but still "online" (lag.max
// is high): no read misses its own write.
func TestReadYourWritesWithLaggingReplica(t *testing.T) {
	c := lagOneReplica(t, "", "ryw")
	perServer := map[int]int{}
	misses := 0
	for i := range 1000 {
		res, err := c.ExecContext(context.Background(), "INSERT INTO ryw (v) VALUES (?)", i)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		var v, sid int
		err = c.QueryRowContext(context.Background(), "SELECT v, @@server_id FROM ryw WHERE id = ?", id).Scan(&v, &sid)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			misses++
		case err != nil:
			t.Fatal(err)
		case v != i:
			t.Fatalf("row %d has v=%d, want %d", id, v, i)
		}
		perServer[sid]++
	}
	replicaReads := 1000 - perServer[int(shared.Primary.ServerID)]
	t.Logf("1000 INSERT+SELECT: %d misses; reads per server_id %v; replicas served %.1f%%", misses, perServer, float64(replicaReads)/10)
	// A read sent to the stopped replica finds no row: it counts as a miss.
	if misses > 0 {
		t.Errorf("%d reads missed the session's own write", misses)
	}
}

// TestReadYourWritesWaitsOnReplica: with consistency.replica_wait, a read right after the
// session's write waits on a replica for it (MASTER_GTID_WAIT) instead of going to the
// primary: nearly all such reads run on the replicas, none misses the write. A replica
// whose SQL thread is stopped (still "online": lag.max is high) never serves one: reads wait
// on the replica that applies (the least behind), or, when a wait there runs out, go to the
// primary.
func TestReadYourWritesWaitsOnReplica(t *testing.T) {
	const wait = 200 * time.Millisecond
	cfg := freshConfig(shared, time.Minute, 30*time.Second)
	cfg.Consistency.ReplicaWait = config.Duration{Duration: wait}
	tg := startTailgate(t, cfg)
	c := conn(t, tg.db(t, ""))
	ctx := context.Background()
	mustExec(t, c, "CREATE TABLE IF NOT EXISTS ryw_wait (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	waitReplicated(t, shared)
	// run inserts and reads back n rows, returning the reads per server and the misses.
	run := func(n int) (map[int]int, int, []time.Duration) {
		t.Helper()
		per, misses := map[int]int{}, 0
		var took []time.Duration
		for i := range n {
			res, err := c.ExecContext(ctx, "INSERT INTO ryw_wait (v) VALUES (?)", i)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := res.LastInsertId()
			start := time.Now()
			var v, sid int
			err = c.QueryRowContext(ctx, "SELECT v, @@server_id FROM ryw_wait WHERE id = ?", id).Scan(&v, &sid)
			took = append(took, time.Since(start))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				misses++
			case err != nil:
				t.Fatal(err)
			}
			per[sid]++
		}
		slices.Sort(took)
		return per, misses, took
	}
	stats := func() (waits, misses uint64) {
		s := tg.app.Server().Stats().Snapshot()
		return s.ReplicaWaits, s.ReplicaWaitMisses
	}

	primary := int(shared.Primary.ServerID)
	per, misses, took := run(200)
	waits, waitMisses := stats()
	t.Logf("200 INSERT+SELECT, all replicas applying: reads per server %v, %d misses, %d waits (%d ran out); read latency median %s, p95 %s",
		per, misses, waits, waitMisses, took[len(took)/2], took[len(took)*95/100])
	if misses > 0 {
		t.Errorf("%d reads missed the session's own write", misses)
	}
	if per[primary] > 20 {
		t.Errorf("%d of 200 reads after a write ran on the primary, want nearly none with replica_wait", per[primary])
	}
	if waits == 0 {
		t.Error("no read waited on a replica: the test measured nothing")
	}

	stopped := shared.Replicas[0]
	sqlThread(t, stopped, false)
	_, missesBefore := stats()
	per, misses, took = run(20)
	_, missesAfter := stats()
	t.Logf("20 more with %s stopped: reads per server %v, %d misses, %d waits ran out; read latency median %s, max %s",
		stopped.Name, per, misses, missesAfter-missesBefore, took[len(took)/2], took[len(took)-1])
	if misses > 0 {
		t.Errorf("%d reads missed the session's own write with %s stopped", misses, stopped.Name)
	}
	if per[int(stopped.ServerID)] != 0 {
		t.Errorf("the stopped replica served %d reads after writes it does not have", per[int(stopped.ServerID)])
	}
	if per[int(shared.Replicas[1].ServerID)] < 15 {
		t.Errorf("%s served %d of 20 reads after writes, want nearly all: reads should wait on the replica that applies", shared.Replicas[1].Name, per[int(shared.Replicas[1].ServerID)])
	}
	if took[len(took)-1] > wait+time.Second {
		t.Errorf("a read took %s, want about replica_wait (%s) at most plus the primary's answer", took[len(took)-1], wait)
	}
}

// TestReadYourWritesAfterReturning: MariaDB's INSERT, REPLACE and DELETE ... RETURNING
// answer with a result set, whose closing EOF packet carries no GTID: the session's next
// read must still see the write (tailgate reads the primary's position after it), as text
// and as a prepared statement, with one replica's SQL thread stopped but "online".
func TestReadYourWritesAfterReturning(t *testing.T) {
	c := lagOneReplica(t, "", "ryw_ret")
	ctx := context.Background()
	// exists reads row id back as the next statement of the session.
	exists := func(id int64) bool {
		t.Helper()
		var n int
		if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM ryw_ret WHERE id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	returning := func(prepared bool, query string, args ...any) int64 {
		t.Helper()
		var id int64
		var err error
		if prepared {
			var st *sql.Stmt
			if st, err = c.PrepareContext(ctx, query); err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			err = st.QueryRowContext(ctx, args...).Scan(&id)
		} else {
			err = c.QueryRowContext(ctx, fmt.Sprintf(strings.ReplaceAll(query, "?", "%d"), args...)).Scan(&id)
		}
		if err != nil {
			t.Fatalf("%s %v: %v", query, args, err)
		}
		return id
	}
	// Rows for the DELETEs, on every replica before its SQL thread stops again: a read
	// there still finds them.
	sqlThread(t, shared.Replicas[0], true)
	var old []int64
	for i := range 100 {
		res, err := c.ExecContext(ctx, "INSERT INTO ryw_ret (v) VALUES (?)", -i)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		old = append(old, id)
	}
	waitReplicated(t, shared)
	sqlThread(t, shared.Replicas[0], false)
	for _, prepared := range []bool{false, true} {
		misses := map[string]int{}
		for i := range 50 {
			id := returning(prepared, "INSERT INTO ryw_ret (v) VALUES (?) RETURNING id", i)
			if !exists(id) {
				misses["INSERT"]++
			}
			id = returning(prepared, "REPLACE INTO ryw_ret (id, v) VALUES (?, ?) RETURNING id", id+1000000, i)
			if !exists(id) {
				misses["REPLACE"]++
			}
			id = returning(prepared, "DELETE FROM ryw_ret WHERE id = ? RETURNING id", old[0])
			old = old[1:]
			if exists(id) {
				misses["DELETE"]++
			}
		}
		if len(misses) > 0 {
			t.Errorf("prepared=%v: reads that missed the session's own RETURNING write (of 50 each): %v", prepared, misses)
		}
	}
}

// TestReadYourWritesAfterClientSetsSessionTracking: drivers set session_track_system_variables
// themselves at connect (MariaDB Connector/C++: 'auto_increment_increment,tx_isolation'),
// which replaces the tracking of last_gtid that read-your-writes learns each write's GTID
// from. Tailgate restores its own tracking after such a SET, on the connection it ran on and
// wherever it is replayed.
func TestReadYourWritesAfterClientSetsSessionTracking(t *testing.T) {
	c := lagOneReplica(t, "multiStatements=true", "ryw_track")
	for _, set := range []string{
		"SET session_track_system_variables = 'auto_increment_increment,tx_isolation'",
		"SET session_track_schema = 1, session_track_system_variables = ''; SET @x = 1",
		"SET session_track_system_variables = ?", // a prepared statement
	} {
		var args []any
		if strings.Contains(set, "?") {
			args = []any{"autocommit"}
		}
		if _, err := c.ExecContext(context.Background(), set, args...); err != nil {
			t.Fatalf("%s: %v", set, err)
		}
		misses := 0 // a read on the stopped replica finds no row: it is a miss
		for i := range 100 {
			res, err := c.ExecContext(context.Background(), "INSERT INTO ryw_track (v) VALUES (?)", i)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := res.LastInsertId()
			var v int
			err = c.QueryRowContext(context.Background(), "SELECT v FROM ryw_track WHERE id = ?", id).Scan(&v)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				misses++
			case err != nil:
				t.Fatal(err)
			}
		}
		if misses > 0 {
			t.Errorf("after %q: %d of 100 reads missed the session's own write", set, misses)
		}
	}
}

// TestAllReplicasStale: both replicas' SQL threads stopped under writes: reads go to the
// primary with on_all_stale = "primary" and fail clearly with "error".
func TestAllReplicasStale(t *testing.T) {
	for _, policy := range []string{config.OnAllStalePrimary, config.OnAllStaleError} {
		t.Run(policy, func(t *testing.T) {
			cfg := freshConfig(shared, 300*time.Millisecond, 100*time.Millisecond)
			cfg.Lag.OnAllStale = policy
			tg := startTailgate(t, cfg)
			c := conn(t, tg.db(t, ""))
			for _, r := range shared.Replicas {
				waitState(t, tg, r.Name, router.StateOnline, 5*time.Second)
			}
			stop := writeEvery(t, shared, 20*time.Millisecond).stop
			for _, r := range shared.Replicas {
				sqlThread(t, r, false)
			}
			for _, r := range shared.Replicas {
				waitState(t, tg, r.Name, router.StateLagging, 3*time.Second)
			}
			var id int
			err := c.QueryRowContext(context.Background(), "SELECT @@server_id").Scan(&id)
			switch policy {
			case config.OnAllStalePrimary:
				if err != nil || id != int(shared.Primary.ServerID) {
					t.Fatalf("read with every replica stale: server %d, %v; want the primary", id, err)
				}
			case config.OnAllStaleError:
				if err == nil {
					t.Fatalf("read with every replica stale succeeded on server %d; want an error", id)
				}
				if !strings.Contains(err.Error(), "no replica is fresh enough") || !strings.Contains(err.Error(), "lagging (lag ") {
					t.Fatalf("error %q does not explain the lag", err)
				}
				// The hint still reaches the primary.
				if err := c.QueryRowContext(context.Background(), "/* tailgate:primary */ SELECT @@server_id").Scan(&id); err != nil || id != int(shared.Primary.ServerID) {
					t.Fatalf("primary hint: %d, %v", id, err)
				}
			}
			stop()
			for _, r := range shared.Replicas {
				sqlThread(t, r, true)
			}
			for _, r := range shared.Replicas {
				waitState(t, tg, r.Name, router.StateOnline, 5*time.Second)
			}
		})
	}
}

// TestPrimaryRestartTailerResumes: the primary restarts under the tailer; it reconnects and
// resumes, and no replica is marked lagging for more than 1 s after the primary is back.
func TestPrimaryRestartTailerResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := cluster.StartT(t, cluster.Options{Replicas: 2, Logf: t.Logf})
	tg := startTailgate(t, freshConfig(c, time.Second, 500*time.Millisecond))
	for _, r := range c.Replicas {
		waitState(t, tg, r.Name, router.StateOnline, 5*time.Second)
	}
	stop := writeEvery(t, c, 50*time.Millisecond).stop
	time.Sleep(300 * time.Millisecond)
	stop()
	before := tg.app.Monitor().PrimaryPosition()
	if err := c.Primary.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Primary.Start(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	writeEvery(t, c, 50*time.Millisecond)
	lagging := map[string]time.Time{}
	for time.Since(back) < 5*time.Second {
		for _, r := range c.Replicas {
			st := tg.app.Monitor().ReplicaStatus(r.Name)
			if st.State == router.StateOnline {
				delete(lagging, r.Name)
				continue
			}
			if since, ok := lagging[r.Name]; !ok {
				lagging[r.Name] = time.Now()
			} else if time.Since(since) > time.Second {
				t.Fatalf("%s %s for more than 1s after the primary came back (lag %s)", r.Name, st.State, st.Lag)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	connected, reconnects, _, _ := tg.app.Monitor().TailerStats()
	after := tg.app.Monitor().PrimaryPosition()
	t.Logf("tailer reconnects %d, position %s -> %s", reconnects, before, after)
	if !connected || reconnects == 0 {
		t.Fatalf("tailer connected=%v reconnects=%d; want a reconnect and a live stream", connected, reconnects)
	}
	if after == before {
		t.Fatalf("tailer position did not move after the restart (%s): it did not resume", after)
	}
}

// TestReplicaLocalWritesAreNotThePrimarys: a replica whose SQL thread stopped misses 4 of
// the primary's transactions (0-1-N+1..N+4), then takes 4 writes of its own (0-2-N+1..N+4,
// the same sequence numbers in the same domain). Its own writes must not count as the
// primary's: it leaves rotation once its lag passes lag.max, and its position stays the
// primary's 0-1-N. (It used to show online with lag 0 and serve reads without the
// primary's data.) Its own cluster: the replica's binlog diverges for good.
func TestReplicaLocalWritesAreNotThePrimarys(t *testing.T) {
	const maxLag = 500 * time.Millisecond
	c := cluster.StartT(t, cluster.Options{Replicas: 2, Logf: t.Logf})
	tg := startTailgate(t, freshConfig(c, maxLag, 200*time.Millisecond))
	ctx := context.Background()
	if err := c.Primary.Exec(ctx, "CREATE TABLE tailgate_test.localw (id INT PRIMARY KEY, v INT)"); err != nil {
		t.Fatal(err)
	}
	waitTailer(t, tg, c)
	victim := c.Replicas[0]
	sqlThread(t, victim, false)
	before := gtidBinlogPos(t, c.Primary)
	for i := 1; i <= 4; i++ {
		if err := c.Primary.Exec(ctx, fmt.Sprintf("INSERT INTO tailgate_test.localw VALUES (%d, %d)", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 4; i++ {
		if err := victim.Exec(ctx, fmt.Sprintf("INSERT INTO tailgate_test.localw VALUES (%d, %d)", 100+i, i)); err != nil {
			t.Fatal(err)
		}
	}
	primaryPos, victimPos := gtidBinlogPos(t, c.Primary), gtidBinlogPos(t, victim)
	t.Logf("primary at %s (was %s); %s's binlog at %s", primaryPos, before, victim.Name, victimPos)
	if !strings.HasPrefix(victimPos, fmt.Sprintf("0-%d-", victim.ServerID)) || !positionReached(victimPos, primaryPos) {
		t.Fatalf("%s's binlog at %s: the test wants its local writes at the primary's sequence numbers (%s)", victim.Name, victimPos, primaryPos)
	}
	waitState(t, tg, victim.Name, router.StateLagging, maxLag+2*time.Second)
	mon := tg.app.Monitor()
	if got := mon.Position(victim.Name); got != before {
		t.Errorf("%s's position %q, want the primary's %q it applied", victim.Name, got, before)
	}
	if mon.HasApplied(victim.Name, primaryPos) {
		t.Errorf("%s is taken to have applied the primary's %s", victim.Name, primaryPos)
	}
	db := tg.db(t, "")
	for range 20 {
		if id := serverID(t, db, "SELECT @@server_id"); id == int(victim.ServerID) {
			t.Fatalf("a read went to %s, which lacks the primary's %s", victim.Name, primaryPos)
		}
	}
	if st := mon.ReplicaStatus(c.Replicas[1].Name); st.State != router.StateOnline {
		t.Errorf("%s, which applies, is %+v: want online", c.Replicas[1].Name, st)
	}
}
