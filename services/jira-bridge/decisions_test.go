package jirabridge_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// A reviewer's move on the board becomes one decision.requested with the
// actor and the reason; a duplicate delivery adds nothing.
func TestBoardMoveBecomesOneDecision(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	alice := userByName(t, e.jira, "alice")
	r := request("dave", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")

	if err := e.jira.Move(is.Key, "Approved", "alice", "Reason: on call this week"); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "a decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	d := ds[0]
	if d.Verdict != events.VerdictApprove || d.Status != "Approved" || d.FromStatus != "Pending" || d.IssueID != is.ID || d.IssueKey != is.Key {
		t.Fatalf("decision = %+v", d)
	}
	if d.Actor.AccountID != alice.AccountID || d.Actor.Email != alice.Email || d.Actor.DisplayName != alice.DisplayName {
		t.Fatalf("actor = %+v, want alice", d.Actor)
	}
	if d.Reason != "on call this week" || d.Verification != events.VerifiedSignedWebhook {
		t.Fatalf("reason %q verification %q", d.Reason, d.Verification)
	}
	// The same delivery again (a Jira retry under a new identifier, and the
	// same identifier): still one decision.
	var body []byte
	for _, w := range e.jira.Webhooks() {
		if strings.Contains(string(w.Body), `"toString":"Approved"`) {
			body = w.Body
		}
	}
	if body == nil {
		t.Fatal("no webhook for the move")
	}
	for _, id := range []string{"retry-1", "retry-2"} {
		if err := e.publishWebhook(body, id, true); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "webhooks handled", func() bool { return pendingCount(t, e, "jira-bridge-webhooks") == 0 })
	if n := len(e.decisions(r.ID)); n != 1 {
		t.Fatalf("%d decisions, want 1", n)
	}
}

// Moves that must not become decisions: an unlinked issue, a forged issue
// whose label and property name another request, the bridge's own move,
// moves to Pending/Expired.
func TestMovesThatAreNotDecisions(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	r := request("erin", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")

	unlinked, err := e.jira.CreateIssue(jirasim.NewIssue{Summary: "someone else's task", Status: "Pending"})
	if err != nil {
		t.Fatal(err)
	}
	prop, _ := json.Marshal(r.ID)
	forged, err := e.jira.CreateIssue(jirasim.NewIssue{Summary: "forged", Status: "Pending", AsUser: "bob",
		Labels:       []string{"teleport-access-request", "teleport-access-request-" + r.ID},
		CustomFields: map[string]any{"customfield_10050": r.ID},
		Properties:   map[string]json.RawMessage{"teleportAccessRequestId": prop}})
	if err != nil {
		t.Fatal(err)
	}
	// A forgery by property only (no label): found through the API, still
	// refused.
	propOnly, err := e.jira.CreateIssue(jirasim.NewIssue{Summary: "forged by property", Status: "Pending",
		Properties: map[string]json.RawMessage{"teleportAccessRequestId": prop}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ key, status, user string }{
		{unlinked.Key, "Approved", "alice"},
		{forged.Key, "Approved", "bob"},
		{propOnly.Key, "Denied", "bob"},
		{is.Key, "Expired", "alice"},
		{is.Key, "Pending", "alice"},
		{is.Key, "Denied", e.jira.Bot().Name}, // the bridge's own user
	} {
		if err := e.jira.Move(m.key, m.status, m.user, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.jira.WaitWebhooks(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "webhooks handled", func() bool {
		return len(e.messages(events.StreamJira, "jira.webhooks.>")) >= 6 && pendingCount(t, e, "jira-bridge-webhooks") == 0
	})
	if ds := e.decisions(r.ID); len(ds) != 0 {
		t.Fatalf("decisions = %+v, want none", ds)
	}
	// own_move counts the echo of the bridge's move to Pending and the move
	// made as the bridge's user; not_an_update the creation webhooks.
	for reason, want := range map[string]float64{"unlinked": 1, "forged": 2, "not_a_decision": 2, "own_move": 2, "not_an_update": 4} {
		if got := e.metric("accessbridge_jira_bridge_webhooks_ignored_total", "reason", reason); got != want {
			t.Errorf("webhooks_ignored_total{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	if dl := e.deadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters: %v", dl)
	}
}

// An unsigned delivery (token-authenticated) is confirmed through the API,
// waiting out Jira's read lag.
func TestUnsignedWebhookIsConfirmedThroughTheAPI(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	r := request("fred", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	e.jira.SetWebhookURLs(nil) // deliveries come from the test below
	if err := e.jira.SetFaults(jirasim.Faults{ReadLag: 700 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := e.jira.Move(is.Key, "Denied", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.jira.AddComment(is.Key, "bob", "Resolution:\nnot needed any more"); err != nil {
		t.Fatal(err)
	}
	h := e.jira.History(is.Key)
	last := h[len(h)-1]
	body := webhookBody(t, e, is, last.ID, "Pending", "Denied", "bob")
	if err := e.publishWebhook(body, "", false); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "a decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	d := ds[0]
	if d.Verdict != events.VerdictDeny || d.Verification != events.VerifiedAPI || d.Reason != "not needed any more" || d.Actor.AccountID != userByName(t, e.jira, "bob").AccountID {
		t.Fatalf("decision = %+v", d)
	}
	if d.Actor.Email != "" {
		t.Fatalf("bob hides his email, yet the decision has %q", d.Actor.Email)
	}

	// A forged unsigned delivery claiming a move that did not happen is
	// dropped once the confirm window has passed: no decision.
	r2 := request("gus", "editor")
	e.publish(events.NewRequestCreated(r2), 1)
	is2 := e.issueOf(r2.ID, "Pending")
	body = webhookBody(t, e, is2, "999999", "Pending", "Approved", "alice")
	if err := e.publishWebhook(body, "", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the unconfirmed webhook given up", func() bool { return pendingCount(t, e, "jira-bridge-webhooks") == 0 })
	if ds := e.decisions(r2.ID); len(ds) != 0 {
		t.Fatalf("unconfirmed move became %+v", ds)
	}
	if dl := e.deadLetters(); len(dl) != 0 {
		t.Fatalf("an unconfirmed webhook is ignored, not dead-lettered: %v", dl)
	}
	if got := e.metric("accessbridge_jira_bridge_webhooks_ignored_total", "reason", "unconfirmed"); got != 1 {
		t.Fatalf("webhooks_ignored_total{reason=unconfirmed} = %v, want 1", got)
	}
}

// webhookBody renders a Cloud status-change payload for an issue.
func webhookBody(t *testing.T, e *env, is jirasim.Issue, changelogID, from, to, user string) []byte {
	t.Helper()
	u := userByName(t, e.jira, user)
	p := map[string]any{
		"timestamp": time.Now().UnixMilli(), "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
		"user":      map[string]any{"accountId": u.AccountID, "displayName": u.DisplayName},
		"issue":     map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{"labels": is.Labels}},
		"changelog": map[string]any{"id": changelogID, "items": []any{map[string]any{"field": "status", "fieldtype": "jira", "fieldId": "status", "fromString": from, "toString": to}}},
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A decision Teleport rejected is answered on the issue, which moves back.
func TestRejectedDecisionCommentsAndMovesBack(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	r := request("hank", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	if err := e.jira.Move(is.Key, "Approved", "alice", ""); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "a decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	o := events.NewDecisionRejected(*ds[0], events.ModeReview, events.RejectUnmappedActor, "alice@example.com is not mapped to a Teleport user", events.StatePending)
	e.publishOutcome(o)
	e.publishOutcome(o)
	e.issueOf(r.ID, "Pending")
	eventually(t, 10*time.Second, "the outcome handled", func() bool { return pendingCount(t, e, "jira-bridge-outcomes") == 0 })
	cs := e.jira.Comments(is.Key)
	if len(cs) != 1 || !strings.Contains(cs[0].Body, "not mapped to a Teleport user") || !strings.Contains(cs[0].Body, "Approved") {
		t.Fatalf("comments = %+v", cs)
	}
	tr := e.jira.Transitions(is.Key)
	if n := len(tr); n != 3 || tr[2].From != "Approved" || tr[2].To != "Pending" {
		t.Fatalf("transitions = %+v, want …→Approved→Pending", tr)
	}
	// The bridge's move back must not become a decision.
	e.jira.WaitWebhooks(context.Background())
	eventually(t, 10*time.Second, "webhooks handled", func() bool { return pendingCount(t, e, "jira-bridge-webhooks") == 0 })
	if n := len(e.decisions(r.ID)); n != 1 {
		t.Fatalf("%d decisions, want 1", n)
	}
}

// Each of the six real payloads is handled without error: status changes
// are found where present, and none of them is linked, so no decision and
// no dead letter. A copy of the first, relabelled for a linked request,
// does become a decision.
func TestRealPayloadsThroughTheService(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	cfg := e.config()
	cfg.StatusApproved, cfg.StatusDenied = "Approved", "Denied"
	e.start(cfg, "bridge")
	dir := "../../testdata/jira-webhooks"
	files, err := filepath.Glob(filepath.Join(dir, "0*.json"))
	if err != nil || len(files) != 6 {
		t.Fatalf("the six real Jira payloads are missing from %s (found %d): they ship in testdata/jira-webhooks at the repository root", dir, len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.publishWebhook(b, "", true); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	eventually(t, 10*time.Second, "payloads handled", func() bool { return pendingCount(t, e, "jira-bridge-webhooks") == 0 })
	if dl := e.deadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters: %v", dl)
	}

	// The Server payload (no fieldId, no accountId) for a linked issue.
	r := request("ivy", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	raw, err := os.ReadFile(filepath.Join(dir, "02-server-issue_updated-status-to-resolved.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	issue := p["issue"].(map[string]any)
	issue["id"], issue["key"] = is.ID, is.Key
	issue["fields"].(map[string]any)["labels"] = is.Labels
	for _, it := range p["changelog"].(map[string]any)["items"].([]any) {
		if m := it.(map[string]any); m["field"] == "status" {
			m["toString"] = "Approved"
		}
	}
	b, _ := json.Marshal(p)
	if err := e.publishWebhook(b, "", true); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "a decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	if d := ds[0]; d.Actor.Name != "admin" || d.Actor.Key != "admin" || d.Actor.Email != "admin@admin.com" || d.ChangelogID != "10414" || d.Verdict != events.VerdictApprove {
		t.Fatalf("decision = %+v", d)
	}
}

// When a webhook never arrives, the reconciler publishes the decision; a
// second pass adds nothing.
func TestReconcilerPublishesMissedDecision(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	svc := e.start(e.config(), "bridge")
	r := request("jack", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	e.jira.SetWebhookURLs(nil) // the webhook is lost
	if err := e.jira.Move(is.Key, "Denied", "alice", "Reason: no ticket"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n, err := svc.ReconcileOpenIssues(ctx)
	if err != nil || n != 1 {
		t.Fatalf("reconcile = %d, %v; want 1 decision", n, err)
	}
	if n, err := svc.ReconcileOpenIssues(ctx); err != nil || n != 0 {
		t.Fatalf("second reconcile = %d, %v; want 0", n, err)
	}
	ds := e.decisions(r.ID)
	if len(ds) != 1 || ds[0].Verification != events.VerifiedReconciler || ds[0].Verdict != events.VerdictDeny || ds[0].Reason != "no ticket" || ds[0].Actor.AccountID != userByName(t, e.jira, "alice").AccountID {
		t.Fatalf("decisions = %+v", ds)
	}
}

// Data Center: PAT auth, /search, user keys, reporter by name.
func TestServerFlavor(t *testing.T) {
	e := newEnv(t, jirasim.Options{Flavor: jirasim.FlavorServer})
	e.start(e.config(), "bridge")
	r := request("alice@example.com", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	alice := userByName(t, e.jira, "alice")
	if is.Reporter != alice.AccountID && is.Reporter != alice.Key {
		t.Fatalf("reporter = %s, want alice", is.Reporter)
	}
	if err := e.jira.Move(is.Key, "Approved", "alice", "Reason: fine"); err != nil {
		t.Fatal(err)
	}
	var ds []*events.Decision
	eventually(t, 10*time.Second, "a decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	if d := ds[0]; d.Actor.Name != "alice" || d.Actor.Key != alice.Key || d.Reason != "fine" {
		t.Fatalf("decision = %+v", d)
	}
	for _, req := range e.jira.Requests() {
		if strings.HasSuffix(req.Path, "/search/jql") {
			t.Fatalf("used the Cloud search endpoint on Server: %s", req.Path)
		}
	}
}

// A move that arrives while the request's issue is still being linked
// waits for the link instead of being dropped.
func TestMoveBeforeLinkWaitsForTheLink(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	r := request("paul", "editor")
	if _, err := e.kv.Create(context.Background(), r.ID, claim(r.ID, "slow-replica")); err != nil {
		t.Fatal(err)
	}
	prop, _ := json.Marshal(r.ID)
	is, err := e.jira.CreateIssue(jirasim.NewIssue{Summary: "paul requested editor", Status: "Pending", Labels: []string{"teleport-access-request", "teleport-access-request-" + r.ID},
		Properties: map[string]json.RawMessage{"teleportAccessRequestId": prop}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.AckWait = time.Second
	e.start(cfg, "bridge")
	if err := e.jira.Move(is.Key, "Approved", "alice", "Reason: quick"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the webhook delivered", func() bool { return len(e.messages(events.StreamJira, "jira.webhooks.>")) >= 1 })
	// Now the request event arrives and the replica links the issue.
	e.publish(events.NewRequestCreated(r), 1)
	var ds []*events.Decision
	eventually(t, 10*time.Second, "the decision", func() bool { ds = e.decisions(r.ID); return len(ds) > 0 })
	if ds[0].IssueID != is.ID || ds[0].Reason != "quick" {
		t.Fatalf("decision = %+v", ds[0])
	}
	eventually(t, 10*time.Second, "events handled", func() bool { return pendingCount(t, e, "jira-bridge-requests") == 0 })
	if tr := e.jira.Transitions(is.Key); len(tr) != 1 || tr[0].To != "Approved" {
		t.Fatalf("transitions = %+v: the reviewer's move was undone", tr)
	}
}
