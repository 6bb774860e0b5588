package proxy

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tailgate-proxy/tailgate/router"
)

// slowObserver takes its time over each statement before it counts it (a real Observer must
// not block: this one widens the window a late count would show in).
type slowObserver struct{ seen atomic.Int64 }

func (o *slowObserver) ObserveQuery(router.Decision, bool, time.Duration) {
	time.Sleep(20 * time.Millisecond)
	o.seen.Add(1)
}

// TestAnswerAfterAccounting: the client gets a statement's answer only once the statement is
// accounted for (the metrics observer here; SHOW DIGESTS and SHOW STATS the same way), so
// whoever asks right after an answer sees the statement counted.
func TestAnswerAfterAccounting(t *testing.T) {
	obs := &slowObserver{}
	c := fakeProxy(t, 3, obs)
	before := obs.seen.Load()
	for i := int64(1); i <= 3; i++ {
		res, err := c.Execute("SELECT c FROM sbtest1 WHERE id=1")
		if err != nil {
			t.Fatal(err)
		}
		if n := res.RowNumber(); n != 3 {
			t.Fatalf("statement %d: %d rows, want the fake backend's 3", i, n)
		}
		if n := obs.seen.Load() - before; n != i {
			t.Fatalf("when statement %d was answered, the observer had counted %d statements", i, n)
		}
	}
}
