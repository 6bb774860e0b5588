package router

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestPin(t *testing.T) {
	read := &Statement{Kind: KindRead}
	tests := []struct {
		name   string
		st     *Statement
		s      SessionView
		target Target
		// backend is the expected backend; "" means any replica (chosen by the balancer).
		backend string
		reason  Reason
	}{
		{"autocommit read", read, SessionView{}, TargetReplica, "", ReasonRead},
		{"write", &Statement{Kind: KindWrite, Reason: ReasonWrite}, SessionView{}, TargetPrimary, PrimaryName, ReasonWrite},
		{"locking read keeps its reason", &Statement{Kind: KindWrite, Reason: ReasonLockingRead}, SessionView{}, TargetPrimary, PrimaryName, ReasonLockingRead},
		{"begin", &Statement{Kind: KindBegin}, SessionView{}, TargetPrimary, PrimaryName, ReasonWrite},
		{"read in primary transaction", read, SessionView{TransactionBackend: PrimaryName}, TargetPrimary, PrimaryName, ReasonInTransaction},
		{"write in read-only replica transaction stays there", &Statement{Kind: KindWrite}, SessionView{TransactionBackend: "r1"}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"read-only transaction starts on a replica", &Statement{Kind: KindBeginReadOnly}, SessionView{}, TargetReplica, "", ReasonReadOnlyTxn},
		{"autocommit off", read, SessionView{AutocommitOff: true}, TargetPrimary, PrimaryName, ReasonAutocommitOff},
		{"temporary tables", read, SessionView{TempTables: true}, TargetPrimary, PrimaryName, ReasonTempTable},
		{"user lock", read, SessionView{LocksHeld: true}, TargetPrimary, PrimaryName, ReasonLockHeld},
		{"lock tables", read, SessionView{TablesLocked: true}, TargetPrimary, PrimaryName, ReasonAdminCommand},
		{"user vars pinned, statement reads them", &Statement{Kind: KindRead, Effects: EffectUsesUserVars}, SessionView{UserVarsOnPrimary: true}, TargetPrimary, PrimaryName, ReasonUserVarsPinned},
		{"user vars pinned, statement does not read them", read, SessionView{UserVarsOnPrimary: true}, TargetReplica, "", ReasonRead},
		{"hint primary", &Statement{Kind: KindRead, Hint: HintPrimary}, SessionView{}, TargetPrimary, PrimaryName, ReasonHintPrimary},
		{"hint replica", &Statement{Kind: KindRead, Hint: HintReplica}, SessionView{}, TargetReplica, "", ReasonHintReplica},
		{"hint replica does not move a write", &Statement{Kind: KindWrite, Reason: ReasonWrite, Hint: HintReplica}, SessionView{}, TargetPrimary, PrimaryName, ReasonWrite},
		{"hint replica does not leave a transaction", &Statement{Kind: KindRead, Hint: HintReplica}, SessionView{TransactionBackend: PrimaryName}, TargetPrimary, PrimaryName, ReasonInTransaction},
		{"a read after a prepared SET of a session variable", read, SessionView{StateOnPrimary: true}, TargetPrimary, PrimaryName, ReasonSessionState},
		{"a read-only transaction after it", &Statement{Kind: KindBeginReadOnly}, SessionView{StateOnPrimary: true}, TargetPrimary, PrimaryName, ReasonSessionState},
		{"show warnings follows the last backend", &Statement{Kind: KindLastBackend}, SessionView{LastBackend: "r2"}, TargetReplica, "r2", ReasonLastBackend},
		{"show warnings without history", &Statement{Kind: KindLastBackend}, SessionView{}, TargetPrimary, PrimaryName, ReasonLastBackend},
		{"session set runs where the session last ran", &Statement{Kind: KindSessionSet}, SessionView{LastBackend: "r1"}, TargetReplica, "r1", ReasonSessionState},
		{"set autocommit goes to the primary", &Statement{Kind: KindSessionSet, Effects: EffectSetAutocommit}, SessionView{LastBackend: "r1"}, TargetPrimary, PrimaryName, ReasonSessionState},
		{"use", &Statement{Kind: KindUse}, SessionView{LastBackend: PrimaryName}, TargetPrimary, PrimaryName, ReasonSessionState},
		{"commit outside a transaction", &Statement{Kind: KindEndTransaction}, SessionView{}, TargetPrimary, PrimaryName, ReasonWrite},
		{"kill is tailgate's, in a transaction too", &Statement{Kind: KindKill}, SessionView{TransactionBackend: PrimaryName}, TargetProxy, "", ReasonKillSession},
		// A read-only transaction on a replica holds a snapshot, not the session's primary
		// connection: reads of what lives there leave it, the rest stays.
		{"session function in read-only replica transaction goes to the primary", &Statement{Kind: KindWrite, Reason: ReasonSessionFunc, PrimarySession: true}, SessionView{TransactionBackend: "r1", LastBackend: "r1"}, TargetPrimary, PrimaryName, ReasonSessionFunc},
		{"session function read into a variable, likewise", &Statement{Kind: KindWrite, Reason: ReasonSelectInto, PrimarySession: true}, SessionView{TransactionBackend: "r1"}, TargetPrimary, PrimaryName, ReasonSelectInto},
		{"primary status in read-only replica transaction goes to the primary", &Statement{Kind: KindWrite, Reason: ReasonPrimaryStatus}, SessionView{TransactionBackend: "r1"}, TargetPrimary, PrimaryName, ReasonPrimaryStatus},
		{"previous-statement function stays in the replica transaction", &Statement{Kind: KindWrite, Reason: ReasonSessionFunc}, SessionView{TransactionBackend: "r1"}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"write calling a session function stays in the replica transaction", &Statement{Kind: KindWrite, Reason: ReasonWrite, PrimarySession: true}, SessionView{TransactionBackend: "r1"}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"multi-statement with a session function stays in the replica transaction", &Statement{Kind: KindWrite, Reason: ReasonMultiWrite, PrimarySession: true, Multi: true}, SessionView{TransactionBackend: "r1"}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"sequence stays in the replica transaction", &Statement{Kind: KindWrite, Reason: ReasonSequence}, SessionView{TransactionBackend: "r1"}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"read stays in the replica transaction while a lock is held", read, SessionView{TransactionBackend: "r1", LocksHeld: true, LastBackend: PrimaryName}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"session function in primary transaction", &Statement{Kind: KindWrite, Reason: ReasonSessionFunc, PrimarySession: true}, SessionView{TransactionBackend: PrimaryName}, TargetPrimary, PrimaryName, ReasonInTransaction},
		{"show warnings after a read left the replica transaction", &Statement{Kind: KindLastBackend}, SessionView{TransactionBackend: "r1", LastBackend: PrimaryName}, TargetPrimary, PrimaryName, ReasonLastBackend},
		{"show warnings in the replica transaction", &Statement{Kind: KindLastBackend}, SessionView{TransactionBackend: "r1", LastBackend: "r1"}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"set autocommit in the replica transaction goes to the primary", &Statement{Kind: KindSessionSet, Effects: EffectSetAutocommit}, SessionView{TransactionBackend: "r1", LastBackend: "r1"}, TargetPrimary, PrimaryName, ReasonSessionState},
		{"other sets stay in the replica transaction", &Statement{Kind: KindSessionSet, SetKey: "time_zone"}, SessionView{TransactionBackend: "r1", LastBackend: "r1"}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"user variables living on the primary are read there", &Statement{Kind: KindRead, Effects: EffectUsesUserVars}, SessionView{TransactionBackend: "r1", UserVarsOnPrimary: true}, TargetPrimary, PrimaryName, ReasonUserVarsPinned},
		{"a write of such variables stays in the replica transaction, to fail there", &Statement{Kind: KindWrite, Reason: ReasonWrite, Effects: EffectUsesUserVars}, SessionView{TransactionBackend: "r1", UserVarsOnPrimary: true}, TargetReplica, "r1", ReasonReadOnlyTxn},
		{"a user variable assigned in the replica transaction is assigned on the primary", &Statement{Kind: KindWrite, Reason: ReasonUserVarAssign, Effects: EffectUserVarAssign}, SessionView{TransactionBackend: "r1"}, TargetPrimary, PrimaryName, ReasonUserVarAssign},
		{"replayed user variables are read in the replica transaction", &Statement{Kind: KindRead, Effects: EffectUsesUserVars}, SessionView{TransactionBackend: "r1"}, TargetReplica, "r1", ReasonReadOnlyTxn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Pin(tc.st, &tc.s)
			if d.Target != tc.target || d.Backend != tc.backend || d.Reason != tc.reason {
				t.Fatalf("Pin = %+v, want target %v backend %q reason %q", d, tc.target, tc.backend, tc.reason)
			}
		})
	}
}

