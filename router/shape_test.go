package router

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// shapeCases: text -> shape; "" means no shape (the classifier parses the text).
var shapeCases = []struct{ sql, shape string }{
	// sysbench, text protocol.
	{"SELECT c FROM sbtest1 WHERE id=5012", "SELECT c FROM sbtest1 WHERE id=?"},
	{"SELECT c FROM sbtest1 WHERE id BETWEEN 4977 AND 5076 ORDER BY c", "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c"},
	{"UPDATE sbtest3 SET k=k+1 WHERE id=77", "UPDATE sbtest3 SET k=k+? WHERE id=?"},
	{"UPDATE sbtest2 SET c='43225117512-17263480226' WHERE id=4987", "UPDATE sbtest2 SET c=?s WHERE id=?"},
	{"INSERT INTO sbtest2 (id, k, c, pad) VALUES (0, 5000, '1021-6815', '2219-7011')", "INSERT INTO sbtest2 (id, k, c, pad) VALUES (?, ?, ?s, ?s)"},
	{`INSERT INTO t VALUES ("a", 'b')`, "INSERT INTO t VALUES (?q, ?s)"},
	{"DELETE FROM sbtest1 WHERE id=5003", "DELETE FROM sbtest1 WHERE id=?"},
	{"BEGIN", "BEGIN"},

	// Numbers of every kind, and what only looks like one.
	{"SELECT 0, 7, 000123, 123456789012345678", "SELECT ?, ?, ?, ?"},
	{"SELECT 1234567890123456789", ""}, // 19 digits: may not fit an int64
	{"SELECT -5, 1-1, 2 - -3, +4", "SELECT -?, ?-?, ? - -?, +?"},
	{"SELECT 1.5, .5, 1., 0.25", "SELECT ?d, ?d, ?d, ?d"},
	{"SELECT 1e5, 1.5e-3, 2E+05, .5e1, 1.e2", "SELECT ?e, ?e, ?e, ?e, ?e"},
	{"SELECT 1e100", ""},   // 1e400 overflows: three exponent digits get no shape
	{"SELECT 1.5.5", ""},   // two decimals the lexer reads back to back
	{"SELECT 1. FROM", ""}, // parses, unlike "SELECT .1 FROM" (fuzz finding)
	{"SELECT 1. x", ""},    // "1." only before , ) ; or the end
	{"SELECT (1.), 2.;", "SELECT (?d), ?d;"},
	{"SELECT 9e9e FROM t", ""}, // a float then an identifier
	{"SELECT 1e FROM t", ""},   // an identifier to the lexer, oddly
	{"SELECT 0x1F, 0xabcdef, X'1F', x'', X'00ff'", "SELECT ?x, ?x, ?X, ?X, ?X"},
	{"SELECT 0b101, b'101', B''", "SELECT ?b, ?B, ?B"},
	{"SELECT X'1'", ""},  // odd length: a parse error
	{"SELECT X'1G'", ""}, // ditto
	{"SELECT b'12'", ""}, // ditto
	{"SELECT 0X1F", ""},  // the parser rejects the 0X prefix
	{"SELECT 0x1.5", ""}, // lexes as 0 then x1 then .5
	{"SELECT 0b1e", ""},  // lexes as 0 then b1e
	{"SELECT t1, col_2, $1, _1, 1abc, 0x, 0xag, 0b12, 0B1 FROM t1", "SELECT t1, col_2, $1, _1, 1abc, 0x, 0xag, 0b12, 0B1 FROM t1"},
	{"SELECT 12e3x", ""}, // the float 12e3, then an identifier
	{"SELECT a1+1, a+1", "SELECT a1+?, a+?"},

	// Qualified names: digits right after "name." are an identifier to the lexer.
	{"SELECT t.c, db.t.c FROM db.t WHERE t.id = 5", "SELECT t.c, db.t.c FROM db.t WHERE t.id = ?"},
	{"SELECT `t`.`c` FROM `t` WHERE `t`.`id`=5", "SELECT `t`.`c` FROM `t` WHERE `t`.`id`=?"},
	{"SELECT t.* FROM t WHERE id = 5", "SELECT t.* FROM t WHERE id = ?"},
	{"SELECT t.5 FROM t", ""},
	{"SELECT `t`.5 FROM t", ""},
	{"SELECT t. 5 FROM t", ""},
	{"SELECT t.1e5 FROM t", ""},
	{"SELECT t._utf8 5", ""}, // an introducer does not end the qualified name for the lexer

	// Variables are names, kept.
	{"SELECT @a, @a1, @a.b2, @'x 1', @\"y\", @`z`, @@session.sql_mode, @@global.'x', @@1 FROM t WHERE id=@id+1",
		"SELECT @a, @a1, @a.b2, @'x 1', @\"y\", @`z`, @@session.sql_mode, @@global.'x', @@1 FROM t WHERE id=@id+?"},
	{"SET @a = 1", "SET @a = ?"},
	{"SELECT @'open", ""},
	{"SELECT @@", ""},

	// Strings: '...' and "..." with backslash escapes and doubled quotes.
	{`SELECT 'it''s', 'a\'b', "x", "a""b", "c\"d", '\\', '', ""`, "SELECT ?s, ?s, ?q, ?q, ?q, ?s, ?s, ?q"},
	{"SELECT 'a' 'b', N'x', _utf8mb4'y', _binary 'z'", "SELECT ?s ?s, N?s, _utf8mb4?s, _binary ?s"},
	{`SELECT N"x", n'y'`, "SELECT N?q, n?s"}, // N"x" is the column N aliased "x"
	{"SELECT '-- not a comment', '/* nor this */', '#', '?'", "SELECT ?s, ?s, ?s, ?s"},
	{"SELECT `col``1`, `?` FROM t", "SELECT `col``1`, `?` FROM t"},
	{"SELECT 'unterminated", ""},
	{`SELECT 'escaped quote\'`, ""},
	{`SELECT "unterminated`, ""},
	{"SELECT `unterminated", ""},

	// Placeholders: the text has no shape.
	{"SELECT * FROM t WHERE a = ?", ""},
	{"SELECT * FROM t WHERE a = ? AND b = 1", ""},

	// Comments are kept: they carry hints.
	{"/* tailgate:primary */ SELECT c FROM t WHERE id=1", "/* tailgate:primary */ SELECT c FROM t WHERE id=?"},
	{"/* tailgate:replica,max_lag=2s */ SELECT 1", "/* tailgate:replica,max_lag=2s */ SELECT ?"},
	{"SELECT /*+ MAX_EXECUTION_TIME(1000) */ c FROM t WHERE id=1", "SELECT /*+ MAX_EXECUTION_TIME(1000) */ c FROM t WHERE id=?"},
	{"SELECT 1 -- id=5 'x\nFROM t # 7 'y\n", "SELECT ? -- id=5 'x\nFROM t # 7 'y\n"},
	{"SELECT 1 --", "SELECT ? --"},
	{"SELECT 1--1", "SELECT ?--?"}, // minus minus one
	{"SELECT 1 /**/ + /* ' */ 2", "SELECT ? /**/ + /* ' */ ?"},
	{"SELECT 1 /* open", ""},
	// Executable comments are SQL: kept, with all that follows.
	{"/*!40101 SET NAMES utf8 */", "/*!40101 SET NAMES utf8 */"},
	{"SELECT 1 /*!50000 + 2 */ + 3", "SELECT ? /*!50000 + 2 */ + 3"},
	{"SELECT 1 /*M!100100 + 2 */ + 3", "SELECT ? /*M!100100 + 2 */ + 3"},
	{"SELECT 1 /*T![clustered_index] + 2 */", "SELECT ? /*T![clustered_index] + 2 */"},
	{"SELECT 1 /*M no bang 5 */ + 3", "SELECT ? /*M no bang 5 */ + ?"},

	// Literals whose value the grammar checks stay verbatim.
	{"SELECT * FROM t WHERE a LIKE 'x%' ESCAPE '!'", "SELECT * FROM t WHERE a LIKE ?s ESCAPE '!'"},
	{"SELECT a COLLATE 'utf8mb4_bin', CONVERT(b USING 'latin1') FROM t WHERE c = 'x'", "SELECT a COLLATE 'utf8mb4_bin', CONVERT(b USING 'latin1') FROM t WHERE c = ?s"},
	{"SELECT CAST(a AS CHAR(10) CHARACTER SET 'utf8'), CAST(b AS CHAR CHARSET 'latin1')", "SELECT CAST(a AS CHAR(?) CHARACTER SET 'utf8'), CAST(b AS CHAR CHARSET 'latin1')"},
	{"SELECT CAST(a AS FLOAT(53)), CAST(b AS FLOAT (10)), CAST(c AS DECIMAL(10, 2))", "SELECT CAST(a AS FLOAT(53)), CAST(b AS FLOAT (10)), CAST(c AS DECIMAL(?, ?))"},
	{"SELECT * FROM t INTO OUTFILE '/tmp/x' FIELDS TERMINATED BY ',' ENCLOSED BY 0x22", "SELECT * FROM t INTO OUTFILE ?s FIELDS TERMINATED BY ',' ENCLOSED BY 0x22"},
	{"SELECT a FROM t ORDER BY 1", "SELECT a FROM t ORDER BY 1"},
	{"SELECT a FROM t WHERE escape = 1", "SELECT a FROM t WHERE escape = ?"},

	// IN lists of one kind collapse; anything else inside stays as is.
	{"SELECT * FROM t WHERE a IN (1, 2,3) AND b NOT IN ( 'x' , 'y' ) AND c IN (\"x\", \"y\")", "SELECT * FROM t WHERE a IN (?li) AND b NOT IN (?ls) AND c IN (?lq)"},
	{`SELECT * FROM t WHERE a IN ('x', "y")`, "SELECT * FROM t WHERE a IN (?s, ?q)"},
	{"SELECT * FROM t WHERE a IN (1,2,3,4,5,6,7,8,9)", "SELECT * FROM t WHERE a IN (?li)"},
	{"SELECT * FROM t WHERE a in (1.5, 2.5) OR b IN (0x1, 0x2)", "SELECT * FROM t WHERE a in (?ld) OR b IN (?lx)"},
	{"SELECT * FROM t WHERE a IN (1)", "SELECT * FROM t WHERE a IN (?)"},
	{"SELECT * FROM t WHERE a IN (1, 'x')", "SELECT * FROM t WHERE a IN (?, ?s)"},
	{"SELECT * FROM t WHERE a IN (1, b)", "SELECT * FROM t WHERE a IN (?, b)"},
	{"SELECT * FROM t WHERE a IN (1, -2)", "SELECT * FROM t WHERE a IN (?, -?)"},
	{"SELECT * FROM t WHERE a IN (1, 2 /* c */)", "SELECT * FROM t WHERE a IN (?, ? /* c */)"},
	{"SELECT * FROM t WHERE a IN (SELECT 1)", "SELECT * FROM t WHERE a IN (SELECT ?)"},
	{"SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))", "SELECT * FROM t WHERE (a, b) IN ((?, ?), (?, ?))"},
	{"SELECT * FROM t WHERE a IN (1, 2", "SELECT * FROM t WHERE a IN (?, ?"},
	{"SELECT * FROM t WHERE a IN (1, 2,)", "SELECT * FROM t WHERE a IN (?, ?,)"},

	// Bytes the lexer treats specially.
	{"SELECT café, 'é' FROM t WHERE x = 1", "SELECT café, ?s FROM t WHERE x = ?"},
	{"SELECT \xa01", ""},           // 0xA0 starting a token: whitespace to the parser
	{"SELECT\xa01", "SELECT\xa01"}, // inside a word: part of the identifier
	{"SELECT 1 --\x85x", ""},       // a comment to the parser, not to leadingHints
	{"SELECT 1\x00", ""},
	{"SELECT \\N, 1", "SELECT \\N, ?"},
	{"", ""},
	{"   ", "   "},
}

