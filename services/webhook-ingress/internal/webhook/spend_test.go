package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/rs/zerolog"
)

// slowRequest is a delivery whose body never arrives until release is
// closed: the handler blocks if it reads it.
func slowRequest(ip, sig string, release <-chan struct{}) *http.Request {
	pr, pw := io.Pipe()
	go func() {
		<-release
		_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	r := httptest.NewRequest(http.MethodPost, "/webhook", pr)
	r.ContentLength = 9000
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Forwarded-For", ip)
	if sig != "" {
		r.Header.Set(HeaderSignature, sig)
	}
	return r
}

func fromIP(r *http.Request, ip string) *http.Request {
	r.Header.Set("X-Forwarded-For", ip)
	return r
}

func trustHTTPTestPeer(o *Options) {
	o.ClientIPHeader = "X-Forwarded-For"
	o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} // httptest's peer
}

// Two strangers sending slow bodies without a signature against
// MaxConcurrent=2 are refused from their headers: they hold no slot and a
// signed delivery goes through.
func TestSlowUnsignedBodiesHoldNoSlot(t *testing.T) {
	pub := &fakePublisher{}
	h := newTestHandler(t, pub, func(o *Options) { o.MaxConcurrent = 2; trustHTTPTestPeer(o) })
	release := make(chan struct{})
	defer close(release)
	codes := make(chan int, 2)
	var wg sync.WaitGroup
	for _, ip := range []string{"198.51.100.1", "198.51.100.2"} {
		wg.Go(func() { codes <- serve(h, slowRequest(ip, "", release)).Code })
	}
	// Either they were answered from their headers, or they sit in the
	// body read holding a slot; the signed delivery tells which.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		if w := serve(h, signedRequest(samples(t)[0])); w.Code != 200 {
			t.Fatalf("signed delivery behind two slow unsigned bodies: %d %s", w.Code, w.Body)
		}
		t.Fatal("the unsigned deliveries are reading their bodies: they were not refused from their headers")
	}
	close(codes)
	for c := range codes {
		if c != 401 {
			t.Fatalf("unsigned slow body: %d, want 401", c)
		}
	}
	if w := serve(h, signedRequest(samples(t)[0])); w.Code != 200 {
		t.Fatalf("signed delivery: %d %s", w.Code, w.Body)
	}
	if len(h.sem) != 0 {
		t.Fatalf("%d slots still held", len(h.sem))
	}
}

// A client presenting well-formed (but forged) signatures with slow bodies
// holds at most MaxConcurrentPerIP slots; another client still gets one.
func TestSlotExhaustionByOneClient(t *testing.T) {
	pub := &fakePublisher{}
	h := newTestHandler(t, pub, func(o *Options) { o.MaxConcurrent = 3; o.MaxConcurrentPerIP = 2; trustHTTPTestPeer(o) })
	release := make(chan struct{})
	forged := "sha256=" + strings.Repeat("ab", 32)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { serve(h, slowRequest("198.51.100.66", forged, release)) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.sem) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("slow deliveries did not take their slots")
		}
		time.Sleep(time.Millisecond)
	}
	// The same client's third is refused without a slot…
	third := make(chan int, 1)
	go func() { third <- serve(h, slowRequest("198.51.100.66", forged, release)).Code }()
	select {
	case c := <-third:
		if c != 503 {
			t.Fatalf("third slow delivery of one client: %d, want 503", c)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("one client took a third slot")
	}
	// …and Jira, from another address, gets the last one.
	if w := serve(h, fromIP(signedRequest(samples(t)[0]), "203.0.113.10")); w.Code != 200 {
		t.Fatalf("delivery of another client: %d %s", w.Code, w.Body)
	}
	close(release)
	wg.Wait()
	if len(h.sem) != 0 || len(h.perIP.n) != 0 {
		t.Fatalf("slots still held: %d, per IP %v", len(h.sem), h.perIP.n)
	}
}

