package router

import (
	"strings"
	"time"
)

// hintPrefix opens a tailgate hint comment: /* tailgate:primary */.
const hintPrefix = "tailgate:"

// leadingHints reads the routing hints in the comments that open sql. Only comments before the
// statement text count; a comment inside or after the statement is the application's business.
//
// Recognised comments: /* ... */, "-- ..." and "# ..." up to the end of the line. A comment
// whose text starts with "tailgate:" holds one or more directives separated by commas or spaces:
// primary, replica, max_lag=<Go duration>; the "tailgate:" prefix may be repeated per directive.
// Unknown directives and malformed or non-positive durations are ignored. When directives
// conflict the safer one wins: primary over replica, the smallest max_lag over larger ones.
// Optimizer-hint comments (/*+ ... */) are skipped: their text starts with "+", never with
// "tailgate:". Scanning stops at executable comments (/*! ... */, /*M! ... */) because their
// text is part of the statement.
func leadingHints(sql string) (hint Hint, maxLag time.Duration) {
	i := 0
	for {
		i = skipSpace(sql, i)
		rest := sql[i:]
		var body string
		switch {
		case strings.HasPrefix(rest, "/*"):
			if strings.HasPrefix(rest, "/*!") || strings.HasPrefix(rest, "/*M!") {
				return hint, maxLag
			}
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				return hint, maxLag
			}
			body = rest[2 : 2+end]
			i += 2 + end + 2
		case strings.HasPrefix(rest, "#"):
			body, i = lineComment(sql, i+1)
		case isDashComment(rest):
			body, i = lineComment(sql, i+2)
		default:
			return hint, maxLag
		}
		hint, maxLag = applyHints(body, hint, maxLag)
	}
}

// applyHints folds the directives of one comment body into hint and maxLag.
func applyHints(body string, hint Hint, maxLag time.Duration) (Hint, time.Duration) {
	s := strings.TrimLeft(body, " \t\r\n\f\v")
	if !hasPrefixFold(s, hintPrefix) {
		return hint, maxLag
	}
	s = s[len(hintPrefix):]
	for s != "" {
		if isHintSeparator(s[0]) {
			s = s[1:]
			continue
		}
		if hasPrefixFold(s, hintPrefix) {
			s = s[len(hintPrefix):]
			continue
		}
		n := 0
		for n < len(s) && isHintKeyByte(s[n]) {
			n++
		}
		if n == 0 { // not a directive: skip the stray byte
			s = s[1:]
			continue
		}
		key := s[:n]
		s = s[n:]
		s = s[skipSpace(s, 0):] // stops at a comma, so "primary, replica" stays two directives
		var value string
		hasValue := false
		if s != "" && s[0] == '=' {
			hasValue = true
			s = s[skipSpace(s, 1):]
			n = 0
			for n < len(s) && !isHintSeparator(s[n]) {
				n++
			}
			value, s = s[:n], s[n:]
		}
		switch {
		case strings.EqualFold(key, "primary") && !hasValue:
			hint = HintPrimary
		case strings.EqualFold(key, "replica") && !hasValue:
			if hint != HintPrimary {
				hint = HintReplica
			}
		case strings.EqualFold(key, "max_lag") && hasValue:
			if d, err := time.ParseDuration(value); err == nil && d > 0 && (maxLag == 0 || d < maxLag) {
				maxLag = d
			}
		}
	}
	return hint, maxLag
}

// skipSpace returns the index of the first byte at or after i in s that is not MySQL whitespace.
func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// skipSpace's helper; MySQL's whitespace set.
func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v'
}

// isDashComment reports whether s starts a "-- " comment: MySQL needs the two dashes to be
// followed by whitespace, a control character or the end of the text ("--1" is minus minus one).
func isDashComment(s string) bool {
	return strings.HasPrefix(s, "--") && (len(s) == 2 || s[2] <= ' ')
}

// lineComment returns the comment text from i to the end of the line and the index after it.
func lineComment(s string, i int) (body string, next int) {
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return s[i:], len(s)
	}
	return s[i : i+end], i + end + 1
}

func isHintSeparator(b byte) bool { return b == ',' || isSpace(b) }

func isHintKeyByte(b byte) bool {
	return b == '_' || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z')
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
