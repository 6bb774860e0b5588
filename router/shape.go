package router

import "sync"

// Statement shapes: the second cache level.
//
// A text-protocol client sends its literals inline (sysbench --db-ps-mode=disable: SELECT c FROM
// sbtest1 WHERE id=5012), so the exact-text cache misses on every statement. The shape of a
// statement is its text with each literal value replaced by a marker of the literal's kind:
//
//	SELECT c FROM sbtest1 WHERE id=5012             -> SELECT c FROM sbtest1 WHERE id=?
//	UPDATE sbtest2 SET c='4322-1726' WHERE id=4987  -> UPDATE sbtest2 SET c=?s WHERE id=?
//	SELECT * FROM t WHERE a IN (1, 2, 3)            -> SELECT * FROM t WHERE a IN (?li)
//
// Everything else is kept verbatim: identifiers (also `quoted`), keywords, operators,
// whitespace, @variables and comments, because comments carry routing hints
// (/* tailgate:primary */) and optimizer hints, and executable comments (/*! ... */) are SQL.
//
// Markers: an integer becomes "?"; every other kind "?" and a letter: ?d decimal (1.5),
// ?e float (1e5), ?x hex (0x1F), ?X hex string (X'1F'), ?b bit (0b101), ?B bit string (b'101'),
// ?s string ('...'), ?q string ("...": a string in MySQL's default sql_mode, as in the parser's,
// but a kind of its own: N'x' is a national string, N"x" the column N aliased "x").
// An IN list of two or more literals of one kind, and nothing else, becomes ?l and the kind's
// letter (?li for integers): lists of different lengths share a shape. The kinds stay apart
// because the grammar tells them apart (LIMIT 1 parses, LIMIT 1.5 and LIMIT '1' do not;
// SELECT 1 'x' is an alias, SELECT 1 2 an error). A "?" can only start a marker: text with a
// placeholder of its own gets no shape, so the shape reads back unambiguously.
//
// Soundness: two texts with the same shape differ only inside literals of the same kind (and
// in the number of items of collapsed IN lists), and the normalizer marks a literal only where
// the TiDB parser's lexer (lexer.go) reads a literal token of exactly that extent and kind. It follows that lexer where it is subtle (1abc and
// 0x1g are identifiers, 9e9e is a float and an identifier, digits after "t." are an identifier,
// 0x85 and 0xA0 are whitespace) and gives no shape when unsure. Literal kinds are narrowed to
// values that always parse: at most 18 integer or fraction digits (larger integers change
// token type), two exponent digits (1e400 is an error), even-length X'..' (X'1' is an error),
// no 0X prefix (0X1F is an error). The few grammar rules that check a literal's value while
// parsing a read or a write keep that literal verbatim: the one after ESCAPE (one character),
// COLLATE, CHARSET, [CHARACTER] SET, NAMES, USING (a known charset or collation), BY (FIELDS
// TERMINATED BY ',': one character), and FLOAT( (precision <= 53). Classifier.Classify then
// shares a classification between the texts of a shape only when it depends on no literal
// (see shapeIndependent).
//
// No shape (the caller falls back to parsing): unterminated strings, quoted identifiers and
// comments, control bytes, a "?" outside literals and comments, numbers where the parser might
// read an identifier, and shapes longer than the buffer.

const (
	// shapeStackLen: texts up to this long are normalized into a stack buffer; a shape is
	// never longer than its text. Longer texts use a pooled buffer of maxCachedLen bytes.
	shapeStackLen = 512
	// maxShapeDigits bounds the integer and fraction digits of a numeric literal that gets a
	// marker: 18 digits always make an int64 (19 or 20 may make a uint64, more a decimal).
	maxShapeDigits = 18
	// maxShapeExpDigits bounds exponent digits: 1e99 parses, 1e400 overflows.
	maxShapeExpDigits = 2
)

// Literal kinds, as their marker letters; litInt is written as a bare "?".
const (
	litInt       = 'i'
	litDecimal   = 'd'
	litFloat     = 'e'
	litHex       = 'x'
	litHexString = 'X'
	litBit       = 'b'
	litBitString = 'B'
	litString    = 's' // '...'
	litDQString  = 'q' // "..."
	litList      = 'l'
	litIdent     = 'w' // scanNumber: the parser reads an identifier, not a number
	litNone      = 0   // scanNumber: no shape for this text
)

// shapeBufs holds buffers for texts longer than shapeStackLen.
var shapeBufs = sync.Pool{New: func() any { return new([maxCachedLen]byte) }}

