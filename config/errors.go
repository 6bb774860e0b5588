package config

import (
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the dotted key the problem is about, like "proxy.handshake_timeout" or
	// "replicas[1].name" (array indexes count from 0); empty when it is about no key.
	Key string
	// Line is the line of the file the key is on, or of its table when the key is
	// missing; 0 when unknown.
	Line int
	// Msg says what is wrong and, where it helps, what to do.
	Msg string
}

// Errors is every problem found in one configuration. Load, Parse and Check return
// it as their error.
type Errors struct {
	// Path is the config file, empty when parsed from memory.
	Path string
	// Problems lists the problems in file order; those without a line come last.
	Problems []Problem
}

// Error formats one line per problem: "path:line: key: msg".
func (e *Errors) Error() string {
	where := e.Path
	if where == "" {
		where = "config"
	}
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(where)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
		if p.Key != "" {
			b.WriteString(p.Key)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}
