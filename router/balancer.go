package router

import "sync"

// Balancer spreads picks over backends in proportion to their weights with smooth weighted
// round robin: over any window of sum(weights) picks among the same eligible set, each
// backend is picked exactly weight times, interleaved rather than in bursts.
type Balancer struct {
	mu      sync.Mutex
	weights []int
	current []int
}

// NewBalancer returns a balancer over len(weights) backends; weights below 1 count as 1.
func NewBalancer(weights []int) *Balancer {
	w := make([]int, len(weights))
	for i, v := range weights {
		w[i] = max(v, 1)
	}
	return &Balancer{weights: w, current: make([]int, len(w))}
}

// Pick returns the index of the next backend among those marked eligible, or -1 when none is.
func (b *Balancer) Pick(eligible []bool) int { return b.pick(eligible, true) }

// pick is Pick; with take false it only returns what Pick would return now (EXPLAIN ROUTE).
func (b *Balancer) pick(eligible []bool, take bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	best, bestScore, total := -1, 0, 0
	for i, ok := range eligible {
		if !ok || i >= len(b.weights) {
			continue
		}
		score := b.current[i] + b.weights[i]
		if take {
			b.current[i] = score
		}
		total += b.weights[i]
		if best < 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	if best >= 0 && take {
		b.current[best] -= total
	}
	return best
}
