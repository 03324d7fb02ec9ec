package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/rs/zerolog"
)

// Headers Jira sends with a delivery.
const (
	HeaderIdentifier = "X-Atlassian-Webhook-Identifier"
	HeaderRetry      = "X-Atlassian-Webhook-Retry"
	HeaderFlow       = "X-Atlassian-Webhook-Flow"
)

// statusClientClosed is nginx's 499: the client closed the connection
// before the answer. Only the metrics and the log see it.
const statusClientClosed = 499

// Publisher records a delivery. PublishWebhook returns once the stream
// acknowledged it; duplicate is true when the stream already held its id.
// The body (w.Body) is the handler's to reuse once PublishWebhook has
// returned: a publisher copies what it keeps (nats.go copies what it
// sends into its own buffer).
type Publisher interface {
	PublishWebhook(ctx context.Context, w *events.Webhook) (duplicate bool, err error)
	// Ready fails fast when the publish cannot succeed (NATS disconnected).
	Ready(ctx context.Context) error
}

// ErrTooLarge is returned by a Publisher when the event exceeds what the
// bus accepts (the NATS max_payload).
var ErrTooLarge = errors.New("event too large for the bus")

// ErrInvalid is returned by a Publisher when the delivery cannot be
// recorded as it is (an attribute that cannot travel in a header): 400.
var ErrInvalid = errors.New("delivery cannot be recorded")

// Options configure a Handler.
type Options struct {
	Auth      *Auth
	Publisher Publisher
	Metrics   *Metrics
	Log       zerolog.Logger
	// MaxBody bounds the body read (413 above it).
	MaxBody int64
	// PublishTimeout bounds the wait for the stream ack (503 after it).
	PublishTimeout time.Duration
	// RetryAfter is sent with 503 and 429.
	RetryAfter time.Duration
	// MaxConcurrent bounds the deliveries handled at once (503 above it).
	MaxConcurrent int
	// MaxConcurrentPerIP bounds those from one client address (503 above
	// it), so that one client cannot hold every slot.
	MaxConcurrentPerIP int
	// Limiter, when set, limits deliveries per client IP (429).
	Limiter *RateLimiter
	// ClientIPHeader names a header set by a trusted proxy with the client
	// IP (X-Forwarded-For: its last entry is used). It is believed only on
	// requests whose peer is in TrustedProxies.
	ClientIPHeader string
	TrustedProxies []netip.Prefix
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Handler answers Jira webhook deliveries.
type Handler struct {
	o        Options
	sem      chan struct{}
	perIP    *ipSlots
	failures *failureLog
	// bodies holds the buffers of bodies already published, for the next
	// deliveries to read into: without it every delivery left ~10 KiB to
	// the garbage collector, whose cycles then cost the ingress more CPU
	// than its JSON parse.
	bodies sync.Pool // of *bytes.Buffer
	// newBuffers counts the buffers readBody had to make (the pool was
	// empty): what shows that bodies are read into reused memory.
	newBuffers atomic.Int64
}

// NewHandler checks the options and returns a handler.
func NewHandler(o Options) (*Handler, error) {
	switch {
	case o.Auth == nil:
		return nil, errors.New("webhook handler: no Auth")
	case o.Publisher == nil:
		return nil, errors.New("webhook handler: no Publisher")
	case o.MaxBody <= 0 || o.MaxBody > events.MaxWebhookBody:
		return nil, fmt.Errorf("webhook handler: MaxBody %d outside 1..%d", o.MaxBody, events.MaxWebhookBody)
	}
	if o.Metrics == nil {
		o.Metrics, _ = NewMetrics(nil)
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 10 * time.Second
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 512
	}
	if o.MaxConcurrentPerIP <= 0 || o.MaxConcurrentPerIP > o.MaxConcurrent {
		o.MaxConcurrentPerIP = o.MaxConcurrent
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{o: o, sem: make(chan struct{}, o.MaxConcurrent), perIP: newIPSlots(o.MaxConcurrentPerIP), failures: newFailureLog()}, nil
}

// outcome is what one delivery came to; it makes the answer, the metric and
// the log line.
type outcome struct {
	status   int
	result   string
	reason   string // why, for the log and the answer; never a secret
	fields   Fields
	signed   bool
	auth     []string
	id       string // event id
	bodySize int
	clientIP string
}

// ServeHTTP handles one POSTed delivery.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.o.Now()
	h.o.Metrics.inFlight.Inc()
	defer h.o.Metrics.inFlight.Dec()
	o := outcome{clientIP: h.clientIP(r)}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			o = outcome{status: http.StatusInternalServerError, result: ResultPanic, reason: fmt.Sprintf("panic: %v", p), clientIP: o.clientIP}
			h.answer(w, r, &o)
		}
		h.finish(r, &o, start)
	}()
	h.handle(w, r, &o, start)
	h.answer(w, r, &o)
}

