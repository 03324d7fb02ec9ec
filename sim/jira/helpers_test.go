package jirasim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jira "github.com/andygrunwald/go-jira"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// client returns a go-jira client authenticated as user (Basic auth with the
// login of the server's flavour).
func client(t *testing.T, s *jirasim.Server, user string) *jira.Client {
	t.Helper()
	var u *jirasim.User
	for _, cand := range s.Users() {
		if strings.EqualFold(cand.Email, user) || strings.EqualFold(cand.Name, user) || cand.AccountID == user {
			u = &cand
			break
		}
	}
	if u == nil {
		t.Fatalf("no user %q", user)
	}
	login := u.Email
	if s.Flavor() == jirasim.FlavorServer {
		login = u.Name
	}
	tp := jira.BasicAuthTransport{Username: login, Password: u.Token}
	c, err := jira.NewClient(tp.Client(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a raw request through c and decodes a 2xx answer into out.
func do(t *testing.T, c *jira.Client, method, path string, body, out any) (*http.Response, []byte) {
	t.Helper()
	req, err := c.NewRequest(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req, nil)
	var raw []byte
	if resp != nil {
		raw, _ = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp == nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.Response, raw
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.Response, raw
}

// jiraErrors is Jira's error collection.
type jiraErrors struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

func decodeErrors(t *testing.T, raw []byte) jiraErrors {
	t.Helper()
	var e jiraErrors
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error body %s: %v", raw, err)
	}
	return e
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// received is one webhook POST seen by a receiver.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is a webhook endpoint that records deliveries and can answer a
// scripted sequence of failures first.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	got      []received
	failures []int // statuses answered to the first deliveries
}

func newReceiver(t *testing.T, failures ...int) *receiver {
	t.Helper()
	r := &receiver{failures: failures}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: body})
		status := http.StatusOK
		if len(r.failures) > 0 {
			status, r.failures = r.failures[0], r.failures[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) URL() string { return r.srv.URL + "/jira/webhook?token=s3cr3t-in-url" }

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// waitN waits for at least n deliveries and returns them all.
func (r *receiver) waitN(t *testing.T, n int) []received {
	t.Helper()
	eventually(t, 10*time.Second, "webhook deliveries", func() bool { return len(r.all()) >= n })
	return r.all()
}

// waitWebhooks waits until the emulator has nothing left to deliver.
func waitWebhooks(t *testing.T, s *jirasim.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitWebhooks(ctx); err != nil {
		t.Fatalf("webhooks still pending: %v", err)
	}
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// createIssue creates an issue through the API, the way the bridge does:
// fields, the custom field when configured, and the entity property.
func createIssue(t *testing.T, c *jira.Client, summary string, labels ...string) (id, key string) {
	t.Helper()
	body := map[string]any{
		"fields": map[string]any{
			"project":     map[string]string{"key": "TAR"},
			"issuetype":   map[string]string{"name": "Task"},
			"summary":     summary,
			"description": "h3. Access request\n* roles: editor",
			"labels":      labels,
		},
		"properties": []map[string]any{{"key": "teleportAccessRequestId", "value": "req-" + summary}},
	}
	var out struct{ ID, Key, Self string }
	resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue", body, &out)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create issue: %d %s", resp.StatusCode, raw)
	}
	return out.ID, out.Key
}

// newTestServer starts h and returns its URL; it is closed when the test ends.
func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
