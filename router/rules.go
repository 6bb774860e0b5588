package router

import (
	"regexp"
	"time"
)

// Rule routes the statements whose digest key (their shape, or their text when they have
// none: what SHOW DIGESTS shows) Match finds, as hint comments in the text would. A hint
// the text carries wins; the first rule that matches applies.
type Rule struct {
	Name   string
	Match  *regexp.Regexp
	Hint   Hint          // HintNone leaves the target to the usual rules
	MaxLag time.Duration // 0 leaves lag.max
}

// SetRules replaces the routing rules of c and its sql_mode variants and empties their
// caches: cached classifications carry the rules they were made with. Digests stay.
func (c *Classifier) SetRules(rules []Rule) {
	rules = append([]Rule(nil), rules...)
	c.rules.Store(&rules)
	for _, v := range c.variants {
		v.cache.clear()
		v.shapes.clear()
	}
}

// applyRules gives st, freshly classified, the hints of the first rule that matches its
// digest key.
func applyRules[T string | []byte](c *Classifier, st *Statement, key T) {
	rules := c.rules.Load()
	if rules == nil || len(*rules) == 0 || st.Kind == KindKill {
		return
	}
	// A copy of a shape (on a cache miss only), so that the caller's stack buffer does
	// not escape.
	text := string(key)
	for i := range *rules {
		r := &(*rules)[i]
		if !r.Match.MatchString(text) {
			continue
		}
		if st.Hint == HintNone && r.Hint != HintNone {
			st.Hint, st.Rule = r.Hint, r.Name // the reason names the rule's target
		}
		if st.MaxLag == 0 {
			st.MaxLag = r.MaxLag
		}
		st.applyReplicaHint()
		return
	}
}
