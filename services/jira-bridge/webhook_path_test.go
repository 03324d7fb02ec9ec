package jirabridge_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// moveBody is a signed-delivery body moving issue to status, by user.
func moveBody(t *testing.T, is jirasim.Issue, requestID, changelogID, to string, user map[string]any, edit func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"timestamp":             time.Now().UnixMilli(),
		"webhookEvent":          "jira:issue_updated",
		"issue_event_type_name": "issue_generic",
		"user":                  user,
		"issue": map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{
			"labels": []string{"teleport-access-request", "teleport-access-request-" + requestID}}},
		"changelog": map[string]any{"id": changelogID, "items": []any{map[string]any{
			"field": "status", "fieldtype": "jira", "fieldId": "status", "fromString": "Pending", "toString": to}}},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jiraUser(u jirasim.User) map[string]any {
	return map[string]any{"accountId": u.AccountID, "name": u.Name, "key": u.Key, "emailAddress": u.Email, "displayName": u.DisplayName}
}

// A signed delivery whose user has only a display name can never become a
// decision. It must not hold the issue: the next delivery of the same
// issue (a genuine approval) is decided at once, not after the retry
// window.
func TestPoisonedDeliveryDoesNotHoldTheIssue(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	alice := userByName(t, e.jira, "alice")
	r := request("gina", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	e.jira.SetWebhookURLs(nil) // the deliveries come from the test

	poison := moveBody(t, is, r.ID, "90001", "Approved", map[string]any{"displayName": "Nobody"}, nil)
	if err := e.publishWebhook(poison, "poison-1", true); err != nil {
		t.Fatal(err)
	}
	genuine := moveBody(t, is, r.ID, "90002", "Approved", jiraUser(alice), nil)
	if err := e.publishWebhook(genuine, "genuine-1", true); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 5*time.Second, "the genuine approval behind the poisoned delivery", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	if len(ds) != 1 || ds[0].ChangelogID != "90002" || ds[0].Actor.AccountID != alice.AccountID {
		t.Fatalf("decisions %+v", ds)
	}
	if got := e.metric("accessbridge_jira_bridge_webhooks_ignored_total", "reason", "no_actor_id"); got != 1 {
		t.Fatalf("webhooks_ignored_total{reason=no_actor_id} = %v, want 1", got)
	}
}

// The ingress accepts a numeric issue.id (some Jira versions send one) and
// a timestamp that is not a number; so does the bridge: one parser.
func TestNumericIssueIDAndStringTimestampAreDecided(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	alice := userByName(t, e.jira, "alice")
	r := request("hank", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	e.jira.SetWebhookURLs(nil)

	body := moveBody(t, is, r.ID, "90003", "Denied", jiraUser(alice), func(m map[string]any) {
		m["issue"].(map[string]any)["id"] = json.Number(is.ID)
		m["timestamp"] = "2019-1-30 15:51:34,870"
	})
	if !strings.Contains(string(body), `"id":`+is.ID+`,`) {
		t.Fatalf("issue.id is not a number in %s", body)
	}
	if err := e.publishWebhook(body, "numeric-1", true); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "a decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	if ds[0].Verdict != events.VerdictDeny || ds[0].IssueID != is.ID {
		t.Fatalf("decision %+v", ds[0])
	}
	if dl := e.deadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters: %v", dl)
	}
}

// The decision's time is when the delivery was received; the time the body
// claims is kept beside it, unchecked.
func TestDecisionTimeIsTheReceiveTime(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	alice := userByName(t, e.jira, "alice")
	r := request("ivy", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	e.jira.SetWebhookURLs(nil)

	claimed := time.Now().AddDate(-1, 0, 0).Truncate(time.Millisecond)
	received := time.Now().Truncate(time.Millisecond)
	body := moveBody(t, is, r.ID, "90004", "Approved", jiraUser(alice), func(m map[string]any) { m["timestamp"] = claimed.UnixMilli() })
	if err := e.publishWebhookFrom(body, "old-1", true, "198.51.100.4", received); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "a decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	if !ds[0].DecidedAt.Equal(received) {
		t.Fatalf("decided_at %s, want the receive time %s (the body claims %s)", ds[0].DecidedAt, received, claimed)
	}
	if !ds[0].JiraTimestamp.Equal(claimed) {
		t.Fatalf("jira_timestamp %s, want %s", ds[0].JiraTimestamp, claimed)
	}
}

// Deliveries already in the stream when an installation upgrades are in
// the enveloped form; they are still decided.
func TestLegacyEnvelopedWebhookIsDecided(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	alice := userByName(t, e.jira, "alice")
	r := request("jack", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	e.jira.SetWebhookURLs(nil)

	body := moveBody(t, is, r.ID, "90005", "Approved", jiraUser(alice), nil)
	if err := e.publishLegacyWebhook(body, "legacy-1", true); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "a decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	if ds[0].ChangelogID != "90005" || ds[0].Verification != events.VerifiedSignedWebhook {
		t.Fatalf("decision %+v", ds[0])
	}
}

// A move of an issue whose label names another issue's request is a
// security event: one line an auditor can use, with the source address the
// ingress saw.
func TestForgedAndUnlinkedMovesAreSecurityEvents(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.logs = &bustest.LogBuffer{}
	e.start(e.config(), "bridge")
	bob := userByName(t, e.jira, "bob")
	r := request("kim", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	forged, err := e.jira.CreateIssue(jirasim.NewIssue{Summary: "forged", Status: "Pending", AsUser: "bob",
		Labels: []string{"teleport-access-request", "teleport-access-request-" + r.ID}})
	if err != nil {
		t.Fatal(err)
	}
	unlinked, err := e.jira.CreateIssue(jirasim.NewIssue{Summary: "no request", Status: "Pending"})
	if err != nil {
		t.Fatal(err)
	}
	e.jira.SetWebhookURLs(nil)
	if err := e.publishWebhookFrom(moveBody(t, forged, r.ID, "90006", "Approved", jiraUser(bob), nil), "forged-1", true, "203.0.113.66", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.publishWebhookFrom(moveBody(t, unlinked, "", "90007", "Approved", jiraUser(bob), func(m map[string]any) {
		m["issue"].(map[string]any)["fields"] = map[string]any{}
	}), "unlinked-1", true, "203.0.113.67", time.Now()); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	defer func() {
		if t.Failed() || testing.Verbose() {
			for _, l := range strings.Split(e.logs.String(), "\n") {
				if strings.Contains(l, `"security":true`) {
					t.Log(l)
				}
			}
		}
	}()
	eventually(t, 10*time.Second, "two security events", func() bool {
		lines = nil
		for _, l := range strings.Split(e.logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["security"] == true {
				lines = append(lines, m)
			}
		}
		return len(lines) >= 2
	})

	byEvent := map[string]map[string]any{}
	for _, l := range lines {
		byEvent[l["event"].(string)] = l
	}
	f := byEvent["forged_move"]
	if f == nil || f["level"] != "error" || f["issue_key"] != forged.Key || f["issue_id"] != forged.ID || f["claimed_request"] != r.ID ||
		!strings.Contains(f["linked_issue"].(string), is.Key) || f["actor"] != bob.AccountID || f["source_ip"] != "203.0.113.66" {
		t.Fatalf("forged move: %v", f)
	}
	u := byEvent["unlinked_move"]
	if u == nil || u["issue_key"] != unlinked.Key || u["actor"] != bob.AccountID || u["source_ip"] != "203.0.113.67" {
		t.Fatalf("unlinked move: %v", u)
	}
	if ds := e.decisions(r.ID); len(ds) != 0 {
		t.Fatalf("decisions %+v", ds)
	}
}
