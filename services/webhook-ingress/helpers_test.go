package webhookingress

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Secrets used by the tests; the log test checks that none leaks.
const (
	secretOld   = "old-hmac-secret-3f9a1c7e5b2d"
	secretNew   = "new-hmac-secret-8c4e2a6f0d1b"
	secretOther = "not-configured-secret-77e1a9"
	testToken   = "url-token-5d8b3e1f9a2c7e40"
	basicUser   = "jira"
	basicPass   = "basic-pass-6a2f8e4c1b9d"
)

// samplesDir holds the real Jira payloads (testdata/jira-webhooks at the
// repository root).
const samplesDir = "../../testdata/jira-webhooks"

// harness is one ingress served on 127.0.0.1 over real HTTP, publishing to
// a real embedded NATS server.
type harness struct {
	t      testing.TB
	nats   *bustest.Server
	bus    *bus.Bus
	svc    *Service
	url    string // base URL, no trailing slash
	logs   *bustest.LogBuffer
	client *http.Client
}

// baseConfig serves plain HTTP (TLS has its own test) with two HMAC
// secrets, as during a rotation.
func baseConfig() Config {
	return Config{
		Addr:          "127.0.0.1:0",
		InsecureNoTls: true,
		HmacSecrets:   config.Secret(secretOld + "," + secretNew),
	}
}

// startIngress runs an ingress until the test ends.
func startIngress(t testing.TB, cfg Config) *harness {
	t.Helper()
	return startIngressLogging(t, cfg, nil)
}

// startIngressLogging is startIngress with the service's log written to
// logTo (nil: the harness's buffer, at debug level).
func startIngressLogging(t testing.TB, cfg Config, logTo io.Writer) *harness {
	t.Helper()
	ns := bustest.Start(t)
	b := ns.Connect(t, "webhook-ingress-test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.EnsureStream(ctx, events.JiraStream()); err != nil {
		t.Fatalf("ensure stream: %v", err)
	}
	h := &harness{t: t, nats: ns, bus: b, logs: &bustest.LogBuffer{}}
	log := zerolog.New(h.logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	if logTo != nil {
		log = zerolog.New(logTo).With().Timestamp().Logger()
	}
	svc, err := New(context.Background(), cfg, Deps{Bus: b, Log: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.svc = svc
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	scheme := "http"
	if !cfg.InsecureNoTls {
		scheme = "https"
	}
	h.url = scheme + "://" + ln.Addr().String()
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	h.client = &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// delivery is one POST as Jira would send it.
type delivery struct {
	path        string // default /webhook
	method      string // default POST
	body        []byte
	contentType string // default application/json
	noCT        bool
	signature   string // X-Hub-Signature; see secret
	secret      string // sign body with it when signature is empty
	identifier  string
	retry       string
	header      http.Header
	basic       [2]string
}

func (h *harness) post(d delivery) (*http.Response, string) {
	h.t.Helper()
	if d.path == "" {
		d.path = "/webhook"
	}
	if d.method == "" {
		d.method = http.MethodPost
	}
	req, err := http.NewRequest(d.method, h.url+d.path, bytes.NewReader(d.body))
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	if !d.noCT {
		ct := d.contentType
		if ct == "" {
			ct = "application/json; charset=UTF-8"
		}
		req.Header.Set("Content-Type", ct)
	}
	switch {
	case d.signature != "":
		req.Header.Set("X-Hub-Signature", d.signature)
	case d.secret != "":
		req.Header.Set("X-Hub-Signature", sign(d.secret, d.body))
	}
	if d.identifier != "" {
		req.Header.Set("X-Atlassian-Webhook-Identifier", d.identifier)
		req.Header.Set("X-Atlassian-Webhook-Flow", "Primary")
	}
	if d.retry != "" {
		req.Header.Set("X-Atlassian-Webhook-Retry", d.retry)
	}
	if d.basic[0] != "" {
		req.SetBasicAuth(d.basic[0], d.basic[1])
	}
	for k, v := range d.header {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", d.method, d.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// stream returns the JIRA stream.
func (h *harness) stream() jetstream.Stream {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.bus.JS.Stream(ctx, events.StreamJira)
	if err != nil {
		h.t.Fatalf("stream: %v", err)
	}
	return s
}

// published returns every event in the JIRA stream, in order.
func (h *harness) published() []events.Event {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := h.stream()
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatalf("stream info: %v", err)
	}
	var out []events.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			h.t.Fatalf("get message %d: %v", seq, err)
		}
		ev, err := events.DecodeMessage(m.Header, m.Data)
		if err != nil {
			h.t.Fatalf("message %d does not decode: %v", seq, err)
		}
		if got := m.Header.Get(events.HeaderMsgID); got != ev.ID {
			h.t.Fatalf("message %d: Nats-Msg-Id %q, event id %q", seq, got, ev.ID)
		}
		out = append(out, ev)
	}
	return out
}

func (h *harness) count() int { return len(h.published()) }

// sample is one of the real payloads.
type sample struct {
	name string
	body []byte
}

func loadSamples(t testing.TB) []sample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Jira webhook samples in %s (testdata/jira-webhooks at the repository root): %v", samplesDir, err)
	}
	sort.Strings(files)
	var out []sample
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read sample: %v", err)
		}
		out = append(out, sample{name: filepath.Base(f), body: b})
	}
	if len(out) != 6 {
		t.Fatalf("want the six samples in %s, found %d", samplesDir, len(out))
	}
	return out
}

// issueOf reads the routing fields of a sample the slow, obvious way.
func issueOf(t testing.TB, body []byte) (event, id, key string) {
	t.Helper()
	var p struct {
		WebhookEvent string `json:"webhookEvent"`
		Issue        struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("sample: %v", err)
	}
	return p.WebhookEvent, p.Issue.ID, p.Issue.Key
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustContain(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
