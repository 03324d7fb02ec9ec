package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// jiraCall is one REST call the Jira emulator served, timed around its
// handler: the emulator's own service time.
type jiraCall struct {
	Start, End time.Time
	Route      string // "POST /rest/api/2/issue/{issueIdOrKey}/transitions"
	Status     int
}

func (c jiraCall) took() time.Duration { return c.End.Sub(c.Start) }

// createdIssue is an issue the emulator answered 201 for, with the request
// id read from its label.
type createdIssue struct {
	ID, Key string
	At      time.Time
}

// jiraTap wraps the emulator's handler: it times every call, and records
// which request each created issue stands for.
type jiraTap struct {
	next     http.Handler
	inflight atomic.Int64
	lastEnd  atomic.Int64 // unix nanoseconds
	mu       sync.Mutex
	calls    []jiraCall
	created  map[string]createdIssue
	// notify, when set, receives nothing but is closed-and-replaced on each
	// create so waiters wake up.
	notify chan struct{}
}

var labelRE = regexp.MustCompile(`teleport-access-request-([A-Za-z0-9-]+)`)

func newJiraTap(next http.Handler) *jiraTap {
	return &jiraTap{next: next, created: map[string]createdIssue{}, notify: make(chan struct{})}
}

type captureWriter struct {
	http.ResponseWriter
	status  int
	capture bool
	buf     bytes.Buffer
}

func (w *captureWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.capture {
		w.buf.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (t *jiraTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/rest/") {
		t.next.ServeHTTP(w, r)
		return
	}
	route := r.Method + " " + normaliseRoute(r.URL.Path)
	isCreate := r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == "/rest/api/2/issue"
	var reqID string
	if isCreate {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if m := labelRE.FindSubmatch(body); m != nil {
			reqID = string(m[1])
		}
	}
	cw := &captureWriter{ResponseWriter: w, capture: isCreate}
	t.inflight.Add(1)
	start := time.Now()
	t.next.ServeHTTP(cw, r)
	end := time.Now()
	t.lastEnd.Store(end.UnixNano())
	t.inflight.Add(-1)
	c := jiraCall{Start: start, End: end, Route: route, Status: cw.status}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = append(t.calls, c)
	if isCreate && cw.status == http.StatusCreated && reqID != "" {
		var out struct{ ID, Key string }
		_ = json.Unmarshal(cw.buf.Bytes(), &out)
		if _, dup := t.created[reqID]; !dup {
			t.created[reqID] = createdIssue{ID: out.ID, Key: out.Key, At: end}
		}
		close(t.notify)
		t.notify = make(chan struct{})
	}
}

// normaliseRoute replaces issue keys, project keys and property keys by the
// route's placeholders, as Jira's REST documentation names them.
func normaliseRoute(p string) string {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	for i := 1; i < len(seg); i++ {
		switch seg[i-1] {
		case "issue":
			seg[i] = "{issueIdOrKey}"
		case "project":
			seg[i] = "{projectIdOrKey}"
		case "properties":
			seg[i] = "{propertyKey}"
		}
	}
	return "/" + strings.Join(seg, "/")
}

// Reset forgets calls and created issues.
func (t *jiraTap) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = nil
	t.created = map[string]createdIssue{}
}

// Calls returns the calls served so far.
func (t *jiraTap) Calls() []jiraCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]jiraCall(nil), t.calls...)
}

// Created returns the issue created for a request.
func (t *jiraTap) Created(reqID string) (createdIssue, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.created[reqID]
	return c, ok
}

// CreatedCount is the number of requests with an issue, and a channel
// closed at the next create.
func (t *jiraTap) CreatedCount() (int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.created), t.notify
}

// waitCreated waits until the request has an issue.
func (t *jiraTap) waitCreated(reqID string, timeout time.Duration) (createdIssue, bool) {
	deadline := time.After(timeout)
	for {
		t.mu.Lock()
		c, ok := t.created[reqID]
		ch := t.notify
		t.mu.Unlock()
		if ok {
			return c, true
		}
		select {
		case <-ch:
		case <-deadline:
			return createdIssue{}, false
		}
	}
}

// waitQuiet waits until no call is in flight and none ended for d, and
// returns the end of the last call.
func (t *jiraTap) waitQuiet(d, timeout time.Duration) time.Time {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		last := time.Unix(0, t.lastEnd.Load())
		if t.inflight.Load() == 0 && time.Since(last) >= d {
			return last
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Unix(0, t.lastEnd.Load())
}