// Byte classes at the start of a token.
const (
	scPunct    uint8 = iota // an operator or punctuation byte
	scBad                   // control bytes; 0x85 and 0xA0 (whitespace to the parser's lexer, not to leadingHints)
	scSpace                 // MySQL whitespace
	scWord                  // letters, '_', '$', other bytes >= 0x80
	scDigit                 // '0'-'9'
	scQuote                 // ' and "
	scBacktick              // `
	scAt                    // @
	scSlash                 // / (maybe a comment)
	scDash                  // - (maybe a comment)
	scHash                  // # comment
	scDot                   // . (maybe a number)
	scStar                  // *
	scParam                 // ? placeholder
	scOpen                  // (
)

var shapeClass = func() (t [256]uint8) {
	for b := range 256 {
		switch c := byte(b); {
		case c == 0x85 || c == 0xA0:
			t[b] = scBad
		case isWordByte(c):
			t[b] = scWord
		case isSpace(c):
			t[b] = scSpace
		case c < ' ' || c == 0x7f:
			t[b] = scBad
		}
	}
	for c, cl := range map[byte]uint8{
		'\'': scQuote, '"': scQuote, '`': scBacktick, '@': scAt, '/': scSlash, '-': scDash,
		'#': scHash, '.': scDot, '*': scStar, '?': scParam, '(': scOpen,
	} {
		t[c] = cl
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = scDigit
	}
	return t
}()

// shapeWriter collects a shape in a fixed buffer.
type shapeWriter struct {
	buf []byte
	n   int
}

// verbatim appends text unchanged; false when the buffer is full.
func verbatim[T string | []byte](w *shapeWriter, text T) bool {
	if len(text) > len(w.buf)-w.n {
		return false
	}
	w.n += copy(w.buf[w.n:], text)
	return true
}

// marker appends the marker of a literal kind; false when the buffer is full.
func (w *shapeWriter) marker(kind byte) bool {
	if kind == litInt {
		if w.n+1 > len(w.buf) {
			return false
		}
		w.buf[w.n] = '?'
		w.n++
		return true
	}
	if w.n+2 > len(w.buf) {
		return false
	}
	w.buf[w.n], w.buf[w.n+1] = '?', kind
	w.n += 2
	return true
}

