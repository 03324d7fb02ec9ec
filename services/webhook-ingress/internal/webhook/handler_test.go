package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/rs/zerolog"
)

const testSecret = "handler-test-secret-0123456789"

// samplesDir: testdata/jira-webhooks at the repository root.
const samplesDir = "../../../../testdata/jira-webhooks"

func samples(tb testing.TB) [][]byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	if len(files) != 6 {
		tb.Fatalf("want the six Jira webhook samples in %s, found %d", samplesDir, len(files))
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// fakePublisher records events, or fails as told.
type fakePublisher struct {
	mu       sync.Mutex
	events   []*events.Webhook
	seen     map[string]bool
	err      error
	notReady error
	block    chan struct{} // when set, PublishWebhook waits on it
}

func (p *fakePublisher) PublishWebhook(ctx context.Context, w *events.Webhook) (bool, error) {
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return false, p.err
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if p.seen[w.DedupID()] {
		return true, nil
	}
	p.seen[w.DedupID()] = true
	kept := *w // the body is the handler's again once this returns (Publisher)
	kept.Body = bytes.Clone(w.Body)
	p.events = append(p.events, &kept)
	return false, nil
}

func (p *fakePublisher) Ready(context.Context) error { return p.notReady }

func (p *fakePublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

func newTestHandler(tb testing.TB, pub Publisher, mutate func(*Options)) *Handler {
	tb.Helper()
	o := Options{
		Auth:      &Auth{HMACSecrets: [][]byte{[]byte(testSecret)}},
		Publisher: pub,
		Log:       zerolog.Nop(),
		MaxBody:   1 << 20,
	}
	if mutate != nil {
		mutate(&o)
	}
	h, err := NewHandler(o)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func signedRequest(body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(HeaderSignature, signature(testSecret, body))
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPublishFailuresMapToStatus(t *testing.T) {
	body := samples(t)[0]
	cases := []struct {
		name   string
		pub    *fakePublisher
		status int
	}{
		{"not connected", &fakePublisher{notReady: errors.New("not connected")}, 503},
		{"no ack", &fakePublisher{err: context.DeadlineExceeded}, 503},
		{"over max_payload", &fakePublisher{err: ErrTooLarge}, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHandler(t, c.pub, func(o *Options) { o.RetryAfter = 1500 * time.Millisecond })
			w := serve(h, signedRequest(body))
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.status == 503 && w.Header().Get("Retry-After") != "2" {
				t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
			}
		})
	}
}

func TestConcurrencyLimitAnswers503(t *testing.T) {
	pub := &fakePublisher{block: make(chan struct{})}
	h := newTestHandler(t, pub, func(o *Options) { o.MaxConcurrent = 2 })
	body := samples(t)[0]
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() { codes <- serve(h, signedRequest(body)).Code })
	}
	// Both slots are taken once both handlers wait in the publisher.
	deadline := time.Now().Add(10 * time.Second)
	for len(h.sem) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("handlers did not start")
		}
		time.Sleep(time.Millisecond)
	}
	w := serve(h, signedRequest(body))
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("third delivery: %d %q", w.Code, w.Header().Get("Retry-After"))
	}
	close(pub.block)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("held delivery: %d", c)
		}
	}
}

func TestRateLimitPerClientIP(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	pub := &fakePublisher{}
	h := newTestHandler(t, pub, func(o *Options) {
		o.Limiter = NewRateLimiter(1, 2, clock)
		o.ClientIPHeader = "X-Forwarded-For"
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} // httptest's peer
	})
	body := samples(t)[0]
	from := func(ip string) int {
		r := signedRequest(body)
		r.Header.Set("X-Forwarded-For", "203.0.113.9, "+ip)
		return serve(h, r).Code
	}
	for i, want := range []int{200, 200, 429} {
		if got := from("198.51.100.1"); got != want {
			t.Fatalf("request %d: %d, want %d", i, got, want)
		}
	}
	if got := from("198.51.100.2"); got != 200 {
		t.Fatalf("another client: %d", got)
	}
	now = now.Add(time.Second)
	if got := from("198.51.100.1"); got != 200 {
		t.Fatalf("after a second: %d", got)
	}
}