// Failed authentications are security events: one line with security=true
// for the first failure of an address, then one a minute with the count.
func TestAuthFailuresAreSecurityEvents(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var logs bytes.Buffer
	h := newTestHandler(t, &fakePublisher{}, func(o *Options) {
		o.Log = zerolog.New(&logs)
		o.Now = func() time.Time { return now }
		trustHTTPTestPeer(o)
	})
	body := samples(t)[0]
	bad := func() {
		r := fromIP(signedRequest(body), "198.51.100.9")
		r.Header.Set(HeaderSignature, signature("a-wrong-secret-0123456789", body))
		if w := serve(h, r); w.Code != 401 {
			t.Fatalf("wrong signature: %d", w.Code)
		}
	}
	security := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["security"] == true {
				out = append(out, m)
			}
		}
		return out
	}
	for range 5 {
		bad()
	}
	ev := security()
	if len(ev) != 1 {
		t.Fatalf("%d security lines for a burst of 5, want 1:\n%s", len(ev), logs.String())
	}
	if ev[0]["event"] != "webhook_auth_failed" || ev[0]["source_ip"] != "198.51.100.9" || ev[0]["failures"] != float64(1) || ev[0]["reason"] != "unauthorized: bad signature" || ev[0]["level"] != "error" {
		t.Fatalf("security line %v", ev[0])
	}
	now = now.Add(time.Minute + time.Second)
	bad()
	if ev = security(); len(ev) != 2 || ev[1]["failures"] != float64(5) {
		t.Fatalf("after a minute: %v", ev)
	}
	if strings.Contains(logs.String(), "a-wrong-secret") {
		t.Fatal("a presented signature's secret leaked")
	}
}

// A Content-Length is a promise, not bytes: announcing the largest body
// and sending little allocates for what was sent.
func TestAnnouncedLengthIsNotAllocated(t *testing.T) {
	h := newTestHandler(t, &fakePublisher{}, func(o *Options) { o.MaxBody = 4 << 20 })
	forged := "sha256=" + strings.Repeat("ab", 32)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 8 {
		r := httptest.NewRequest(http.MethodPost, "/webhook", io.LimitReader(strings.NewReader(strings.Repeat("{", 100)), 100))
		r.ContentLength = 4 << 20
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(HeaderSignature, forged)
		if w := serve(h, r); w.Code != 400 && w.Code != 401 {
			t.Fatalf("status %d", w.Code)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*(preallocBody+64<<10) {
		t.Fatalf("8 deliveries announcing 4 MiB and sending 100 bytes allocated %d bytes", got)
	}
}

// A published body's buffer is read into again by a later delivery, not
// left to the garbage collector: 40 deliveries one after the other make a
// handful of buffers, not 40 (under -race, sync.Pool drops a quarter of
// what it is given: about 10). The bodies the publisher saw are the
// deliveries', each its own.
func TestBodyBuffersAreReused(t *testing.T) {
	pub := &hashingPublisher{}
	h := newTestHandler(t, pub, nil)
	base := samples(t)[0]
	const n, pad = 40, 40 << 10
	bodies := make([][]byte, n)
	for i := range bodies {
		filler := fmt.Sprintf(`{"padding":"%d%s",`, i, strings.Repeat("x", pad))
		bodies[i] = append([]byte(filler), bytes.TrimPrefix(bytes.TrimSpace(base), []byte("{"))...)
	}
	for i, b := range bodies {
		r := signedRequest(b)
		r.Header.Set(HeaderIdentifier, fmt.Sprintf("reuse-%d", i))
		if w := serve(h, r); w.Code != http.StatusOK {
			t.Fatalf("delivery %d: status %d: %s", i, w.Code, w.Body)
		}
	}
	if made := h.newBuffers.Load(); made > n/2 {
		t.Fatalf("%d deliveries made %d body buffers: they are not reused", n, made)
	}
	if len(pub.sums) != n {
		t.Fatalf("%d published, want %d", len(pub.sums), n)
	}
	for i, sum := range pub.sums {
		if sum != sha256.Sum256(bodies[i]) {
			t.Fatalf("delivery %d: the published body is not the one sent", i)
		}
	}
}

// hashingPublisher keeps the hash of each body, not the body (which a
// copy would allocate).
type hashingPublisher struct{ sums [][sha256.Size]byte }

func (p *hashingPublisher) PublishWebhook(_ context.Context, w *events.Webhook) (bool, error) {
	p.sums = append(p.sums, sha256.Sum256(w.Body))
	return false, nil
}

func (p *hashingPublisher) Ready(context.Context) error { return nil }
