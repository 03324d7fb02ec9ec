package jira

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

func newClient(t *testing.T, s *jirasim.Server, retries int) (*Client, *metrics.Metrics) {
	t.Helper()
	bot := s.Bot()
	m := metrics.New(nil)
	login := bot.Email
	if s.Flavor() == jirasim.FlavorServer {
		login = bot.Name
	}
	c, err := New(Options{URL: s.URL(), User: login, Token: bot.Token, Timeout: 5 * time.Second, Concurrency: 4, Metrics: m,
		Retry: RetryPolicy{MaxRetries: retries, Min: 5 * time.Millisecond, Max: 50 * time.Millisecond, MaxWait: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := c.ServerInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeployment(dep)
	return c, m
}

func createFields(summary string) map[string]any {
	return map[string]any{
		"project": map[string]string{"key": "TAR"}, "issuetype": map[string]string{"name": "Task"},
		"summary": summary, "labels": []string{"l-" + strings.ReplaceAll(summary, " ", "-")},
	}
}

// With 30% of calls failing 5xx, reads and searches succeed through
// retries; writes are retried in-process only on 503 (Jira did not process
// them) and otherwise handed back as transient errors.
func TestClientRetries5xx(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{Seed: 7})
	c, m := newClient(t, s, 12)
	ctx := context.Background()
	var keys []string
	for i := range 5 {
		ref, err := c.CreateIssue(ctx, createFields(fmt.Sprintf("issue %d", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ref.Key)
	}
	if err := s.SetFaults(jirasim.Faults{ErrorRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.GetIssue(ctx, keys[i%len(keys)], nil, false)
			errs <- err
			_, err = c.Search(ctx, `labels = "l-issue-1"`, nil, 10)
			errs <- err
			_, err = c.Comments(ctx, keys[i%len(keys)])
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("call failed despite retries: %v", err)
		}
	}
	if got := testutil.ToFloat64(m.JiraRetries.WithLabelValues("GET issue/{issue}", "5xx")) + testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST search/jql", "5xx")); got == 0 {
		t.Fatal("no 5xx retried: the test proves nothing")
	}

	// Writes: a 500/502 comes back (transient) after one attempt; a 503 is
	// retried. Every write that returned nil happened exactly once.
	var ok, transient int
	for i := range 40 {
		_, err := c.AddComment(ctx, keys[0], fmt.Sprintf("comment %d", i))
		var ae *APIError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ae) && (ae.Status == 500 || ae.Status == 502) && ae.Retryable():
			transient++
		default:
			t.Fatalf("comment %d: %v", i, err)
		}
	}
	_ = s.SetFaults(jirasim.Faults{})
	if n := len(s.Comments(keys[0])); n != ok {
		t.Fatalf("%d comments in Jira, %d calls succeeded", n, ok)
	}
	if transient == 0 || testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST issue/{issue}/comment", "503")) == 0 {
		t.Fatalf("500/502 handed back %d times, 503 retried %v times: faults not exercised", transient, testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST issue/{issue}/comment", "503")))
	}
	if got := testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST issue/{issue}/comment", "5xx")); got != 0 {
		t.Fatalf("a comment was retried after an ambiguous 5xx (%v times)", got)
	}
}