// statementShape writes the shape of sql into dst and returns its length; ok is false when sql
// gets no shape or its shape does not fit in dst. It allocates nothing.
func statementShape[T string | []byte](dst []byte, sql T) (int, bool) {
	w := shapeWriter{buf: dst}
	n := len(sql)
	last := 0 // sql[last:i] is still to be copied verbatim

	// State carried between tokens, across whitespace and comments:
	//  - dot: the parser may read digits as an identifier here (its identifierDot: after a
	//    name directly followed by "."). Set after every word or `name` directly followed by
	//    ".", which covers the parser's case; cleared only where the parser surely clears it
	//    (at "*", at a `name` or a plain name right after "." not followed by "."), so it is
	//    never false where the parser's is true. A number while dot is set gets no shape.
	//  - keep: the next literal stays verbatim (its value is checked by the grammar).
	//  - floatWord, inWord: the previous token was FLOAT..., or IN.
	var dot, keep, floatWord, inWord bool

	// literal marks sql[start:end] as a literal of the given kind.
	literal := func(start, end int, kind byte) bool {
		if keep {
			keep = false
			return true
		}
		if !verbatim(&w, sql[last:start]) || !w.marker(kind) {
			return false
		}
		last = end
		return true
	}

	i := 0
	for i < n {
		c := sql[i]
		switch shapeClass[c] {
		case scSpace:
			i++
			continue // keeps the token state

		case scWord:
			j := wordEnd(sql, i+1)
			if j == i+1 && j < n && sql[j] == '\'' && (c|0x20 == 'x' || c|0x20 == 'b') {
				end, kind := binaryStringEnd(sql, i)
				if kind == litNone || !literal(i, end, kind) {
					return 0, false
				}
				i = end
				floatWord, inWord = false, false
				continue
			}
			switch {
			case j < n && sql[j] == '.':
				dot = true
			case dot && i > 0 && sql[i-1] == '.' && c != '_' && !(j == i+1 && c|0x20 == 'n' && j < n && sql[j] == '\''):
				// A name right after "." is an identifier to the parser, which then clears
				// its state; not so for _charset introducers and N'...'.
				dot = false
			}
			keep, floatWord, inWord = wordFlags(sql[i:j])
			i = j
			continue

		case scDigit:
			if dot {
				return 0, false
			}
			end, kind := scanNumber(sql, i)
			switch kind {
			case litNone:
				return 0, false
			case litIdent: // 1abc, 0x, 0b12: an identifier
				dot = end < n && sql[end] == '.'
				keep, floatWord, inWord = false, false, false
			default:
				if !literal(i, end, kind) {
					return 0, false
				}
				floatWord, inWord = false, false
			}
			i = end
			continue

		case scDot:
			if !dot && i+1 < n && isDigit(sql[i+1]) {
				end, kind := scanFloat(sql, i)
				if kind == litNone || !literal(i, end, kind) {
					return 0, false
				}
				i = end
				floatWord, inWord = false, false
				continue
			}
			i++ // a "." token leaves the parser's identifierDot as it is

		case scQuote:
			end := quotedEnd(sql, i)
			if end < 0 || !literal(i, end, stringKind(c)) {
				return 0, false
			}
			i = end
			floatWord, inWord = false, false
			continue

		case scBacktick:
			end := quotedEnd(sql, i)
			if end < 0 {
				return 0, false
			}
			dot = end < n && sql[end] == '.'
			i = end

		case scAt:
			end := userVarEnd(sql, i)
			if end < 0 {
				return 0, false
			}
			i = end

		case scSlash:
			if i+1 >= n || sql[i+1] != '*' {
				i++
				break
			}
			if i+2 < n && (sql[i+2] == '!' || i+3 < n && sql[i+3] == '!' && (sql[i+2] == 'M' || sql[i+2] == 'T')) {
				// Executable comment (/*! */, MariaDB's /*M! */, TiDB's /*T! */): SQL the
				// parser reads. Keep it and everything after it verbatim.
				i = n
				continue
			}
			end := commentEnd(sql, i+2)
			if end < 0 {
				return 0, false
			}
			i = end
			continue // comments keep the token state

		case scDash:
			if i+1 < n && sql[i+1] == '-' {
				if i+2 == n || isSpace(sql[i+2]) {
					i = lineEnd(sql, i+2)
					continue
				}
				if sql[i+2] == 0x85 || sql[i+2] == 0xA0 { // a comment to the parser only
					return 0, false
				}
			}
			i++

		case scHash:
			i = lineEnd(sql, i+1)
			continue

		case scStar:
			dot = false
			i++

		case scOpen:
			if inWord && !dot {
				if end, kind, ok := inList(sql, i); ok {
					// Replace the items, keep the parentheses.
					if !verbatim(&w, sql[last:i+1]) || !w.marker(litList) || w.n >= len(w.buf) {
						return 0, false
					}
					w.buf[w.n] = kind
					w.n++
					last = end - 1
					i = end
					keep, floatWord, inWord = false, false, false
					continue
				}
			}
			keep, floatWord, inWord = floatWord, false, false // FLOAT(54) fails to parse: keep the precision
			i++
			continue

		case scParam, scBad:
			return 0, false

		default: // scPunct
			i++
		}
		keep, floatWord, inWord = false, false, false
	}
	if !verbatim(&w, sql[last:]) {
		return 0, false
	}
	return w.n, true
}

// scanNumber lexes the number starting at s[i] (a digit) the way the parser's lexer does
// outside a qualified name. It returns the literal's end and kind; litIdent (and the end of the
// identifier) when the lexer reads an identifier (1abc, 0x, 0xag, 0b12, 0B1); litNone for
// corner cases (0x1.5 lexes as 0 then x1 ...) and for values that might not parse.
func scanNumber[T string | []byte](s T, i int) (int, byte) {
	n := len(s)
	if s[i] == '0' && i+1 < n {
		switch s[i+1] {
		case 'x', 'X':
			j := i + 2
			for j < n && isHexDigit(s[j]) {
				j++
			}
			switch {
			case j == i+2 || j < n && isWordByte(s[j]):
				return wordEnd(s, i), litIdent
			case j < n && s[j] == '.', s[i+1] == 'X': // 0X1F is a hex token the parser then rejects
				return 0, litNone
			}
			return j, litHex
		case 'b':
			j := i + 2
			for j < n && (s[j] == '0' || s[j] == '1') {
				j++
			}
			switch {
			case j == i+2 || j < n && isDigit(s[j]):
				return wordEnd(s, i), litIdent
			case j < n && (s[j] == '.' || s[j] == 'e' || s[j] == 'E'):
				return 0, litNone
			case j < n && isWordByte(s[j]):
				return wordEnd(s, i), litIdent
			}
			return j, litBit
		case 'B':
			return wordEnd(s, i), litIdent
		}
	}
	j := i
	for j < n && isDigit(s[j]) {
		j++
	}
	switch {
	case j < n && (s[j] == '.' || s[j] == 'e' || s[j] == 'E'):
		return scanFloat(s, i)
	case j < n && isWordByte(s[j]):
		return wordEnd(s, i), litIdent
	case j-i > maxShapeDigits:
		return 0, litNone
	}
	return j, litInt
}

