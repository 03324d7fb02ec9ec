package jirabridge_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

const webhookSecret = "test-webhook-secret"

// env is one test world: embedded NATS, the Jira emulator, a webhook
// receiver standing in for the webhook-ingress, and a test bus.
type env struct {
	t    *testing.T
	nats *bustest.Server
	jira *jirasim.Server
	bus  *bus.Bus
	kv   jetstream.KeyValue
	reg  *prometheus.Registry // of the last service started
	// logs, when set before start, receives the services' JSON log lines.
	logs *bustest.LogBuffer
	// unsigned: the ingress stand-in publishes deliveries as
	// token-authenticated (not HMAC-signed).
	unsigned atomic.Bool
}

func newEnv(t *testing.T, opts jirasim.Options) *env {
	t.Helper()
	if opts.WebhookSecret == "" {
		opts.WebhookSecret = webhookSecret
	}
	if opts.CustomFields == nil {
		opts.CustomFields = []jirasim.CustomField{jirasim.RequestIDField()}
	}
	if opts.WebhookBackoff == 0 {
		opts.WebhookBackoff = 20 * time.Millisecond
	}
	e := &env{t: t, nats: bustest.Start(t)}
	e.jira = jirasim.Start(t, opts)
	e.bus = e.nats.Connect(t, "test")
	ctx := context.Background()
	for _, s := range []events.StreamSpec{events.TeleportStream(), events.JiraStream(), events.DeadLetterStream()} {
		if _, err := e.bus.EnsureStream(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := e.bus.EnsureKV(ctx, projection.Bucket, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.kv = kv
	recv := httptest.NewServer(http.HandlerFunc(e.receiveWebhook))
	t.Cleanup(recv.Close)
	e.jira.SetWebhookURLs([]string{recv.URL})
	return e
}

// receiveWebhook plays the webhook-ingress: it checks the signature and
// publishes webhook.received.
func (e *env) receiveWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	signed := hmac.Equal([]byte(r.Header.Get("X-Hub-Signature")), []byte(jirasim.Signature(webhookSecret, body)))
	if !signed {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if err := e.publishWebhookFrom(body, r.Header.Get("X-Atlassian-Webhook-Identifier"), !e.unsigned.Load(), "127.0.0.1", time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
}

func (e *env) publishWebhook(body []byte, identifier string, signed bool) error {
	return e.publishWebhookFrom(body, identifier, signed, "", time.Now())
}

// publishWebhookFrom publishes a delivery as the webhook-ingress does: the
// body as received, its attributes (the client address, the receive time)
// in headers.
func (e *env) publishWebhookFrom(body []byte, identifier string, signed bool, sourceIP string, received time.Time) error {
	p, err := events.ParseJiraWebhook(body)
	if err != nil {
		return err
	}
	auth := []string{events.AuthHMAC}
	if !signed {
		auth = []string{events.AuthToken}
	}
	wh := events.NewRawWebhook(p.Issue.ID, p.Issue.Key, p.Event, identifier, received, signed, auth, body)
	wh.SourceIP = sourceIP
	h, data, err := wh.Message("test/ingress", time.Now())
	if err != nil {
		return err
	}
	_, err = e.bus.JS.PublishMsg(context.Background(), &nats.Msg{Subject: wh.Subject(), Header: nats.Header(h), Data: data})
	return err
}

// publishLegacyWebhook publishes a delivery in the enveloped form the
// ingress used before the message form: what a stream holds when an
// installation upgrades.
func (e *env) publishLegacyWebhook(body []byte, identifier string, signed bool) error {
	var p struct {
		WebhookEvent string `json:"webhookEvent"`
		Issue        struct{ ID, Key string }
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	auth := []string{events.AuthHMAC}
	if !signed {
		auth = []string{events.AuthToken}
	}
	wh := events.NewWebhook(p.Issue.ID, p.Issue.Key, p.WebhookEvent, identifier, time.Now(), signed, auth, wireBody(body))
	_, err := e.bus.PublishEvent(context.Background(), "test/ingress", wh)
	return err
}

// wireBody is the body as json.Marshal will put it on the wire (compact,
// HTML-escaped), as the webhook-ingress hands it to events.NewWebhook:
// NewWebhook hashes the body it gets, but marshalling escapes <, > and &
// inside the RawMessage, so an unescaped body (Jira avatar URLs hold &)
// decodes with a body_sha256 mismatch.
func wireBody(body []byte) []byte {
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return body
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	return escaped.Bytes()
}

// config returns a service configuration for the emulator's bot with fast
// retries.
func (e *env) config() jirabridge.Config {
	bot := e.jira.Bot()
	cfg := jirabridge.Config{URL: e.jira.URL(), User: bot.Email, APIToken: config.Secret(bot.Token),
		SetReporter: true, ReconcileInterval: 0, ConfirmWindow: 2 * time.Second,
		JiraRetryMin: 5 * time.Millisecond, JiraRetryMax: 1500 * time.Millisecond, JiraMaxRetries: 8,
		RetryMin: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond, MaxAttempts: 10, JiraTimeout: 5 * time.Second}
	if e.jira.Flavor() == jirasim.FlavorServer {
		cfg.User, cfg.APIToken, cfg.PAT = "", "", config.Secret(bot.PAT)
	}
	return cfg
}

// newService builds a service without running it.
func newService(e *env, cfg jirabridge.Config) (*jirabridge.Service, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return jirabridge.New(ctx, cfg, jirabridge.Deps{Bus: e.bus, Log: zerolog.Nop()})
}

// start runs a service until the test ends.
func (e *env) start(cfg jirabridge.Config, name string) *jirabridge.Service {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := e.nats.Connect(e.t, name)
	log := zerolog.Nop()
	if e.logs != nil {
		// The consumers log through the bus's logger, as in the binary.
		log = zerolog.New(e.logs).With().Str("svc", name).Logger()
		var err error
		if b, err = bus.Connect(ctx, e.nats.Config(), name, log); err != nil {
			cancel()
			e.t.Fatal(err)
		}
		e.t.Cleanup(b.Close)
	}
	if os.Getenv("JIRA_BRIDGE_TEST_LOG") != "" {
		log = zerolog.New(zerolog.NewTestWriter(e.t)).With().Str("svc", name).Logger()
	}
	e.reg = prometheus.NewRegistry()
	svc, err := jirabridge.New(ctx, cfg, jirabridge.Deps{Bus: b, Log: log, Registry: e.reg})
	if err != nil {
		cancel()
		e.t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("%s: Run: %v", name, err)
		}
	})
	return svc
}

// publish sends a request event; copies > 1 republishes it under fresh
// message ids so that JetStream's dedup does not hide the redeliveries.
func (e *env) publish(p *events.RequestEvent, copies int) {
	e.t.Helper()
	env, err := events.New("test/teleport-bridge", time.Now(), p)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range copies {
		c := env
		if i > 0 {
			c.ID = fmt.Sprintf("%s:copy%d", env.ID, i)
		}
		if _, err := e.bus.Publish(context.Background(), c); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) publishOutcome(o *events.DecisionOutcome) {
	e.t.Helper()
	if _, err := e.bus.PublishEvent(context.Background(), "test/teleport-bridge", o); err != nil {
		e.t.Fatal(err)
	}
}

// entry reads the request-issues value.
func (e *env) entry(requestID string) (projection.Entry, bool) {
	v, err := e.kv.Get(context.Background(), requestID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return projection.Entry{}, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := projection.Decode(v.Value())
	if err != nil {
		e.t.Fatal(err)
	}
	return r, true
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// issueOf waits for the request's linked issue in Jira, in status.
func (e *env) issueOf(requestID, status string) jirasim.Issue {
	e.t.Helper()
	var is jirasim.Issue
	eventually(e.t, 15*time.Second, fmt.Sprintf("request %s's issue in %s", requestID, status), func() bool {
		r, ok := e.entry(requestID)
		if !ok || !r.Linked() {
			return false
		}
		is, ok = e.jira.Issue(r.IssueKey)
		return ok && strings.EqualFold(is.Status, status)
	})
	return is
}

// issuesFor lists the emulator's issues labelled for a request.
func (e *env) issuesFor(requestID string) []jirasim.Issue {
	var out []jirasim.Issue
	for _, is := range e.jira.Issues() {
		for _, l := range is.Labels {
			if l == "teleport-access-request-"+requestID {
				out = append(out, is)
			}
		}
	}
	return out
}

// messages returns the events on a subject filter of a stream.
func (e *env) messages(stream, filter string) []events.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.bus.JS.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []events.Event
	pending := int(info.NumPending)
	for len(out) < pending {
		batch, err := c.Fetch(pending-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			ev, err := events.DecodeMessage(events.Header(m.Headers()), m.Data())
			if err != nil {
				e.t.Fatalf("decode %s: %v", m.Subject(), err)
			}
			out = append(out, ev)
		}
		if n == 0 {
			break
		}
	}
	return out
}

// decisions returns the decision.requested events of a request.
func (e *env) decisions(requestID string) []*events.Decision {
	var out []*events.Decision
	for _, ev := range e.messages(events.StreamJira, events.JiraDecisionSubject(requestID)) {
		out = append(out, ev.Payload.(*events.Decision))
	}
	return out
}

// deadLetters returns the dead-lettered messages' error headers.
func (e *env) deadLetters() []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.bus.JS.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		out = append(out, m.Subject+": "+m.Header.Get(bus.HeaderDLQError))
	}
	return out
}

// metric sums the samples of a counter whose label has value (label "":
// all samples).
func (e *env) metric(name, label, value string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				sum += m.GetCounter().GetValue()
				continue
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

var reqSeq struct {
	sync.Mutex
	n int
}

// request returns a pending access request with every field set.
func request(user string, roles ...string) events.AccessRequest {
	reqSeq.Lock()
	reqSeq.n++
	n := reqSeq.n
	reqSeq.Unlock()
	// Created now: after the bridge's log began, so no label lookup.
	created := time.Now().UTC()
	return events.AccessRequest{
		ID: fmt.Sprintf("0190c2a4-%04d-7000-8000-00000000%04d", n, n), User: user, Roles: roles,
		RequestedResources: []events.Resource{{Kind: "node", Cluster: "prod", Name: "db-1", FriendlyName: "database one"}},
		Reason:             "investigating INC-42", SuggestedReviewers: []string{"alice@example.com", "bob"},
		State: events.StatePending, Created: created, Expires: created.Add(4 * time.Hour),
		Cluster: events.Cluster{Name: "prod", ProxyAddr: "teleport.example.com:443"},
	}
}

func withReview(r events.AccessRequest, author string, st events.State, reason string) events.AccessRequest {
	r.Reviews = append(append([]events.Review(nil), r.Reviews...), events.Review{Author: author, State: st, Reason: reason, Created: r.Created.Add(time.Duration(len(r.Reviews)+1) * time.Minute)})
	return r
}

func resolved(r events.AccessRequest, st events.State, reason string) events.AccessRequest {
	r.State, r.ResolveReason = st, reason
	return r
}

func userByName(t *testing.T, s *jirasim.Server, name string) jirasim.User {
	t.Helper()
	for _, u := range s.Users() {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no user %s", name)
	return jirasim.User{}
}

// claim is what a replica leaves behind when it dies between recording its
// intent to create the issue and recording the link.
func claim(requestID, owner string) []byte {
	e := projection.Entry{RequestID: requestID, Project: "TAR"}
	e.Intend("", domain.WriteLink, owner, time.Now())
	return e.Encode()
}

// creating reports whether the entry holds an unconfirmed create.
func creating(e projection.Entry) bool {
	_, ok := e.Intended("", domain.WriteLink)
	return ok && !e.Linked()
}
