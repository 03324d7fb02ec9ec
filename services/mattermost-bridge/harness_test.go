package mattermostbridge_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	mattermostbridge "github.com/accessbridge/accessbridge/services/mattermost-bridge"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

// env is one test world: embedded NATS, the Mattermost emulator and a test
// bus standing in for the teleport-bridge.
type env struct {
	t    testing.TB
	nats *bustest.Server
	mm   *mmsim.Server
	bus  *bus.Bus
}

func newEnv(t testing.TB, opts mmsim.Options) *env {
	t.Helper()
	e := &env{t: t, nats: bustest.Start(t), mm: mmsim.Start(t, opts)}
	e.bus = e.nats.Connect(t, "test")
	if _, err := e.bus.EnsureStream(context.Background(), events.TeleportStream()); err != nil {
		t.Fatal(err)
	}
	return e
}

// config posts to alice by email and to Town Square by its display name,
// with fast retries.
func (e *env) config() mattermostbridge.Config {
	return mattermostbridge.Config{
		URL: e.mm.URL(), Token: config.Secret(mmsim.DefaultBotToken),
		Recipients: []string{"alice@example.com", "myteam/Town Square"},
		Timeout:    5 * time.Second, MaxRetries: 3, CallRetryMin: 5 * time.Millisecond, CallRetryMax: 200 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond, MaxAttempts: 10, AckWait: 10 * time.Second,
	}
}

func testLog(t testing.TB, name string) zerolog.Logger {
	if os.Getenv("MATTERMOST_BRIDGE_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Str("svc", name).Logger()
	}
	return zerolog.Nop()
}

// instance is one running bridge.
type instance struct {
	reg  *prometheus.Registry
	stop func()
}

// start runs a bridge until stopped or the test ends. stop is abrupt: the
// NATS connection closes first (no more acks or records), then the context.
func (e *env) start(cfg mattermostbridge.Config, name string) *instance {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	bc := e.nats.Config()
	bc.PinnedTTL = 2 * time.Second // a stopped replica is taken over quickly
	b, err := bus.Connect(ctx, bc, name, zerolog.Nop())
	if err != nil {
		e.t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := mattermostbridge.New(ctx, cfg, mattermostbridge.Deps{Bus: b, Log: testLog(e.t, name), Registry: reg})
	if err != nil {
		cancel()
		b.Close()
		e.t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			b.Close()
			cancel()
			<-done
		})
	}
	e.t.Cleanup(stop)
	return &instance{reg: reg, stop: stop}
}

func request(id string, roles ...string) events.AccessRequest {
	if len(roles) == 0 {
		roles = []string{"editor"}
	}
	return events.AccessRequest{
		ID: id, User: "carol@example.com", Roles: roles, Reason: "deploy the hotfix", State: events.StatePending,
		Created: time.Now().UTC(), Expires: time.Now().UTC().Add(time.Hour),
		Cluster: events.Cluster{Name: "tele.example.com", ProxyAddr: "tele.example.com:443"},
	}
}

func (e *env) publish(p events.Payload) {
	e.t.Helper()
	if _, err := e.bus.PublishEvent(context.Background(), "test/teleport-bridge", p); err != nil {
		e.t.Fatal(err)
	}
}

// lifecycle publishes created, one review and the resolution.
func (e *env) lifecycle(r events.AccessRequest, final events.State) {
	e.t.Helper()
	e.publish(events.NewRequestCreated(r))
	r.Reviews = []events.Review{{Author: "bob@example.com", State: final, Reason: "checked", Created: time.Now().UTC()}}
	e.publish(events.NewRequestReviewed(r, 1))
	r.State, r.ResolveReason = final, "reviewed by bob"
	e.publish(events.NewRequestResolved(r))
}

// posts returns the bot's request posts of a request, by channel id.
func (e *env) posts(requestID string) map[string][]mmsim.Post {
	out := map[string][]mmsim.Post{}
	for _, p := range e.mm.AllPosts() {
		if p.RootID == "" && p.Props["teleport_request_id"] == requestID {
			out[p.ChannelID] = append(out[p.ChannelID], p)
		}
	}
	return out
}

// replies returns the replies under a post.
func (e *env) replies(postID string) []mmsim.Post {
	var out []mmsim.Post
	for _, p := range e.mm.AllPosts() {
		if p.RootID == postID {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) channels() (dmAlice, town string) {
	return e.mm.DirectChannelID(e.mm.Bot().Email, "alice@example.com"), e.mm.ChannelID("myteam", "town-square")
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled waits until every request has exactly one post per channel, each
// showing the status, with the replies wanted. A second post of a request
// in a channel fails at once: it never goes away.
func (e *env) settled(within time.Duration, ids []string, channels []string, status string, replies int) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		// One snapshot per round, indexed: request → channel → posts, and
		// root → replies.
		roots := map[string]map[string][]mmsim.Post{}
		nreplies := map[string]int{}
		for _, p := range e.mm.AllPosts() {
			if p.RootID != "" {
				nreplies[p.RootID]++
				continue
			}
			id, _ := p.Props["teleport_request_id"].(string)
			if roots[id] == nil {
				roots[id] = map[string][]mmsim.Post{}
			}
			roots[id][p.ChannelID] = append(roots[id][p.ChannelID], p)
		}
		last := ""
		for _, id := range ids {
			for _, ch := range channels {
				ps := roots[id][ch]
				if len(ps) > 1 {
					e.t.Fatalf("request %s has %d posts in channel %s", id, len(ps), ch)
				}
				if len(ps) == 0 {
					last = fmt.Sprintf("request %s has no post in channel %s", id, ch)
					continue
				}
				p := ps[0]
				if !strings.Contains(p.Message, status) {
					last = fmt.Sprintf("request %s: the post in %s shows %q", id, ch, p.Message)
				}
				if n := nreplies[p.ID]; n > replies {
					e.t.Fatalf("request %s: the post in %s has %d replies, want %d", id, ch, n, replies)
				} else if n < replies {
					last = fmt.Sprintf("request %s: the post in %s has %d replies", id, ch, n)
				}
			}
		}
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s: %s", within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func eventsCreated(r events.AccessRequest) events.Payload { return events.NewRequestCreated(r) }
