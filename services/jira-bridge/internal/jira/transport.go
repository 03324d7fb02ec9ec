package jira

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
)

// RetryPolicy says how the transport retries Jira calls.
type RetryPolicy struct {
	// MaxRetries after the first attempt (0: none).
	MaxRetries int
	// Min and Max bound the exponential back-off (with full jitter) used when
	// Jira gives no Retry-After / X-RateLimit-Reset.
	Min, Max time.Duration
	// MaxWait caps a server-requested delay; a longer Retry-After is handed
	// to the caller instead of being slept through.
	MaxWait time.Duration
}

// transport authenticates, bounds concurrency and retries. It is the one
// place where the client policy lives:
//   - 429 and 503 honour Retry-After, else X-RateLimit-Reset, else back-off;
//   - other 5xx and network errors back off with jitter, when the call is
//     idempotent (GET, PUT, DELETE, searches); a write that may have
//     reached Jira (500/502/504, a dropped response) goes back to the
//     caller, whose handler checks Jira's state before repeating it;
//   - everything else (4xx) is returned at once.
type transport struct {
	base    http.RoundTripper
	auth    func(*http.Request)
	sem     chan struct{}
	policy  RetryPolicy
	metrics *metrics.Metrics
	sleep   func(ctx context.Context, d time.Duration) error
	timeout time.Duration // per attempt
	hold    holdGate
}

// holdGate makes calls wait out a rate limit: after a 429 or 503 with a
// server-given delay, no call in the limit's scope is sent before it ends,
// so that the calls in flight do not each spend a request of the budget
// only to be refused again. The scope follows Jira Cloud's RateLimit-Reason:
// a per-issue write limit holds the writes to that issue, a burst limit the
// calls to that endpoint, anything else (quotas, Data Center, a 503) every
// call of the process.
type holdGate struct {
	mu    sync.Mutex
	until map[string]time.Time // by scope; "" is the whole process
}

// scopeAll is the hold of every call of the process.
const scopeAll = ""

func issueScope(issue string) string       { return "issue " + issue }
func endpointScope(endpoint string) string { return "endpoint " + endpoint }

func (h *holdGate) extend(scope string, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.until == nil {
		h.until = map[string]time.Time{}
	}
	if until.After(h.until[scope]) {
		h.until[scope] = until
	}
}

// remaining is how long a call in the given scopes must still wait.
func (h *holdGate) remaining(now time.Time, scopes ...string) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var wait time.Duration
	for _, sc := range scopes {
		until, ok := h.until[sc]
		if !ok {
			continue
		}
		if !until.After(now) {
			delete(h.until, sc) // expired: keep the map small
			continue
		}
		wait = max(wait, until.Sub(now))
	}
	return wait
}

// holdScope is the scope a rate-limited answer to this call holds.
func holdScope(resp *http.Response, method, path string) string {
	switch resp.Header.Get("RateLimit-Reason") {
	case "jira-per-issue-on-write":
		if issue := pathIssue(path); issue != "" {
			return issueScope(issue)
		}
	case "jira-burst-based":
		return endpointScope(Endpoint(method, path))
	}
	return scopeAll
}

// callScopes are the holds a call must respect.
func callScopes(method, path string) []string {
	scopes := []string{scopeAll, endpointScope(Endpoint(method, path))}
	if issue := pathIssue(path); issue != "" && method != http.MethodGet {
		scopes = append(scopes, issueScope(issue))
	}
	return scopes
}