// A peer that is not a trusted proxy cannot pick the address the rate
// limit sees by sending the header itself.
func TestClientIPHeaderFromUntrustedPeerIsIgnored(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	pub := &fakePublisher{}
	h := newTestHandler(t, pub, func(o *Options) {
		o.Limiter = NewRateLimiter(1, 2, func() time.Time { return now })
		o.ClientIPHeader = "X-Forwarded-For"
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	body := samples(t)[0]
	for i, want := range []int{200, 200, 429, 429} {
		r := signedRequest(body)
		r.RemoteAddr = "198.51.100.7:4711"
		r.Header.Set("X-Forwarded-For", "203.0.113."+strconv.Itoa(i)) // a new address every time
		if got := serve(h, r).Code; got != want {
			t.Fatalf("request %d: %d, want %d (the header of an untrusted peer must not choose the rate-limit key)", i, got, want)
		}
	}
}

func TestPanicIsAnswered500(t *testing.T) {
	h := newTestHandler(t, panicPublisher{}, nil)
	w := serve(h, signedRequest(samples(t)[0]))
	if w.Code != 500 || !strings.Contains(w.Body.String(), ResultPanic) || strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

type panicPublisher struct{}

func (panicPublisher) PublishWebhook(context.Context, *events.Webhook) (bool, error) {
	panic("boom")
}
func (panicPublisher) Ready(context.Context) error { return nil }

func TestRawBodyTravelsAsReceived(t *testing.T) {
	// The body is published byte for byte — no re-encoding, <, > and &
	// kept — and the message decodes with its hash.
	body := []byte(`{"webhookEvent":"jira:issue_updated", "issue":{"id":"1","key":"A-1","self":"https://x/?a=1&b=<2>\u2028"}}`)
	pub := &fakePublisher{}
	h := newTestHandler(t, pub, nil)
	if w := serve(h, signedRequest(body)); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	ev := pub.events[0]
	hdr, data, err := ev.Message("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, body) {
		t.Fatalf("published %s, received %s", data, body)
	}
	if _, err := events.DecodeMessage(hdr, data); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

func TestClientGoneIsNotCountedUnavailable(t *testing.T) {
	pub := &fakePublisher{block: make(chan struct{})}
	h := newTestHandler(t, pub, nil)
	ctx, cancel := context.WithCancel(context.Background())
	r := signedRequest(samples(t)[0]).WithContext(ctx)
	done := make(chan int)
	go func() { done <- serve(h, r).Code }()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.sem) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("handler did not start")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if code := <-done; code != statusClientClosed {
		t.Fatalf("status %d, want %d", code, statusClientClosed)
	}
}

// The answer to a recorded delivery is written without encoding/json, and
// reads exactly as encoding/json would have written it, whatever the id
// holds (an id it would escape takes the encoder).
func TestRecordedAnswerIsWhatTheEncoderWrites(t *testing.T) {
	h := newTestHandler(t, &fakePublisher{}, nil)
	for _, id := range []string{"webhook:3f1c-77", "webhook:sha256:" + strings.Repeat("ab", 32), `webhook:a"b`, `webhook:a\b`, "webhook:é", "webhook:<x>&y", "webhook:\x7f"} {
		for _, result := range []string{ResultPublished, ResultDuplicate} {
			w := httptest.NewRecorder()
			h.answer(w, httptest.NewRequest(http.MethodPost, "/webhook", nil), &outcome{status: http.StatusOK, result: result, id: id})
			var want bytes.Buffer
			_ = json.NewEncoder(&want).Encode(answerBody{Result: result, ID: id, Duplicate: result == ResultDuplicate})
			if w.Body.String() != want.String() {
				t.Errorf("id %q, %s: answered %q, encoding/json writes %q", id, result, w.Body.String(), want.String())
			}
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("id %q: status %d, content type %q", id, w.Code, w.Header().Get("Content-Type"))
			}
		}
	}
}