// scanFloat lexes a decimal or float literal from s[beg] (a digit, or "." and a digit):
// digits [. digits] [e [+-] digits]. Anything the lexer would read differently (1e, 1.5e+x,
// 1.5abc, 1.5.5) or a value that might not parse gets litNone.
func scanFloat[T string | []byte](s T, beg int) (int, byte) {
	n := len(s)
	j := beg
	for j < n && isDigit(s[j]) {
		j++
	}
	intDigits, fracDigits := j-beg, 0
	if j < n && s[j] == '.' {
		j++
		k := j
		for k < n && isDigit(s[k]) {
			k++
		}
		fracDigits, j = k-j, k
	}
	kind := byte(litDecimal)
	if j < n && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < n && (s[k] == '+' || s[k] == '-') {
			k++
		}
		e := k
		for k < n && isDigit(s[k]) {
			k++
		}
		if k == e || k-e > maxShapeExpDigits {
			return 0, litNone
		}
		j, kind = k, litFloat
	}
	if j < n && (isWordByte(s[j]) || s[j] == '.') || intDigits > maxShapeDigits || fracDigits > maxShapeDigits {
		return 0, litNone
	}
	if kind == litDecimal && fracDigits == 0 {
		// "1." is read differently from other decimals before a word ("SELECT 1. FROM"
		// parses, "SELECT .1 FROM" does not): it gets a shape only where a list or the
		// statement goes on or ends right after it.
		k := j
		for k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
			k++
		}
		if k < n && s[k] != ',' && s[k] != ')' && s[k] != ';' {
			return 0, litNone
		}
	}
	return j, kind
}

// binaryStringEnd lexes X'..' or B'..' at s[i]. The parser rejects odd-length hex strings and
// other digits; those get litNone.
func binaryStringEnd[T string | []byte](s T, i int) (int, byte) {
	hex := s[i]|0x20 == 'x'
	j := i + 2
	for j < len(s) && (hex && isHexDigit(s[j]) || !hex && (s[j] == '0' || s[j] == '1')) {
		j++
	}
	switch {
	case j >= len(s) || s[j] != '\'':
		return 0, litNone
	case hex && (j-i-2)%2 != 0:
		return 0, litNone
	case hex:
		return j + 1, litHexString
	}
	return j + 1, litBitString
}

// inList reads "( literal , literal ... )" of two or more literals of one kind, with nothing
// but whitespace between them, at s[open] == '('. It returns the index after ")" and the kind.
func inList[T string | []byte](s T, open int) (end int, kind byte, ok bool) {
	n := len(s)
	items := 0
	for k := open + 1; ; {
		for k < n && isSpace(s[k]) {
			k++
		}
		if k >= n {
			return 0, 0, false
		}
		var e int
		var kk byte
		switch c := s[k]; {
		case isDigit(c):
			e, kk = scanNumber(s, k)
		case c == '.' && k+1 < n && isDigit(s[k+1]):
			e, kk = scanFloat(s, k)
		case c == '\'' || c == '"':
			if e = quotedEnd(s, k); e > 0 {
				kk = stringKind(c)
			}
		case (c|0x20 == 'x' || c|0x20 == 'b') && k+1 < n && s[k+1] == '\'':
			e, kk = binaryStringEnd(s, k)
		}
		if kk == litNone || kk == litIdent || items > 0 && kk != kind {
			return 0, 0, false
		}
		kind = kk
		items++
		for k = e; k < n && isSpace(s[k]); k++ {
		}
		switch {
		case k < n && s[k] == ')' && items >= 2: // one item stays a plain literal: no longer than the text
			return k + 1, kind, true
		case k < n && s[k] == ',':
			k++
		default:
			return 0, 0, false
		}
	}
}

// shapeWordByte is isWordByte as a table, for the scanning loops.
var shapeWordByte = func() (t [256]bool) {
	for b := range 256 {
		t[b] = isWordByte(byte(b))
	}
	return t
}()

