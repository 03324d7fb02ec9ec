package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gravitational/teleport/api/types"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	mattermostbridge "github.com/accessbridge/accessbridge/services/mattermost-bridge"
	teleportbridge "github.com/accessbridge/accessbridge/services/teleport-bridge"
	webhookingress "github.com/accessbridge/accessbridge/services/webhook-ingress"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

const e2eButtonKey = "e2e-mattermost-button-key-0123456789abcdef"

// buttonStack is the three services of a button click, in process, over an
// embedded NATS JetStream, the Teleport emulator and the Mattermost
// emulator.
type buttonStack struct {
	t       testing.TB
	tp      *teleportsim.Server
	mm      *mmsim.Server
	nats    *bustest.Server
	ingress string // base URL
	logs    *bustest.LogBuffer
	poll    time.Duration // interval of eventually (default 20 ms)
}

func startButtonStack(t testing.TB) *buttonStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &buttonStack{t: t, tp: teleportsim.Start(t, teleportsim.Options{}), mm: mmsim.Start(t, mmsim.Options{}), nats: bustest.Start(t), logs: &bustest.LogBuffer{}}
	log := zerolog.New(s.logs)
	var runs []func(context.Context) error

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ingress = "http://" + ln.Addr().String()
	ing, err := webhookingress.New(ctx, webhookingress.Config{
		Addr: "127.0.0.1:0", InsecureNoTls: true, HmacSecrets: config.Secret("jira-secret-not-used-here-0123"),
		MattermostButtonKey: config.Secret(e2eButtonKey),
	}, webhookingress.Deps{Bus: s.nats.ConnectLogged(t, "webhook-ingress", log), Log: log.With().Str("svc", "ingress").Logger()})
	if err != nil {
		t.Fatal(err)
	}
	runs = append(runs, func(ctx context.Context) error { return ing.Serve(ctx, ln) })

	mb, err := mattermostbridge.New(ctx, mattermostbridge.Config{
		URL: s.mm.URL(), Token: config.Secret(mmsim.DefaultBotToken), Recipients: []string{"myteam/town-square"},
		RetryMin: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond,
		Buttons: true, ButtonURL: s.ingress + "/mattermost/actions", ButtonKey: config.Secret(e2eButtonKey),
		ButtonUsers: `{"bob": "bob"}`,
	}, mattermostbridge.Deps{Bus: s.nats.ConnectLogged(t, "mattermost-bridge", log), Log: log.With().Str("svc", "mattermost-bridge").Logger()})
	if err != nil {
		t.Fatal(err)
	}
	runs = append(runs, mb.Run)

	tb, err := teleportbridge.New(ctx, teleportbridge.Config{
		Addr: s.tp.Addr(), IdentityFile: s.tp.IdentityFile(teleportsim.UserAccessPlugin), DialTimeout: 10 * time.Second,
		DecisionMode: events.ModeState, ResyncInterval: time.Minute,
		ReconnectBackoffMin: 50 * time.Millisecond, ReconnectBackoffMax: 300 * time.Millisecond,
		MattermostDecisions: true, MattermostStateReviewers: []string{"bob"},
	}, teleportbridge.Deps{Bus: s.nats.ConnectLogged(t, "teleport-bridge", log), Log: log.With().Str("svc", "teleport-bridge").Logger()})
	if err != nil {
		t.Fatal(err)
	}
	runs = append(runs, tb.Run)

	done := make(chan error, len(runs))
	for _, run := range runs {
		go func() { done <- run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range runs {
			if err := <-done; err != nil && ctx.Err() == nil {
				t.Errorf("run: %v", err)
			}
		}
	})
	return s
}

func (s *buttonStack) eventually(what string, cond func() error) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(cmp.Or(s.poll, 20*time.Millisecond)) // poll interval
	}
}

// post waits for the request's post in Town Square.
func (s *buttonStack) post(requestID string, cond func(mmsim.Post) error) mmsim.Post {
	s.t.Helper()
	var got mmsim.Post
	s.eventually("the post of "+requestID, func() error {
		for _, p := range s.mm.Posts(s.mm.ChannelID("myteam", "town-square")) {
			if p.RootID == "" && p.Props["teleport_request_id"] == requestID {
				got = p
				return cond(p)
			}
		}
		return fmt.Errorf("no post yet")
	})
	return got
}

func hasButtons(p mmsim.Post) error {
	if _, ok := p.Props["attachments"]; !ok {
		return fmt.Errorf("no buttons on %q", p.Message)
	}
	return nil
}

func (s *buttonStack) decisions(requestID string) uint64 {
	s.t.Helper()
	b := s.nats.Connect(s.t, "check")
	st, err := b.JS.Stream(context.Background(), events.StreamMattermost)
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(events.SubjectMattermostDecisions+".>"))
	if err != nil {
		s.t.Fatal(err)
	}
	return info.State.Subjects[events.MattermostDecisionSubject(requestID)]
}