// pathIssue returns the issue id or key of a /rest/api/2/issue/{issue}/...
// path, or "".
func pathIssue(path string) string {
	_, rest, ok := strings.Cut(path, "/rest/api/2/issue/")
	if !ok {
		return ""
	}
	issue, _, _ := strings.Cut(rest, "/")
	return issue
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	endpoint := Endpoint(req.Method, req.URL.Path)
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		r := req.Clone(ctx)
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		t.auth(r)
		if wait := t.hold.remaining(time.Now(), callScopes(req.Method, req.URL.Path)...); wait > 0 {
			if err := t.sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
		resp, err := t.once(r)
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.metrics.JiraCalls.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
		delay, reason, retry := t.classify(req.Method, req.URL.Path, resp, err, attempt)
		if !retry || attempt >= t.policy.MaxRetries || ctx.Err() != nil {
			return resp, err
		}
		if t.policy.MaxWait > 0 && delay > t.policy.MaxWait {
			return resp, err // the caller redelivers after Retry-After
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		t.metrics.JiraRetries.WithLabelValues(endpoint, reason).Inc()
		if err := t.sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

func (t *transport) once(r *http.Request) (*http.Response, error) {
	select {
	case t.sem <- struct{}{}:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	defer func() { <-t.sem }()
	ctx, cancel := context.WithTimeout(r.Context(), t.timeout)
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		if ctx.Err() != nil && r.Context().Err() == nil {
			return nil, &timeoutError{err} // a per-attempt timeout: retried like a network error
		}
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type timeoutError struct{ err error }

func (e *timeoutError) Error() string { return "jira: attempt timed out: " + e.err.Error() }
func (e *timeoutError) Timeout() bool { return true }
func (e *timeoutError) Unwrap() error { return e.err }

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error { err := b.ReadCloser.Close(); b.cancel(); return err }

// classify returns whether to retry, after how long and why.
func (t *transport) classify(method, path string, resp *http.Response, err error, attempt int) (time.Duration, string, bool) {
	if err != nil {
		var te *timeoutError
		if !errors.As(err, &te) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return 0, "", false
		}
		if !idempotent(method, path) && !sentNothing(err) {
			return 0, "", false
		}
		return t.backoff(attempt), "network", true
	}
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable:
		// Jira did not process the call: safe to repeat, even a POST.
		if d, ok := ServerDelay(resp.Header, time.Now()); ok {
			if t.policy.MaxWait <= 0 || d <= t.policy.MaxWait {
				t.hold.extend(holdScope(resp, method, path), time.Now().Add(d))
			}
			return d, strconv.Itoa(c), true
		}
		return t.backoff(attempt), strconv.Itoa(c), true
	case c >= 500 && idempotent(method, path):
		return t.backoff(attempt), "5xx", true
	}
	return 0, "", false
}

// idempotent says whether repeating the call cannot duplicate a write. A
// 500/502/504 on a create, comment or transition may hide a write that
// happened; those go back to the handler, which checks Jira's state (label
// search, identical comment, current status) before writing again.
func idempotent(method, path string) bool {
	if method != http.MethodPost {
		return true
	}
	return strings.HasSuffix(path, "/search") || strings.HasSuffix(path, "/search/jql")
}

// sentNothing reports whether a transport error happened before the request
// could reach Jira (dial errors), so that even a POST is safe to repeat.
func sentNothing(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff is exponential with full jitter between Min and Max.
func (t *transport) backoff(attempt int) time.Duration {
	d := t.policy.Min << min(attempt, 20)
	if d <= 0 || d > t.policy.Max {
		d = t.policy.Max
	}
	return t.policy.Min/2 + rand.N(d-t.policy.Min/2+1)
}

// ServerDelay reads the delay Jira asks for: Retry-After (seconds or an
// HTTP date), else X-RateLimit-Reset (an ISO-8601 instant, as Jira Cloud
// sends).
func ServerDelay(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(at.Sub(now), 0), true
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05.000Z0700"} {
			if at, err := time.Parse(layout, v); err == nil {
				return max(at.Sub(now), 0), true
			}
		}
	}
	return 0, false
}

var idSegment = regexp.MustCompile(`^(\d+|[A-Z][A-Z0-9_]*-\d+)$`)

// Endpoint names a Jira call for metrics without unbounded labels: issue ids
// and keys, project keys and property keys become placeholders.
func Endpoint(method, path string) string {
	p := path
	if i := strings.Index(p, "/rest/api/2/"); i >= 0 {
		p = p[i+len("/rest/api/2/"):]
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		switch {
		case i > 0 && parts[i-1] == "issue" && s != "":
			parts[i] = "{issue}"
		case i > 0 && parts[i-1] == "project" && s != "":
			parts[i] = "{project}"
		case i > 0 && parts[i-1] == "properties" && s != "":
			parts[i] = "{property}"
		case idSegment.MatchString(s):
			parts[i] = "{id}"
		}
	}
	return method + " " + strings.Join(parts, "/")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