func TestStatementShape(t *testing.T) {
	for _, tc := range shapeCases {
		var buf [maxCachedLen]byte
		n, ok := statementShape(buf[:], tc.sql)
		got := string(buf[:n])
		if !ok {
			got = ""
		}
		if got != tc.shape || ok != (tc.shape != "" || tc.sql == "") {
			t.Errorf("statementShape(%q) = %q, %v; want %q", tc.sql, got, ok, tc.shape)
		}
		// The []byte version agrees, and a shape is never longer than its text.
		nb, okb := statementShape(buf[:], []byte(tc.sql))
		if okb != ok || ok && string(buf[:nb]) != got {
			t.Errorf("statementShape([]byte(%q)) = %q, %v; the string version gave %q, %v", tc.sql, buf[:nb], okb, got, ok)
		}
		if n > len(tc.sql) {
			t.Errorf("shape of %q is longer than the text: %q", tc.sql, got)
		}
		// Instantiating the shape with other values gives a text of the same shape.
		if ok && tc.shape != "" && !strings.Contains(tc.sql, "?") {
			other := instantiateShape([]byte(got), []byte("\x07\xf3\x10\x99'\"\\*/x?"))
			if so, ok := shapeOf(other); !ok || so != got {
				t.Errorf("shape %q instantiated as %q, which has shape %q (%v)", got, other, so, ok)
			}
		}
	}
}

