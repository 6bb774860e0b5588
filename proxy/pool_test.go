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
