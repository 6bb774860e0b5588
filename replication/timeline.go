package replication

import (
	"sort"
	"sync"
	"time"
)

// maxTimelineEntries bounds the transactions remembered per stream. A replica further
// behind than that is measured against the oldest entry kept, which under-states nothing
// that matters: its lag is then at least the age of that entry.
const maxTimelineEntries = 1 << 20

// timeline remembers when tailgate saw each primary transaction, per GTID stream (a
// MariaDB replication domain). It answers "when did the oldest transaction a replica has
// not applied appear?", which is that replica's lag.
type timeline struct {
	mu      sync.Mutex
	streams map[uint32]*stream
	last    mariaPos // newest GTID seen per domain
}

type stream struct {
	seqs  []uint64 // ascending
	seen  []int64  // unix nanoseconds, parallel to seqs
	start int      // first live index (entries before it were pruned)
}

func newTimeline() *timeline {
	return &timeline{streams: map[uint32]*stream{}, last: mariaPos{}}
}

// add records that transaction g was seen at t. Out-of-order or repeated sequence numbers
// (a reconnect replaying events) are ignored: the first sighting is the earliest.
func (tl *timeline) add(g mariaGTID, t time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	s := tl.streams[g.domain]
	if s == nil {
		s = &stream{}
		tl.streams[g.domain] = s
	}
	if n := len(s.seqs); n > s.start && s.seqs[n-1] >= g.seq {
		return
	}
	s.seqs = append(s.seqs, g.seq)
	s.seen = append(s.seen, t.UnixNano())
	if len(s.seqs)-s.start > maxTimelineEntries {
		s.start++
	}
	tl.last[g.domain] = g
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
func (tl *timeline) oldestUnapplied(pos mariaPos) (seen int64, ok bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for domain, s := range tl.streams {
		live := s.seqs[s.start:]
		applied := uint64(0)
		if g, has := pos[domain]; has {
			applied = g.seq
		}
		i := sort.Search(len(live), func(i int) bool { return live[i] > applied })
		if i == len(live) {
			continue
		}
		if t := s.seen[s.start+i]; !ok || t < seen {
			seen, ok = t, true
		}
	}
	return seen, ok
}

// prune forgets transactions every replica has applied (minimum position per domain).
func (tl *timeline) prune(applied mariaPos) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for domain, s := range tl.streams {
		g, has := applied[domain]
		if !has {
			continue
		}
		live := s.seqs[s.start:]
		// Keep the last entry applied so an idle stream keeps a reference point.
		i := sort.Search(len(live), func(i int) bool { return live[i] > g.seq })
		if i > 1 {
			s.start += i - 1
		}
		s.compact()
	}
}

// newest returns the newest GTID position the timeline has seen.
func (tl *timeline) newest() mariaPos {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := make(mariaPos, len(tl.last))
	for d, g := range tl.last {
		out[d] = g
	}
	return out
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