func TestStatementShapeBufferFull(t *testing.T) {
	sql := "SELECT c FROM sbtest1 WHERE id=5012"
	var buf [64]byte
	if n, ok := statementShape(buf[:20], sql); ok {
		t.Fatalf("a 20-byte buffer took the shape %q of a 35-byte text", buf[:n])
	}
	if n, ok := statementShape(buf[:len("SELECT c FROM sbtest1 WHERE id=?")], sql); !ok || string(buf[:n]) != "SELECT c FROM sbtest1 WHERE id=?" {
		t.Fatalf("exact-size buffer: %q, %v", buf[:n], ok)
	}
}

func shapeOf(sql string) (string, bool) {
	var buf [maxCachedLen]byte
	n, ok := statementShape(buf[:], sql)
	return string(buf[:n]), ok
}

// instantiateShape writes a text of the given shape, with literal values drawn from vals (and
// whatever bytes of the verbatim text look like markers replaced too: the caller checks that
// the result has the shape).
func instantiateShape(shape, vals []byte) string {
	r := &valueSource{vals: vals}
	var b strings.Builder
	for i := 0; i < len(shape); {
		if shape[i] != '?' {
			b.WriteByte(shape[i])
			i++
			continue
		}
		kind, width := byte(litInt), 1
		if i+1 < len(shape) {
			switch k := shape[i+1]; k {
			case litDecimal, litFloat, litHex, litHexString, litBit, litBitString, litString, litDQString:
				kind, width = k, 2
			case litList:
				if i+2 < len(shape) {
					kind, width = shape[i+2], 3
				}
			}
		}
		if width == 3 {
			for n := range 2 + r.next()%4 {
				if n > 0 {
					b.WriteString(", "[:1+r.next()%2])
				}
				r.literal(&b, kind)
			}
		} else {
			r.literal(&b, kind)
		}
		i += width
	}
	return b.String()
}