// TestButtonClickApprovesEndToEnd: a request created in Teleport is posted
// to Mattermost with Approve / Deny; bob (on both allow-lists) clicks
// Approve in Mattermost; the click goes through the ingress, the
// mattermost-bridge and the teleport-bridge; Teleport approves the request
// with delegator mattermost:bob, and the post is updated in place with the
// status and who decided, its buttons gone. Before that, alice (not on the
// allow-list) clicked Approve: nothing was decided.
func TestButtonClickApprovesEndToEnd(t *testing.T) {
	s := startButtonStack(t)
	ctx := context.Background()
	id, err := s.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	post := s.post(id, hasButtons)

	if err := s.mm.Click(ctx, post.ID, "approve", "alice"); err != nil {
		t.Fatalf("alice's click: %v", err)
	}
	s.eventually("alice's click refused as a security event", func() error {
		if !strings.Contains(s.logs.String(), `"event":"unmapped_mattermost_user"`) {
			return fmt.Errorf("not logged")
		}
		return nil
	})
	if n := s.decisions(id); n != 0 {
		t.Fatalf("alice's click made %d decisions", n)
	}
	if r, _ := s.tp.Request(id); r.GetState() != types.RequestState_PENDING {
		t.Fatalf("alice's click changed the request: %v", r.GetState())
	}

	if err := s.mm.Click(ctx, post.ID, "approve", "bob"); err != nil {
		t.Fatalf("bob's click: %v", err)
	}
	s.eventually("Teleport approves", func() error {
		r, _ := s.tp.Request(id)
		if r.GetState() != types.RequestState_APPROVED {
			return fmt.Errorf("state %v", r.GetState())
		}
		if !strings.Contains(r.GetResolveReason(), "in Mattermost by @bob") {
			return fmt.Errorf("resolve reason %q", r.GetResolveReason())
		}
		return nil
	})
	s.post(id, func(p mmsim.Post) error {
		// The post escapes @ with a zero-width space (no mention).
		if !strings.Contains(p.Message, "APPROVED") || !strings.Contains(p.Message, "Mattermost by @\u200bbob") {
			return fmt.Errorf("post not updated: %q", p.Message)
		}
		if hasButtons(p) == nil {
			return fmt.Errorf("the resolved post still has buttons")
		}
		return nil
	})
	eph := s.mm.Ephemerals()
	if len(eph) != 2 || !strings.Contains(eph[1].Message, "approval of access request "+id) {
		t.Fatalf("ephemeral answers %+v", eph)
	}
	if n := s.decisions(id); n != 1 {
		t.Fatalf("%d decisions, want 1", n)
	}
	delegated := false
	for _, ev := range s.tp.Audit() {
		if ev.Type == teleportsim.EventAccessRequestUpdate && ev.RequestID == id && ev.Delegator == "mattermost:bob" {
			delegated = true
		}
	}
	if !delegated {
		t.Fatalf("no access_request.update with delegator mattermost:bob in %+v", s.tp.Audit())
	}
}

// TestForgedButtonClickRefused: a click POSTed straight to the ingress with
// a token made for another channel is 401 and decides nothing.
func TestForgedButtonClickRefused(t *testing.T) {
	s := startButtonStack(t)
	id, err := s.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	post := s.post(id, hasButtons)
	bob, _ := s.mm.UserByEmail("bob@example.com")
	forged := events.ButtonToken([]byte(e2eButtonKey), id, "some-other-channel", events.VerdictApprove)
	body, _ := json.Marshal(map[string]any{"user_id": bob.ID, "user_name": "bob", "channel_id": post.ChannelID, "post_id": post.ID,
		"context": map[string]any{"request_id": id, "action": "approve", "token": forged}})
	resp, err := http.Post(s.ingress+"/mattermost/actions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged click: %d", resp.StatusCode)
	}
	b := s.nats.Connect(t, "check")
	st, err := b.JS.Stream(context.Background(), events.StreamMattermost)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(events.SubjectMattermostActions+".>"))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.State.Subjects) != 0 {
		t.Fatalf("forged click published: %v", info.State.Subjects)
	}
	if r, _ := s.tp.Request(id); r.GetState() != types.RequestState_PENDING {
		t.Fatalf("state %v", r.GetState())
	}
}

// BenchmarkButtonClickToApproval is the time from a click in Mattermost to
// the request approved in Teleport and its post updated: the ingress, the
// mattermost-bridge, the teleport-bridge and the update, in process over
// embedded NATS (the post is polled every 2 ms).
func BenchmarkButtonClickToApproval(b *testing.B) {
	s := startButtonStack(b)
	s.poll = 2 * time.Millisecond
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		id, err := s.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		post := s.post(id, hasButtons)
		b.StartTimer()
		start := time.Now()
		if err := s.mm.Click(ctx, post.ID, "approve", "bob"); err != nil {
			b.Fatal(err)
		}
		s.post(id, func(p mmsim.Post) error {
			if !strings.Contains(p.Message, "APPROVED") {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/click")
}
