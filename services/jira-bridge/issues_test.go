package jirabridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// One issue per request with every field, moved to Pending, even when the
// same event is delivered three times.
func TestRequestBecomesOneIssueWithEveryField(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	alice := userByName(t, e.jira, "alice")

	r := request("alice@example.com", "editor", "auditor")
	r.Created = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	r.Expires = r.Created.Add(4 * time.Hour)
	e.publish(events.NewRequestCreated(r), 3)
	is := e.issueOf(r.ID, "Pending")

	if want := "alice@example.com requested editor, auditor"; is.Summary != want {
		t.Errorf("summary = %q, want %q", is.Summary, want)
	}
	for _, want := range []string{"alice@example.com", "editor, auditor", "node/prod/db-1", "database one", "investigating INC-42", r.ID,
		"2026-11-26T06:00:00Z", "2026-11-26T10:00:00Z", "alice@example.com, bob", "tsh request review --approve " + r.ID, "tsh request review --deny " + r.ID} {
		if !strings.Contains(is.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, is.Description)
		}
	}
	if !containsAll(is.Labels, "teleport-access-request", "teleport-access-request-"+r.ID) {
		t.Errorf("labels = %v", is.Labels)
	}
	if got := string(is.Properties["teleportAccessRequestId"]); got != `"`+r.ID+`"` {
		t.Errorf("property teleportAccessRequestId = %s", got)
	}
	if got := is.CustomFields["customfield_10050"]; got != r.ID {
		t.Errorf("custom field = %v, want %s", got, r.ID)
	}
	if is.Reporter != alice.AccountID {
		t.Errorf("reporter = %s, want alice (%s)", is.Reporter, alice.AccountID)
	}
	if is.IssueType != "Task" {
		t.Errorf("issue type = %s", is.IssueType)
	}
	// Let the copies be handled, then count.
	eventually(t, 10*time.Second, "three deliveries handled", func() bool {
		return pendingCount(t, e, "jira-bridge-requests") == 0
	})
	if n := len(e.issuesFor(r.ID)); n != 1 {
		t.Fatalf("%d issues for the request, want 1", n)
	}
	if n := e.jira.CountRequests("POST", "/rest/api/2/issue"); n != 1 {
		t.Fatalf("%d create calls, want 1", n)
	}
	tr := e.jira.Transitions(is.Key)
	if len(tr) != 1 || tr[0].From != "Backlog" || tr[0].To != "Pending" {
		t.Fatalf("transitions = %+v, want Backlog→Pending once", tr)
	}
	ent, _ := e.entry(r.ID)
	if !ent.Linked() || ent.IssueID != is.ID || ent.IssueKey != is.Key || ent.Status != "Pending" {
		t.Fatalf("request-issues = %+v", ent)
	}
	linked := 0
	for _, ev := range e.messages(events.StreamJira, events.IssueSubject(r.ID)) {
		if ev.Type == events.IssueLinked {
			linked++
			if p := ev.Payload.(*events.IssueEvent); p.IssueID != is.ID || p.IssueKey != is.Key {
				t.Fatalf("issue.linked = %+v", p)
			}
		}
	}
	if linked != 1 {
		t.Fatalf("%d issue.linked events, want 1", linked)
	}
}

func TestWebLinkWithAdvancedWorkflowsAndLongSummary(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	var roles []string
	for i := range 40 {
		roles = append(roles, fmt.Sprintf("role-number-%02d", i))
	}
	r := request("carol", roles...)
	r.Cluster.AdvancedWorkflows = true
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	if want := "carol requested access to 40 roles"; is.Summary != want {
		t.Errorf("summary = %q, want %q", is.Summary, want)
	}
	if want := "https://teleport.example.com:443/web/requests/" + r.ID; !strings.Contains(is.Description, want) {
		t.Errorf("description lacks the web UI link %s:\n%s", want, is.Description)
	}
	if strings.Contains(is.Description, "tsh request review") {
		t.Errorf("description has tsh commands although the web UI can review")
	}
	if is.Reporter != e.jira.Bot().AccountID {
		t.Errorf("reporter = %s, want the bot (no Jira user for carol)", is.Reporter)
	}
}