// valueSource draws literal values from fuzzer bytes.
type valueSource struct {
	vals []byte
	i    int
}

func (r *valueSource) next() int {
	if len(r.vals) == 0 {
		return 0
	}
	v := r.vals[r.i%len(r.vals)]
	r.i++
	return int(v)
}

func (r *valueSource) digits(b *strings.Builder, min, max int, set string) {
	for range min + r.next()%(max-min+1) {
		b.WriteByte(set[r.next()%len(set)])
	}
}

func (r *valueSource) literal(b *strings.Builder, kind byte) {
	const dec, hex = "0123456789", "0123456789abcdefABCDEF"
	switch kind {
	case litInt:
		r.digits(b, 1, maxShapeDigits, dec)
	case litDecimal:
		switch r.next() % 3 {
		case 0:
			r.digits(b, 1, maxShapeDigits, dec)
			b.WriteByte('.')
			r.digits(b, 0, maxShapeDigits, dec)
		case 1:
			b.WriteByte('.')
			r.digits(b, 1, maxShapeDigits, dec)
		default:
			r.digits(b, 1, 3, dec)
			b.WriteByte('.')
		}
	case litFloat:
		if r.next()%2 == 0 {
			r.digits(b, 1, maxShapeDigits, dec)
		} else {
			r.digits(b, 0, maxShapeDigits, dec)
			b.WriteByte('.')
			r.digits(b, 1, maxShapeDigits, dec)
		}
		b.WriteString("eE"[r.next()%2:][:1])
		b.WriteString([]string{"+", "-", ""}[r.next()%3])
		r.digits(b, 1, maxShapeExpDigits, dec)
	case litHex:
		b.WriteString("0x")
		r.digits(b, 1, 40, hex)
	case litHexString:
		b.WriteString("xX"[r.next()%2:][:1] + "'")
		for range r.next() % 20 {
			r.digits(b, 2, 2, hex)
		}
		b.WriteByte('\'')
	case litBit:
		b.WriteString("0b")
		r.digits(b, 1, 70, "01")
	case litBitString:
		b.WriteString("bB"[r.next()%2:][:1] + "'")
		r.digits(b, 0, 70, "01")
		b.WriteByte('\'')
	case litString, litDQString:
		q := byte('\'')
		if kind == litDQString {
			q = '"'
		}
		b.WriteByte(q)
		for range r.next() % 24 {
			switch c := byte(r.next()); {
			case c == q:
				b.WriteString([]string{string([]byte{q, q}), string([]byte{'\\', q})}[r.next()%2])
			case c == '\\':
				b.WriteByte('\\')
				b.WriteByte(byte(r.next()))
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte(q)
	default:
		b.WriteString("1")
	}
}

// Two texts that differ only in their literals share one *Statement, and the second one does
// not go into the exact-text cache.
func TestClassifySharesShape(t *testing.T) {
	c := NewClassifier(100)
	a := c.Classify("SELECT c FROM sbtest1 WHERE id=5012")
	b := c.Classify("SELECT c FROM sbtest1 WHERE id=77")
	if a != b {
		t.Fatal("texts differing only in a literal got different *Statements")
	}
	if a.Kind != KindRead {
		t.Fatalf("kind %v", a.Kind)
	}
	if n, m := c.cache.len(), c.shapes.len(); n != 1 || m != 1 {
		t.Fatalf("caches hold %d texts and %d shapes; want 1 and 1 (a shape hit is not cached by text)", n, m)
	}
	w1 := c.ClassifyBytes([]byte("UPDATE sbtest2 SET c='x-1' WHERE id=1"))
	w2 := c.Classify("UPDATE sbtest2 SET c='y-2' WHERE id=2")
	w3 := c.ClassifyBytes([]byte(`UPDATE sbtest2 SET c='z\'3' WHERE id=3`))
	if w1 != w2 || w2 != w3 || w1.Kind != KindWrite || w1.Reason != ReasonWrite {
		t.Fatalf("writes of one shape: %p %p %p, %+v", w1, w2, w3, w1)
	}
	// Same shape, other locking clause: another shape.
	if l := c.Classify("SELECT c FROM sbtest1 WHERE id=5 FOR UPDATE"); l == a || l.Reason != ReasonLockingRead {
		t.Fatalf("FOR UPDATE shares the plain read's statement: %+v", l)
	}
}

// SET autocommit=0 and =1 share a shape, but not a classification: SET is never cached by
// shape.
func TestClassifySetAutocommitByValue(t *testing.T) {
	c := NewClassifier(100)
	for range 2 { // the second round runs on warm caches
		for _, tc := range []struct {
			sql string
			on  bool
		}{
			{"SET autocommit=0", false},
			{"SET autocommit=1", true},
			{"SET autocommit=0", false},
			{"set autocommit = 'ON'", true},
			{"set autocommit = 'OFF'", false},
			{"SET autocommit=1, sql_mode='ANSI'", true},
			{"SET autocommit=0, sql_mode='ANSI'", false},
		} {
			st := c.Classify(tc.sql)
			if st.Kind != KindSessionSet || !st.Effects.Has(EffectSetAutocommit) || st.Autocommit != tc.on {
				t.Errorf("Classify(%q) = %+v; want autocommit %v", tc.sql, st, tc.on)
			}
		}
	}
	if m := c.shapes.len(); m != 0 {
		t.Fatalf("SET statements went to the shape cache: %d shapes", m)
	}
}

func TestClassifyHintsKeepShapesApart(t *testing.T) {
	c := NewClassifier(100)
	for range 2 {
		for _, tc := range []struct {
			sql    string
			hint   Hint
			maxLag time.Duration
		}{
			{"SELECT c FROM t WHERE id=1", HintNone, 0},
			{"/* tailgate:primary */ SELECT c FROM t WHERE id=2", HintPrimary, 0},
			{"/* tailgate:replica */ SELECT c FROM t WHERE id=3", HintReplica, 0},
			{"/* tailgate:replica,max_lag=2s */ SELECT c FROM t WHERE id=4", HintReplica, 2 * time.Second},
			{"/* tailgate:replica,max_lag=5s */ SELECT c FROM t WHERE id=5", HintReplica, 5 * time.Second},
			{"-- tailgate:primary\nSELECT c FROM t WHERE id=6", HintPrimary, 0},
			{"SELECT c FROM t WHERE id=7", HintNone, 0},
		} {
			st := c.Classify(tc.sql)
			if st.Kind != KindRead || st.Hint != tc.hint || st.MaxLag != tc.maxLag {
				t.Errorf("Classify(%q) = kind %v hint %v max_lag %v; want read %v %v", tc.sql, st.Kind, st.Hint, st.MaxLag, tc.hint, tc.maxLag)
			}
		}
	}
}

// Texts without a shape, and literals whose value decides whether the text parses, classify
// as if there were no shape cache, whatever was seen before.
func TestClassifyLiteralValuesTheGrammarChecks(t *testing.T) {
	c := NewClassifier(100)
	for _, tc := range []struct{ good, bad string }{
		{"SELECT c FROM t WHERE id = 'abc'", "SELECT c FROM t WHERE id = 'abc"},
		{"SELECT c FROM t WHERE id = `abc` + 1", "SELECT c FROM t WHERE id = `abc + 1"},
		{"SELECT c FROM t LIMIT 10", "SELECT c FROM t LIMIT 99999999999999999999"},
		{"SELECT c FROM t LIMIT 10", "SELECT c FROM t LIMIT 1.5"},
		{"SELECT c FROM t LIMIT 10", "SELECT c FROM t LIMIT '10'"},
		{"SELECT 1 'alias'", "SELECT 1 2"},
		{"SELECT 1e5", "SELECT 1e400"},
		{"SELECT X'12'", "SELECT X'123'"},
		{"SELECT 0x1F", "SELECT 0X1F"},
		{"SELECT c FROM t WHERE c LIKE 'a!%' ESCAPE '!'", "SELECT c FROM t WHERE c LIKE 'a!%' ESCAPE '!!'"},
		{"SELECT CAST(c AS FLOAT(53)) FROM t", "SELECT CAST(c AS FLOAT(54)) FROM t"},
		{"SELECT c COLLATE 'utf8mb4_bin' FROM t", "SELECT c COLLATE 'no_such_collation' FROM t"},
		{"SELECT CONVERT(c USING 'utf8mb4') FROM t", "SELECT CONVERT(c USING 'no_such_charset') FROM t"},
		{"SELECT c FROM t INTO OUTFILE '/tmp/a' FIELDS ENCLOSED BY '|'", "SELECT c FROM t INTO OUTFILE '/tmp/a' FIELDS ENCLOSED BY '||'"},
		{"SELECT c FROM t INTO OUTFILE '/tmp/a' FIELDS ESCAPED BY '|'", "SELECT c FROM t INTO OUTFILE '/tmp/a' FIELDS ESCAPED BY '||'"},
	} {
		g := c.Classify(tc.good)
		b := c.Classify(tc.bad)
		want := NewClassifier(0).Classify(tc.bad)
		if g.Reason == ReasonUnparsed {
			t.Errorf("Classify(%q) = unparsed", tc.good)
		}
		if b.Kind != want.Kind || b.Reason != want.Reason || b.Reason != ReasonUnparsed {
			t.Errorf("after %q, Classify(%q) = %v %q; uncached %v %q", tc.good, tc.bad, b.Kind, b.Reason, want.Kind, want.Reason)
		}
	}
}

// ClassifyBytes keeps no reference to its argument on the shape path either.
func TestClassifyBytesShapeDoesNotAliasBuffer(t *testing.T) {
	c := NewClassifier(100)
	buf := []byte("SELECT c FROM sbtest1 WHERE id=1")
	st := c.ClassifyBytes(buf)
	copy(buf, "DELETE c FROM sbtest1 WHERE id=1")
	if got := c.Classify("SELECT c FROM sbtest1 WHERE id=2"); got != st || got.Kind != KindRead {
		t.Fatalf("shape key changed with the caller's buffer: %+v", got)
	}
	if got := c.ClassifyBytes(buf); got.Kind != KindWrite {
		t.Fatalf("DELETE served as %v", got.Kind)
	}
}

func TestClassifyShapeHitAllocatesNothing(t *testing.T) {
	c := NewClassifier(1000)
	for _, sql := range sysbenchTextMix(40) {
		c.Classify(sql)
	}
	texts := sysbenchTextMix(1040)[40:]
	bufs := make([][]byte, len(texts))
	for i, sql := range texts {
		bufs[i] = []byte(sql)
	}
	// The first 40 texts have every shape of the mix: the first text of each shape is in the
	// exact-text cache, the others were shape hits.
	cached := c.cache.len()
	if m := c.shapes.len(); cached != m || m != 16 {
		t.Fatalf("caches hold %d texts and %d shapes; want 16 and 16", cached, m)
	}
	i := 0
	if allocs := testing.AllocsPerRun(1000, func() {
		c.Classify(texts[i%len(texts)])
		i++
	}); allocs > 0 {
		t.Fatalf("a shape hit allocates %.1f times", allocs)
	}
	if allocs := testing.AllocsPerRun(1000, func() {
		c.ClassifyBytes(bufs[i%len(bufs)])
		i++
	}); allocs > 0 {
		t.Fatalf("a ClassifyBytes shape hit allocates %.1f times", allocs)
	}
	if n := c.cache.len(); n != cached {
		t.Fatalf("shape hits went into the exact-text cache: %d texts, was %d", n, cached)
	}
	// A text longer than the stack buffer uses a pooled one.
	longs := make([]string, 10)
	for i := range longs {
		longs[i] = fmt.Sprintf("INSERT INTO t (a, b) VALUES (%d, '%s')", i, strings.Repeat("x", shapeStackLen+i))
	}
	c.Classify(longs[0])
	if allocs := testing.AllocsPerRun(100, func() {
		c.Classify(longs[1+i%9])
		i++
	}); allocs > 0 {
		t.Fatalf("a shape hit of a long text allocates %.1f times", allocs)
	}
}

// Run with -race: both cache levels are shared, shapes evict under lookups.
func TestClassifyShapeConcurrent(t *testing.T) {
	c := NewClassifier(16)
	texts := sysbenchTextMix(2000)
	want := make([]*Statement, len(texts))
	fresh := NewClassifier(0)
	for i, sql := range texts {
		want[i] = fresh.Classify(sql)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 600 {
				k := (g*131 + i*7) % len(texts)
				var st *Statement
				if i%2 == 0 {
					st = c.Classify(texts[k])
				} else {
					st = c.ClassifyBytes([]byte(texts[k]))
				}
				w := want[k]
				if st.Kind != w.Kind || st.Reason != w.Reason || st.Effects != w.Effects {
					t.Errorf("Classify(%q) = %v %q %#x; want %v %q %#x", texts[k], st.Kind, st.Reason, st.Effects, w.Kind, w.Reason, w.Effects)
					return
				}
				// Shapes and SETs mixed in.
				set := fmt.Sprintf("SET autocommit=%d", i%2)
				if st := c.Classify(set); st.Autocommit != (i%2 == 1) {
					t.Errorf("Classify(%q).Autocommit = %v", set, st.Autocommit)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, m := c.cache.len(), c.shapes.len(); n > 16 || m > 16 {
		t.Fatalf("caches hold %d texts and %d shapes; bound 16", n, m)
	}
}

func TestShapeIndependent(t *testing.T) {
	fresh := NewClassifier(0)
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"SELECT 1", true},
		{"SELECT c FROM t WHERE id = 1 FOR UPDATE", true},
		{"SELECT GET_LOCK('a', 1)", true},
		{"SELECT 1 INTO @a", true},
		{"SELECT @a := 1", true},
		{"INSERT INTO t VALUES (1)", true},
		{"SHOW WARNINGS LIMIT 5", true},
		{"BEGIN", true},
		{"START TRANSACTION READ ONLY", true},
		{"COMMIT", true},
		{"SET @a = (SELECT 1)", true}, // a write: nothing from the text is kept
		{"SET @a = 1", false},
		{"SET autocommit = 1", false},
		{"SET autocommit = (SELECT 1)", false},
		{"USE db", false},
		{"SELECT 1; SELECT 2", false},
		{"CREATE TABLE t (a int)", false},
		{"CREATE TEMPORARY TABLE t (a int)", false},
		{"KILL 5", false},
		{"KILL QUERY ID 5", false},
		{"SET GLOBAL x = 1", false},
		{"SELECT 'unterminated", false},
	} {
		if got := shapeIndependent(fresh.Classify(tc.sql)); got != tc.want {
			t.Errorf("shapeIndependent(Classify(%q)) = %v; want %v", tc.sql, got, tc.want)
		}
	}
}

// FuzzShape: a text and another one of the same shape (the shape instantiated with other
// literal values) classify alike whenever either classification may be cached by shape, and
// the shape cache hands out what an uncached classifier says.
func FuzzShape(f *testing.F) {
	for _, tc := range shapeCases {
		f.Add(tc.sql, []byte{0})
	}
	for _, tc := range classifyCases {
		f.Add(tc.sql, []byte("\x01\x02\xff"))
	}
	for _, sql := range sysbenchTextMix(20) {
		f.Add(sql, []byte("\x13\x37"))
	}
	for _, sql := range []string{
		"SELECT * FROM t WHERE a IN (1, 2) AND b LIKE 'x' ESCAPE '|' LIMIT 5, 10",
		"SELECT CAST(a AS FLOAT(10)), CAST(b AS DECIMAL(30, 10)), CAST(c AS CHAR(5) CHARSET 'utf8') FROM t",
		"SELECT * FROM t WHERE d > DATE '2020-01-01' AND ts < TIMESTAMP '2020-01-01 00:00:00' + INTERVAL 5 DAY",
		"INSERT INTO t VALUES (1, 'a', 1.5, 1e3, 0x1F, X'1F', 0b1, b'1', N'x', _utf8mb4'y') ON DUPLICATE KEY UPDATE a = 2",
		"LOAD DATA INFILE '/tmp/x' INTO TABLE t FIELDS TERMINATED BY ',' ENCLOSED BY '\"' LINES TERMINATED BY '\\n' IGNORE 1 LINES",
		"SELECT SQL_CALC_FOUND_ROWS * FROM t WHERE a = 1 LIMIT 10",
		"SELECT * FROM t FOR UPDATE WAIT 5",
		"SET STATEMENT max_statement_time=1.5 FOR SELECT 1",
		"SELECT JSON_EXTRACT(j, '$.a'), j->'$.b', j->>'$.c' FROM t",
		"SELECT * FROM t WHERE a = 1 UNION ALL SELECT * FROM u WHERE b = 'x'",
		"/* tailgate:max_lag=1s */ SELECT SUBSTRING('abc', 1, 2), CHAR(65 USING 'utf8mb4')",
		"SHOW ERRORS LIMIT 1, 5",
		"SELECT {d '2020-01-01'}, {ts '2020-01-01 00:00:00'}",
		"SELECT * FROM t PARTITION (p1) WHERE a = 1 AND b = 'x' ORDER BY c DESC LIMIT 3",
		"UPDATE t SET a = a + 1.5e-3 WHERE b IN ('x', 'y', 'z') ORDER BY id LIMIT 100",
		"DELETE FROM t WHERE id = 0x10 AND c = b'0101'",
	} {
		f.Add(sql, []byte("\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0"))
	}
	cached := NewClassifier(50)
	f.Fuzz(func(t *testing.T, sql string, vals []byte) {
		var buf, bufb [maxCachedLen]byte
		n, ok := statementShape(buf[:], sql)
		nb, okb := statementShape(bufb[:], []byte(sql))
		if ok != okb || !bytes.Equal(buf[:n], bufb[:nb]) {
			t.Fatalf("statementShape(%.200q): string and []byte versions disagree", sql)
		}
		if !ok {
			return
		}
		if n > len(sql) {
			t.Fatalf("shape %.200q is longer than its text %.200q", buf[:n], sql)
		}
		shape := string(buf[:n])
		other := instantiateShape(buf[:n], vals)
		if so, ok := shapeOf(other); !ok || so != shape {
			return // a marker-like byte in verbatim text was replaced: not a sibling
		}
		fresh := NewClassifier(0)
		a, b := fresh.Classify(sql), fresh.Classify(other)
		if (shapeIndependent(a) || shapeIndependent(b)) && !sameClassification(a, b) {
			t.Fatalf("texts of shape %.300q classify apart:\n %.300q: %+v\n %.300q: %+v", shape, sql, a, other, b)
		}
		// Through the caches: the second text is a shape hit when the first was cacheable.
		for _, text := range []string{sql, other} {
			if got, want := cached.Classify(text), fresh.Classify(text); !sameClassification(got, want) {
				t.Fatalf("cached Classify(%.300q) = %+v; uncached %+v", text, got, want)
			}
		}
	})
}

func sameClassification(a, b *Statement) bool {
	return a.Kind == b.Kind && a.Reason == b.Reason && a.Effects == b.Effects && a.Hint == b.Hint &&
		a.MaxLag == b.MaxLag && a.Multi == b.Multi && a.Autocommit == b.Autocommit &&
		a.Schema == b.Schema && a.SetKey == b.SetKey && slices.Equal(a.Tables, b.Tables)
}

// BenchmarkStatementShape: the normalizer alone, on a 60-byte statement.
func BenchmarkStatementShape(b *testing.B) {
	sql := "SELECT c FROM sbtest1 WHERE id BETWEEN 4977 AND 5076 ORDER BY c"
	var buf [shapeStackLen]byte
	b.ReportAllocs()
	for b.Loop() {
		statementShape(buf[:], sql)
	}
}