// 429 with Retry-After: 1 is honoured: the retry waits about a second and
// then succeeds.
func TestClientHonoursRetryAfter(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{})
	c, m := newClient(t, s, 5)
	if err := s.SetFaults(jirasim.Faults{RateLimit: 2, RetryAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for i := range 4 {
		if _, err := c.CreateIssue(ctx, createFields(fmt.Sprintf("rl %d", i)), nil); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	if n := len(s.Issues()); n != 4 {
		t.Fatalf("%d issues, want 4", n)
	}
	limited := 0
	for _, r := range s.Requests() {
		if r.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("the emulator never answered 429: the test proves nothing")
	}
	if got := testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST issue", "429")); got != float64(limited) {
		t.Fatalf("retries on 429 = %v, want %d", got, limited)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("4 creates over a 2/s limit took %v: Retry-After was not honoured", el)
	}
}

// A Retry-After longer than the in-process limit goes back to the caller,
// classified transient with the delay, for the consume loop to redeliver.
func TestClientLongRetryAfterIsHandedBack(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{})
	c, _ := newClient(t, s, 5)
	if err := s.SetFaults(jirasim.Faults{RateLimit: 1, RetryAfter: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		_, err = c.Myself(ctx)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter != 10*time.Second {
		t.Fatalf("err = %v, want a 429 APIError with RetryAfter 10s", err)
	}
	if !ae.Retryable() {
		t.Fatal("a 429 is not retryable")
	}
}

// A 400 is not retried and carries Jira's error text; it is permanent.
func TestClient400IsPermanentWithJiraText(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{})
	c, m := newClient(t, s, 5)
	f := createFields("bad")
	f["customfield_99999"] = "x"
	_, err := c.CreateIssue(context.Background(), f, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("err = %v, want a 400 APIError", err)
	}
	if !strings.Contains(ae.Text, "customfield_99999") || !strings.Contains(ae.Text, "cannot be set") {
		t.Fatalf("error text %q lacks Jira's message", ae.Text)
	}
	if ae.Retryable() {
		t.Fatal("a 400 is retryable")
	}
	if n := s.CountRequests("POST", "/rest/api/2/issue"); n != 1 {
		t.Fatalf("%d create calls, want 1 (a 400 is not retried)", n)
	}
	if got := testutil.ToFloat64(m.JiraCalls.WithLabelValues("POST issue", "400")); got != 1 {
		t.Fatalf("jira_requests_total{POST issue,400} = %v", got)
	}
}

func TestSearchBothDeployments(t *testing.T) {
	for _, flavor := range []string{jirasim.FlavorCloud, jirasim.FlavorServer} {
		t.Run(flavor, func(t *testing.T) {
			s := jirasim.Start(t, jirasim.Options{Flavor: flavor})
			c, _ := newClient(t, s, 0)
			ctx := context.Background()
			for i := range 3 {
				if _, err := c.CreateIssue(ctx, createFields(fmt.Sprintf("s %d", i)), map[string]any{"teleportAccessRequestId": fmt.Sprint("r", i)}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.Search(ctx, `labels = "l-s-1"`, []string{"teleportAccessRequestId"}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || string(got[0].Properties["teleportAccessRequestId"]) != `"r1"` || got[0].Status == "" {
				t.Fatalf("search = %+v", got)
			}
			route := "/rest/api/2/search/jql"
			if flavor == jirasim.FlavorServer {
				route = "/rest/api/2/search"
			}
			if s.CountRequests("POST", route) != 1 {
				t.Fatalf("search did not use %s", route)
			}
		})
	}
}

func TestServerDelay(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second, true},
		{http.Header{"Retry-After": {now.Add(2 * time.Second).Format(http.TimeFormat)}}, 2 * time.Second, true},
		{http.Header{"X-Ratelimit-Reset": {now.Add(4 * time.Second).Format(time.RFC3339)}}, 4 * time.Second, true},
		{http.Header{"Retry-After": {"soon"}}, 0, false},
		{http.Header{}, 0, false},
	}
	for _, c := range cases {
		got, ok := ServerDelay(c.h, now)
		if got != c.want || ok != c.ok {
			t.Errorf("ServerDelay(%v) = %v, %v; want %v, %v", c.h, got, ok, c.want, c.ok)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"/rest/api/2/issue":                                          "POST issue",
		"/rest/api/2/issue/TAR-12/comment":                           "POST issue/{issue}/comment",
		"/rest/api/2/issue/10001/properties/teleportAccessRequestId": "POST issue/{issue}/properties/{property}",
		"/rest/api/2/project/TAR/statuses":                           "POST project/{project}/statuses",
	} {
		if got := Endpoint("POST", in); got != want {
			t.Errorf("Endpoint(%s) = %q, want %q", in, got, want)
		}
	}
}

// firstLimited waits for the emulator's first 429 and returns when it was
// answered.
func firstLimited(t *testing.T, s *jirasim.Server) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range s.Requests() {
			if r.Status == http.StatusTooManyRequests {
				return r.Time
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the emulator never answered 429: the test proves nothing")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// After a 429 with Retry-After, no call of the process is sent before the
// delay ends: a call started meanwhile waits instead of spending a request
// of the budget to be refused again.
func TestRateLimitHoldsEveryCall(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{})
	c, _ := newClient(t, s, 10)
	if err := s.SetFaults(jirasim.Faults{RateLimit: 1, RetryAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.ResetRequests()
	first := make(chan error, 1)
	go func() {
		// Two creates in a row over a 1/s limit: the second meets a 429.
		for i := range 2 {
			if _, err := c.CreateIssue(ctx, createFields(fmt.Sprintf("first %d", i)), nil); err != nil {
				first <- err
				return
			}
		}
		first <- nil
	}()
	limitedAt := firstLimited(t, s)
	if _, err := c.CreateIssue(ctx, createFields("started during the hold"), nil); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Requests() {
		if r.Time.After(limitedAt) && r.Time.Sub(limitedAt) < 900*time.Millisecond {
			t.Fatalf("a call reached Jira %v after a 429 with Retry-After: 1", r.Time.Sub(limitedAt))
		}
	}
}

// A per-issue write limit (RateLimit-Reason: jira-per-issue-on-write)
// holds only the writes to that issue: writes to other issues go on.
func TestPerIssueRateLimitHoldsOnlyThatIssue(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{})
	c, _ := newClient(t, s, 10)
	ctx := context.Background()
	a, err := c.CreateIssue(ctx, createFields("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateIssue(ctx, createFields("b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetFaults(jirasim.Faults{IssueWriteLimit: 1, RetryAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	s.ResetRequests()
	first := make(chan error, 1)
	go func() {
		// Two comments in a row over a 1/s per-issue limit: the second
		// meets a 429.
		for i := range 2 {
			if _, err := c.AddComment(ctx, a.Key, fmt.Sprintf("a %d", i)); err != nil {
				first <- err
				return
			}
		}
		first <- nil
	}()
	limitedAt := firstLimited(t, s)
	if _, err := c.AddComment(ctx, b.Key, "during a's hold"); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var bDuringHold bool
	for _, r := range s.Requests() {
		during := r.Time.After(limitedAt) && r.Time.Sub(limitedAt) < 900*time.Millisecond
		switch {
		case during && strings.Contains(r.Path, "/issue/"+a.Key+"/"):
			t.Fatalf("a write to %s reached Jira %v after its 429 with Retry-After: 1", a.Key, r.Time.Sub(limitedAt))
		case during && strings.Contains(r.Path, "/issue/"+b.Key+"/") && r.Status == http.StatusCreated:
			bDuringHold = true
		}
	}
	if !bDuringHold {
		t.Fatalf("the write to %s waited for %s's per-issue limit", b.Key, a.Key)
	}
}

// Calls in flight up to the concurrency reuse keep-alive connections: a
// burst of 8-way parallel calls, repeated, opens at most 8 connections.
func TestKeepAlivePoolSizedToConcurrency(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"accountId":"a"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New(Options{URL: srv.URL, User: "u", Token: "t", Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := c.Myself(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := opened.Load(); n > 8 {
		t.Fatalf("%d connections opened for 40 calls 8 at a time, want at most 8", n)
	}
}

// Readiness spends no Jira call while the bridge's own calls get answers;
// a client that has not heard from Jira lately asks, and a rejected
// credential is not an answer that counts.
func TestReadyTrustsRecentAnswers(t *testing.T) {
	var serverInfo atomic.Int64
	var status atomic.Int64
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/serverInfo") {
			serverInfo.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte(`{"accountId":"a","deploymentType":"Cloud"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{URL: srv.URL, User: "u", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Ready(ctx); err != nil || serverInfo.Load() != 1 {
		t.Fatalf("first probe: %v after %d serverInfo calls, want ready after 1", err, serverInfo.Load())
	}
	if _, err := c.Myself(ctx); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := serverInfo.Load(); n != 1 {
		t.Fatalf("%d serverInfo calls for 11 probes while Jira answered, want 1", n)
	}
	// A 5xx is not an answer that proves anything: the next probe asks.
	status.Store(http.StatusServiceUnavailable)
	_, _ = c.Myself(ctx)
	status.Store(http.StatusOK)
	if err := c.Ready(ctx); err != nil || serverInfo.Load() != 2 {
		t.Fatalf("probe after a 503: %v after %d serverInfo calls, want ready after 2", err, serverInfo.Load())
	}
	// Nothing heard for longer than the window, and then Jira rejects the
	// credentials: the probe asks, and fails.
	c.readyWithin = 0
	status.Store(http.StatusUnauthorized)
	if err := c.Ready(ctx); err == nil || serverInfo.Load() != 3 {
		t.Fatalf("probe after the window with credentials rejected: %v after %d calls, want an error after 3", err, serverInfo.Load())
	}
	c.readyWithin = time.Hour
	if err := c.Ready(ctx); err == nil {
		t.Fatal("a 401 counted as an answer: the probe says ready")
	}
}

// Jira's reads may show a new issue in its initial status for a moment
// after a create that carried the transition to Pending. The client waits
// that out instead of concluding the transition was ignored: the issue is
// known to be in Pending, and nothing is moved on the strength of a stale
// read (a move "from Backlog" would also move a card a reviewer has moved
// on meanwhile, since a transition to Pending is available from anywhere).
func TestCreateWaitsOutAReadLag(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{})
	c, _ := newClient(t, s, 3)
	ctx := context.Background()
	issue := func(n int) NewIssue {
		return NewIssue{Project: "TAR", IssueType: "Task", Fields: createFields(fmt.Sprintf("lag %d", n)), Target: "Pending"}
	}
	// The first create learns the workflow's initial status.
	if first, err := c.Create(ctx, issue(0)); err != nil || first.Status != "Backlog" {
		t.Fatalf("first create: %+v, %v; want it in Backlog", first, err)
	}
	if err := s.SetFaults(jirasim.Faults{ReadLag: time.Second}); err != nil {
		t.Fatal(err)
	}
	s.ResetRequests()
	got, err := c.Create(ctx, issue(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "Pending" {
		t.Fatalf("created with status %q, want Pending (the create's transition, seen once the read lag passed)", got.Status)
	}
	for _, call := range s.Calls() {
		if strings.HasSuffix(call, "/transitions") {
			t.Fatalf("calls %v: a transition was posted", s.Calls())
		}
	}
	// Learnt: the next create is one call.
	s.ResetRequests()
	if next, err := c.Create(ctx, issue(2)); err != nil || next.Status != "Pending" {
		t.Fatalf("next create: %+v, %v", next, err)
	}
	if calls := s.Calls(); len(calls) != 1 {
		t.Fatalf("next create made calls %v, want the create alone", calls)
	}
}
