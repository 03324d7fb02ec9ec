package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// webhookBody is a real Jira Cloud delivery (issue_updated, status → Done).
func webhookBody(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("cmd/bench/testdata/webhook-cloud-status-to-done.json")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func accessRequest(i int) events.AccessRequest {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return events.AccessRequest{
		ID: fmt.Sprintf("0193b2c4-7e5f-7a8b-9c0d-%012d", i), User: "alice@example.com", Roles: []string{"editor", "db-admin"},
		RequestedResources: []events.Resource{{Kind: "node", Cluster: "teleport.example.com", Name: "db-1"}},
		Reason:             "deploy hotfix INC-101", SuggestedReviewers: []string{"bob", "carol"},
		State: events.StatePending, Created: now, Expires: now.Add(time.Hour), Revision: "3f2a",
		Cluster: events.Cluster{Name: "teleport.example.com", ProxyAddr: "teleport.example.com:443"},
	}
}

func payloads(tb testing.TB) map[string]events.Payload {
	body := webhookBody(tb)
	return map[string]events.Payload{
		"request.created": events.NewRequestCreated(accessRequest(1)),
		"issue.linked":    events.NewIssueLinked(accessRequest(1).ID, events.IssueRef{ID: "10001", Key: "TAR-1"}, "Pending", false),
		"webhook.received": events.NewWebhook("10001", "TAR-1", "jira:issue_updated", "wh-1", time.Now(), true,
			[]string{events.AuthHMAC}, compactJSON(body)),
	}
}

// BenchmarkEventEncode is events.New + events.Encode (validate, marshal).
func BenchmarkEventEncode(b *testing.B) {
	ps := payloads(b)
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		p := ps[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				env, err := events.New("bench", time.Now(), p)
				if err != nil {
					b.Fatal(err)
				}
				data, err := events.Encode(env)
				if err != nil {
					b.Fatal(err)
				}
				n = len(data)
			}
			b.SetBytes(int64(n))
		})
	}
}

// BenchmarkEventDecode is events.Decode (parse, validate, typed payload).
func BenchmarkEventDecode(b *testing.B) {
	ps := payloads(b)
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		env, err := events.New("bench", time.Now(), ps[name])
		if err != nil {
			b.Fatal(err)
		}
		data, err := events.Encode(env)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := events.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKVClaim is the jira-bridge's claim in the request-issues bucket:
// a compare-and-swap create of a new key, then the update to "linked" at
// the revision read; and a lost race (create of an existing key).
func BenchmarkKVClaim(b *testing.B) {
	ns := bustest.Start(b)
	bs := ns.Connect(b, "bench")
	ctx := context.Background()
	kv, err := bs.EnsureKV(ctx, "request-issues", "", 0)
	if err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	type value struct {
		RequestID string `json:"request_id"`
		IssueID   string `json:"issue_id,omitempty"`
		IssueKey  string `json:"issue_key,omitempty"`
		Intent    string `json:"intent,omitempty"`
	}
	encode := func(v value) []byte { b, _ := json.Marshal(v); return b }
	claimed := value{Intent: "link"}
	b.Run("create+update", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			id := "req-" + strconv.FormatInt(seq.Add(1), 10)
			c := claimed
			c.RequestID = id
			rev, err := kv.Create(ctx, id, encode(c))
			if err != nil {
				b.Fatal(err)
			}
			c.Intent, c.IssueID, c.IssueKey = "", "10001", "TAR-1"
			if _, err := kv.Update(ctx, id, encode(c), rev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("conflict", func(b *testing.B) {
		key := "taken-" + strconv.FormatInt(seq.Add(1), 10)
		if _, err := kv.Create(ctx, key, encode(claimed)); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kv.Create(ctx, key, encode(claimed)); err == nil {
				b.Fatal("create of an existing key succeeded")
			}
		}
	})
}

// BenchmarkPublish is bus.PublishEvent with its JetStream ack (file
// store): a new event id, and a republished one (a dedup hit).
func BenchmarkPublish(b *testing.B) {
	ns := bustest.Start(b)
	bs := ns.Connect(b, "bench")
	ctx := context.Background()
	if _, err := bs.EnsureStream(ctx, events.TeleportStream()); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := events.NewRequestCreated(accessRequest(int(seq.Add(1))))
			if _, err := bs.PublishEvent(ctx, "bench", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duplicate", func(b *testing.B) {
		p := events.NewRequestCreated(accessRequest(0))
		if _, err := bs.PublishEvent(ctx, "bench", p); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			ack, err := bs.PublishEvent(ctx, "bench", p)
			if err != nil {
				b.Fatal(err)
			}
			if !ack.Duplicate {
				b.Fatal("not a duplicate")
			}
		}
	})
}

