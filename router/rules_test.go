package router

import (
	"regexp"
	"testing"
	"time"
)

// TestRules: a rule gives the statements whose digest it matches its hints, as comments
// in the text would; the text's own hints win; the first matching rule applies; new rules
// empty the caches, so cached texts get them at once.
func TestRules(t *testing.T) {
	c := NewClassifier(100)
	var view SessionView
	before := c.Classify("SELECT total FROM reports WHERE day = 5")
	if d := Pin(before, &view); d.Reason != ReasonRead {
		t.Fatalf("before the rules: %+v", d)
	}
	fn := c.Classify("SELECT reports_total(5)")
	if fn.Kind != KindWrite || fn.Reason != ReasonStoredFunc {
		t.Fatalf("a stored function read: %+v", fn)
	}
	c.SetRules([]Rule{
		{Name: "reports-primary", Match: regexp.MustCompile(`FROM reports WHERE day = \?$`), Hint: HintPrimary},
		{Name: "reports", Match: regexp.MustCompile(`reports`), Hint: HintReplica, MaxLag: 30 * time.Second},
		{Name: "lag-only", Match: regexp.MustCompile(`^SELECT \* FROM audit`), MaxLag: time.Minute},
	})
	for _, tc := range []struct {
		sql    string
		target Target
		reason Reason
		rule   string
		maxLag time.Duration
	}{
		{"SELECT total FROM reports WHERE day = 5", TargetPrimary, ReasonRulePrimary, "reports-primary", 0},
		{"SELECT total FROM reports WHERE day = 6", TargetPrimary, ReasonRulePrimary, "reports-primary", 0}, // the shape's
		{"SELECT SUM(total) FROM reports", TargetReplica, ReasonRuleReplica, "reports", 30 * time.Second},
		{"SELECT reports_total(5)", TargetReplica, ReasonRuleReplica, "reports", 30 * time.Second}, // vouched for, as by the comment
		{"/* tailgate:primary */ SELECT SUM(total) FROM reports", TargetPrimary, ReasonHintPrimary, "", 30 * time.Second},
		{"/* tailgate:max_lag=2s */ SELECT SUM(total) FROM reports", TargetReplica, ReasonRuleReplica, "reports", 2 * time.Second},
		{"SELECT * FROM audit WHERE id = 1", TargetReplica, ReasonRead, "", time.Minute},
		{"UPDATE reports SET total = 1", TargetPrimary, ReasonWrite, "reports", 30 * time.Second}, // a replica rule cannot move a write
		{"SELECT 1", TargetReplica, ReasonRead, "", 0},
	} {
		st := c.Classify(tc.sql)
		d := Pin(st, &view)
		if d.Target != tc.target || d.Reason != tc.reason || st.Rule != tc.rule || st.MaxLag != tc.maxLag {
			t.Errorf("%s: %s %s, rule %q, max_lag %s; want %s %s, rule %q, max_lag %s",
				tc.sql, d.Target, d.Reason, st.Rule, st.MaxLag, tc.target, tc.reason, tc.rule, tc.maxLag)
		}
	}
	ansi := c.ForMode(ModeANSIQuotes).Classify("SELECT SUM(total) FROM reports")
	if ansi.Rule != "reports" {
		t.Errorf("a session in ANSI_QUOTES mode: rule %q, want reports", ansi.Rule)
	}
	c.SetRules(nil)
	if st := c.Classify("SELECT total FROM reports WHERE day = 5"); st.Rule != "" || st.Hint != HintNone {
		t.Errorf("after the rules were removed: %+v", st)
	}
}