// TestPinReadOnlyTransactionClassified: what the classifier makes of the statements an
// application sends inside START TRANSACTION READ ONLY, held on replica r1, and where Pin
// sends them.
func TestPinReadOnlyTransactionClassified(t *testing.T) {
	c := NewClassifier(1000)
	inTxn := SessionView{TransactionBackend: "r1", LastBackend: "r1"}
	for _, tc := range []struct {
		sql    string
		target Target
		reason Reason
	}{
		{"SELECT LAST_INSERT_ID()", TargetPrimary, ReasonSessionFunc},
		{"SELECT GET_LOCK('job', 0)", TargetPrimary, ReasonSessionFunc},
		{"SELECT IS_USED_LOCK('job')", TargetPrimary, ReasonSessionFunc},
		{"DO RELEASE_LOCK('job')", TargetPrimary, ReasonSessionFunc},
		{"SELECT CONNECTION_ID()", TargetPrimary, ReasonSessionFunc},
		{"SELECT @@last_gtid", TargetPrimary, ReasonSessionFunc},
		{"SELECT GET_LOCK('job', 0) INTO @got", TargetPrimary, ReasonSelectInto},
		{"SET @id = LAST_INSERT_ID()", TargetPrimary, ReasonUserVarAssign},
		{"SELECT @@gtid_binlog_pos", TargetPrimary, ReasonPrimaryStatus},
		{"SHOW MASTER STATUS", TargetPrimary, ReasonPrimaryStatus},
		{"SHOW REPLICA HOSTS", TargetPrimary, ReasonPrimaryStatus},
		{"SELECT * FROM t", TargetReplica, ReasonReadOnlyTxn},
		{"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1", TargetReplica, ReasonReadOnlyTxn},
		{"SELECT FOUND_ROWS()", TargetReplica, ReasonReadOnlyTxn}, // of the SELECT above
		{"SELECT ROW_COUNT()", TargetReplica, ReasonReadOnlyTxn},
		{"SELECT NEXTVAL(s)", TargetReplica, ReasonReadOnlyTxn},                       // the server refuses it, as on the primary
		{"SELECT LASTVAL(s)", TargetPrimary, ReasonSessionFunc},                       // the session's value is its primary connection's
		{"INSERT INTO t VALUES (LAST_INSERT_ID())", TargetReplica, ReasonReadOnlyTxn}, // likewise
		{"SELECT 1; SELECT GET_LOCK('job', 0)", TargetReplica, ReasonReadOnlyTxn},
		{"/* tailgate:replica */ SELECT @@gtid_binlog_pos", TargetReplica, ReasonReadOnlyTxn},
		{"COMMIT", TargetReplica, ReasonReadOnlyTxn},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			d := Pin(c.Classify(tc.sql), &inTxn)
			backend := "r1"
			if tc.target == TargetPrimary {
				backend = PrimaryName
			}
			if d.Target != tc.target || d.Backend != backend || d.Reason != tc.reason {
				t.Fatalf("Pin = %+v, want target %v backend %q reason %q", d, tc.target, backend, tc.reason)
			}
		})
	}
}

