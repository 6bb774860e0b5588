package router

import (
	"testing"
	"time"
)

// TestDigests: the texts of one shape share a digest, whatever level of the cache
// answered; a prepared statement's text is its own key (the same as the shape of the
// text statement it stands for); statements that do not share a classification still
// share the digest; a session in another sql_mode counts in the same set; past the
// bound, new digests count as one.
func TestDigests(t *testing.T) {
	c := NewClassifier(100)
	a := c.Classify("SELECT c FROM sbtest1 WHERE id=5")
	b := c.ClassifyBytes([]byte("SELECT c FROM sbtest1 WHERE id=7"))
	hit := c.Classify("SELECT c FROM sbtest1 WHERE id=5") // exact-text cache
	if a.Digest == nil || b.Digest != a.Digest || hit.Digest != a.Digest {
		t.Fatalf("one shape, digests %p %p %p: want one", a.Digest, b.Digest, hit.Digest)
	}
	if a.Digest.Text != "SELECT c FROM sbtest1 WHERE id=?" || a.Digest.Kind != KindRead {
		t.Errorf("digest %q (%s), want the shape, read", a.Digest.Text, a.Digest.Kind)
	}
	if p := c.Classify("SELECT c FROM sbtest1 WHERE id=?"); p.Digest != a.Digest {
		t.Errorf("the prepared text has digest %q, want the text statements' %q", p.Digest.Text, a.Digest.Text)
	}
	on, off := c.Classify("SET autocommit=1"), c.Classify("SET autocommit=0")
	if on == off || on.Digest != off.Digest || on.Digest.Text != "SET autocommit=?" {
		t.Errorf("SET autocommit=1 and =0: statements shared %v, digests %q and %q; want two statements, one digest", on == off, on.Digest.Text, off.Digest.Text)
	}
	w := c.Classify("UPDATE sbtest1 SET k=k+1 WHERE id=5")
	ansi := c.ForMode(ModeANSIQuotes).Classify(`SELECT "x" FROM t`)
	if w.Digest == nil || ansi.Digest == nil || w.Digest == a.Digest {
		t.Fatal("a write or an ANSI_QUOTES statement has no digest of its own")
	}

	a.Digest.Record(TargetReplica, false, 2*time.Millisecond)
	b.Digest.Record(TargetPrimary, false, 2*time.Millisecond)
	w.Digest.Record(TargetPrimary, true, 10*time.Millisecond)
	ansi.Digest.Record(TargetReplica, false, time.Millisecond)
	var none *Digest
	none.Record(TargetPrimary, false, time.Second) // a statement from elsewhere: ignored
	got := c.ForMode(ModeANSIQuotes).Digests()
	want := []DigestStats{
		{Text: "UPDATE sbtest1 SET k=k+? WHERE id=?", Kind: KindWrite, Reason: ReasonWrite, Count: 1, Primary: 1, Errors: 1, Total: 10 * time.Millisecond},
		{Text: "SELECT c FROM sbtest1 WHERE id=?", Kind: KindRead, Count: 2, Primary: 1, Replica: 1, Total: 4 * time.Millisecond},
		{Text: `SELECT "x" FROM t`, Kind: KindRead, Count: 1, Replica: 1, Total: time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("Digests() = %+v, want %+v (digests never run left out)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Digests()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}

	c.digests.max = len(c.digests.byKey)
	x := c.Classify("SELECT b FROM t2 WHERE id=1")
	if x.Digest.Text != OtherDigest {
		t.Fatalf("a digest past the bound is %q, want %q", x.Digest.Text, OtherDigest)
	}
	x.Digest.Record(TargetReplica, false, 3*time.Millisecond)
	counted := false
	for _, d := range c.Digests() {
		counted = counted || d.Text == OtherDigest && d.Count == 1 && d.Total == 3*time.Millisecond
	}
	if !counted {
		t.Errorf("the other digest is not counted: %+v", c.Digests())
	}
	if long := c.Classify("SELECT '" + string(make([]byte, 3000)) + "'"); len(long.Digest.Text) > maxDigestText {
		t.Errorf("a digest of %d bytes, want at most %d", len(long.Digest.Text), maxDigestText)
	}
}

// TestDigestRecordAllocates: counting an execution allocates nothing.
func TestDigestRecordAllocates(t *testing.T) {
	d := NewClassifier(10).Classify("SELECT 1").Digest
	if n := testing.AllocsPerRun(1000, func() { d.Record(TargetReplica, false, time.Millisecond) }); n != 0 {
		t.Errorf("Record allocates %.1f times", n)
	}
}

// TestLearnedWrites: once a read's digest ran into a replica's read-only error, its reads
// go to the primary (over the replica hint too) and count as writes for read-your-writes;
// the other-statements digest is never marked.
func TestLearnedWrites(t *testing.T) {
	c := NewClassifier(100)
	st := c.Classify("SELECT sid FROM visiting")
	hinted := c.Classify("/* tailgate:replica */ SELECT sid FROM visiting")
	var view SessionView
	if d := Pin(st, &view); d.Target != TargetReplica || st.MayWrite() {
		t.Fatalf("before: %+v, MayWrite %v; want a replica read", d, st.MayWrite())
	}
	if !st.Digest.MarkWrites() || st.Digest.MarkWrites() {
		t.Error("MarkWrites: want news once")
	}
	for _, s := range []*Statement{st, c.Classify("SELECT sid FROM visiting")} {
		if d := Pin(s, &view); d.Target != TargetPrimary || d.Reason != ReasonWroteOnReplica || !s.MayWrite() {
			t.Errorf("after: %+v, MayWrite %v; want the primary for %s", d, s.MayWrite(), ReasonWroteOnReplica)
		}
	}
	if hinted.Digest == st.Digest {
		t.Fatal("the hinted text shares the digest: comments are kept in shapes")
	}
	hinted.Digest.MarkWrites()
	if d := Pin(hinted, &view); d.Reason != ReasonWroteOnReplica {
		t.Errorf("hinted, learned: %+v, want %s", d, ReasonWroteOnReplica)
	}
	c.ResetDigests()
	if d := Pin(st, &view); d.Target != TargetReplica || st.MayWrite() || len(c.Digests()) != 0 {
		t.Errorf("after ResetDigests: %+v, MayWrite %v, %d digests shown; want a replica read, none shown", d, st.MayWrite(), len(c.Digests()))
	}
	c.digests.max = len(c.digests.byKey)
	other := c.Classify("SELECT 1 FROM t3")
	if other.Digest.Text != OtherDigest || other.Digest.MarkWrites() || Pin(other, &view).Target != TargetReplica {
		t.Error("the other-statements digest was marked: every statement past the bound would go to the primary")
	}
}
