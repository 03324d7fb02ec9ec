package decisions_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/decisions"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/issues"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jiratest"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/reconcile"
)

var statuses = domain.Statuses{Pending: "Pending", Approved: "Approved", Denied: "Denied", Expired: "Expired", Promoted: "Promoted"}

type world struct {
	t       *testing.T
	jira    *jiratest.Fake
	store   *projection.Mem
	decider *decisions.Decider
	w       *issues.Writer
	jc      *jira.Client
}

func newWorld(t *testing.T) *world {
	t.Helper()
	f := jiratest.Start(t)
	jc, err := jira.New(jira.Options{URL: f.URL, User: "bot@example.com", Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	store := projection.NewMem()
	w := &issues.Writer{Jira: jc, Store: store, Metrics: metrics.New(nil), Owner: "me", IssueType: "Task", Bot: jira.User{AccountID: jiratest.Bot}}
	d := decisions.New(decisions.Config{Statuses: statuses, Labels: domain.Labels{Prefix: "teleport-access-request"},
		Bot: jira.User{AccountID: jiratest.Bot}, ConfirmWindow: time.Second, ConfirmRetry: 10 * time.Millisecond}, jc, w)
	return &world{t: t, jira: f, store: store, decider: d, w: w, jc: jc}
}

// link records request id as linked to a new issue in Pending.
func (w *world) link(id string) jiratest.Issue {
	w.t.Helper()
	is := w.jira.Add("Pending", "teleport-access-request", "teleport-access-request-"+id)
	if _, err := w.store.Modify(context.Background(), id, func(e *projection.Entry) error {
		e.Fold(events.NewIssueLinked(id, events.IssueRef{ID: is.ID, Key: is.Key}, "Pending", false))
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	return is
}

func webhook(t *testing.T, event string, is jiratest.Issue, label, changelog, to, user, comment string, signed bool) *events.Webhook {
	t.Helper()
	body := map[string]any{
		"webhookEvent": event, "timestamp": 1733479200000,
		"user":      map[string]string{"accountId": user},
		"issue":     map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{"labels": []string{"teleport-access-request", label}}},
		"changelog": map[string]any{"id": changelog, "items": []map[string]string{{"field": "status", "fieldId": "status", "fromString": "Pending", "toString": to}}},
	}
	if comment != "" {
		body["comment"] = map[string]any{"id": "1", "body": comment, "author": map[string]string{"accountId": user}}
	}
	raw, _ := json.Marshal(body)
	return events.NewWebhook(is.ID, is.Key, event, "id-"+changelog, time.Now(), signed, []string{events.AuthHMAC}, raw)
}

func (w *world) handle(wh *events.Webhook, redelivered bool) ([]events.Payload, error) {
	return w.decider.HandleWebhook(context.Background(), wh, redelivered, false, zerolog.Nop())
}

// A signed move with its reason in the transition comment is a decision
// without a single Jira call; a copy is a duplicate; a redelivery produces
// the recorded decision again.
func TestDeciderSignedMoveCostsNoCall(t *testing.T) {
	w := newWorld(t)
	is := w.link("r1")
	wh := webhook(t, "jira:issue_updated", is, "teleport-access-request-r1", "500", "Approved", "alice", "Reason: on call", true)
	out, err := w.handle(wh, false)
	if err != nil || len(out) != 1 {
		t.Fatalf("out %v, err %v", out, err)
	}
	d := out[0].(*events.Decision)
	if d.Verdict != events.VerdictApprove || d.Reason != "on call" || d.Verification != events.VerifiedSignedWebhook || d.RequestID != "r1" {
		t.Fatalf("decision = %+v", d)
	}
	if c := w.jira.Calls(); len(c) != 0 {
		t.Fatalf("calls = %v, want none", c)
	}
	if e, _ := w.store.Get(context.Background(), "r1"); e.Status != "Approved" {
		t.Fatalf("projection status %q, want the reviewer's Approved", e.Status)
	}
	if out, err := w.handle(wh, false); err != nil || len(out) != 0 {
		t.Fatalf("duplicate: %v %v", out, err)
	}
	if out, err := w.handle(wh, true); err != nil || len(out) != 1 || out[0].DedupID() != d.DedupID() {
		t.Fatalf("redelivery: %v %v", out, err)
	}
}

// An unsigned move is confirmed with one GET; a move without a comment
// costs one read for the reason.
func TestDeciderUnsignedAndReasonReads(t *testing.T) {
	w := newWorld(t)
	is := w.link("r1")
	w.jira.Move(is.Key, "Denied", "bob")
	w.jira.Comment(is.Key, "bob", "Reason: not today")
	out, err := w.handle(webhook(t, "jira:issue_updated", is, "teleport-access-request-r1", "600", "Denied", "bob", "", false), false)
	if err != nil || len(out) != 1 {
		t.Fatalf("out %v, err %v", out, err)
	}
	if d := out[0].(*events.Decision); d.Reason != "not today" || d.Verification != events.VerifiedAPI {
		t.Fatalf("decision = %+v", d)
	}
	if got := w.jira.Calls(); !slices.Equal(got, []string{"GET /rest/api/2/issue/{issueIdOrKey}", "GET /rest/api/2/issue/{issueIdOrKey}/comment"}) {
		t.Fatalf("calls = %v", got)
	}
}

// Echoes and forgeries are dropped before any Jira call; an event that
// cannot carry a decision before its body is even parsed.
func TestDeciderDropsEchoesAndForgeries(t *testing.T) {
	w := newWorld(t)
	is := w.link("r1")
	other := w.link("r2")
	created := events.NewWebhook(is.ID, is.Key, "jira:issue_created", "c1", time.Now(), true, []string{events.AuthHMAC}, []byte(`{"not":"parsed"}`))
	for name, wh := range map[string]*events.Webhook{
		"created (body never parsed)": created,
		"the bridge's own move":       webhook(t, "jira:issue_updated", is, "teleport-access-request-r1", "1", "Approved", jiratest.Bot, "", true),
		"forged label":                webhook(t, "jira:issue_updated", other, "teleport-access-request-r1", "2", "Approved", "mallory", "", true),
		"not a decision":              webhook(t, "jira:issue_updated", is, "teleport-access-request-r1", "3", "Expired", "alice", "", true),
	} {
		out, err := w.handle(wh, false)
		if err != nil || len(out) != 0 {
			t.Errorf("%s: out %v, err %v", name, out, err)
		}
	}
	if c := w.jira.Calls(); len(c) != 0 {
		t.Fatalf("calls = %v, want none", c)
	}
}

// A rejected decision: the card moved back, while it is still where the
// reviewer put it, by a transition that carries the comment (the GET
// learns the transitions out of Approved, once per workflow).
func TestDeciderAnswersRejection(t *testing.T) {
	w := newWorld(t)
	is, o := rejectedBoardMove(t, w)
	w.jira.Reset()
	res, err := w.decider.HandleOutcome(context.Background(), o, false, zerolog.Nop())
	if err != nil || len(res) != 1 {
		t.Fatalf("out %v, err %v; want one issue.transitioned", res, err)
	}
	got, _ := w.jira.Get(is.Key)
	if got.Status != "Pending" || len(got.Comments) != 1 {
		t.Fatalf("issue = %+v", got)
	}
	if c := w.jira.Calls(); !slices.Equal(c, []string{"GET /rest/api/2/issue/{issueIdOrKey}", "POST /rest/api/2/issue/{issueIdOrKey}/transitions"}) {
		t.Fatalf("calls = %v", c)
	}
}

// A rejected decision on a card someone moved since: the card stays where
// it is, and the comment is written on its own.
func TestDeciderAnswersRejectionOfAMovedCard(t *testing.T) {
	w := newWorld(t)
	is, o := rejectedBoardMove(t, w)
	w.jira.Move(is.Key, "Denied", "carol") // before the rejection arrives
	if _, err := w.decider.HandleOutcome(context.Background(), o, false, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	got, _ := w.jira.Get(is.Key)
	if got.Status != "Denied" || len(got.Comments) != 1 || !strings.Contains(got.Comments[0].Body, "was not applied in Teleport") {
		t.Fatalf("issue = %+v, want it left in Denied with the rejection's comment", got)
	}
	// Handled again (a redelivery): nothing more is written.
	w.jira.Reset()
	if _, err := w.decider.HandleOutcome(context.Background(), o, true, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if c := w.jira.Calls(); len(c) != 0 {
		t.Fatalf("redelivery made calls %v", c)
	}
}

// rejectedBoardMove links r1, has alice move its card to Approved, turns
// the signed webhook into a decision and returns Teleport's rejection of it.
func rejectedBoardMove(t *testing.T, w *world) (jiratest.Issue, *events.DecisionOutcome) {
	t.Helper()
	is := w.link("r1")
	w.jira.Move(is.Key, "Approved", "alice")
	out, err := w.handle(webhook(t, "jira:issue_updated", is, "teleport-access-request-r1", "700", "Approved", "alice", "ok", true), false)
	if err != nil || len(out) != 1 {
		t.Fatal(out, err)
	}
	dec := *out[0].(*events.Decision)
	return is, events.NewDecisionRejected(dec, events.ModeState, events.RejectNotFound, "gone", "")
}

type published struct{ out []events.Payload }

func (p *published) PublishEvent(_ context.Context, _ string, pl events.Payload) error {
	p.out = append(p.out, pl)
	return nil
}

// The reconciler publishes the decision of a move whose webhook never
// came, once, and records it.
func TestReconcilerPublishesMissedMoveOnce(t *testing.T) {
	w := newWorld(t)
	is := w.link("r1")
	w.link("r2") // still pending: nothing to do
	w.jira.Move(is.Key, "Approved", "alice")
	pub := &published{}
	r := reconcile.New(reconcile.Config{Source: "test", Projects: []string{"TAR"}, Labels: domain.Labels{Prefix: "teleport-access-request"},
		Statuses: statuses, Window: time.Hour, Bot: jira.User{AccountID: jiratest.Bot}}, w.jc, w.store, w.decider, pub, zerolog.Nop())
	for pass := range 2 {
		w.jira.Reset()
		n, err := r.ReconcileOpenIssues(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 - pass; n != want {
			t.Fatalf("pass %d published %d, want %d", pass, n, want)
		}
	}
	// The second pass knew the move from the projection: the listing only.
	if c := w.jira.Calls(); !slices.Equal(c, []string{"POST /rest/api/2/search/jql"}) {
		t.Fatalf("second pass calls = %v", c)
	}
	if len(pub.out) != 1 {
		t.Fatalf("published %v", pub.out)
	}
	d := pub.out[0].(*events.Decision)
	if d.RequestID != "r1" || d.Verification != events.VerifiedReconciler || d.Verdict != events.VerdictApprove {
		t.Fatalf("decision = %+v", d)
	}
	if e, _ := w.store.Get(context.Background(), "r1"); e.Status != "Approved" {
		t.Fatalf("projection = %+v", e)
	}
}
