package router

import (
	"testing"
	"time"
)

func TestLeadingHints(t *testing.T) {
	for _, tc := range []struct {
		sql    string
		hint   Hint
		maxLag time.Duration
	}{
		{"SELECT 1", HintNone, 0},
		{"", HintNone, 0},
		{"/* tailgate:primary */ SELECT 1", HintPrimary, 0},
		{"/* tailgate:replica */ SELECT 1", HintReplica, 0},
		{"/*tailgate:replica*/SELECT 1", HintReplica, 0},
		{"  \n\t/* tailgate:replica */\nSELECT 1", HintReplica, 0},
		{"/* TAILGATE:PRIMARY */ SELECT 1", HintPrimary, 0},
		{"/* tailgate:max_lag=500ms */ SELECT 1", HintNone, 500 * time.Millisecond},
		{"/* tailgate:max_lag = 1.5s */ SELECT 1", HintNone, 1500 * time.Millisecond},

		// Several directives in one comment, by commas or spaces, prefix optional per directive.
		{"/* tailgate:replica,max_lag=2s */ SELECT 1", HintReplica, 2 * time.Second},
		{"/* tailgate:replica max_lag=2s */ SELECT 1", HintReplica, 2 * time.Second},
		{"/* tailgate: replica , max_lag=2s */ SELECT 1", HintReplica, 2 * time.Second},
		{"/* tailgate:replica tailgate:max_lag=1m */ SELECT 1", HintReplica, time.Minute},

		// Several comments.
		{"/* tailgate:replica */ /* tailgate:max_lag=3s */ SELECT 1", HintReplica, 3 * time.Second},
		{"/* app:checkout */ /* tailgate:primary */ SELECT 1", HintPrimary, 0},
		{"/*+ MAX_EXECUTION_TIME(10) */ /* tailgate:replica */ SELECT 1", HintReplica, 0},

		// Conflicts resolve to the safer side.
		{"/* tailgate:replica,primary */ SELECT 1", HintPrimary, 0},
		{"/* tailgate:primary */ /* tailgate:replica */ SELECT 1", HintPrimary, 0},
		{"/* tailgate:max_lag=5s */ /* tailgate:max_lag=1s */ SELECT 1", HintNone, time.Second},
		{"/* tailgate:max_lag=1s,max_lag=5s */ SELECT 1", HintNone, time.Second},

		// Line comments.
		{"-- tailgate:replica\nSELECT 1", HintReplica, 0},
		{"# tailgate:primary\nSELECT 1", HintPrimary, 0},
		{"-- app comment\n/* tailgate:replica */ SELECT 1", HintReplica, 0},
		{"--tailgate:replica\nSELECT 1", HintNone, 0}, // "--" without a space is not a comment

		// Only leading comments count.
		{"SELECT /* tailgate:primary */ 1", HintNone, 0},
		{"SELECT 1 /* tailgate:primary */", HintNone, 0},
		{"SELECT 1 -- tailgate:primary", HintNone, 0},
		{"/*!40101 SET NAMES utf8 */ /* tailgate:primary */", HintNone, 0},
		{"/*M!100100 SET @a=1 */ /* tailgate:primary */", HintNone, 0},

		// Malformed or unknown directives are ignored.
		{"/* tailgate:max_lag=soon */ SELECT 1", HintNone, 0},
		{"/* tailgate:max_lag=500 */ SELECT 1", HintNone, 0}, // no unit
		{"/* tailgate:max_lag=-1s */ SELECT 1", HintNone, 0},
		{"/* tailgate:max_lag=0s */ SELECT 1", HintNone, 0},
		{"/* tailgate:max_lag= */ SELECT 1", HintNone, 0},
		{"/* tailgate:max_lag */ SELECT 1", HintNone, 0},
		{"/* tailgate:primary=yes */ SELECT 1", HintNone, 0},
		{"/* tailgate:bogus,replica */ SELECT 1", HintReplica, 0},
		{"/* tailgate:sticky=1h,%%% replica */ SELECT 1", HintReplica, 0},
		{"/* tailgate */ SELECT 1", HintNone, 0},
		{"/* primary */ SELECT 1", HintNone, 0},
		{"/* not tailgate:primary */ SELECT 1", HintNone, 0},
		{"/*+ tailgate:primary */ SELECT 1", HintNone, 0},
		{"/* tailgate:primary SELECT 1", HintNone, 0}, // unterminated
		{"/* tailgate:replica */", HintReplica, 0},
		{"# tailgate:replica", HintReplica, 0},
		{"--", HintNone, 0},
	} {
		hint, lag := leadingHints(tc.sql)
		if hint != tc.hint || lag != tc.maxLag {
			t.Errorf("leadingHints(%q) = %v, %v; want %v, %v", tc.sql, hint, lag, tc.hint, tc.maxLag)
		}
	}
}

func FuzzLeadingHints(f *testing.F) {
	f.Add("/* tailgate:replica,max_lag=2s */ SELECT 1")
	f.Add("-- tailgate:primary\n# x\n/*+ y */ SELECT 1")
	f.Add("/* tailgate:max_lag = */")
	f.Fuzz(func(t *testing.T, sql string) {
		hint, lag := leadingHints(sql)
		if hint > HintReplica || lag < 0 {
			t.Fatalf("leadingHints(%q) = %v, %v", sql, hint, lag)
		}
	})
}