func TestBalancerWeights(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		picks   int
	}{
		{[]int{1, 1}, 1000},
		{[]int{3, 1}, 1000},
		{[]int{5, 2, 1}, 800},
	} {
		b := NewBalancer(tc.weights)
		eligible := make([]bool, len(tc.weights))
		for i := range eligible {
			eligible[i] = true
		}
		counts := make([]int, len(tc.weights))
		for range tc.picks {
			counts[b.Pick(eligible)]++
		}
		total := 0
		for _, w := range tc.weights {
			total += w
		}
		for i, w := range tc.weights {
			if want := tc.picks * w / total; counts[i] != want {
				t.Errorf("weights %v: backend %d picked %d times, want %d", tc.weights, i, counts[i], want)
			}
		}
	}
}

func TestBalancerSmoothAndEligible(t *testing.T) {
	b := NewBalancer([]int{3, 1})
	got := []int{}
	for range 4 {
		got = append(got, b.Pick([]bool{true, true}))
	}
	// Smooth: the light backend is not starved to the end of the window.
	if got[0] != 0 || got[3] == 1 && got[2] == 1 {
		t.Errorf("picks %v are not interleaved", got)
	}
	for range 10 {
		if i := b.Pick([]bool{false, true}); i != 1 {
			t.Fatalf("picked ineligible backend %d", i)
		}
	}
	if i := b.Pick([]bool{false, false}); i != -1 {
		t.Fatalf("Pick with none eligible = %d, want -1", i)
	}
}

type fakeFreshness map[string]ReplicaStatus

