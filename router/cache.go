package router

import (
	"strings"
	"sync"
)

// maxCachedLen is the longest statement text (or shape) the cache keeps. Longer texts are mostly
// bulk writes that are rarely repeated verbatim; caching them would only pin memory. Their
// shapes may well be short, though: the shape level serves them.
const maxCachedLen = 4 << 10

// statementCache maps statement texts, or statement shapes, to their classification. A hit is
// a map lookup under a read lock and allocates nothing. When the cache is full, an insert first
// drops about half of the entries, in map iteration order (effectively random): cheap, bounded,
// and good enough for a working set that is either much smaller than the bound or not
// cacheable at all.
type statementCache struct {
	mu      sync.RWMutex
	max     int
	entries map[string]*Statement
}

// newStatementCache returns a cache of at most max entries, or nil (no caching) when max <= 0.
// A nil *statementCache is valid and always misses.
func newStatementCache(max int) *statementCache {
	if max <= 0 {
		return nil
	}
	return &statementCache{max: max, entries: make(map[string]*Statement, min(max, 1024))}
}

func (c *statementCache) get(sql string) *Statement {
	if c == nil || len(sql) > maxCachedLen { // never stored: do not hash a bulk insert for nothing
		return nil
	}
	c.mu.RLock()
	st := c.entries[sql]
	c.mu.RUnlock()
	return st
}

// getBytes is get for a text still in a packet buffer; the conversion in the map index does
// not allocate.
func (c *statementCache) getBytes(sql []byte) *Statement {
	if c == nil || len(sql) > maxCachedLen {
		return nil
	}
	c.mu.RLock()
	st := c.entries[string(sql)]
	c.mu.RUnlock()
	return st
}

// add stores st under sql unless the text is too long, and returns the statement the cache now
// holds for sql: an earlier entry wins, so concurrent misses on one text converge on one pointer.
// The key is copied so the cache never pins (or aliases) the caller's buffer.
func (c *statementCache) add(sql string, st *Statement) *Statement {
	if c == nil || len(sql) > maxCachedLen {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[sql]; ok {
		return old
	}
	c.makeRoomLocked()
	c.entries[strings.Clone(sql)] = st
	return st
}

// addBytes is add for a key in a scratch buffer (a statement shape): the key is copied once,
// and only when it is stored.
func (c *statementCache) addBytes(key []byte, st *Statement) *Statement {
	if c == nil || len(key) > maxCachedLen {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[string(key)]; ok {
		return old
	}
	c.makeRoomLocked()
	c.entries[string(key)] = st
	return st
}

// makeRoomLocked drops about half of the entries of a full cache; c.mu is held.
func (c *statementCache) makeRoomLocked() {
	if len(c.entries) < c.max {
		return
	}
	keep := c.max / 2
	for k := range c.entries {
		if len(c.entries) <= keep {
			break
		}
		delete(c.entries, k)
	}
}

func (c *statementCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// clear drops every entry (the routing rules changed: cached classifications carry them).
func (c *statementCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
