package replication

import (
	"sync"
	"time"
)

// maxTimelineEntries bounds the transactions remembered per stream. A replica further
// behind than that is measured against the oldest entry kept, which under-states nothing
// that matters: its lag is then at least the age of that entry.
const maxTimelineEntries = 1 << 20

// timeline remembers when tailgate saw each primary transaction, per GTID stream (a
// MariaDB replication domain or a MySQL source uuid). It answers "when did the oldest
// transaction a replica has not applied appear?", which is that replica's lag.
type timeline struct {
	// base is the origin of the stamps: each is the time since base, which Go measures on
	// the monotonic clock, so a step of the wall clock (NTP, a VM resumed) neither hides a
	// replica's lag nor invents one.
	base    time.Time
	mu      sync.Mutex
	streams map[streamID]*stream
	// last is every GTID seen: on MariaDB the newest per domain, on MySQL the primary's
	// executed set as far as tailgate knows it (where a new binlog stream starts).
	last position
	// known is closed once last holds the primary's position (seed or add); reset makes a
	// new one. isKnown tells whether it is closed.
	known   chan struct{}
	isKnown bool
}

type stream struct {
	seqs  []uint64 // ascending
	seen  []int64  // nanoseconds since timeline.base, parallel to seqs
	start int      // first live index (entries before it were pruned)
}

func newTimeline() *timeline {
	return &timeline{base: time.Now(), streams: map[streamID]*stream{}, last: position{}, known: make(chan struct{})}
}

// whenKnown is closed once the timeline knows the primary's position.
func (tl *timeline) whenKnown() <-chan struct{} {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.known
}

// learned marks the primary's position known. Caller holds mu.
func (tl *timeline) learned() {
	if !tl.isKnown {
		tl.isKnown = true
		close(tl.known)
	}
}

// reset forgets every transaction and position (the primary changed).
func (tl *timeline) reset() {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.streams = map[streamID]*stream{}
	tl.last = position{}
	if tl.isKnown {
		tl.known, tl.isKnown = make(chan struct{}), false
	}
}

// add records that transaction g was seen at t. Out-of-order or repeated sequence numbers
// (a reconnect replaying events) are not stamped again: the first sighting is the earliest.
func (tl *timeline) add(g gtid, t time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.last[g.stream] = tl.last[g.stream].withGTID(g)
	tl.stamp(g.stream, g.seq, t)
	tl.learned()
}

// seed records a primary's position at start-up: each stream's newest transaction is
// stamped t (what came before counts as seen then), and the whole position becomes the
// start of the next binlog stream.
func (tl *timeline) seed(pos position, t time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for k, sp := range pos {
		if k.isMySQL() && sp.empty() {
			continue
		}
		tl.last[k] = tl.last[k].union(sp)
		tl.stamp(k, sp.newest(), t)
	}
	tl.learned()
}

// stamp appends seq to its stream unless it is not newer than the last entry. Caller
// holds mu.
func (tl *timeline) stamp(k streamID, seq uint64, t time.Time) {
	s := tl.streams[k]
	if s == nil {
		s = &stream{}
		tl.streams[k] = s
	}
	at := int64(t.Sub(tl.base))
	if n := len(s.seqs); n > s.start {
		if s.seqs[n-1] >= seq {
			return
		}
		// A stream's transactions commit in sequence order: one is never older than
		// the one before it. This bounds a replayed transaction's estimate by a
		// sighting in between (the primary's watcher polling in the tailer's stead).
		at = max(at, s.seen[n-1])
	}
	s.seqs = append(s.seqs, seq)
	s.seen = append(s.seen, at)
	if len(s.seqs)-s.start > maxTimelineEntries {
		s.start++
	}
	s.compact()
}

// compact drops pruned entries once they are the larger part of the slices.
func (s *stream) compact() {
	if s.start > 1024 && s.start > len(s.seqs)/2 {
		n := copy(s.seqs, s.seqs[s.start:])
		copy(s.seen, s.seen[s.start:])
		s.seqs, s.seen, s.start = s.seqs[:n], s.seen[:n], 0
	}
}

// oldestUnapplied returns when the oldest transaction not in pos was seen, or ok=false
// when pos has everything the timeline knows.
func (tl *timeline) oldestUnapplied(pos position) (seen time.Time, ok bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var oldest int64
	for k, s := range tl.streams {
		live := s.seqs[s.start:]
		i := pos[k].firstMissing(live)
		if i == len(live) {
			continue
		}
		if t := s.seen[s.start+i]; !ok || t < oldest {
			oldest, ok = t, true
		}
	}
	if !ok {
		return time.Time{}, false
	}
	return tl.base.Add(time.Duration(oldest)), true
}

// prune forgets transactions every replica has applied: per stream, those before the
// first one some position lacks. A stream some position has nothing of is kept whole.
func (tl *timeline) prune(applied []position) {
	if len(applied) == 0 {
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for k, s := range tl.streams {
		live := s.seqs[s.start:]
		cut := len(live)
		for _, pos := range applied {
			sp, has := pos[k]
			if !has {
				cut = 0
				break
			}
			cut = min(cut, sp.firstMissing(live))
		}
		// Keep the last entry applied so an idle stream keeps a reference point.
		if cut > 1 {
			s.start += cut - 1
		}
		s.compact()
	}
}

// newest returns every GTID the timeline has seen, as a position.
func (tl *timeline) newest() position {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.last.clone()
}

// size returns the number of live entries (for tests and metrics).
func (tl *timeline) size() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for _, s := range tl.streams {
		n += len(s.seqs) - s.start
	}
	return n
}