// Two replicas consuming at once create one issue per request.
func TestTwoReplicasCreateOneIssuePerRequest(t *testing.T) {
	e := newEnv(t, jirasim.Options{Faults: jirasim.Faults{Latency: 5 * time.Millisecond}})
	e.start(e.config(), "bridge-1")
	e.start(e.config(), "bridge-2")
	var reqs []events.AccessRequest
	for i := range 12 {
		r := request(fmt.Sprintf("user%d", i), "editor")
		reqs = append(reqs, r)
		e.publish(events.NewRequestCreated(r), 3)
	}
	for _, r := range reqs {
		e.issueOf(r.ID, "Pending")
	}
	for _, r := range reqs {
		if n := len(e.issuesFor(r.ID)); n != 1 {
			t.Fatalf("request %s has %d issues, want 1", r.ID, n)
		}
	}
	if n := e.jira.CountRequests("POST", "/rest/api/2/issue"); n != len(reqs) {
		t.Fatalf("%d create calls for %d requests", n, len(reqs))
	}
}

// A bridge killed between the Jira create and the link leaves a claim and
// an issue; the next one finds the issue by its label instead of creating
// another.
func TestCrashBetweenCreateAndLinkCreatesNoDuplicate(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	r := request("bob", "editor")
	// What a bridge leaves behind when SIGKILLed right after the create
	// call returned: the claim, and the issue in Jira.
	if _, err := e.kv.Create(context.Background(), r.ID, claim(r.ID, "dead-replica")); err != nil {
		t.Fatal(err)
	}
	prop, _ := json.Marshal(r.ID)
	orphan, err := e.jira.CreateIssue(jirasim.NewIssue{Summary: "bob requested editor", Labels: []string{"teleport-access-request", "teleport-access-request-" + r.ID},
		Properties: map[string]json.RawMessage{"teleportAccessRequestId": prop}})
	if err != nil {
		t.Fatal(err)
	}
	e.publish(events.NewRequestCreated(r), 1)
	cfg := e.config()
	cfg.AckWait = time.Second // a claim of another process is taken over after it
	e.start(cfg, "bridge")
	is := e.issueOf(r.ID, "Pending")
	if is.Key != orphan.Key {
		t.Fatalf("linked %s, want the orphan %s", is.Key, orphan.Key)
	}
	if n := e.jira.CountRequests("POST", "/rest/api/2/issue"); n != 0 {
		t.Fatalf("%d create calls, want 0", n)
	}
}

