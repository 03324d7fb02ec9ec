package jirasim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Faults are failures injected into the REST API (never into /_sim or the
// board) and into webhook deliveries. Rates are probabilities in [0,1]; zero
// values disable each fault. In JSON, durations are strings such as "250ms".
type Faults struct {
	// Latency is added to every API request.
	Latency time.Duration
	// ErrorRate of API requests answered 500/502/503 without being handled.
	ErrorRate float64
	// RateLimit is the API request rate (requests/s, all users) above which
	// Jira answers 429 with Retry-After; IssueWriteLimit the same for writes
	// to one issue (Jira Cloud's per-issue write limit).
	RateLimit       float64
	IssueWriteLimit float64
	// RetryAfter overrides the Retry-After of a 429 (default: the time until
	// a request would be allowed, rounded up to whole seconds, at least 1s).
	RetryAfter time.Duration
	// DropConnectionRate of API requests whose connection is closed before
	// they are handled; DropResponseRate of requests that are handled (a
	// write happens) and then lose their response.
	DropConnectionRate float64
	DropResponseRate   float64
	// ReadLag is how long API reads (issue, search) keep returning the
	// previous status after a transition, as Jira Cloud's eventual
	// consistency does.
	ReadLag time.Duration

	// WebhookDuplicateRate of deliveries sent twice (same identifier),
	// WebhookReorderRate of deliveries held back by WebhookReorderDelay
	// (default 500ms) so that later ones overtake them, WebhookDropRate of
	// deliveries never sent.
	WebhookDuplicateRate float64
	WebhookReorderRate   float64
	WebhookReorderDelay  time.Duration
	WebhookDropRate      float64
}

func (f *Faults) check() error {
	for name, r := range map[string]float64{
		"ErrorRate": f.ErrorRate, "DropConnectionRate": f.DropConnectionRate,
		"DropResponseRate": f.DropResponseRate, "WebhookDuplicateRate": f.WebhookDuplicateRate,
		"WebhookReorderRate": f.WebhookReorderRate, "WebhookDropRate": f.WebhookDropRate,
	} {
		if r < 0 || r > 1 || math.IsNaN(r) {
			return fmt.Errorf("invalid Faults.%s %v: want a probability in [0,1]", name, r)
		}
	}
	if f.RateLimit < 0 || f.IssueWriteLimit < 0 {
		return fmt.Errorf("invalid Faults rate limit: want >= 0 requests/s")
	}
	if f.WebhookReorderDelay <= 0 {
		f.WebhookReorderDelay = 500 * time.Millisecond
	}
	return nil
}

// faultsJSON is the wire form of Faults for /_sim/faults.
type faultsJSON struct {
	Latency              string  `json:"latency,omitempty"`
	ErrorRate            float64 `json:"errorRate,omitempty"`
	RateLimit            float64 `json:"rateLimit,omitempty"`
	IssueWriteLimit      float64 `json:"issueWriteLimit,omitempty"`
	RetryAfter           string  `json:"retryAfter,omitempty"`
	DropConnectionRate   float64 `json:"dropConnectionRate,omitempty"`
	DropResponseRate     float64 `json:"dropResponseRate,omitempty"`
	ReadLag              string  `json:"readLag,omitempty"`
	WebhookDuplicateRate float64 `json:"webhookDuplicateRate,omitempty"`
	WebhookReorderRate   float64 `json:"webhookReorderRate,omitempty"`
	WebhookReorderDelay  string  `json:"webhookReorderDelay,omitempty"`
	WebhookDropRate      float64 `json:"webhookDropRate,omitempty"`
}

// MarshalJSON writes durations as strings ("250ms").
func (f Faults) MarshalJSON() ([]byte, error) {
	d := func(v time.Duration) string {
		if v == 0 {
			return ""
		}
		return v.String()
	}
	return json.Marshal(faultsJSON{
		Latency: d(f.Latency), ErrorRate: f.ErrorRate, RateLimit: f.RateLimit,
		IssueWriteLimit: f.IssueWriteLimit, RetryAfter: d(f.RetryAfter),
		DropConnectionRate: f.DropConnectionRate, DropResponseRate: f.DropResponseRate,
		ReadLag: d(f.ReadLag), WebhookDuplicateRate: f.WebhookDuplicateRate,
		WebhookReorderRate: f.WebhookReorderRate, WebhookReorderDelay: d(f.WebhookReorderDelay),
		WebhookDropRate: f.WebhookDropRate,
	})
}

// UnmarshalJSON reads durations as strings ("250ms").
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	var err error
	d := func(name, s string) time.Duration {
		if s == "" || err != nil {
			return 0
		}
		v, perr := time.ParseDuration(s)
		if perr != nil {
			err = fmt.Errorf("invalid %s: %w", name, perr)
		}
		return v
	}
	*f = Faults{
		Latency: d("latency", w.Latency), ErrorRate: w.ErrorRate, RateLimit: w.RateLimit,
		IssueWriteLimit: w.IssueWriteLimit, RetryAfter: d("retryAfter", w.RetryAfter),
		DropConnectionRate: w.DropConnectionRate, DropResponseRate: w.DropResponseRate,
		ReadLag: d("readLag", w.ReadLag), WebhookDuplicateRate: w.WebhookDuplicateRate,
		WebhookReorderRate: w.WebhookReorderRate, WebhookReorderDelay: d("webhookReorderDelay", w.WebhookReorderDelay),
		WebhookDropRate: w.WebhookDropRate,
	}
	return err
}