func (f fakeFreshness) ReplicaStatus(name string) ReplicaStatus { return f[name] }
func (f fakeFreshness) HasApplied(name, pos string) bool        { return f[name].Lag == 0 }

func TestRouteFreshness(t *testing.T) {
	reps := []ReplicaConfig{{Name: "r1", Weight: 1}, {Name: "r2", Weight: 1}}
	read := &Statement{Kind: KindRead}
	fresh := fakeFreshness{"r1": {State: StateOnline}, "r2": {State: StateLagging, Lag: 3 * time.Second}}

	r := New(Options{Replicas: reps, Freshness: fresh})
	for range 10 {
		d, err := r.Route(read, &SessionView{})
		if err != nil || d.Backend != "r1" {
			t.Fatalf("Route = %+v, %v; want r1 only (r2 lags)", d, err)
		}
	}
	// A max_lag hint above r2's lag admits it again.
	seen := map[string]int{}
	for range 10 {
		d, _ := r.Route(&Statement{Kind: KindRead, MaxLag: 5 * time.Second}, &SessionView{})
		seen[d.Backend]++
	}
	if seen["r1"] != 5 || seen["r2"] != 5 {
		t.Fatalf("with max_lag=5s picks = %v, want 5/5", seen)
	}
	// Read-your-writes: only replicas that applied the write; none -> primary.
	d, _ := r.Route(read, &SessionView{WritePosition: "0-1-5"})
	if d.Backend != "r1" {
		t.Fatalf("read-your-writes picked %+v, want r1", d)
	}
	// Offline replicas get nothing.
	r.SetOffline("r1", true)
	d, err := r.Route(read, &SessionView{})
	if err != nil || d.Target != TargetPrimary || !d.Fallback || d.Reason != ReasonNoHealthyReplica {
		t.Fatalf("all stale with primary fallback = %+v, %v", d, err)
	}
	r.SetOffline("r1", false)

	stale := fakeFreshness{"r1": {State: StateDown}, "r2": {State: StateLagging, Lag: 2500 * time.Millisecond}}
	r = New(Options{Replicas: reps, Freshness: stale, FailWhenStale: true})
	_, err = r.Route(read, &SessionView{})
	if !errors.Is(err, ErrNoReplica) {
		t.Fatalf("on_all_stale=error: err = %v, want ErrNoReplica", err)
	}
	if want := "r2 lagging (lag 2500ms)"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the lag %q", err, want)
	}
	// Writes are not affected by replica freshness.
	d, err = r.Route(&Statement{Kind: KindWrite, Reason: ReasonWrite}, &SessionView{})
	if err != nil || d.Target != TargetPrimary {
		t.Fatalf("write under stale replicas = %+v, %v", d, err)
	}
}

func TestRouteNoReplicas(t *testing.T) {
	r := New(Options{})
	d, err := r.Route(&Statement{Kind: KindRead}, &SessionView{})
	if err != nil || d.Target != TargetPrimary || d.Reason != ReasonNoReplica {
		t.Fatalf("Route without replicas = %+v, %v", d, err)
	}
}

// LOAD DATA LOCAL INFILE is a write: it goes to the primary whatever its form, and a
// replica hint does not move it.
func TestRouteLoadDataLocal(t *testing.T) {
	c := NewClassifier(100)
	r := New(Options{Replicas: []ReplicaConfig{{Name: "r1", Weight: 1}}, Freshness: fakeFreshness{"r1": {State: StateOnline}}})
	for _, sql := range []string{
		"LOAD DATA LOCAL INFILE '/tmp/x.tsv' INTO TABLE t",
		"load data local infile '/tmp/x.csv' replace into table db.t fields terminated by ','",
		"/* tailgate:replica */ LOAD DATA LOCAL INFILE 'x' INTO TABLE t",
		"LOAD DATA CONCURRENT LOCAL INFILE 'x' INTO TABLE t",
		"LOAD XML LOCAL INFILE 'x.xml' INTO TABLE t",
	} {
		st := c.Classify(sql)
		d, err := r.Route(st, &SessionView{})
		if err != nil || d.Target != TargetPrimary || d.Backend != PrimaryName {
			t.Errorf("Route(%q) = %+v, %v; want the primary", sql, d, err)
		}
	}
}

