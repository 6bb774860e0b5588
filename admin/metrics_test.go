package admin

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tailgate-proxy/tailgate/router"
)

// startHTTP serves metrics for src on a free loopback port until the test ends.
func startHTTP(t *testing.T, src Source, ready func() error) (*Metrics, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics(src, reg)
	h := NewHTTP(HTTPOptions{Listen: "127.0.0.1:0", Ready: ready, Logger: testLogger(t)}, src, reg)
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	serveUntilEnd(t, h.Serve)
	return m, "http://" + h.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches and parses /metrics.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the series of family name with exactly the given labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	src := newFakeSource()
	m, base := startHTTP(t, src, nil)

	primary := router.Decision{Target: router.TargetPrimary, Backend: router.PrimaryName, Reason: router.ReasonWrite}
	replica := router.Decision{Target: router.TargetReplica, Backend: "replica1", Reason: router.ReasonRead}
	for range 3 {
		m.ObserveQuery(primary, false, 2*time.Millisecond)
	}
	m.ObserveQuery(primary, true, 50*time.Millisecond)
	for range 5 {
		m.ObserveQuery(replica, false, 300*time.Microsecond)
	}

	fams := scrape(t, base)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tailgate_queries_total", []string{"target", "primary", "result", "ok"}, 3},
		{"tailgate_queries_total", []string{"target", "primary", "result", "error"}, 1},
		{"tailgate_queries_total", []string{"target", "replica", "result", "ok"}, 5},
		{"tailgate_queries_total", []string{"target", "replica", "result", "error"}, 0},
		{"tailgate_query_duration_seconds", []string{"target", "primary"}, 4},
		{"tailgate_query_duration_seconds", []string{"target", "replica"}, 5},
		{"tailgate_replica_lag_milliseconds", []string{"backend", "replica1"}, 1500},
		{"tailgate_backend_state", []string{"backend", "replica1", "state", "lagging"}, 1},
		{"tailgate_backend_state", []string{"backend", "replica1", "state", "online"}, 0},
		{"tailgate_backend_state", []string{"backend", "primary", "state", "online"}, 1},
		{"tailgate_backend_state", []string{"backend", "primary", "state", "offline"}, 0},
		{"tailgate_backend_connections", []string{"backend", "primary"}, 3},
		{"tailgate_backend_connections", []string{"backend", "replica1"}, 1},
		{"tailgate_backend_queries_total", []string{"backend", "primary"}, 100},
		{"tailgate_client_connections", nil, 2},
		{"tailgate_fallbacks_total", nil, 5},
		{"tailgate_binlog_reconnects_total", nil, 3},
	} {
		got, ok := value(t, fams, tt.name, tt.labels...)
		if !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := value(t, fams, "tailgate_replica_lag_milliseconds", "backend", "primary"); ok {
		t.Error("the primary has a lag series")
	}
	// A stat the source does not report is left out, not exported as 0.
	if _, ok := fams["tailgate_binlog_position"]; ok {
		t.Error("tailgate_binlog_position exported though the source has no tailer_position_seq")
	}
	if got := fams["tailgate_queries_total"].GetType(); got != dto.MetricType_COUNTER {
		t.Errorf("tailgate_queries_total is a %v", got)
	}
	// Histogram buckets span 100µs to 10s.
	h := fams["tailgate_query_duration_seconds"].GetMetric()[0].GetHistogram()
	b := h.GetBucket()
	if last := b[len(b)-1].GetUpperBound(); math.IsInf(last, 1) {
		b = b[:len(b)-1]
	}
	if b[0].GetUpperBound() != 0.0001 || b[len(b)-1].GetUpperBound() != 10 {
		t.Errorf("buckets from %v to %v", b[0].GetUpperBound(), b[len(b)-1].GetUpperBound())
	}

	// State changes show at the next scrape: nothing is cached.
	src.set(func(f *fakeSource) {
		f.offline["replica1"] = true
		f.stats = append(f.stats, Stat{Name: StatTailerPosition, Value: 1234})
	})
	fams = scrape(t, base)
	if v, _ := value(t, fams, "tailgate_backend_state", "backend", "replica1", "state", "offline"); v != 1 {
		t.Errorf("offline replica: state offline = %v", v)
	}
	if v, _ := value(t, fams, "tailgate_backend_state", "backend", "replica1", "state", "lagging"); v != 0 {
		t.Errorf("offline replica: state lagging = %v", v)
	}
	if v, ok := value(t, fams, "tailgate_binlog_position"); !ok || v != 1234 {
		t.Errorf("tailgate_binlog_position = %v (present %v), want 1234", v, ok)
	}
}

func TestObserveQueryDoesNotAllocate(t *testing.T) {
	m := NewMetrics(newFakeSource(), prometheus.NewRegistry())
	d := router.Decision{Target: router.TargetReplica, Backend: "replica1", Reason: router.ReasonRead}
	if n := testing.AllocsPerRun(1000, func() { m.ObserveQuery(d, false, time.Millisecond) }); n != 0 {
		t.Errorf("ObserveQuery allocates %v times per call", n)
	}
}

func BenchmarkObserveQuery(b *testing.B) {
	m := NewMetrics(newFakeSource(), prometheus.NewRegistry())
	d := router.Decision{Target: router.TargetReplica, Backend: "replica1", Reason: router.ReasonRead}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveQuery(d, false, time.Millisecond)
		}
	})
}

func TestHealthAndReadiness(t *testing.T) {
	src := newFakeSource()
	var listenerErr atomic.Pointer[error]
	_, base := startHTTP(t, src, func() error {
		if p := listenerErr.Load(); p != nil {
			return *p
		}
		return nil
	})

	if code, body := get(t, base+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the primary up: %d %q", code, body)
	}
	src.set(func(f *fakeSource) { f.primaryErr = errors.New("dial tcp 127.0.0.1:3306: connection refused") })
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "primary unreachable: dial tcp") {
		t.Errorf("/readyz with the primary down: %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with the primary down: %d, want 200 (the process is up)", code)
	}
	src.set(func(f *fakeSource) { f.primaryErr = nil })
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the primary is back: %d", code)
	}
	closed := errors.New("shutting down")
	listenerErr.Store(&closed)
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "client listener: shutting down") {
		t.Errorf("/readyz with the listener closed: %d %q", code, body)
	}
	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing: %d", code)
	}
}
