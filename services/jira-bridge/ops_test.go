package jirabridge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// /readyz checks NATS and Jira; /metrics shows the bridge's metrics.
func TestOpsEndpoints(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	srv := ops.New(zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := jirabridge.New(ctx, e.config(), jirabridge.Deps{Bus: e.nats.Connect(t, "ops"), Log: zerolog.Nop(), Registry: srv.Registry, Ops: srv})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	r := request("nina", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	e.issueOf(r.ID, "Pending")
	get := func(path string) (int, string) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/status", "/healthz", "/readyz"} {
		if code, body := get(p); code != 200 {
			t.Fatalf("%s = %d %s", p, code, body)
		}
	}
	// The message is counted once acked, a moment after the issue moved.
	var missing []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, metrics := get("/metrics")
		missing = missing[:0]
		for _, want := range []string{
			"accessbridge_jira_bridge_issues_created_total 1",
			`accessbridge_jira_bridge_transitions_total{status="Pending"} 1`,
			`accessbridge_jira_bridge_jira_requests_total{code="201",endpoint="POST issue"} 1`,
			`accessbridge_messages_total{consumer="jira-bridge-requests",outcome="ack"} 1`,
		} {
			if !strings.Contains(metrics, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %s", m)
	}
	// Jira goes down. The probe trusts the bridge's recent answers, so it
	// learns it when the bridge's next call gets none.
	e.jira.Close()
	e.publish(events.NewRequestCreated(request("nora", "editor")), 1)
	eventually(t, 10*time.Second, "/readyz to fail with Jira down", func() bool {
		code, body := get("/readyz")
		return code != 200 && strings.Contains(body, "jira")
	})
}

// The reconciler runs on its own every period.
func TestReconcilerRunsPeriodically(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	cfg := e.config()
	cfg.ReconcileInterval = 200 * time.Millisecond
	e.start(cfg, "bridge")
	r := request("otto", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	e.jira.SetWebhookURLs(nil)
	if err := e.jira.Move(is.Key, "Approved", "bob", ""); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "the reconciler's decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	if ds[0].Verification != events.VerifiedReconciler || ds[0].Verdict != events.VerdictApprove {
		t.Fatalf("decision = %+v", ds[0])
	}
}

// The all-in-one binary registers every service on one registry, each
// wrapped with its service label: the jira-bridge must register without
// clashing with itself or another service's consume-loop metrics.
func TestRegistersUnderAWrappedSharedRegistry(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	reg := prometheus.NewRegistry()
	other := prometheus.WrapRegistererWith(prometheus.Labels{"service": "teleport-bridge"}, reg)
	bus.NewMetrics(other)
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"service": "jira-bridge"}, reg)
	if _, err := jirabridge.New(context.Background(), e.config(), jirabridge.Deps{Bus: e.bus, Log: zerolog.Nop(), Registry: wrapped}); err != nil {
		t.Fatal(err)
	}
}
