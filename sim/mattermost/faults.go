package mattermostsim

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Faults are failures injected into the REST API (never into the page).
// Rates are probabilities in [0,1]; zero disables each.
type Faults struct {
	// Latency is added to every API call.
	Latency time.Duration
	// ErrorRate of calls answered 500/502/503 before they are handled
	// (nothing written).
	ErrorRate float64
	// ErrorAfterWriteRate of calls that are handled (a post is created or
	// changed) and then answered 500: the client cannot know the write
	// happened.
	ErrorAfterWriteRate float64
	// DropResponseRate of calls handled and then answered by a closed
	// connection.
	DropResponseRate float64
	// RateLimit is the request rate (requests/s) of the server's rate
	// limiter; RateBurst its burst (default: the rate). When set, every
	// answer carries X-RateLimit-Limit/Remaining/Reset and a call over the
	// limit is answered 429 "limit exceeded" with Retry-After.
	RateLimit float64
	RateBurst int
}

func (f *Faults) check() error {
	for name, r := range map[string]float64{"ErrorRate": f.ErrorRate, "ErrorAfterWriteRate": f.ErrorAfterWriteRate, "DropResponseRate": f.DropResponseRate} {
		if r < 0 || r > 1 || math.IsNaN(r) {
			return fmt.Errorf("invalid Faults.%s %v: want a probability in [0,1]", name, r)
		}
	}
	if f.RateLimit < 0 || f.RateBurst < 0 || f.Latency < 0 {
		return fmt.Errorf("invalid Faults: negative rate limit, burst or latency")
	}
	return nil
}

// FaultKind is a scripted failure of one call.
type FaultKind string

// Scripted faults.
const (
	// FailBefore answers Status (default 500) without handling the call.
	FailBefore FaultKind = "before"
	// FailAfterWrite handles the call, then answers Status (default 500).
	FailAfterWrite FaultKind = "after-write"
	// RateLimited answers 429 with Retry-After (seconds, default 1).
	RateLimited FaultKind = "rate-limited"
	// DropResponse handles the call and closes the connection.
	DropResponse FaultKind = "drop-response"
)

// Scripted fails the next Count calls matching Method and Route (empty
// matches any) with Kind.
type Scripted struct {
	Method, Route string
	Kind          FaultKind
	Status        int
	RetryAfter    time.Duration
	Count         int
}

type scripted struct {
	Scripted
	left int
}

// SetFaults replaces the random faults.
func (s *Server) SetFaults(f Faults) error {
	if err := f.check(); err != nil {
		return err
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
	s.bucket = nil
	return nil
}

// FailNext scripts failures of the next matching calls.
func (s *Server) FailNext(f Scripted) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.next = append(s.next, scripted{Scripted: f, left: f.Count})
}

// bucket is a token bucket.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

type decision struct {
	latency    time.Duration
	kind       FaultKind
	status     int
	retryAfter time.Duration
	limit      *rateHeaders
}

type rateHeaders struct {
	limit, remaining int
	reset            time.Duration
}

func (s *Server) chance(p float64) bool {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rng.Float64() < p
}

func (s *Server) intn(n int) int {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rng.IntN(n)
}

func (s *Server) decide(r *http.Request, route string) decision {
	now := s.opts.Now()
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.faults
	d := decision{latency: f.Latency}
	if f.RateLimit > 0 {
		burst := float64(f.RateBurst)
		if burst <= 0 {
			burst = math.Max(f.RateLimit, 1)
		}
		if s.bucket == nil {
			s.bucket = &bucket{rate: f.RateLimit, burst: burst, tokens: burst, last: now}
		}
		ok, wait := s.bucket.take(now)
		d.limit = &rateHeaders{limit: int(math.Ceil(f.RateLimit)), remaining: int(s.bucket.tokens), reset: wait}
		if !ok {
			d.kind, d.status, d.retryAfter = RateLimited, http.StatusTooManyRequests, wait
			return d
		}
	}
	for i := range s.next {
		n := &s.next[i]
		if n.left > 0 && (n.Method == "" || n.Method == r.Method) && (n.Route == "" || n.Route == route) {
			n.left--
			d.kind, d.status, d.retryAfter = n.Kind, n.Status, n.RetryAfter
			if d.kind == RateLimited {
				d.status = http.StatusTooManyRequests
			}
			if d.status == 0 {
				d.status = http.StatusInternalServerError
			}
			return d
		}
	}
	switch {
	case f.ErrorRate > 0 && s.chance(f.ErrorRate):
		d.kind, d.status = FailBefore, []int{500, 502, 503}[s.intn(3)]
	case f.ErrorAfterWriteRate > 0 && r.Method != http.MethodGet && s.chance(f.ErrorAfterWriteRate):
		d.kind, d.status = FailAfterWrite, http.StatusInternalServerError
	case f.DropResponseRate > 0 && s.chance(f.DropResponseRate):
		d.kind = DropResponse
	}
	return d
}

func (s *Server) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := s.api.Handler(r)
		route := pattern
		if i := indexSpace(pattern); i >= 0 {
			route = pattern[i+1:]
		}
		d := s.decide(r, route)
		if d.latency > 0 {
			t := time.NewTimer(d.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if d.limit != nil {
			w.Header().Set("X-RateLimit-Limit", strconv.Itoa(d.limit.limit))
			w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(d.limit.remaining))
			w.Header().Set("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil(d.limit.reset.Seconds()))))
		}
		if d.kind != "" {
			callOf(r).fault = string(d.kind)
		}
		switch d.kind {
		case RateLimited:
			secs := max(1, int(math.Ceil(d.retryAfter.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			if w.Header().Get("X-RateLimit-Limit") == "" {
				w.Header().Set("X-RateLimit-Limit", "1")
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.Header().Set("X-RateLimit-Reset", strconv.Itoa(secs))
			}
			// The server's rate limiter answers in plain text.
			http.Error(w, "limit exceeded", http.StatusTooManyRequests)
			return
		case FailBefore:
			writeErr(w, r, withStatus(errInternal, d.status), "injected fault")
			return
		case FailAfterWrite:
			next.ServeHTTP(&discardWriter{header: http.Header{}}, r)
			writeErr(w, r, withStatus(errInternal, d.status), "injected fault after the write")
			return
		case DropResponse:
			next.ServeHTTP(&discardWriter{header: http.Header{}}, r)
			dropConnection(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func indexSpace(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return i
		}
	}
	return -1
}

func withStatus(e appError, status int) appError {
	e.StatusCode = status
	return e
}

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
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

type discardWriter struct {
	header http.Header
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

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

func (sr *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := sr.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("hijack not supported")
	}
	return hj.Hijack()
}