// TestExplainDoesNotTakeATurn: EXPLAIN ROUTE names the replica the next read gets, and
// asking any number of times does not change the round robin.
func TestRouteKill(t *testing.T) {
	r := New(Options{Replicas: []ReplicaConfig{{Name: "r1", Weight: 1}}})
	d, err := r.Route(&Statement{Kind: KindKill}, &SessionView{})
	if err != nil || d.Target != TargetProxy || d.Backend != "" || d.Target.String() != "tailgate" {
		t.Fatalf("Route(KILL) = %+v, %v; want tailgate itself", d, err)
	}
}

func TestExplainDoesNotTakeATurn(t *testing.T) {
	reps := []ReplicaConfig{{Name: "r1", Weight: 2}, {Name: "r2", Weight: 1}}
	fresh := fakeFreshness{"r1": {State: StateOnline}, "r2": {State: StateOnline}}
	read := &Statement{Kind: KindRead}
	explained, plain := New(Options{Replicas: reps, Freshness: fresh}), New(Options{Replicas: reps, Freshness: fresh})
	for i := range 12 {
		var next Decision
		for range 3 {
			d, err := explained.Explain(read, &SessionView{})
			if err != nil {
				t.Fatal(err)
			}
			next = d
		}
		got, _ := explained.Route(read, &SessionView{})
		want, _ := plain.Route(read, &SessionView{})
		if next.Backend != got.Backend || got.Backend != want.Backend {
			t.Fatalf("pick %d: Explain said %s, Route gave %s, a router nobody explained to gave %s", i, next.Backend, got.Backend, want.Backend)
		}
	}
}

// appliedFreshness is fakeFreshness with the write position each replica shows.
type appliedFreshness struct {
	fakeFreshness
	applied map[string]bool
}

func (f appliedFreshness) HasApplied(name, pos string) bool { return f.applied[name] }

// TestRouteWaitForWrite: with WaitForWrite, a read whose write no replica shows yet waits on
// the least behind of the replicas eligible but for the write; without it, it goes to the
// primary; a replica that shows the write is taken at once.
func TestRouteWaitForWrite(t *testing.T) {
	reps := []ReplicaConfig{{Name: "r1", Weight: 1}, {Name: "r2", Weight: 1}, {Name: "r3", Weight: 1}}
	read := &Statement{Kind: KindRead}
	view := &SessionView{WritePosition: "0-1-9", WaitForWrite: true}
	for _, c := range []struct {
		name    string
		fresh   appliedFreshness
		wait    bool
		want    map[string]int // picks over 12 reads
		primary bool
	}{
		{"all applying: round robin", appliedFreshness{fakeFreshness{"r1": {}, "r2": {Lag: 3 * time.Millisecond}, "r3": {}}, nil}, true,
			map[string]int{"r1": 4, "r2": 4, "r3": 4}, false},
		{"one stopped applying", appliedFreshness{fakeFreshness{"r1": {Lag: 400 * time.Millisecond}, "r2": {Lag: 2 * time.Millisecond}, "r3": {Lag: 5 * time.Millisecond}}, nil}, true,
			map[string]int{"r2": 6, "r3": 6}, false},
		{"lagging and down are not waited on", appliedFreshness{fakeFreshness{"r1": {State: StateLagging, Lag: 3 * time.Second}, "r2": {State: StateDown}, "r3": {Lag: 900 * time.Millisecond}}, nil}, true,
			map[string]int{"r3": 12}, false},
		{"one shows the write", appliedFreshness{fakeFreshness{"r1": {}, "r2": {}, "r3": {}}, map[string]bool{"r2": true}}, true,
			map[string]int{"r2": 12}, false},
		{"no waiting", appliedFreshness{fakeFreshness{"r1": {}, "r2": {}, "r3": {}}, nil}, false, nil, true},
	} {
		r := New(Options{Replicas: reps, Freshness: c.fresh})
		v := *view
		v.WaitForWrite = c.wait
		got := map[string]int{}
		for range 12 {
			d, err := r.Route(read, &v)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if c.primary {
				if d.Target != TargetPrimary || d.Reason != ReasonReadYourWrites || d.WaitFor != "" {
					t.Fatalf("%s: %+v, want the primary for read-your-writes", c.name, d)
				}
				continue
			}
			wantWait := c.fresh.applied == nil
			if d.Target != TargetReplica || (d.WaitFor == "0-1-9") != wantWait || (d.Reason == ReasonWaitForWrite) != wantWait {
				t.Fatalf("%s: %+v, want a replica read (waiting for the write: %v)", c.name, d, wantWait)
			}
			got[d.Backend]++
		}
		if !c.primary && !maps.Equal(got, c.want) {
			t.Errorf("%s: picks %v, want %v", c.name, got, c.want)
		}
	}
}