// MethodNotAllowed answers 405 on a webhook path.
func (h *Handler) MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	start := h.o.Now()
	o := outcome{status: http.StatusMethodNotAllowed, result: ResultMethodNotAllowed, reason: r.Method + " not allowed; Jira POSTs webhooks", clientIP: h.clientIP(r)}
	w.Header().Set("Allow", http.MethodPost)
	h.answer(w, r, &o)
	h.finish(r, &o, start)
}

func (h *Handler) handle(w http.ResponseWriter, r *http.Request, o *outcome, start time.Time) {
	fail := func(status int, result, reason string) {
		o.status, o.result, o.reason = status, result, reason
	}
	ip := o.clientIP
	// Everything up to the body read costs only the headers: a stranger is
	// refused before it holds a slot or sends a byte of body.
	if h.o.Limiter != nil && !h.o.Limiter.Allow(ip) {
		fail(http.StatusTooManyRequests, ResultRateLimited, "rate limit for this client exceeded")
		return
	}
	if ct := r.Header.Get("Content-Type"); !isJSONMediaType(ct) {
		fail(http.StatusUnsupportedMediaType, ResultUnsupportedMedia, fmt.Sprintf("content type %.60q is not application/json", ct))
		return
	}
	auth, err := h.o.Auth.CheckRequest(r)
	if err != nil {
		h.authFailed(o, err)
		return
	}
	sig, err := h.o.Auth.SignatureFromHeader(r.Header)
	if err != nil {
		h.authFailed(o, err)
		return
	}
	if r.ContentLength > h.o.MaxBody {
		fail(http.StatusRequestEntityTooLarge, ResultTooLarge, fmt.Sprintf("body of %d bytes is over the %d byte limit", r.ContentLength, h.o.MaxBody))
		return
	}
	if !h.perIP.acquire(ip) {
		fail(http.StatusServiceUnavailable, ResultBusy, "too many deliveries in flight from this client")
		return
	}
	defer h.perIP.release(ip)
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	default:
		fail(http.StatusServiceUnavailable, ResultBusy, "too many deliveries in flight")
		return
	}

	buf, err := h.readBody(w, r)
	defer h.putBody(buf)
	body := buf.Bytes()
	o.bodySize = len(body)
	h.o.Metrics.bodyBytes.Observe(float64(len(body)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(http.StatusRequestEntityTooLarge, ResultTooLarge, fmt.Sprintf("body is over the %d byte limit", h.o.MaxBody))
			return
		}
		fail(http.StatusBadRequest, ResultBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(body) == 0 {
		fail(http.StatusBadRequest, ResultBadRequest, ErrEmptyBody.Error())
		return
	}
	signed := false
	if sig != nil {
		if signed, err = h.o.Auth.VerifySignature(sig, body); err != nil {
			h.authFailed(o, err)
			return
		}
		auth = append([]string{events.AuthHMAC}, auth...)
	}
	if len(auth) == 0 {
		auth = []string{events.AuthNone}
	}
	o.signed, o.auth = signed, auth

	f, err := Parse(body)
	o.fields = f
	if err != nil {
		fail(http.StatusBadRequest, ResultBadRequest, err.Error())
		return
	}
	if f.IssueID == "" {
		// Authenticated, but not about an issue (project, user, sprint…
		// events): nothing for the jira-bridge. Answered 200 so Jira does
		// not retry, counted, not published.
		o.status, o.result, o.reason = http.StatusOK, ResultIgnored, "not an issue event"
		return
	}

	ev := events.NewRawWebhook(f.IssueID, f.IssueKey, f.Event, r.Header.Get(HeaderIdentifier), start, signed, auth, body)
	if n, err := strconv.Atoi(r.Header.Get(HeaderRetry)); err == nil && n > 0 {
		ev.Retry = n
	}
	ev.Flow = r.Header.Get(HeaderFlow)
	ev.SourceIP = ip
	if err := ev.CheckAttributes(); err != nil {
		fail(http.StatusBadRequest, ResultBadRequest, err.Error())
		return
	}
	o.id = ev.DedupID()

	ctx, cancel := context.WithTimeout(r.Context(), h.o.PublishTimeout)
	defer cancel()
	if err := h.o.Publisher.Ready(ctx); err != nil {
		fail(http.StatusServiceUnavailable, ResultUnavailable, err.Error())
		return
	}
	dup, err := h.o.Publisher.PublishWebhook(ctx, ev)
	switch {
	case errors.Is(err, ErrInvalid):
		fail(http.StatusBadRequest, ResultBadRequest, err.Error())
	case errors.Is(err, ErrTooLarge):
		fail(http.StatusRequestEntityTooLarge, ResultTooLarge, err.Error())
	case err != nil && r.Context().Err() != nil:
		// The client hung up (Jira's timeout, a load tool stopping): nobody
		// reads the answer; Jira retries and the dedup id keeps one copy.
		fail(statusClientClosed, ResultClientClosed, err.Error())
	case err != nil:
		fail(http.StatusServiceUnavailable, ResultUnavailable, err.Error())
	case dup:
		o.status, o.result = http.StatusOK, ResultDuplicate
	default:
		o.status, o.result = http.StatusOK, ResultPublished
	}
}

// readBody reads at most MaxBody bytes into a buffer of the pool. It
// allocates for what arrives, not for what Content-Length announces (a
// stranger's header costs no memory): it makes room for at most
// preallocBody before the bytes arrive (real webhooks are 5-50 KiB).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, error) {
	rd := http.MaxBytesReader(w, r.Body, h.o.MaxBody)
	buf, _ := h.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
		h.newBuffers.Add(1)
	}
	size := int64(preallocBody)
	if n := r.ContentLength; n >= 0 && n < size {
		size = n
	}
	buf.Grow(int(size) + bytes.MinRead) // room for the read that sees EOF
	_, err := buf.ReadFrom(rd)
	return buf, err
}

