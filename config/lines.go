package config

import (
	"strconv"

	"github.com/BurntSushi/toml"
)

// keyLines maps a dotted key ("proxy.listen", "replicas[1].tls.ca", "replicas[1]")
// to the line it is defined on.
//
// BurntSushi/toml v1.6.0 records key positions only in unexported MetaData fields,
// and for arrays of tables it keeps one position per key name (the last element's),
// so this package finds lines with its own scan of the text (scanKeyLines), run only
// after the TOML parser has accepted the file.
type keyLines map[string]int

// line returns the line of key or, when key is not in the file, of its nearest
// enclosing table or key that is (so a missing key points at its table); 0 if none.
func (l keyLines) line(key string) int {
	for key != "" {
		if n, ok := l[key]; ok {
			return n
		}
		key = parentKey(key)
	}
	return 0
}

// record keeps the first line seen for key: TOML forbids redefining keys, so a
// later sighting can only be an implicit table mentioned again.
func (l keyLines) record(key string, line int) {
	if _, ok := l[key]; !ok {
		l[key] = line
	}
}

// joinKey appends one key part to a dotted key, quoting the part when TOML needs it.
func joinKey(prefix, part string) string {
	p := toml.Key{part}.String()
	if prefix == "" {
		return p
	}
	return prefix + "." + p
}

// indexKey names element i of the array key.
func indexKey(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

// parentKey drops the last part ("a.b" -> "a", "a[2]" -> "a", "a" -> "") of a key
// built by joinKey and indexKey.
func parentKey(key string) string {
	cut, quote := 0, byte(0)
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.' || c == '[':
			cut = i
		}
	}
	return key[:cut]
}

// scanKeyLines finds the line of every table header and key in a TOML document.
// It understands headers ([a.b], [[a]]), dotted and quoted keys, and skips values
// (strings, multi-line strings, arrays and inline tables spanning lines, comments).
// Keys inside inline tables are not recorded: their lookups fall back to the line
// of the inline table's key. The scanner never fails; on text it does not
// understand it skips to the next line.
func scanKeyLines(data []byte) keyLines {
	s := &lineScanner{src: string(data), line: 1, lines: keyLines{}, arrays: map[string]int{}}
	s.run()
	return s.lines
}

type lineScanner struct {
	src   string
	pos   int
	line  int
	lines keyLines
	// arrays counts the elements seen so far of each array of tables, by key.
	arrays map[string]int
	// table is the key of the current table ("" at the top).
	table string
}

func (s *lineScanner) eof() bool { return s.pos >= len(s.src) }

func (s *lineScanner) peek(off int) byte {
	if s.pos+off < len(s.src) {
		return s.src[s.pos+off]
	}
	return 0
}

func (s *lineScanner) advance() {
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

func (s *lineScanner) skipBlank() {
	for !s.eof() && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t' || s.src[s.pos] == '\r') {
		s.pos++
	}
}

func (s *lineScanner) skipLine() {
	for !s.eof() {
		c := s.src[s.pos]
		s.advance()
		if c == '\n' {
			return
		}
	}
}

func (s *lineScanner) run() {
	for !s.eof() {
		s.skipBlank()
		if s.eof() {
			return
		}
		switch s.src[s.pos] {
		case '\n':
			s.advance()
		case '#':
			s.skipLine()
		case '[':
			s.header()
		default:
			s.keyValue()
		}
	}
}

// header handles "[a.b]" and "[[a.b]]".
func (s *lineScanner) header() {
	line := s.line
	array := s.peek(1) == '['
	if array {
		s.pos += 2
	} else {
		s.pos++
	}
	parts := s.keyParts()
	if len(parts) == 0 {
		s.skipLine()
		return
	}
	key := ""
	for i, p := range parts {
		key = joinKey(key, p)
		if array && i == len(parts)-1 {
			n := s.arrays[key]
			s.arrays[key] = n + 1
			s.lines.record(key, line)
			key = indexKey(key, n)
		} else if n, ok := s.arrays[key]; ok {
			key = indexKey(key, n-1)
		}
		s.lines.record(key, line)
	}
	s.table = key
	s.skipLine()
}

// keyValue handles "a.b = value".
func (s *lineScanner) keyValue() {
	line := s.line
	parts := s.keyParts()
	s.skipBlank()
	if len(parts) == 0 || s.peek(0) != '=' {
		s.skipLine()
		return
	}
	s.pos++
	key := s.table
	for _, p := range parts {
		key = joinKey(key, p)
		s.lines.record(key, line)
	}
	s.skipValue()
}

// keyParts reads a dotted key of bare and quoted parts.
func (s *lineScanner) keyParts() []string {
	var parts []string
	for {
		s.skipBlank()
		start := s.pos
		switch s.peek(0) {
		case '"':
			s.pos++
			for !s.eof() && s.src[s.pos] != '"' && s.src[s.pos] != '\n' {
				if s.src[s.pos] == '\\' {
					s.pos++
				}
				s.pos++
			}
			if s.eof() || s.src[s.pos] != '"' {
				return nil
			}
			s.pos++
			raw := s.src[start:s.pos]
			part, err := strconv.Unquote(raw)
			if err != nil { // a TOML-only escape; keep the text as written
				part = raw[1 : len(raw)-1]
			}
			parts = append(parts, part)
		case '\'':
			s.pos++
			for !s.eof() && s.src[s.pos] != '\'' && s.src[s.pos] != '\n' {
				s.pos++
			}
			if s.eof() || s.src[s.pos] != '\'' {
				return nil
			}
			s.pos++
			parts = append(parts, s.src[start+1:s.pos-1])
		default:
			for !s.eof() && isBareKeyChar(s.src[s.pos]) {
				s.pos++
			}
			if s.pos == start {
				return nil
			}
			parts = append(parts, s.src[start:s.pos])
		}
		s.skipBlank()
		if s.peek(0) != '.' {
			return parts
		}
		s.pos++
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// skipValue moves past a value and the end of its (last) line.
func (s *lineScanner) skipValue() {
	depth := 0
	for !s.eof() {
		switch c := s.src[s.pos]; c {
		case '"', '\'':
			s.skipString(c)
		case '#':
			for !s.eof() && s.src[s.pos] != '\n' {
				s.pos++
			}
		case '[', '{':
			depth++
			s.pos++
		case ']', '}':
			depth--
			s.pos++
		case '\n':
			s.advance()
			if depth <= 0 {
				return
			}
		default:
			s.pos++
		}
	}
}

// skipString moves past a string starting at the current quote character.
func (s *lineScanner) skipString(q byte) {
	if s.peek(1) == q && s.peek(2) == q { // multi-line
		s.pos += 3
		for !s.eof() {
			if s.src[s.pos] == '\\' && q == '"' {
				s.advance()
				if !s.eof() {
					s.advance()
				}
				continue
			}
			if s.src[s.pos] == q && s.peek(1) == q && s.peek(2) == q {
				s.pos += 3
				for s.peek(0) == q { // up to two quotes may end the content
					s.pos++
				}
				return
			}
			s.advance()
		}
		return
	}
	s.pos++
	for !s.eof() && s.src[s.pos] != '\n' {
		c := s.src[s.pos]
		s.pos++
		if c == '\\' && q == '"' {
			if !s.eof() && s.src[s.pos] != '\n' {
				s.pos++
			}
			continue
		}
		if c == q {
			return
		}
	}
}