// BenchmarkConsumeLoop is pkg/bus's consume loop with a no-op handler:
// b.N events (one per request subject, so each takes its per-subject
// lease) published first, then the time until all are handled and acked.
func BenchmarkConsumeLoop(b *testing.B) {
	for _, conc := range []int{16, 64} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) {
			ns := bustest.Start(b)
			bs := ns.Connect(b, "bench")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := bs.EnsureStream(ctx, events.TeleportStream()); err != nil {
				b.Fatal(err)
			}
			publishAsync(b, bs, b.N)
			var handled atomic.Int64
			done := make(chan struct{})
			n := int64(b.N)
			c, err := bs.NewConsumer(ctx, bus.ConsumerSpec{Stream: events.StreamTeleport, Durable: "bench",
				FilterSubjects: []string{events.SubjectRequests + ".>"}, Concurrency: conc},
				bus.Func(func(context.Context, bus.Delivery) error {
					if handled.Add(1) == n {
						close(done)
					}
					return nil
				}), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			errc := make(chan error, 1)
			go func() { errc <- c.Run(ctx) }()
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("handled %d of %d in 5 minutes", handled.Load(), n)
			}
			b.StopTimer()
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
			cancel()
			<-errc
		})
	}
}

// publishAsync loads n request.created events, one request each.
func publishAsync(b *testing.B, bs *bus.Bus, n int) {
	b.Helper()
	for i := range n {
		env, err := events.New("bench", time.Now(), events.NewRequestCreated(accessRequest(i)))
		if err != nil {
			b.Fatal(err)
		}
		data, err := events.Encode(env)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bs.JS.PublishAsync(env.Subject, data, jetstream.WithMsgID(env.ID), jetstream.WithStallWait(30*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-bs.JS.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		b.Fatal("async publish did not complete")
	}
}

// BenchmarkRequestCreated is the jira-bridge's handler path for
// request.created, end to end in-process: jirabridge.New + Run on an
// embedded NATS, against an instant Jira emulator (no webhooks). b.N
// events are published first; the figure is the time until b.N issues
// exist. The -cpuprofile of this benchmark is the in-process equivalent of
// P3 (without the teleport-bridge and the ingress).
func BenchmarkRequestCreated(b *testing.B) {
	ns := bustest.Start(b)
	bs := ns.Connect(b, "bench")
	js, err := jirasim.New(jirasim.Options{CustomFields: []jirasim.CustomField{jirasim.RequestIDField()}, InitialStatus: "Pending"})
	if err != nil {
		b.Fatal(err)
	}
	// Count the 201s of issue creates without polling the emulator.
	var created atomic.Int64
	h := js.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue" && rec.status == http.StatusCreated {
			created.Add(1)
		}
	}))
	defer srv.Close()
	defer js.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, s := range events.Streams() {
		if _, err := bs.EnsureStream(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	bot := js.Bot()
	svc, err := jirabridge.New(ctx, jirabridge.Config{URL: srv.URL, User: bot.Email, APIToken: config.Secret(bot.Token)},
		jirabridge.Deps{Bus: ns.Connect(b, "jira-bridge"), Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	defer func() { cancel(); <-errc }()
	publishAsync(b, bs, b.N)
	b.ResetTimer()
	start := time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	for created.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d issues after 5 minutes", created.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}