// putBody gives a body's buffer back to the pool once nothing refers to
// the body any more; a buffer grown for an unusually large body is left to
// the garbage collector.
func (h *Handler) putBody(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledBody {
		return
	}
	buf.Reset()
	h.bodies.Put(buf)
}

const (
	// preallocBody is the most readBody allocates before the bytes arrive.
	preallocBody = 64 << 10
	// maxPooledBody is the largest buffer kept for reuse.
	maxPooledBody = 4 * preallocBody
)

// authFailed answers 401 and, at most once a minute per client address,
// writes a security event counting the failures.
func (h *Handler) authFailed(o *outcome, err error) {
	o.status, o.result, o.reason = http.StatusUnauthorized, ResultUnauthorized, err.Error()
	if n, ok := h.failures.note(o.clientIP, h.o.Now()); ok {
		h.o.Log.Error().Bool("security", true).Str("event", "webhook_auth_failed").
			Str("source_ip", o.clientIP).Int("failures", n).Str("reason", err.Error()).
			Msg("SECURITY: webhook deliveries failed authentication (a wrong secret, or someone forging deliveries)")
	}
}

type answerBody struct {
	Result    string `json:"result"`
	ID        string `json:"id,omitempty"`
	Error     string `json:"error,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

func (h *Handler) answer(w http.ResponseWriter, r *http.Request, o *outcome) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	switch o.status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		hdr.Set("Retry-After", strconv.Itoa(int(math.Ceil(h.o.RetryAfter.Seconds()))))
	case http.StatusUnauthorized:
		if len(h.o.Auth.Basic) > 0 {
			hdr.Set("WWW-Authenticate", `Basic realm="accessbridge-webhook", charset="UTF-8"`)
		}
	case http.StatusRequestEntityTooLarge:
		// Stop reading: the rest of the body is not wanted.
		hdr.Set("Connection", "close")
	}
	if o.status == http.StatusOK && o.id != "" && plainJSON(o.id) && plainJSON(o.result) {
		// The answer to nearly every delivery, written without reflection.
		w.WriteHeader(o.status)
		answer := make([]byte, 0, 64+len(o.id))
		answer = append(append(append(answer, `{"result":"`...), o.result...), `","id":"`...)
		answer = append(answer, o.id...)
		if o.result == ResultDuplicate {
			answer = append(answer, `","duplicate":true}`...)
		} else {
			answer = append(answer, `"}`...)
		}
		_, _ = w.Write(append(answer, '\n'))
		return
	}
	b := answerBody{Result: o.result}
	if o.status == http.StatusOK {
		b.ID, b.Duplicate = o.id, o.result == ResultDuplicate
	} else {
		b.Error = o.reason
		switch o.status {
		case http.StatusServiceUnavailable:
			// Internal detail (NATS addresses) stays in the log.
			b.Error = "cannot record the delivery now; retry later"
		case http.StatusInternalServerError:
			b.Error = "internal error"
		}
	}
	w.WriteHeader(o.status)
	_ = json.NewEncoder(w).Encode(b)
}

