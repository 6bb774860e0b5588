package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// authThrottle limits failed logins per client host: after maxFailures within window, the
// host's new connections are refused (error 1129, like MySQL's max_connect_errors) until
// the window has passed since its last failure. A successful login clears the count.
type authThrottle struct {
	maxFailures atomic.Int64 // 0: no limit
	window      time.Duration

	mu    sync.Mutex
	hosts map[string]*hostFailures
	swept time.Time
}

type hostFailures struct {
	count int
	last  time.Time
}

func newAuthThrottle(maxFailures int, window time.Duration) *authThrottle {
	t := &authThrottle{window: window, hosts: map[string]*hostFailures{}}
	t.setMax(maxFailures)
	return t
}

// setMax changes the number of failures that block a host (a reload).
func (t *authThrottle) setMax(n int) { t.maxFailures.Store(int64(n)) }

// blocked reports whether host is refused now.
func (t *authThrottle) blocked(host string, now time.Time) bool {
	if t == nil {
		return false
	}
	limit := int(t.maxFailures.Load())
	if limit <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.hosts[host]
	if f == nil {
		return false
	}
	if now.Sub(f.last) > t.window {
		delete(t.hosts, host)
		return false
	}
	return f.count >= limit
}

// failed counts a failed login from host.
func (t *authThrottle) failed(host string, now time.Time) {
	if t == nil || t.maxFailures.Load() <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.hosts[host]
	if f == nil || now.Sub(f.last) > t.window {
		f = &hostFailures{}
		t.hosts[host] = f
	}
	f.count++
	f.last = now
	if now.Sub(t.swept) > t.window {
		// Forget hosts whose window passed, so the map stays small.
		for h, hf := range t.hosts {
			if now.Sub(hf.last) > t.window {
				delete(t.hosts, h)
			}
		}
		t.swept = now
	}
}

// succeeded clears a host's failures.
func (t *authThrottle) succeeded(host string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	delete(t.hosts, host)
	t.mu.Unlock()
}
