// Package bustest starts a real embedded NATS server with JetStream for
// tests, and connects buses to it.
package bustest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/embedded"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// Server is an embedded NATS server that can be stopped and restarted on the
// same port and store.
type Server struct {
	tb   testing.TB
	dir  string
	port int
	ns   *server.Server
}

// Start runs a server for the test and stops it at cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, dir: tb.TempDir()}
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	ns, err := embedded.Run(embedded.Options{Dir: s.dir, Port: s.port})
	if err != nil {
		s.tb.Fatalf("start embedded NATS: %v", err)
	}
	s.ns = ns
	_, port, _ := net.SplitHostPort(ns.Addr().String())
	s.port, _ = strconv.Atoi(port)
}

// URL is the client URL.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Stop shuts the server down (idempotent).
func (s *Server) Stop() {
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.ns = nil
	}
}

// Restart stops the server and starts it again on the same port and store.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// Config returns a bus configuration for this server.
func (s *Server) Config() bus.Config {
	return bus.Config{URL: s.URL(), APITimeout: 5 * time.Second, Replicas: 1,
		DuplicateWindow: 2 * time.Minute, MaxAge: time.Hour}
}

// Connect opens a bus for the test, closed at cleanup.
func (s *Server) Connect(tb testing.TB, name string) *bus.Bus {
	tb.Helper()
	return s.ConnectLogged(tb, name, zerolog.Nop())
}

// ConnectLogged is Connect with the bus logging to log.
func (s *Server) ConnectLogged(tb testing.TB, name string, log zerolog.Logger) *bus.Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, s.Config(), name, log)
	if err != nil {
		tb.Fatalf("connect to embedded NATS: %v", err)
	}
	tb.Cleanup(b.Close)
	return b
}
