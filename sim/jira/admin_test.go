package jirasim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// simCall calls a /_sim endpoint and decodes the JSON answer into out.
func simCall(t *testing.T, s *jirasim.Server, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL()+path, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

func TestSimAdminEndpoints(t *testing.T) {
	rcv := newReceiver(t)
	s := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv.URL()}})

	var created jirasim.Issue
	if code := simCall(t, s, "POST", "/_sim/issues", map[string]any{"summary": "alice requested editor", "status": "Pending", "labels": []string{"l"}}, &created); code != 201 || created.Key != "TAR-1" || created.Status != "Pending" {
		t.Fatalf("create: %d %+v", code, created)
	}
	var moved jirasim.Issue
	if code := simCall(t, s, "POST", "/_sim/move", jirasim.MoveRequest{Key: "TAR-1", Status: "Approved", User: "alice@example.com", Comment: "Reason: ok"}, &moved); code != 200 || moved.Status != "Approved" {
		t.Fatalf("move: %d %+v", code, moved)
	}
	if code := simCall(t, s, "POST", "/_sim/move", jirasim.MoveRequest{Key: "TAR-9", Status: "Approved", User: "alice"}, nil); code != 404 {
		t.Fatalf("move of an unknown issue: %d", code)
	}
	if code := simCall(t, s, "POST", "/_sim/move", jirasim.MoveRequest{Key: "TAR-1", Status: "Approved", User: "alice"}, nil); code != 400 {
		t.Fatalf("move to the current status: %d", code)
	}
	if code := simCall(t, s, "POST", "/_sim/comment", jirasim.CommentRequest{Key: "TAR-1", User: "bob", Body: "hello"}, nil); code != 201 {
		t.Fatalf("comment: %d", code)
	}
	if code := simCall(t, s, "PUT", "/_sim/properties", map[string]any{"key": "TAR-1", "property": "teleportAccessRequestId", "value": "r1"}, nil); code != 204 {
		t.Fatalf("property: %d", code)
	}
	var detail jirasim.IssueDetail
	simCall(t, s, "GET", "/_sim/issues/TAR-1", nil, &detail)
	if len(detail.Comments) != 2 || len(detail.Transitions) != 1 || detail.Transitions[0].To != "Approved" || string(detail.Issue.Properties["teleportAccessRequestId"]) != `"r1"` {
		t.Fatalf("detail = %+v", detail)
	}

	var faults jirasim.Faults
	if code := simCall(t, s, "PUT", "/_sim/faults", map[string]any{"rateLimit": 5, "readLag": "1500ms", "webhookDropRate": 0.5}, &faults); code != 200 {
		t.Fatalf("faults: %d", code)
	}
	if f := s.Faults(); f.RateLimit != 5 || f.ReadLag.Milliseconds() != 1500 || f.WebhookDropRate != 0.5 {
		t.Fatalf("faults = %+v", f)
	}
	if code := simCall(t, s, "PUT", "/_sim/faults", map[string]any{"errorRate": 2}, nil); code != 400 {
		t.Fatalf("invalid faults accepted: %d", code)
	}
	if code := simCall(t, s, "PUT", "/_sim/faults", map[string]any{"latencyy": "1s"}, nil); code != 400 {
		t.Fatalf("unknown fault accepted: %d", code)
	}
	_ = s.SetFaults(jirasim.Faults{})

	// The API call is logged with its route; /_sim calls are not.
	c := client(t, s, "accessbridge")
	do(t, c, "GET", "rest/api/2/issue/TAR-1/transitions", nil, nil)
	var reqs []jirasim.Request
	simCall(t, s, "GET", "/_sim/requests", nil, &reqs)
	if len(reqs) != 1 || reqs[0].Route != "GET /rest/api/2/issue/{issueIdOrKey}/transitions" || reqs[0].Status != 200 || reqs[0].User == "" {
		t.Fatalf("requests = %+v", reqs)
	}
	if s.CountRequests("GET", "/rest/api/2/issue/{issueIdOrKey}/transitions") != 1 {
		t.Fatal("CountRequests")
	}
	simCall(t, s, "DELETE", "/_sim/requests", nil, nil)
	if len(s.Requests()) != 0 {
		t.Fatal("requests not reset")
	}

	waitWebhooks(t, s)
	var hooks []jirasim.Delivery
	simCall(t, s, "GET", "/_sim/webhooks", nil, &hooks)
	if len(hooks) != 3 || hooks[1].EventType != "issue_generic" || hooks[1].State != jirasim.DeliveryDelivered || hooks[2].EventType != "issue_commented" {
		t.Fatalf("webhooks = %+v", hooks)
	}

	var users []jirasim.PublicUser
	simCall(t, s, "GET", "/_sim/users", nil, &users)
	raw, _ := json.Marshal(users)
	if len(users) != 3 || !users[0].Bot || strings.Contains(string(raw), "token") || strings.Contains(string(raw), "pat") {
		t.Fatalf("users = %s", raw)
	}
	if code := simCall(t, s, "DELETE", "/_sim/issues/TAR-1", nil, nil); code != 204 || len(s.Issues()) != 0 {
		t.Fatalf("delete: %d", code)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSecretsNeverLogged(t *testing.T) {
	var logs syncBuffer
	rcv := newReceiver(t, http.StatusServiceUnavailable)
	s := jirasim.Start(t, jirasim.Options{
		Flavor: jirasim.FlavorServer, WebhookURLs: []string{rcv.URL()}, WebhookSecret: "very-secret-hmac-key",
		WebhookBackoff: 10_000_000, Logger: zerolog.New(&logs).Level(zerolog.DebugLevel),
	})
	c := client(t, s, "accessbridge")
	createIssue(t, c, "alice requested editor")
	req, _ := http.NewRequest("GET", s.URL()+"/rest/api/2/myself", nil)
	req.Header.Set("Authorization", "Bearer wrong-pat-value")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	waitWebhooks(t, s)
	out := logs.String()
	if !strings.Contains(out, "webhook attempt") {
		t.Fatalf("expected webhook logs, got %q", out)
	}
	for _, secret := range []string{"very-secret-hmac-key", "accessbridge-token", "accessbridge-pat", "wrong-pat-value", "s3cr3t-in-url"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains the secret %q:\n%s", secret, out)
		}
	}
}
