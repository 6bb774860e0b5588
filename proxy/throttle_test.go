package proxy

import (
	"testing"
	"time"
)

func TestAuthThrottle(t *testing.T) {
	th := newAuthThrottle(3, time.Minute)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if th.blocked("10.0.0.1", now) {
			t.Fatalf("blocked after %d failures", i)
		}
		th.failed("10.0.0.1", now)
	}
	if !th.blocked("10.0.0.1", now.Add(time.Second)) {
		t.Fatal("not blocked after 3 failures")
	}
	if th.blocked("10.0.0.2", now) {
		t.Fatal("another host is blocked")
	}
	if th.blocked("10.0.0.1", now.Add(2*time.Minute)) {
		t.Fatal("still blocked after the window")
	}
	th.failed("10.0.0.3", now)
	th.failed("10.0.0.3", now)
	th.succeeded("10.0.0.3")
	th.failed("10.0.0.3", now)
	th.failed("10.0.0.3", now)
	if th.blocked("10.0.0.3", now) {
		t.Fatal("a successful login did not clear the failures")
	}
	// Hosts whose window passed are swept out.
	th.failed("10.0.0.9", now.Add(10*time.Minute))
	if len(th.hosts) != 1 {
		t.Fatalf("hosts after the sweep: %v, want only 10.0.0.9", th.hosts)
	}
}

// TestAuthThrottleSetMax: a reload's new limit applies to hosts already counted.
func TestAuthThrottleSetMax(t *testing.T) {
	th := newAuthThrottle(2, time.Minute)
	now := time.Unix(1000, 0)
	th.failed("10.0.0.1", now)
	th.failed("10.0.0.1", now)
	if !th.blocked("10.0.0.1", now) {
		t.Fatal("not blocked after 2 failures with a limit of 2")
	}
	th.setMax(3)
	if th.blocked("10.0.0.1", now) {
		t.Fatal("blocked after 2 failures with the limit raised to 3")
	}
	th.setMax(1)
	if !th.blocked("10.0.0.1", now) {
		t.Fatal("not blocked after 2 failures with the limit lowered to 1")
	}
	th.setMax(0)
	if th.blocked("10.0.0.1", now) {
		t.Fatal("blocked with the limit off")
	}
}
