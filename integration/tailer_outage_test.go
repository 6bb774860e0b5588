package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
	"github.com/tailgate-proxy/tailgate/router"
)

// TestLagWhileTailerIsDown: the binlog tailer loses its stream and cannot get it back
// (REPLICATION SLAVE revoked on the primary, its dump thread killed) while the primary
// keeps taking writes. A replica that stops applying must still leave rotation: the
// primary's watcher polls its binlog position in the tailer's stead. When the privilege
// is back, the tailer reconnects and the replica returns once it caught up.
func TestLagWhileTailerIsDown(t *testing.T) {
	const maxLag = time.Second
	c := cluster.StartT(t, cluster.Options{Replicas: 2, Logf: t.Logf})
	tg := startTailgate(t, freshConfig(c, maxLag, 500*time.Millisecond))
	waitTailer(t, tg, c)
	ctx := context.Background()
	monitorGrant := func(verb string) []string {
		stmts := []string{"SET SESSION sql_log_bin = 0"}
		for _, host := range []string{"127.0.0.1", "localhost", "%"} {
			dir := "TO"
			if verb == "REVOKE" {
				dir = "FROM"
			}
			stmts = append(stmts, fmt.Sprintf("%s REPLICATION SLAVE ON *.* %s '%s'@'%s'", verb, dir, cluster.MonitorUser, host))
		}
		return stmts
	}
	if err := c.Primary.Exec(ctx, monitorGrant("REVOKE")...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Primary.Exec(ctx, monitorGrant("GRANT")...) })
	root, err := c.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	dumps := int64Column(t, root, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND LIKE 'Binlog Dump%'", cluster.MonitorUser)
	if len(dumps) != 1 {
		t.Fatalf("%d binlog dump threads of the tailer on the primary, want 1", len(dumps))
	}
	mustExec(t, root, fmt.Sprintf("KILL %d", dumps[0]))
	deadline := time.Now().Add(5 * time.Second)
	for {
		connected, _, _, _ := tg.app.Monitor().TailerStats()
		if !connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tailer still reports a stream 5 s after its dump thread was killed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	victim, other := c.Replicas[0], c.Replicas[1]
	sqlThread(t, victim, false)
	w := writeEvery(t, c, 20*time.Millisecond)
	stopped := w.firstAckAfter(time.Now())
	waitState(t, tg, victim.Name, router.StateLagging, maxLag+5*time.Second)
	since := time.Since(stopped)
	t.Logf("with the tailer down, the stopped replica was seen lagging %s after its first missed write", since.Round(time.Millisecond))
	// lag.max plus a poll interval, and the evaluation and the state change.
	if since > maxLag+250*time.Millisecond {
		t.Errorf("stopped replica seen lagging %s after its first missed write, want <= %s", since, maxLag+250*time.Millisecond)
	}
	if connected, _, _, _ := tg.app.Monitor().TailerStats(); connected {
		t.Fatal("the tailer reconnected without REPLICATION SLAVE: nothing was measured without it")
	}
	if st := tg.app.Monitor().ReplicaStatus(other.Name); st.State != router.StateOnline {
		t.Errorf("%s, applying, is %+v, want online", other.Name, st)
	}

	// The privilege back: the tailer reconnects (backoff up to 5 s) and the replica returns.
	if err := c.Primary.Exec(ctx, monitorGrant("GRANT")...); err != nil {
		t.Fatal(err)
	}
	sqlThread(t, victim, true)
	waitTailer(t, tg, c)
	waitState(t, tg, victim.Name, router.StateOnline, 10*time.Second)
}

// lockedLog keeps what a tailgate logs, for a test to search, and passes it on to the test's log.
type lockedLog struct {
	t  testing.TB
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	return testWriter{l.t}.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTailerServerIDInUse: two tailgates configured with the same replication.server_id (a
// copied config) fight over one binlog dump on the primary. MariaDB refuses or drops one of
// them; the tailer's warning must say what is wrong and what to change, not only relay the
// server's error.
func TestTailerServerIDInUse(t *testing.T) {
	first := freshConfig(shared, time.Second, 500*time.Millisecond)
	tg1 := startTailgate(t, first)
	waitTailer(t, tg1, shared)

	second := freshConfig(shared, time.Second, 500*time.Millisecond)
	second.Replication.ServerID = first.Replication.ServerID
	logs := &lockedLog{t: t}
	startTailgateLog(t, second, logs)
	hint := fmt.Sprintf("replication.server_id %d is in use by another connection to the primary", first.Replication.ServerID)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), hint) {
		if time.Now().After(deadline) {
			t.Fatalf("15 s after a second tailgate with server_id %d started, its log has no %q:\n%s",
				first.Replication.ServerID, hint, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