// A create whose response is lost (the connection drops after Jira
// created the issue) is the same crash seen from inside: the retry finds
// the issue.
func TestLostCreateResponseCreatesNoDuplicate(t *testing.T) {
	e := newEnv(t, jirasim.Options{Seed: 3})
	e.start(e.config(), "bridge")
	if err := e.jira.SetFaults(jirasim.Faults{DropResponseRate: 0.3, ErrorRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	var reqs []events.AccessRequest
	for i := range 8 {
		r := request(fmt.Sprintf("drop%d", i), "editor")
		reqs = append(reqs, r)
		e.publish(events.NewRequestCreated(r), 1)
	}
	for _, r := range reqs {
		e.issueOf(r.ID, "Pending")
	}
	_ = e.jira.SetFaults(jirasim.Faults{})
	for _, r := range reqs {
		if n := len(e.issuesFor(r.ID)); n != 1 {
			t.Fatalf("request %s has %d issues, want 1", r.ID, n)
		}
		if tr := e.jira.Transitions(e.issuesFor(r.ID)[0].Key); len(tr) != 1 {
			t.Fatalf("request %s: transitions %+v, want one", r.ID, tr)
		}
	}
}

// Reviews become comments, resolution a comment and a transition, each
// once whatever the redelivery; a late older event changes nothing.
func TestReviewsAndResolutionAppliedOnce(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	r := request("dave", "editor")
	e.publish(events.NewRequestCreated(r), 2)
	is := e.issueOf(r.ID, "Pending")

	r1 := withReview(r, "alice", events.StateApproved, "looks fine")
	e.publish(events.NewRequestReviewed(r1, 1), 3)
	r2 := withReview(r1, "bob", events.StateApproved, "ok by me")
	e.publish(events.NewRequestReviewed(r2, 2), 2)
	final := resolved(r2, events.StateApproved, "two approvals")
	e.publish(events.NewRequestResolved(final), 3)
	// Late and duplicated older events.
	e.publish(events.NewRequestReviewed(r1, 1), 1)
	e.publish(events.NewRequestCreated(r), 1)
	e.publish(events.NewRequestExpired(final), 1)

	e.issueOf(r.ID, "Approved")
	eventually(t, 10*time.Second, "all events handled", func() bool {
		return pendingCount(t, e, "jira-bridge-requests") == 0
	})
	cs := e.jira.Comments(is.Key)
	if len(cs) != 3 {
		t.Fatalf("%d comments, want 3 (2 reviews, 1 resolution): %+v", len(cs), cs)
	}
	for i, want := range []string{"alice", "bob", "approved"} {
		if !strings.Contains(cs[i].Body, want) {
			t.Errorf("comment %d = %q, want it to mention %q", i, cs[i].Body, want)
		}
	}
	if !strings.Contains(cs[0].Body, "Reason: looks fine") || !strings.Contains(cs[2].Body, "Reason: two approvals") {
		t.Errorf("reasons missing: %q / %q", cs[0].Body, cs[2].Body)
	}
	tr := e.jira.Transitions(is.Key)
	if len(tr) != 2 || tr[1].To != "Approved" {
		t.Fatalf("transitions = %+v, want Backlog→Pending→Approved", tr)
	}
	if ent, _ := e.entry(r.ID); ent.Status != "Approved" {
		t.Fatalf("projection status = %q", ent.Status)
	}
}

func TestDenialAndExpiry(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	denied := request("erin", "admin")
	expired := request("frank", "admin")
	e.publish(events.NewRequestCreated(denied), 1)
	e.publish(events.NewRequestCreated(expired), 1)
	e.issueOf(denied.ID, "Pending")
	e.issueOf(expired.ID, "Pending")
	e.publish(events.NewRequestResolved(resolved(denied, events.StateDenied, "not during the freeze")), 2)
	e.publish(events.NewRequestExpired(expired), 2)
	d := e.issueOf(denied.ID, "Denied")
	x := e.issueOf(expired.ID, "Expired")
	eventually(t, 10*time.Second, "all events handled", func() bool {
		return pendingCount(t, e, "jira-bridge-requests") == 0
	})
	if cs := e.jira.Comments(d.Key); len(cs) != 1 || !strings.Contains(cs[0].Body, "denied") || !strings.Contains(cs[0].Body, "not during the freeze") {
		t.Fatalf("denied comments = %+v", cs)
	}
	if cs := e.jira.Comments(x.Key); len(cs) != 1 || !strings.Contains(cs[0].Body, "expired") {
		t.Fatalf("expired comments = %+v", cs)
	}
}

// A request carrying the issue teleport-jira made is adopted, not
// duplicated.
func TestLegacyIssueIsAdopted(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	r := request("gina", "editor")
	prop, _ := json.Marshal(r.ID)
	legacy, err := e.jira.CreateIssue(jirasim.NewIssue{Summary: "old plugin issue", Status: "Pending",
		Properties: map[string]json.RawMessage{"teleportAccessRequestId": prop}})
	if err != nil {
		t.Fatal(err)
	}
	r.LegacyIssue = &events.IssueRef{ID: legacy.ID, Key: legacy.Key}
	e.start(e.config(), "bridge")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	if is.Key != legacy.Key || len(e.jira.Issues()) != 1 {
		t.Fatalf("linked %s (issues %d), want the legacy %s and no new issue", is.Key, len(e.jira.Issues()), legacy.Key)
	}
	var adopted bool
	for _, ev := range e.messages(events.StreamJira, events.IssueSubject(r.ID)) {
		if p, ok := ev.Payload.(*events.IssueEvent); ok && ev.Type == events.IssueLinked {
			adopted = p.Adopted
		}
	}
	if !adopted {
		t.Fatal("issue.linked does not say adopted")
	}
}

// Roles routed to another project: the request is created there. The
// emulator holds one project, so the map routes the role to it under its
// key and an unrouted role uses the default (same project): the check is
// that a bad route is reported at start-up.
func TestProjectMapIsCheckedAtStartup(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	cfg := e.config()
	cfg.ProjectMap = map[string]string{"dba": "OPS"}
	_, err := newService(e, cfg)
	if err == nil || !strings.Contains(err.Error(), `"OPS"`) || !strings.Contains(err.Error(), "JIRA_BRIDGE_PROJECT_MAP") {
		t.Fatalf("err = %v, want it to name project OPS and JIRA_BRIDGE_PROJECT_MAP", err)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			found = found || l == w
		}
		if !found {
			return false
		}
	}
	return true
}

var pendingMu sync.Mutex

// pendingCount is the number of messages the durable consumer has not
// acked yet.
func pendingCount(t *testing.T, e *env, durable string) int {
	t.Helper()
	pendingMu.Lock()
	defer pendingMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream := events.StreamTeleport
	if strings.Contains(durable, "webhooks") {
		stream = events.StreamJira
	}
	c, err := e.bus.JS.Consumer(ctx, stream, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.NumPending) + info.NumAckPending + info.NumRedelivered
}

// A replica whose NATS connection dies right after it sent the Jira create
// (it can neither publish the link nor ack) is taken over by another
// replica, which finds the issue instead of creating a second one.
func TestReplicaDyingAfterCreateIsTakenOverWithoutDuplicate(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	cfg := e.config()
	cfg.AckWait = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	busA := e.nats.Connect(t, "doomed")
	svcA, err := jirabridge.New(ctx, cfg, jirabridge.Deps{Bus: busA, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	doneA := make(chan struct{})
	go func() { _ = svcA.Run(ctx); close(doneA) }()
	defer func() { cancel(); <-doneA }()

	if err := e.jira.SetFaults(jirasim.Faults{Latency: 400 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	r := request("mona", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	eventually(t, 10*time.Second, "the claim", func() bool {
		ent, ok := e.entry(r.ID)
		return ok && creating(ent)
	})
	busA.NC.Close() // the create call is on its way to Jira
	eventually(t, 10*time.Second, "the orphan issue in Jira", func() bool { return len(e.issuesFor(r.ID)) == 1 })
	if ent, _ := e.entry(r.ID); !creating(ent) {
		t.Fatalf("entry = %+v, want still claimed (the replica could not record the link)", ent)
	}

	e.start(cfg, "survivor")
	is := e.issueOf(r.ID, "Pending")
	if n := len(e.issuesFor(r.ID)); n != 1 {
		t.Fatalf("%d issues, want 1", n)
	}
	if n := e.jira.CountRequests("POST", "/rest/api/2/issue"); n != 1 {
		t.Fatalf("%d create calls, want 1", n)
	}
	if tr := e.jira.Transitions(is.Key); len(tr) != 1 {
		t.Fatalf("transitions = %+v", tr)
	}
	if got := e.metric("accessbridge_jira_bridge_issues_adopted_total", "", ""); got != 1 {
		t.Fatalf("issues_adopted_total = %v, want 1 (found by label)", got)
	}
}

// An expiry never moves a card out of a final status: a reviewer denied it
// on the board, and the request vanished from Teleport before the bridge
// saw its resolution.
func TestExpiryLeavesAFinalCardAlone(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	r := request("gus", "admin")
	e.publish(events.NewRequestCreated(r), 1)
	is := e.issueOf(r.ID, "Pending")
	reviewer := e.jira.Users()[1].AccountID
	if err := e.jira.Move(is.Key, "Denied", reviewer, "Reason: not today"); err != nil {
		t.Fatal(err)
	}
	e.publish(events.NewRequestExpired(r), 1)
	eventually(t, 10*time.Second, "the expiry handled", func() bool {
		return pendingCount(t, e, "jira-bridge-requests") == 0
	})
	if got, _ := e.jira.Issue(is.Key); got.Status != "Denied" {
		t.Fatalf("the expiry moved the denied card to %s", got.Status)
	}
	for _, c := range e.jira.Comments(is.Key) {
		if strings.Contains(c.Body, "expired") {
			t.Fatalf("an expiry comment on a card already final: %q", c.Body)
		}
	}
}

// A resolution read from Teleport moves a card out of Expired: the expiry
// was inferred (the request vanished from a listing), the resolution is
// Teleport's word.
func TestResolutionOverridesAnInferredExpiry(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.start(e.config(), "bridge")
	r := request("hal", "admin")
	e.publish(events.NewRequestCreated(r), 1)
	e.issueOf(r.ID, "Pending")
	e.publish(events.NewRequestExpired(r), 1)
	e.issueOf(r.ID, "Expired")
	e.publish(events.NewRequestResolved(resolved(r, events.StateApproved, "approved after all")), 1)
	is := e.issueOf(r.ID, "Approved")
	eventually(t, 10*time.Second, "all events handled", func() bool {
		return pendingCount(t, e, "jira-bridge-requests") == 0
	})
	if got, _ := e.jira.Issue(is.Key); got.Status != "Approved" {
		t.Fatalf("card in %s, want Approved", got.Status)
	}
}
