package proxy

import (
	"fmt"
	"slices"
	"testing"
)

// TestRecordSetKeepsWhatReplayNeeds: a SET replaces the earlier ones of its key only when
// the replay does not need them, and the list stays bounded.
func TestRecordSetKeepsWhatReplayNeeds(t *testing.T) {
	type set struct {
		key, sql  string
		readsVars bool
	}
	cases := []struct {
		name string
		sets []set
		want []string // the replay list, in order
	}{
		{"a literal replaces", []set{{"@a", "SET @a = 1", false}, {"@a", "SET @a = 2", false}},
			[]string{"SET @a = 2"}},
		{"a SET reading its own key keeps the earlier", []set{{"@n", "SET @n = 1", false}, {"@n", "SET @n = @n + 1", true}},
			[]string{"SET @n = 1", "SET @n = @n + 1"}},
		{"a literal then replaces them all", []set{{"@n", "SET @n = 1", false}, {"@n", "SET @n = @n + 1", true}, {"@n", "SET @n = 7", false}},
			[]string{"SET @n = 7"}},
		{"a later SET reading variables keeps the earlier", []set{{"@a", "SET @a = 5", false}, {"@b", "SET @b = @a * 2", true}, {"@a", "SET @a = 0", false}},
			[]string{"SET @a = 5", "SET @b = @a * 2", "SET @a = 0"}},
		{"a quoted literal keeps the sql_mode it was read in", []set{{"sql_mode", "SET sql_mode = 'NO_BACKSLASH_ESCAPES'", false}, {"@p", `SET @p = 'a\'`, false}, {"sql_mode", "SET sql_mode = ''", false}},
			[]string{"SET sql_mode = 'NO_BACKSLASH_ESCAPES'", `SET @p = 'a\'`, "SET sql_mode = ''"}},
		{"a number does not", []set{{"sql_mode", "SET sql_mode = 'ANSI'", false}, {"@p", "SET @p = 3", false}, {"sql_mode", "SET sql_mode = ''", false}},
			[]string{"SET @p = 3", "SET sql_mode = ''"}},
		{"nor does a quoted literal after another variable", []set{{"time_zone", "SET time_zone = '+01:00'", false}, {"@p", "SET @p = 'x'", false}, {"time_zone", "SET time_zone = '+02:00'", false}},
			[]string{"SET @p = 'x'", "SET time_zone = '+02:00'"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st sessionState
			for _, s := range tc.sets {
				st.recordSet(s.key, s.sql, false, s.readsVars)
			}
			var got []string
			for _, e := range st.sets {
				got = append(got, e.sql)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("replay list %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		var st sessionState
		st.recordSet("@n", "SET @n = 0", false, false)
		for i := range 3 * maxSets {
			st.recordSet(fmt.Sprintf("@v%d", i%4), "SET @v = @n", false, true)
			st.recordSet("@n", "SET @n = @n + 1", false, true)
		}
		if len(st.sets) > maxSets+1 {
			t.Errorf("%d SETs to replay, want at most %d", len(st.sets), maxSets+1)
		}
	})
}