// SetFaults replaces the injected faults; rate-limit budgets start afresh.
func (s *Server) SetFaults(f Faults) error {
	if err := f.check(); err != nil {
		return err
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
	s.globalBucket = nil
	s.issueBuckets = map[string]*bucket{}
	return nil
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

// bucket is a token bucket refilled at rate tokens/s, holding at most
// max(rate, 1) tokens.
type bucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

// take spends a token, or reports how long until one is available.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	capacity := math.Max(b.rate, 1)
	b.tokens = math.Min(capacity, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// faultDecision is what the fault layer decided for one API request.
type faultDecision struct {
	latency      time.Duration
	status       int // 5xx or 429 to answer instead of handling, 0 otherwise
	retryAfter   time.Duration
	limitReason  string
	dropBefore   bool
	dropResponse bool
}

func (s *Server) decideFaults(r *http.Request) faultDecision {
	now := s.opts.Now()
	var issueID string
	if r.Method != http.MethodGet {
		issueID = s.issueIDFromPath(r.URL.Path) // takes mu, so before faultMu
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.faults
	d := faultDecision{latency: f.Latency}
	if f.DropConnectionRate > 0 && s.chance(f.DropConnectionRate) {
		d.dropBefore = true
		return d
	}
	if f.ErrorRate > 0 && s.chance(f.ErrorRate) {
		d.status = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[s.intn(3)]
		return d
	}
	if f.RateLimit > 0 {
		if s.globalBucket == nil {
			s.globalBucket = &bucket{rate: f.RateLimit, tokens: math.Max(f.RateLimit, 1), last: now}
		}
		if ok, wait := s.globalBucket.take(now); !ok {
			d.status, d.retryAfter, d.limitReason = http.StatusTooManyRequests, wait, "jira-quota-global-based"
		}
	}
	if d.status == 0 && f.IssueWriteLimit > 0 && issueID != "" {
		if id := issueID; id != "" {
			b := s.issueBuckets[id]
			if b == nil {
				b = &bucket{rate: f.IssueWriteLimit, tokens: math.Max(f.IssueWriteLimit, 1), last: now}
				s.issueBuckets[id] = b
			}
			if ok, wait := b.take(now); !ok {
				d.status, d.retryAfter, d.limitReason = http.StatusTooManyRequests, wait, "jira-per-issue-on-write"
			}
		}
	}
	if d.status == http.StatusTooManyRequests {
		if f.RetryAfter > 0 {
			d.retryAfter = f.RetryAfter
		}
		// Retry-After is in whole seconds; never tell a client to retry at once.
		d.retryAfter = time.Duration(max(1, math.Ceil(d.retryAfter.Seconds()))) * time.Second
	}
	if d.status == 0 && f.DropResponseRate > 0 && s.chance(f.DropResponseRate) {
		d.dropResponse = true
	}
	return d
}

// issueIDFromPath returns the issue id for /rest/api/2/issue/{idOrKey}/...,
// or "" when the path names no existing issue.
func (s *Server) issueIDFromPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/rest/api/2/issue/")
	if !ok {
		return ""
	}
	idOrKey, _, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if iss := s.findIssueLocked(idOrKey); iss != nil {
		return iss.id
	}
	return ""
}

// withFaults wraps the REST API with the injected faults.
func (s *Server) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := s.decideFaults(r)
		if d.latency > 0 {
			t := time.NewTimer(d.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch {
		case d.dropBefore:
			dropConnection(w)
			return
		case d.status == http.StatusTooManyRequests:
			secs := strconv.Itoa(int(d.retryAfter / time.Second))
			w.Header().Set("Retry-After", secs)
			w.Header().Set("X-RateLimit-Limit", "1")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", s.opts.Now().Add(d.retryAfter).UTC().Format(time.RFC3339))
			w.Header().Set("RateLimit-Reason", d.limitReason)
			writeError(w, d.status, []string{"Rate limit exceeded."}, nil)
			return
		case d.status != 0:
			writeError(w, d.status, []string{"Internal server error (injected fault)."}, nil)
			return
		case d.dropResponse:
			next.ServeHTTP(&discardWriter{header: http.Header{}}, r)
			dropConnection(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dropConnection closes the client connection without an HTTP response.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // reset, as a crashed proxy would
	}
	_ = conn.Close()
}

// discardWriter swallows a response that will never be sent.
type discardWriter struct {
	header http.Header
	status int
}

func (d *discardWriter) Header() http.Header { return d.header }
func (d *discardWriter) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
	}
	sr.ResponseWriter.WriteHeader(code)
}

func (sr *statusRecorder) Write(b []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	return sr.ResponseWriter.Write(b)
}

// Hijack lets the fault layer drop connections through the recorder.
func (sr *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := sr.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("hijack not supported")
	}
	return hj.Hijack()
}
