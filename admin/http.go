package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	// readyTimeout bounds the primary check of one /readyz request.
	readyTimeout = time.Second
	// httpShutdownTimeout bounds the graceful shutdown of the HTTP server.
	httpShutdownTimeout = 5 * time.Second
)

// HTTPOptions configure the metrics and health HTTP listener.
type HTTPOptions struct {
	// Listen is the HTTP host:port ("127.0.0.1:9034"); port 0 picks a free port.
	Listen string
	// Ready, when set, reports whether the client listener accepts connections (nil
	// when it does); /readyz fails while it returns an error. Nil skips that check.
	Ready  func() error
	Logger hclog.Logger
}

// HTTPServer serves GET /metrics (Prometheus), /healthz (the process is up) and /readyz
// (200 only when the primary is reachable and the client listener accepts; for load
// balancers).
type HTTPServer struct {
	opts HTTPOptions
	src  Source
	log  hclog.Logger
	srv  *http.Server
	ln   net.Listener
}

// NewHTTP returns the HTTP server for src, exporting what g gathers (the registry
// NewMetrics registered with); it does not listen yet.
func NewHTTP(opts HTTPOptions, src Source, g prometheus.Gatherer) *HTTPServer {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	h := &HTTPServer{opts: opts, src: src, log: opts.Logger.Named("metrics")}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      hclogPrinter{h.log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", h.ready)
	h.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          h.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	return h
}

// ready answers /readyz: 200 "ready", or 503 with the reason.
func (h *HTTPServer) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.notReady(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	_, _ = fmt.Fprintln(w, "ready")
}

func (h *HTTPServer) notReady(ctx context.Context) error {
	if h.opts.Ready != nil {
		if err := h.opts.Ready(); err != nil {
			return fmt.Errorf("client listener: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := h.src.CheckPrimary(ctx); err != nil {
		return fmt.Errorf("primary unreachable: %w", err)
	}
	return nil
}

// Listen opens the HTTP listener.
func (h *HTTPServer) Listen() error {
	ln, err := net.Listen("tcp", h.opts.Listen)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", h.opts.Listen, err)
	}
	h.ln = ln
	return nil
}

// Addr is the listener's address (after Listen).
func (h *HTTPServer) Addr() net.Addr { return h.ln.Addr() }

// Serve serves HTTP until ctx ends, then shuts down gracefully: in-flight requests get
// httpShutdownTimeout to finish.
func (h *HTTPServer) Serve(ctx context.Context) error {
	if h.ln == nil {
		if err := h.Listen(); err != nil {
			return err
		}
	}
	h.log.Info("metrics listener accepting", "address", h.ln.Addr().String())
	shutdown := make(chan error, 1)
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
		defer cancel()
		shutdown <- h.srv.Shutdown(sctx)
	})
	err := h.srv.Serve(h.ln)
	if !errors.Is(err, http.ErrServerClosed) {
		stop()
		_ = h.srv.Close()
		return fmt.Errorf("metrics: serve: %w", err)
	}
	// Serve returns as soon as Shutdown starts; wait for it to finish the in-flight
	// requests.
	if err := <-shutdown; err != nil {
		return fmt.Errorf("metrics: shutdown: %w", err)
	}
	return nil
}

// hclogPrinter adapts hclog to promhttp's error logger.
type hclogPrinter struct{ log hclog.Logger }

func (p hclogPrinter) Println(v ...any) { p.log.Error("serving /metrics", "error", fmt.Sprint(v...)) }
