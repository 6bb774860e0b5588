package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrPoolExhausted is returned when a backend's connection limit is reached and no
// connection came free within the wait.
var ErrPoolExhausted = errors.New("backend connection limit reached")

// stateOwner identifies one session's state on backend connections.
type stateOwner struct{ _ int }

// poolKey groups interchangeable backend connections: same login and same protocol
// flags and character set from the handshake.
type poolKey struct {
	user      string
	flags     uint32
	collation string
	schema    string // the database of the handshake
}

// pool holds a backend's idle connections. Sessions that are not pinned to a backend
// connection borrow one per statement and give it back when the response is relayed, so
// mostly idle clients hold no backend connection at all.
type pool struct {
	b   *Backend
	max int

	mu      sync.Mutex
	retired bool // the backend left the configuration: close connections as they come back
	idle    map[poolKey][]*backendConn
	open    int           // connections of this backend, idle or borrowed
	waiting int           // sessions in get waiting for a connection at the limit
	freed   chan struct{} // signalled (non-blocking) when a connection is returned or closed while one waits
}

func newPool(b *Backend, max int) *pool {
	return &pool{b: b, max: max, idle: map[poolKey][]*backendConn{}, freed: make(chan struct{}, 1)}
}

// get returns an idle connection for key (the one last used by owner when there is one),
// or opens a new one, waiting up to the dial timeout when the backend is at its limit.
func (p *pool) get(ctx context.Context, key poolKey, owner *stateOwner, dial func() (*backendConn, error), wait time.Duration) (*backendConn, error) {
	var deadline time.Time // set when the backend is first found at its limit
	for {
		p.mu.Lock()
		if bc := p.takeIdle(key, owner); bc != nil {
			p.mu.Unlock()
			if time.Since(bc.lastUsed) >= idleCheckAfter && !bc.alive() {
				p.discard(bc)
				continue
			}
			return bc, nil
		}
		if p.max <= 0 || p.open < p.max {
			p.open++
			p.mu.Unlock()
			bc, err := dial()
			if err != nil {
				p.dropped()
				return nil, err
			}
			bc.pool, bc.key = p, key
			return bc, nil
		}
		// At the limit: make room by closing an idle connection of another key, or wait.
		if victim := p.takeAnyIdle(); victim != nil {
			p.mu.Unlock()
			p.discard(victim)
			continue
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(wait)
		}
		left := time.Until(deadline)
		if left <= 0 {
			limit := p.max
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: %s has %d connections in use (limit %d)", ErrPoolExhausted, p.b.Name, limit, limit)
		}
		p.waiting++ // from here on every put and close signals freed
		p.mu.Unlock()
		t := time.NewTimer(left)
		var err error
		select {
		case <-p.freed:
		case <-t.C:
		case <-ctx.Done():
			err = ctx.Err()
		}
		t.Stop()
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// takeIdle pops an idle connection of key, preferring one whose state belongs to owner
// (no reset needed), then a clean one; caller holds mu.
func (p *pool) takeIdle(key poolKey, owner *stateOwner) *backendConn {
	list := p.idle[key]
	if len(list) == 0 {
		return nil
	}
	pick := len(list) - 1 // most recently used: warm, and its prepared statements likely match
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].owner == owner && owner != nil {
			pick = i
			break
		}
		if !list[i].dirty && list[pick].dirty {
			pick = i
		}
	}
	bc := list[pick]
	list[pick] = list[len(list)-1]
	p.idle[key] = list[:len(list)-1]
	return bc
}

func (p *pool) takeAnyIdle() *backendConn {
	for key, list := range p.idle {
		if len(list) > 0 {
			bc := list[0]
			p.idle[key] = list[1:]
			return bc
		}
	}
	return nil
}

// setMax changes the connection limit (a reload). Connections above a lowered limit
// stay open until they come back; waiters for a raised one try again at once.
func (p *pool) setMax(n int) {
	p.mu.Lock()
	p.max = n
	p.mu.Unlock()
	p.signal()
}

// put returns a borrowed connection.
func (p *pool) put(bc *backendConn) {
	if bc.closed {
		p.dropped()
		return
	}
	p.mu.Lock()
	if p.retired {
		p.mu.Unlock()
		p.discard(bc)
		return
	}
	p.idle[bc.key] = append(p.idle[bc.key], bc)
	wake := p.waiting > 0 // no channel operation per statement when nobody waits
	p.mu.Unlock()
	if wake {
		p.signal()
	}
}

// retire closes the idle connections and every borrowed one when it comes back.
func (p *pool) retire() {
	p.mu.Lock()
	p.retired = true
	p.mu.Unlock()
	p.closeIdle()
}

// discard closes a connection that belonged to the pool.
func (p *pool) discard(bc *backendConn) {
	bc.close()
	p.dropped()
}

// dropped accounts for a connection of this pool that was closed.
func (p *pool) dropped() {
	p.mu.Lock()
	p.open--
	wake := p.waiting > 0
	p.mu.Unlock()
	if wake {
		p.signal()
	}
}

func (p *pool) signal() {
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

// closeIdle closes every idle connection (shutdown, or a backend removed by reload).
func (p *pool) closeIdle() {
	p.mu.Lock()
	var all []*backendConn
	for key, list := range p.idle {
		all = append(all, list...)
		delete(p.idle, key)
	}
	p.open -= len(all)
	p.mu.Unlock()
	for _, bc := range all {
		bc.close()
	}
}