// stringKind is the literal kind of a string opened by quote q.
func stringKind(q byte) byte {
	if q == '"' {
		return litDQString
	}
	return litString
}

// wordEnd returns the end of the identifier characters from s[i].
func wordEnd[T string | []byte](s T, i int) int {
	for i < len(s) && shapeWordByte[s[i]] {
		i++
	}
	return i
}

// quotedEnd returns the index after the string or quoted identifier that s[i] opens, or -1
// when it is unterminated. A doubled quote stands for itself; a backslash escapes the next
// byte except in `identifiers`. (A multi-byte UTF-8 character never holds a quote or a
// backslash byte, so bytes will do.)
func quotedEnd[T string | []byte](s T, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return -1
}

// userVarEnd returns the end of the @variable or @@variable at s[i], or -1 for an unterminated
// quoted name. It follows the lexer: @name (letters, digits, _ $ . and bytes >= 0x80),
// @'name', @"name", @`name`, and @@ [global. | session. | local.] then any of those.
func userVarEnd[T string | []byte](s T, i int) int {
	n := len(s)
	j := i + 1
	if j < n && s[j] == '@' {
		j++
		for _, scope := range [...]string{"global.", "session.", "local."} {
			if hasPrefixFoldAt(s, j, scope) {
				j += len(scope)
				break
			}
		}
		if j >= n || !(isWordByte(s[j]) || s[j] == '.' || s[j] == '\'' || s[j] == '"' || s[j] == '`') {
			return -1 // the lexer returns an odd token here; not worth following
		}
	}
	if j < n && (s[j] == '\'' || s[j] == '"' || s[j] == '`') {
		return quotedEnd(s, j)
	}
	for j < n && (isWordByte(s[j]) || s[j] == '.') {
		j++
	}
	return j
}

// commentEnd returns the index after the "*/" that closes a comment whose body starts at s[i],
// or -1.
func commentEnd[T string | []byte](s T, i int) int {
	for ; i+1 < len(s); i++ {
		if s[i] == '*' && s[i+1] == '/' {
			return i + 2
		}
	}
	return -1
}

// lineEnd returns the index of the newline that ends a line comment, or len(s).
func lineEnd[T string | []byte](s T, i int) int {
	for i < len(s) && s[i] != '\n' {
		i++
	}
	return i
}

// wordFlags tells the words the normalizer looks for:
//   - keep: a word after which the grammar checks a literal's value while parsing: ESCAPE 'c',
//     COLLATE 'x', CHARSET 'x', [CHARACTER] SET 'x', NAMES 'x', USING 'x', [FIELDS
//     TERMINATED] BY 'c';
//   - float: FLOAT, FLOAT4, FLOAT8 (CAST(x AS FLOAT(54)) is a parse error);
//   - in: IN, which may open a list.
func wordFlags[T string | []byte](w T) (keep, float, in bool) {
	switch n := len(w); w[0] | 0x20 {
	case 'b':
		keep = n == 2 && equalFoldASCII(w, "BY")
	case 'c':
		keep = n == 7 && (equalFoldASCII(w, "COLLATE") || equalFoldASCII(w, "CHARSET"))
	case 'e':
		keep = n == 6 && equalFoldASCII(w, "ESCAPE")
	case 'f':
		float = (n == 5 || n == 6) && hasPrefixFoldAt(w, 0, "FLOAT")
	case 'i':
		in = n == 2 && equalFoldASCII(w, "IN")
	case 'n':
		keep = n == 5 && equalFoldASCII(w, "NAMES")
	case 's':
		keep = n == 3 && equalFoldASCII(w, "SET")
	case 'u':
		keep = n == 5 && equalFoldASCII(w, "USING")
	}
	return keep, float, in
}

// equalFoldASCII compares w with an upper-case ASCII word, ignoring case.
func equalFoldASCII[T string | []byte](w T, upper string) bool {
	return len(w) == len(upper) && hasPrefixFoldAt(w, 0, upper)
}

// hasPrefixFoldAt reports whether s[i:] starts with prefix (ASCII letters, digits and
// punctuation), ignoring ASCII case.
func hasPrefixFoldAt[T string | []byte](s T, i int, prefix string) bool {
	if len(s)-i < len(prefix) {
		return false
	}
	for k := 0; k < len(prefix); k++ {
		a, b := s[i+k], prefix[k]
		if a == b {
			continue
		}
		if 'a' <= a && a <= 'z' {
			a -= 'a' - 'A'
		}
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isHexDigit(b byte) bool {
	return isDigit(b) || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}