// plainJSON reports whether s is written the same inside a JSON string as
// encoding/json writes it: printable ASCII, no quote, backslash or the
// characters it escapes for HTML (<, >, &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// finish counts the delivery and writes its one log line: never the body,
// the query (a token) or an authorization header.
func (h *Handler) finish(r *http.Request, o *outcome, start time.Time) {
	d := h.o.Now().Sub(start)
	h.o.Metrics.observe(o.result, o.status, d)
	ev := h.o.Log.Info()
	if o.status >= 500 {
		ev = h.o.Log.Warn()
	}
	ev = ev.Str("result", o.result).Int("status", o.status).Dur("latency", d).
		Str("path", r.URL.Path).Str("client_ip", o.clientIP).Int("bytes", o.bodySize)
	if o.fields.Event != "" {
		ev = ev.Str("event", o.fields.Event)
	}
	if o.fields.IssueKey != "" {
		ev = ev.Str("issue_key", o.fields.IssueKey)
	}
	if o.fields.IssueID != "" {
		ev = ev.Str("issue_id", o.fields.IssueID)
	}
	if id := r.Header.Get(HeaderIdentifier); id != "" {
		ev = ev.Str("delivery", truncate(id, 80))
	}
	if retry := r.Header.Get(HeaderRetry); retry != "" {
		ev = ev.Str("retry", truncate(retry, 8))
	}
	if o.auth != nil {
		ev = ev.Bool("signed", o.signed).Strs("auth", o.auth)
	}
	if o.reason != "" {
		ev = ev.Str("reason", o.reason)
	}
	ev.Msg("webhook delivery")
}

// clientIP is the address the rate limit and the logs see: the peer's, or
// the one a trusted proxy put in ClientIPHeader.
func (h *Handler) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if h.o.ClientIPHeader == "" || !h.trustedPeer(host) {
		return host
	}
	if v := r.Header.Values(h.o.ClientIPHeader); len(v) > 0 {
		last := v[len(v)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
			return ip.String()
		}
	}
	return host
}

func (h *Handler) trustedPeer(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range h.o.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
