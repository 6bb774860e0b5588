package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPoolSetMax: raising a backend's connection limit lets a session waiting at the old
// limit through at once; lowering it refuses new connections beyond it.
func TestPoolSetMax(t *testing.T) {
	p := newPool(&Backend{Name: "r1"}, 1)
	dial := func() (*backendConn, error) { return &backendConn{}, nil }
	key := poolKey{user: "app"}
	if _, err := p.get(context.Background(), key, nil, dial, time.Second); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := p.get(context.Background(), key, nil, dial, 10*time.Second)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a second connection at the limit of 1: %v, want a wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.setMax(2)
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("after the limit was raised to 2: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a session waiting at the old limit still waits 5 s after it was raised")
	}
	p.setMax(1)
	if _, err := p.get(context.Background(), key, nil, dial, 10*time.Millisecond); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("a third connection with the limit lowered to 1: %v, want ErrPoolExhausted", err)
	}
}

// TestPoolWakesWaiter: a session waiting at the limit gets the connection another one gives
// back, at once; with nobody waiting, giving one back leaves no wake-up behind.
func TestPoolWakesWaiter(t *testing.T) {
	p := newPool(&Backend{Name: "r1"}, 1)
	dial := func() (*backendConn, error) { return &backendConn{lastUsed: time.Now()}, nil }
	key := poolKey{user: "app"}
	a, err := p.get(context.Background(), key, nil, dial, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p.put(a)
	if len(p.freed) != 0 {
		t.Error("put with nobody waiting signalled freed")
	}
	if a, err = p.get(context.Background(), key, nil, dial, time.Second); err != nil {
		t.Fatal(err)
	}

	type result struct {
		bc  *backendConn
		err error
	}
	got := make(chan result, 1)
	go func() {
		bc, err := p.get(context.Background(), key, nil, dial, 30*time.Second)
		got <- result{bc, err}
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		w := p.waiting
		p.mu.Unlock()
		if w == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second get is not waiting at the limit of 1")
		}
	}
	p.put(a)
	select {
	case r := <-got:
		if r.err != nil || r.bc != a {
			t.Fatalf("waiter got %p, %v; want the connection given back (%p)", r.bc, r.err, a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter still waits 5 s after a connection came back")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting != 0 || p.open != 1 {
		t.Errorf("after the wait: waiting %d, open %d; want 0, 1", p.waiting, p.open)
	}
}
