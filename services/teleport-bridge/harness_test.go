package teleportbridge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	teleportbridge "github.com/accessbridge/accessbridge/services/teleport-bridge"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const waitFor = 20 * time.Second

type harness struct {
	t    *testing.T
	logs *bustest.LogBuffer
	nats *bustest.Server
	bus  *bus.Bus
	tp   *teleportsim.Server
}

func newHarness(t *testing.T, opts teleportsim.Options) *harness {
	t.Helper()
	n := bustest.Start(t)
	h := &harness{t: t, logs: &bustest.LogBuffer{}, nats: n, bus: n.Connect(t, "test"), tp: teleportsim.Start(t, opts)}
	ctx := testContext(t)
	for _, s := range []events.StreamSpec{events.TeleportStream(), events.JiraStream()} {
		if _, err := h.bus.EnsureStream(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// config is what the environment defaults give, with short intervals.
func (h *harness) config(user string) teleportbridge.Config {
	return teleportbridge.Config{
		Addr:                h.tp.Addr(),
		IdentityFile:        h.tp.IdentityFile(user),
		RefreshIdentity:     true,
		RefreshInterval:     100 * time.Millisecond,
		DialTimeout:         10 * time.Second,
		DecisionMode:        events.ModeState,
		LinkWait:            2 * time.Second,
		MigrateTeleportJira: true,
		LegacyPluginName:    "jira",
		ResyncInterval:      time.Minute,
		ReconnectBackoffMin: 50 * time.Millisecond,
		ReconnectBackoffMax: 300 * time.Millisecond,
		DecisionConcurrency: 4,
		DecisionMaxAttempts: 10,
	}
}

type bridge struct {
	svc    *teleportbridge.Service
	ops    *ops.Server
	cancel context.CancelFunc
	done   chan error
}

// start runs a bridge replica on its own NATS connection until stop or the
// end of the test.
func (h *harness) start(cfg teleportbridge.Config) *bridge {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	srv := ops.New(zerolog.Nop())
	svc, err := teleportbridge.New(ctx, cfg, teleportbridge.Deps{
		Bus: h.nats.ConnectLogged(h.t, "teleport-bridge", testLogger(h.t, h.logs)), Log: testLogger(h.t, h.logs), Ops: srv,
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	b := &bridge{svc: svc, ops: srv, cancel: stop, done: make(chan error, 1)}
	go func() { b.done <- svc.Run(runCtx) }()
	h.t.Cleanup(func() { b.stop(h.t) })
	eventually(h.t, "bridge ready", func() error { return srv.Ready(context.Background()) })
	return b
}

func (b *bridge) stop(t *testing.T) {
	t.Helper()
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(waitFor):
		t.Error("Run did not return after cancel")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T, keep *bustest.LogBuffer) zerolog.Logger {
	return zerolog.New(zerolog.MultiLevelWriter(testWriter{t}, keep)).Level(zerolog.WarnLevel)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond) // poll interval, not synchronization
	}
	t.Fatalf("%s: still failing after %v: %v", what, waitFor, err)
}

// messages returns every event stored on subject, in stream order.
func (h *harness) messages(streamName, subject string) []events.Event {
	h.t.Helper()
	ctx := testContext(h.t)
	s, err := h.bus.JS.Stream(ctx, streamName)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []events.Event
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			h.t.Fatalf("get %s from %d: %v", subject, seq, err)
		}
		ev, err := events.Decode(m.Data)
		if err != nil {
			h.t.Fatalf("decode %s seq %d: %v", subject, m.Sequence, err)
		}
		out = append(out, ev)
		seq = m.Sequence + 1
	}
}

func (h *harness) requestEvents(id string) []events.Event {
	return h.messages(events.StreamTeleport, events.RequestSubject(id))
}

func ids(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// waitIDs waits until the request's events are exactly want (in order).
func (h *harness) waitIDs(id string, want ...string) []events.Event {
	h.t.Helper()
	var evs []events.Event
	eventually(h.t, "events of "+id, func() error {
		evs = h.requestEvents(id)
		if got := strings.Join(ids(evs), " "); got != strings.Join(want, " ") {
			return fmt.Errorf("got [%s], want [%s]", got, strings.Join(want, " "))
		}
		return nil
	})
	return evs
}

// link publishes the issue.linked event the jira-bridge would.
func (h *harness) link(requestID, issueID, key string) {
	h.t.Helper()
	ctx := testContext(h.t)
	if _, err := h.bus.EnsureStream(ctx, events.JiraStream()); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.bus.PublishEvent(ctx, "test/jira-bridge", events.NewIssueLinked(requestID, events.IssueRef{ID: issueID, Key: key}, "Pending", false)); err != nil {
		h.t.Fatal(err)
	}
}

var jiraActor = events.Actor{AccountID: "5b10ac8d82e05b22cc7d4ef5", Email: "rev@example.com", DisplayName: "Rev Iewer"}

// decide publishes a decision.requested as the jira-bridge would.
func (h *harness) decide(requestID, issueID, key, changelog string, v events.Verdict, actor events.Actor) *events.Decision {
	h.t.Helper()
	status := "Approved"
	if v == events.VerdictDeny {
		status = "Denied"
	}
	d := events.NewDecision(requestID, events.IssueRef{ID: issueID, Key: key}, changelog, v, status, actor, time.Now())
	d.Reason = "decided in Jira " + changelog
	d.Verification = events.VerifiedSignedWebhook
	if _, err := h.bus.PublishEvent(testContext(h.t), "test/jira-bridge", d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// outcome waits for the outcome of d.
func (h *harness) outcome(d *events.Decision) *events.DecisionOutcome {
	h.t.Helper()
	var out *events.DecisionOutcome
	eventually(h.t, "outcome of "+d.DedupID(), func() error {
		for _, ev := range h.messages(events.StreamTeleport, events.TeleportDecisionSubject(d.RequestID)) {
			if ev.ID == d.DedupID() {
				out = ev.Payload.(*events.DecisionOutcome)
				return nil
			}
		}
		return errors.New("no outcome yet")
	})
	return out
}
