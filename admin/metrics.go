package admin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailgate-proxy/tailgate/proxy"
	"github.com/tailgate-proxy/tailgate/router"
)

var _ proxy.Observer = (*Metrics)(nil)

// queryDurationBuckets span 100µs to 10s.
var queryDurationBuckets = []float64{
	.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
}

// Labels of tailgate_queries_total.
const (
	resultOK    = "ok"
	resultError = "error"
)

// Metrics exports tailgate's Prometheus metrics. Query counts and latencies are
// observed on the hot path (ObserveQuery, a proxy.Observer); backend state, lag,
// connections and the proxy's counters are read from the Source at scrape time.
type Metrics struct {
	// Pre-resolved children, indexed by router.Target and failed: ObserveQuery does no
	// label lookup and no allocation.
	queries  [2][2]prometheus.Counter
	duration [2]prometheus.Observer
}

// NewMetrics creates the metrics and registers them with reg. It panics if reg already
// holds metrics of the same names (a wiring mistake, like any MustRegister).
func NewMetrics(src Source, reg prometheus.Registerer) *Metrics {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailgate_queries_total",
		Help: "Statements routed, by target (primary, replica) and result (ok, error: the backend answered with an error or the connection failed).",
	}, []string{"target", "result"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tailgate_query_duration_seconds",
		Help:    "Time from sending a statement to a backend to the end of its response, by target.",
		Buckets: queryDurationBuckets,
	}, []string{"target"})
	m := &Metrics{}
	for _, t := range []router.Target{router.TargetPrimary, router.TargetReplica} {
		m.queries[t][0] = queries.WithLabelValues(t.String(), resultOK)
		m.queries[t][1] = queries.WithLabelValues(t.String(), resultError)
		m.duration[t] = duration.WithLabelValues(t.String())
	}
	reg.MustRegister(queries, duration, &sourceCollector{src: src})
	return m
}

// ObserveQuery implements proxy.Observer.
func (m *Metrics) ObserveQuery(d router.Decision, failed bool, elapsed time.Duration) {
	t := d.Target
	if t > router.TargetReplica {
		t = router.TargetPrimary
	}
	r := 0
	if failed {
		r = 1
	}
	m.queries[t][r].Inc()
	m.duration[t].Observe(elapsed.Seconds())
}

// statMetric exports one named Stat of the Source.
type statMetric struct {
	stat string
	desc *prometheus.Desc
	kind prometheus.ValueType
}

// statMetrics map Source stats to metrics; a stat the Source does not report is left out
// of the scrape (the binlog tailer's, until a tailer reports them).
var statMetrics = []statMetric{
	{StatFallbacks, prometheus.NewDesc("tailgate_fallbacks_total", "Reads sent to the primary because no replica was eligible (lag, read-your-writes, down, offline).", nil, nil), prometheus.CounterValue},
	{StatRouteErrors, prometheus.NewDesc("tailgate_route_errors_total", "Reads refused because no replica was fresh enough under lag.on_all_stale = \"error\".", nil, nil), prometheus.CounterValue},
	{StatClientConnections, prometheus.NewDesc("tailgate_client_connections", "Open client sessions.", nil, nil), prometheus.GaugeValue},
	{StatRefused, prometheus.NewDesc("tailgate_connections_refused_total", "Client connections refused by proxy.max_connections.", nil, nil), prometheus.CounterValue},
	{StatHandshakeFailures, prometheus.NewDesc("tailgate_handshake_failures_total", "Client connections that failed before a session started (bad handshake, wrong password, backend login failed).", nil, nil), prometheus.CounterValue},
	{StatAuthFailures, prometheus.NewDesc("tailgate_auth_failures_total", "Client logins refused for a wrong user or password.", nil, nil), prometheus.CounterValue},
	{StatBackendDialErrors, prometheus.NewDesc("tailgate_backend_dial_errors_total", "Backend connections that could not be opened.", nil, nil), prometheus.CounterValue},
	{StatReadRetries, prometheus.NewDesc("tailgate_read_retries_total", "Reads retried on another backend after theirs failed before answering.", nil, nil), prometheus.CounterValue},
	{StatReplicaWaits, prometheus.NewDesc("tailgate_replica_waits_total", "Reads after the session's write that waited on a replica until it showed the write, and ran there (consistency.replica_wait).", nil, nil), prometheus.CounterValue},
	{StatReplicaWaitMisses, prometheus.NewDesc("tailgate_replica_wait_misses_total", "Waits on a replica for the session's write that ran out: the read went to the primary.", nil, nil), prometheus.CounterValue},
	{StatReadOnlyWaits, prometheus.NewDesc("tailgate_primary_read_only_waits_total", "Statements the primary refused as read-only (a switchover) that waited for it to move instead of failing.", nil, nil), prometheus.CounterValue},
	{StatSlowStatements, prometheus.NewDesc("tailgate_slow_statements_total", "Statements whose backend took log.slow_statement or longer to answer (each is logged with its digest).", nil, nil), prometheus.CounterValue},
	{StatPrimaryFollows, prometheus.NewDesc("tailgate_primary_follows_total", "Promotions followed: the primary moved to a promoted replica without a config change (primary.follow_promotion).", nil, nil), prometheus.CounterValue},
	{StatTailerConnected, prometheus.NewDesc("tailgate_binlog_connected", "1 while the binlog tailer streams from the primary, else 0.", nil, nil), prometheus.GaugeValue},
	{StatTailerPosition, prometheus.NewDesc("tailgate_binlog_position", "Sequence number of the last primary transaction the binlog tailer saw (from start: the primary's position then).", nil, nil), prometheus.GaugeValue},
	{StatTailerReconnects, prometheus.NewDesc("tailgate_binlog_reconnects_total", "Reconnections of the binlog tailer to the primary.", nil, nil), prometheus.CounterValue},
}

var (
	lagDesc = prometheus.NewDesc("tailgate_replica_lag_milliseconds",
		"Replica lag: now minus the time tailgate saw the oldest primary transaction the replica has not applied (0 when caught up).",
		[]string{"backend"}, nil)
	stateDesc = prometheus.NewDesc("tailgate_backend_state",
		"Backend state: 1 for the current state (online, lagging, down, offline), 0 for the others.",
		[]string{"backend", "state"}, nil)
	backendConnsDesc = prometheus.NewDesc("tailgate_backend_connections",
		"Open connections from tailgate to the backend.", []string{"backend"}, nil)
	backendQueriesDesc = prometheus.NewDesc("tailgate_backend_queries_total",
		"Statements sent to the backend.", []string{"backend"}, nil)
)

// sourceCollector reads the Source at scrape time, so nothing polls in the background.
type sourceCollector struct{ src Source }

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- stateDesc
	ch <- backendConnsDesc
	ch <- backendQueriesDesc
	for _, sm := range statMetrics {
		ch <- sm.desc
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.src.Backends() {
		if b.Role == RoleReplica {
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(b.LagMS), b.Name)
		}
		for _, st := range backendStates {
			v := 0.0
			if st == b.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, v, b.Name, st)
		}
		ch <- prometheus.MustNewConstMetric(backendConnsDesc, prometheus.GaugeValue, float64(b.Connections), b.Name)
		ch <- prometheus.MustNewConstMetric(backendQueriesDesc, prometheus.CounterValue, float64(b.Queries), b.Name)
	}
	stats := c.src.Stats()
	for _, sm := range statMetrics {
		for _, st := range stats {
			if st.Name == sm.stat {
				ch <- prometheus.MustNewConstMetric(sm.desc, sm.kind, float64(st.Value))
				break
			}
		}
	}
}
