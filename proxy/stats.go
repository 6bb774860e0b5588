package proxy

import (
	"sync/atomic"

	"github.com/tailgate-proxy/tailgate/router"
)

// Stats are the proxy's counters, read by the admin commands and the metrics endpoint.
type Stats struct {
	toPrimary         atomic.Uint64
	toReplica         atomic.Uint64
	fallbacks         atomic.Uint64
	routeErrors       atomic.Uint64
	sessions          atomic.Int64
	refused           atomic.Uint64
	handshakeFailed   atomic.Uint64
	authFailed        atomic.Uint64
	backendDialFailed atomic.Uint64
	retries           atomic.Uint64
	waitedForWrite    atomic.Uint64
	waitTimedOut      atomic.Uint64
	slow              atomic.Uint64
	readOnlyWaits     atomic.Uint64
}

// StatsSnapshot is a copy of the counters at one moment.
type StatsSnapshot struct {
	QueriesPrimary    uint64
	QueriesReplica    uint64
	Fallbacks         uint64 // reads sent to the primary because no replica was eligible
	RouteErrors       uint64 // reads refused under lag.on_all_stale = "error"
	Sessions          int64
	Refused           uint64 // connections refused by max_connections
	HandshakeFailures uint64
	AuthFailures      uint64
	BackendDialErrors uint64
	Retries           uint64 // reads retried on another backend after a failure
	ReplicaWaits      uint64 // reads that waited on a replica for the session's write and ran there
	ReplicaWaitMisses uint64 // waits that ran out (consistency.replica_wait): the read went to the primary
	SlowStatements    uint64 // statements that took log.slow_statement or longer
	ReadOnlyWaits     uint64 // statements the primary refused as read-only that waited for it to move
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		QueriesPrimary:    s.toPrimary.Load(),
		QueriesReplica:    s.toReplica.Load(),
		Fallbacks:         s.fallbacks.Load(),
		RouteErrors:       s.routeErrors.Load(),
		Sessions:          s.sessions.Load(),
		Refused:           s.refused.Load(),
		HandshakeFailures: s.handshakeFailed.Load(),
		AuthFailures:      s.authFailed.Load(),
		BackendDialErrors: s.backendDialFailed.Load(),
		Retries:           s.retries.Load(),
		ReplicaWaits:      s.waitedForWrite.Load(),
		ReplicaWaitMisses: s.waitTimedOut.Load(),
		SlowStatements:    s.slow.Load(),
		ReadOnlyWaits:     s.readOnlyWaits.Load(),
	}
}

func (s *Stats) routed(d router.Decision) {
	if d.Target == router.TargetReplica {
		s.toReplica.Add(1)
	} else {
		s.toPrimary.Add(1)
	}
	if d.Fallback {
		s.fallbacks.Add(1)
	}
}

func (s *Stats) routeError() { s.routeErrors.Add(1) }
