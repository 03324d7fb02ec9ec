// Package ops serves the operations endpoints every AccessBridge service
// has: /status (200, as teleport-jira answers; the body names the build),
// /healthz (the process is
// alive), /readyz (its dependencies are reachable) and /metrics
// (Prometheus).
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/accessbridge/accessbridge/pkg/service/buildinfo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Check reports whether one dependency is ready; nil means ready.
type Check func(ctx context.Context) error

// Server is the operations HTTP server of one process. Services add their
// readiness checks and metrics to it; in the all-in-one binary the three
// services share one.
type Server struct {
	Registry *prometheus.Registry
	log      zerolog.Logger
	mux      *http.ServeMux

	mu     sync.Mutex
	checks map[string]Check
}

// New returns a server with Go and process collectors and the
// accessbridge_build_info gauge registered.
func New(log zerolog.Logger) *Server {
	build := buildinfo.Get()
	reg := prometheus.NewRegistry()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "accessbridge_build_info",
		Help: "Always 1; the labels name the running build (version from git describe or the module, commit, Go toolchain).",
	}, []string{"version", "commit", "goversion"})
	info.WithLabelValues(build.Version, build.Commit, build.GoVersion).Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), info)
	s := &Server{Registry: reg, log: log, mux: http.NewServeMux(), checks: map[string]Check{}}
	status, _ := json.Marshal(struct {
		Status string `json:"status"`
		buildinfo.Info
	}{"ok", build})
	status = append(status, '\n')
	// 200 as teleport-jira answers; the body says which build answers.
	s.mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(status)
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s
}

// AddCheck registers a named readiness check.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handle adds another route, such as a webhook endpoint.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the server's routes, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.mux }

// Ready runs every check and returns the first failure.
func (s *Server) Ready(ctx context.Context) error {
	s.mu.Lock()
	checks := make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		checks[n] = c
	}
	s.mu.Unlock()
	var errs []error
	for name, c := range checks {
		if err := c(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.Ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// ListenAndServe serves on addr until ctx is done, then shuts down
// gracefully. An empty addr disables the server.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("operations endpoint: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	s.log.Info().Str("addr", ln.Addr().String()).Msg("operations endpoint listening (/status /healthz /readyz /metrics)")
	return ServeGracefully(ctx, srv, ln, nil)
}

// ServeGracefully runs srv on ln until ctx is done, then gives in-flight
// requests up to 10 s to finish. serve, when set, replaces srv.Serve(ln)
// (for TLS: func() error { return srv.ServeTLS(ln, "", "") }).
func ServeGracefully(ctx context.Context, srv *http.Server, ln net.Listener, serve func() error) error {
	errc := make(chan error, 1)
	go func() {
		if serve == nil {
			serve = func() error { return srv.Serve(ln) }
		}
		errc <- serve()
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
