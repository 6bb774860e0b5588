package router

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Digests: what ran, by statement shape.
//
// Every statement the classifier classifies gets a *Digest, shared by every text of its
// digest key: the statement's shape (shape.go: literals replaced by markers, so SELECT c
// FROM sbtest1 WHERE id=5 and id=7 are one digest), or for a text without one (a prepared
// statement's text with its ? placeholders, text the normalizer cannot read, a session in
// a non-default sql_mode) its first maxDigestText bytes. The session records each
// execution on it with atomic adds: nothing is looked up per statement, and cache hits
// still allocate nothing.

const (
	// maxDigests bounds the digests kept; statements of digests beyond it count together
	// under OtherDigest.
	maxDigests = 5000
	// maxDigestText bounds the key and the text kept of a statement without a shape.
	maxDigestText = 1024
)

// OtherDigest is the text of the digest that counts the statements of every digest past
// the first maxDigests.
const OtherDigest = "(other statements)"

// Digest counts the executions of the statements of one digest.
type Digest struct {
	// Text is the digest's key: the statement shape, or the start of its text.
	Text string
	// Reason is the classification reason of the first statement seen with this digest
	// (empty for reads).
	Reason Reason
	// Kind is that statement's kind.
	Kind Kind

	// Executions by where they ran (their sum is the count), those that failed, and the
	// time they took.
	primary, replica, errors, nanos atomic.Uint64
	// writes: a read of this digest failed on a replica with the server's read-only
	// error, so it writes (a view or a trigger calling a writing function, a function
	// the classifier took for a built-in): its reads go to the primary from then on.
	writes atomic.Bool
}

// MarkWrites records that a read of d wrote (ran into a replica's read-only error) and
// reports whether that is news. The other-statements digest is never marked: it stands
// for statements of every shape.
func (d *Digest) MarkWrites() bool {
	if d == nil || d.Text == OtherDigest {
		return false
	}
	return !d.writes.Swap(true)
}

// Writes reports whether a read of d ran into a replica's read-only error.
func (d *Digest) Writes() bool { return d != nil && d.writes.Load() }

// Record counts one execution on target that took took; failed when it ended in an
// error.
func (d *Digest) Record(target Target, failed bool, took time.Duration) {
	if d == nil {
		return
	}
	if target == TargetReplica {
		d.replica.Add(1)
	} else {
		d.primary.Add(1)
	}
	if failed {
		d.errors.Add(1)
	}
	d.nanos.Add(uint64(max(took, 0)))
}

// DigestStats is a snapshot of one digest's counters.
type DigestStats struct {
	Text                            string
	Kind                            Kind
	Reason                          Reason
	Count, Primary, Replica, Errors uint64
	Total                           time.Duration
	// Writes: its reads go to the primary since one ran into a replica's read-only error.
	Writes bool
}

// digestSet holds the digests of a classifier and its sql_mode variants.
type digestSet struct {
	mu    sync.Mutex
	max   int // maxDigests; tests lower it
	byKey map[string]*Digest
	other *Digest
}

func newDigestSet() *digestSet {
	return &digestSet{max: maxDigests, byKey: map[string]*Digest{}, other: &Digest{Text: OtherDigest}}
}

// digestFor returns the digest for key (created for st's class), or the other digest once
// maxDigests are kept. Called on classifier cache misses only.
func digestFor[T string | []byte](ds *digestSet, key T, st *Statement) *Digest {
	if len(key) > maxDigestText {
		key = key[:maxDigestText]
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if d := ds.byKey[string(key)]; d != nil {
		return d
	}
	if len(ds.byKey) >= ds.max {
		return ds.other
	}
	d := &Digest{Text: string(key), Reason: st.Reason, Kind: st.Kind}
	ds.byKey[d.Text] = d
	return d
}

// ResetDigests zeroes every digest's counters and forgets which reads were found to write
// (RESET DIGESTS: after the view or function was fixed, or to count from now).
func (c *Classifier) ResetDigests() {
	ds := c.digests
	ds.mu.Lock()
	defer ds.mu.Unlock()
	reset := func(d *Digest) {
		d.primary.Store(0)
		d.replica.Store(0)
		d.errors.Store(0)
		d.nanos.Store(0)
		d.writes.Store(false)
	}
	for _, d := range ds.byKey {
		reset(d)
	}
	reset(ds.other)
}

// Digests returns the digests that ran at least once, the most total time first.
func (c *Classifier) Digests() []DigestStats {
	ds := c.digests
	ds.mu.Lock()
	all := make([]*Digest, 0, len(ds.byKey)+1)
	for _, d := range ds.byKey {
		all = append(all, d)
	}
	ds.mu.Unlock()
	all = append(all, ds.other)
	out := make([]DigestStats, 0, len(all))
	for _, d := range all {
		p, r := d.primary.Load(), d.replica.Load()
		if p+r == 0 {
			continue
		}
		out = append(out, DigestStats{
			Text: d.Text, Kind: d.Kind, Reason: d.Reason,
			Count: p + r, Primary: p, Replica: r, Errors: d.errors.Load(),
			Total: time.Duration(d.nanos.Load()), Writes: d.writes.Load(),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Text < out[j].Text
	})
	return out
}
