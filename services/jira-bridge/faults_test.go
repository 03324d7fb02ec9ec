package jirabridge_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// With Jira answering 429 (Retry-After 1) and 30% 5xx, every request gets
// exactly one issue, its comments and its transitions.
func TestWorkCompletesOnceUnder429And5xx(t *testing.T) {
	e := newEnv(t, jirasim.Options{Seed: 11})
	e.start(e.config(), "bridge")
	if err := e.jira.SetFaults(jirasim.Faults{ErrorRate: 0.3, RateLimit: 10, RetryAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	var reqs []events.AccessRequest
	for i := range 6 {
		r := request(fmt.Sprintf("fault%d", i), "editor")
		reqs = append(reqs, r)
		e.publish(events.NewRequestCreated(r), 2)
		rv := withReview(r, "alice", events.StateApproved, "ok")
		e.publish(events.NewRequestReviewed(rv, 1), 2)
		e.publish(events.NewRequestResolved(resolved(rv, events.StateApproved, "approved by alice")), 2)
	}
	for _, r := range reqs {
		e.issueOf(r.ID, "Approved")
	}
	eventually(t, 60*time.Second, "all events handled", func() bool { return pendingCount(t, e, "jira-bridge-requests") == 0 })
	_ = e.jira.SetFaults(jirasim.Faults{})
	for _, r := range reqs {
		iss := e.issuesFor(r.ID)
		if len(iss) != 1 {
			t.Fatalf("request %s has %d issues, want 1", r.ID, len(iss))
		}
		if cs := e.jira.Comments(iss[0].Key); len(cs) != 2 {
			t.Fatalf("%s has %d comments, want 2", iss[0].Key, len(cs))
		}
		if tr := e.jira.Transitions(iss[0].Key); len(tr) != 2 {
			t.Fatalf("%s transitions %+v, want Pending then Approved", iss[0].Key, tr)
		}
	}
	var limited, failed int
	for _, r := range e.jira.Requests() {
		switch {
		case r.Status == 429:
			limited++
		case r.Status >= 500:
			failed++
		}
	}
	if limited == 0 || failed == 0 {
		t.Fatalf("faults not exercised: %d answers 429, %d 5xx", limited, failed)
	}
	if dl := e.deadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters: %v", dl)
	}
}

// A Jira outage that outlasts JIRA_BRIDGE_MAX_ATTEMPTS deliveries but not
// JIRA_BRIDGE_RETRY_WINDOW dead-letters nothing: the issue is created once
// Jira answers again.
func TestOutageLongerThanMaxAttemptsLosesNothing(t *testing.T) {
	e := newEnv(t, jirasim.Options{Seed: 5})
	cfg := e.config()
	cfg.MaxAttempts, cfg.JiraMaxRetries = 2, 0
	e.start(cfg, "bridge")
	if err := e.jira.SetFaults(jirasim.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := request("olga", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	// No in-process retries: every failed call is one failed delivery.
	eventually(t, 30*time.Second, "four times MaxAttempts failed deliveries", func() bool {
		failed := 0
		for _, rq := range e.jira.Requests() {
			if rq.Status >= 500 {
				failed++
			}
		}
		return failed >= 4*cfg.MaxAttempts
	})
	if err := e.jira.SetFaults(jirasim.Faults{}); err != nil {
		t.Fatal(err)
	}
	e.issueOf(r.ID, "Pending")
	if dl := e.deadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters after an outage within the retry window: %v", dl)
	}
	if iss := e.issuesFor(r.ID); len(iss) != 1 {
		t.Fatalf("request has %d issues, want 1", len(iss))
	}
}

// A workflow that lacks a transition the bridge needs is a configuration
// gap, not an outage: the event is dead-lettered after MaxAttempts with the
// fix in its reason, without waiting for the retry window.
func TestMissingTransitionDeadLettersAfterMaxAttempts(t *testing.T) {
	e := newEnv(t, jirasim.Options{Transitions: []jirasim.Transition{
		{Name: "Start review", From: []string{"Backlog"}, To: "Pending"},
		{Name: "Approve", From: []string{"Pending"}, To: "Approved"},
		{Name: "Deny", From: []string{"Pending"}, To: "Denied"},
	}})
	cfg := e.config()
	cfg.MaxAttempts = 3
	e.start(cfg, "bridge")
	r := request("pat", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	e.issueOf(r.ID, "Pending")
	e.publish(events.NewRequestExpired(r), 1)
	var dl []string
	eventually(t, 30*time.Second, "a dead letter", func() bool { dl = e.deadLetters(); return len(dl) > 0 })
	if len(dl) != 1 || !strings.Contains(dl[0], `to status "Expired"`) || !strings.Contains(dl[0], "JIRA_BRIDGE_STATUS_") ||
		!strings.Contains(dl[0], fmt.Sprintf("after %d attempts", cfg.MaxAttempts)) {
		t.Fatalf("dead letters = %v", dl)
	}
}

// A 400 from Jira dead-letters the event with Jira's error text.
func TestJira400DeadLettersWithJiraText(t *testing.T) {
	// The project's teleportAccessRequestId field is numeric: Jira refuses
	// the request id in it.
	e := newEnv(t, jirasim.Options{CustomFields: []jirasim.CustomField{{ID: "customfield_10050", Name: "teleportAccessRequestId", Type: "number"}}})
	e.start(e.config(), "bridge")
	r := request("kim", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	var dl []string
	eventually(t, 10*time.Second, "a dead letter", func() bool { dl = e.deadLetters(); return len(dl) > 0 })
	if len(dl) != 1 || !strings.HasPrefix(dl[0], "dlq.TELEPORT.jira-bridge-requests: ") || !strings.Contains(dl[0], "HTTP 400") ||
		!strings.Contains(dl[0], "customfield_10050: Operation value must be a number") {
		t.Fatalf("dead letters = %v", dl)
	}
	if n := e.jira.CountRequests("POST", "/rest/api/2/issue"); n != 1 {
		t.Fatalf("%d create calls, want 1 (a 400 is not retried)", n)
	}
	if got := e.metric("accessbridge_jira_bridge_dead_letters_total", "consumer", "jira-bridge-requests"); got != 1 {
		t.Fatalf("dead_letters_total = %v", got)
	}
}

// Start-up stops with one line naming what to fix.
func TestStartupChecks(t *testing.T) {
	noExpired := jirasim.DefaultStatuses()[:4]
	noExpired = append(noExpired, jirasim.Status{Name: "Promoted", Category: jirasim.CategoryDone})
	users := jirasim.DefaultUsers()
	users[0].DeniedPermissions = []string{"TRANSITION_ISSUES"}
	cases := []struct {
		name   string
		opts   jirasim.Options
		modify func(*jirabridge.Config)
		want   []string
	}{
		{"missing status", jirasim.Options{Statuses: noExpired}, nil, []string{`status "Expired" does not exist`, "JIRA_BRIDGE_STATUS_EXPIRED"}},
		{"missing issue type", jirasim.Options{}, func(c *jirabridge.Config) { c.IssueType = "Access" }, []string{`issue type "Access" does not exist`, "JIRA_BRIDGE_ISSUE_TYPE"}},
		{"unknown project", jirasim.Options{}, func(c *jirabridge.Config) { c.Project = "NOPE" }, []string{`project "NOPE"`, "JIRA_BRIDGE_PROJECT"}},
		{"bad token", jirasim.Options{}, func(c *jirabridge.Config) { c.APIToken = config.Secret("wrong") }, []string{"credentials rejected", "JIRA_BRIDGE_API_TOKEN"}},
		{"missing permission", jirasim.Options{Users: users}, nil, []string{"lacks permission TRANSITION_ISSUES"}},
		{"renamed status configured", jirasim.Options{}, func(c *jirabridge.Config) { c.StatusApproved = "Granted" }, []string{`status "Granted"`, "JIRA_BRIDGE_STATUS_APPROVED"}},
		{"not jira", jirasim.Options{}, func(c *jirabridge.Config) { c.URL = c.URL + "/nothing-here" }, []string{"JIRA_BRIDGE_URL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts)
			cfg := e.config()
			if c.modify != nil {
				c.modify(&cfg)
			}
			_, err := newService(e, cfg)
			if err == nil {
				t.Fatal("start-up succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			t.Logf("start-up error: %v", err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			if strings.Contains(err.Error(), e.jira.Bot().Token) {
				t.Errorf("error leaks the token: %q", err)
			}
		})
	}
}
