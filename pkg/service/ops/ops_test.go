package ops_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/service/buildinfo"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func TestEndpoints(t *testing.T) {
	s := ops.New(zerolog.Nop())
	var ready atomic.Bool
	s.AddCheck("nats", func(context.Context) error {
		if !ready.Load() {
			return errors.New("nats: disconnected")
		}
		return nil
	})
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "accessbridge_test_total", Help: "test"})
	s.Registry.MustRegister(c)
	c.Add(3)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	build := buildinfo.Get()
	if code, body := get("/status"); code != 200 || !strings.Contains(body, `"status":"ok"`) || !strings.Contains(body, `"version":"`+build.Version+`"`) {
		t.Errorf("/status = %d %q, want 200 naming version %s", code, body, build.Version)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "nats: disconnected") {
		t.Errorf("/readyz = %d %q", code, body)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz after recovery = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "accessbridge_test_total 3") || !strings.Contains(body, "go_goroutines") ||
		!strings.Contains(body, `accessbridge_build_info{commit="`+build.Commit+`",goversion="`+build.GoVersion+`",version="`+build.Version+`"} 1`) {
		t.Errorf("/metrics = %d\n%s", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not shut down")
	}
}
