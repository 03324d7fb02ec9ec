package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/accessbridge/accessbridge/pkg/bus"
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

// With 30% of calls failing 5xx, every create and comment succeeds exactly
// once (the emulator answers an injected 5xx without handling the call).
func TestClientRetries5xx(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{Seed: 7})
	c, m := newClient(t, s, 12)
	if err := s.SetFaults(jirasim.Faults{ErrorRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			ref, err := c.CreateIssue(ctx, createFields(fmt.Sprintf("issue %d", i)), map[string]any{"teleportAccessRequestId": fmt.Sprint(i)})
			if err == nil {
				_, err = c.AddComment(ctx, ref.ID, "hello")
			}
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
	if n := len(s.Issues()); n != 20 {
		t.Fatalf("%d issues, want 20", n)
	}
	for _, is := range s.Issues() {
		if n := len(s.Comments(is.Key)); n != 1 {
			t.Fatalf("%s has %d comments, want 1", is.Key, n)
		}
	}
	var failed int
	for _, r := range s.Requests() {
		if r.Status >= 500 {
			failed++
		}
	}
	retries := testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST issue", "5xx")) + testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST issue/{issue}/comment", "5xx")) +
		testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST issue/{issue}/comment", "503")) + testutil.ToFloat64(m.JiraRetries.WithLabelValues("POST issue", "503"))
	if failed == 0 || retries == 0 {
		t.Fatalf("no 5xx injected or retried (failed %d, retries %v): the test proves nothing", failed, retries)
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
	if k := bus.KindOf(Classify(err)); k != bus.KindTransient {
		t.Fatalf("kind = %v, want transient", k)
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
	if k := bus.KindOf(Classify(err)); k != bus.KindPermanent {
		t.Fatalf("kind = %v, want permanent", k)
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
