package router

import (
	"strings"
	"testing"
	"unsafe"
)

func TestStatementCacheAdd(t *testing.T) {
	c := newStatementCache(4)
	a, b := &Statement{Kind: KindRead}, &Statement{Kind: KindWrite}
	if got := c.add("q", a); got != a {
		t.Fatal("add of a new text did not return its statement")
	}
	// Two sessions missed on the same text at once: both end up with the first result.
	if got := c.add("q", b); got != a {
		t.Fatal("second add of a text replaced the cached statement")
	}
	if c.get("q") != a || c.getBytes([]byte("q")) != a || c.get("r") != nil {
		t.Fatal("get does not see what add stored")
	}
	long := strings.Repeat("x", maxCachedLen+1)
	if got := c.add(long, b); got != b || c.get(long) != nil {
		t.Fatal("a text over maxCachedLen was cached")
	}
	for _, k := range []string{"r", "s", "t", "u", "v"} {
		c.add(k, b)
		if c.len() > 4 {
			t.Fatalf("cache of 4 holds %d entries", c.len())
		}
	}
	if c.get("v") != b {
		t.Fatal("the entry added after an eviction is missing")
	}
}

func TestStatementCacheNil(t *testing.T) {
	var c *statementCache // what NewClassifier(0) uses
	st := &Statement{}
	if c.get("q") != nil || c.getBytes([]byte("q")) != nil || c.add("q", st) != st || c.len() != 0 {
		t.Fatal("nil cache must miss, keep nothing and hand back what it was given")
	}
}

// A proxy may pass text that aliases a packet buffer it reuses (unsafe.String). The cache key
// and the strings inside the cached *Statement must not change when that buffer does.
func TestCacheDoesNotAliasCallerMemory(t *testing.T) {
	c := NewClassifier(10)
	const sql = "DROP TABLE orders"
	buf := []byte(sql)
	st := c.Classify(unsafe.String(&buf[0], len(buf)))
	copy(buf, "SELECT 1 FROM xyz")
	if len(st.Tables) != 1 || st.Tables[0] != "orders" {
		t.Fatalf("cached tables changed with the caller's buffer: %q", st.Tables)
	}
	if again := c.Classify(sql); again != st {
		t.Fatal("the cache key changed with the caller's buffer")
	}
	if got := c.Classify("SELECT 1 FROM xyz"); got.Kind != KindRead {
		t.Fatalf("a read is served the cached DROP TABLE: %+v", got)
	}

	buf = []byte("SET sql_mode = ''")
	st = c.Classify(unsafe.String(&buf[0], len(buf)))
	copy(buf, "SET xxx_xxxx = ''")
	if st.SetKey != "sql_mode" {
		t.Fatalf("cached set key changed with the caller's buffer: %q", st.SetKey)
	}
	buf = []byte("USE shop")
	st = c.Classify(unsafe.String(&buf[0], len(buf)))
	copy(buf, "USE xxxx")
	if st.Schema != "shop" {
		t.Fatalf("cached schema changed with the caller's buffer: %q", st.Schema)
	}
}

func TestStatementCacheAddBytes(t *testing.T) {
	c := newStatementCache(2)
	a, b := &Statement{Kind: KindRead}, &Statement{Kind: KindWrite}
	key := []byte("SELECT ?")
	if got := c.addBytes(key, a); got != a {
		t.Fatal("addBytes of a new key did not return its statement")
	}
	copy(key, "XXXXXXXX") // the caller reuses its scratch buffer
	if c.get("SELECT ?") != a || c.get("XXXXXXXX") != nil {
		t.Fatal("the stored key aliases the caller's buffer")
	}
	if got := c.addBytes([]byte("SELECT ?"), b); got != a {
		t.Fatal("second addBytes of a key replaced the cached statement")
	}
	c.addBytes([]byte("x"), b)
	c.addBytes([]byte("y"), b)
	if c.len() > 2 {
		t.Fatalf("cache of 2 holds %d entries", c.len())
	}
	var nilCache *statementCache
	if nilCache.addBytes(key, a) != a || c.addBytes(make([]byte, maxCachedLen+1), a) != a || c.getBytes(make([]byte, maxCachedLen+1)) != nil {
		t.Fatal("nil cache or over-long key")
	}
}
