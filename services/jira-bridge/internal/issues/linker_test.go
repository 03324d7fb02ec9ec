package issues_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/issues"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jiratest"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

const (
	create     = "POST /rest/api/2/issue"
	transition = "POST /rest/api/2/issue/{issueIdOrKey}/transitions"
	comment    = "POST /rest/api/2/issue/{issueIdOrKey}/comment"
	comments   = "GET /rest/api/2/issue/{issueIdOrKey}/comment"
	getIssue   = "GET /rest/api/2/issue/{issueIdOrKey}"
	search     = "POST /rest/api/2/search"
)

var statuses = domain.Statuses{Pending: "Pending", Approved: "Approved", Denied: "Denied", Expired: "Expired", Promoted: "Promoted"}

type world struct {
	t      *testing.T
	jira   *jiratest.Fake
	store  *projection.Mem
	linker *issues.Linker
	w      *issues.Writer
}

func newWorld(t *testing.T, cloud bool, logStart time.Time) *world {
	t.Helper()
	f := jiratest.Start(t)
	f.Cloud = cloud
	jc, err := jira.New(jira.Options{URL: f.URL, User: "bot@example.com", Token: "x", Retry: jira.RetryPolicy{Min: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if !cloud {
		jc.SetDeployment(jira.DeploymentServer)
	}
	store := projection.NewMem()
	w := &issues.Writer{Jira: jc, Store: store, Metrics: metrics.New(nil), Owner: "me", IssueType: "Task", Bot: jira.User{AccountID: jiratest.Bot}}
	l := issues.New(issues.Config{DefaultProject: "TAR", IssueType: "Task", Statuses: statuses,
		Labels: domain.Labels{Prefix: "teleport-access-request"}, ClaimTTL: time.Second, LogStart: logStart}, w)
	return &world{t: t, jira: f, store: store, linker: l, w: w}
}

func (w *world) apply(ev *events.RequestEvent, redelivered bool) []events.Payload {
	w.t.Helper()
	out, err := w.linker.ApplyRequest(context.Background(), ev, redelivered, zerolog.Nop())
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *world) calls(want ...string) {
	w.t.Helper()
	if got := w.jira.Calls(); !slices.Equal(got, want) {
		w.t.Fatalf("calls = %v, want %v", got, want)
	}
	w.jira.Reset()
}

func (w *world) entry(id string) projection.Entry {
	e, err := w.store.Get(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return e
}

func pending(id string) events.AccessRequest {
	return events.AccessRequest{ID: id, User: "carol", Roles: []string{"editor"}, State: events.StatePending, Created: time.Now()}
}

func kinds(out []events.Payload) []string {
	var k []string
	for _, p := range out {
		k = append(k, string(p.EventType())+" "+p.DedupID())
	}
	return k
}

// The first issue teaches the workflow; after that a lifecycle is one call
// per visible change, and the events returned say what was done.
func TestLinkerLifecycleCalls(t *testing.T) {
	w := newWorld(t, false, time.Now().Add(-time.Hour))
	r := pending("r1")
	out := w.apply(events.NewRequestCreated(r), false)
	w.calls(create, getIssue, transition) // the GET learns the initial status and its transitions
	if got := kinds(out); !slices.Equal(got, []string{"issue.linked.v1 r1:linked", "issue.transitioned.v1 r1:transitioned:pending"}) {
		t.Fatalf("events = %v", got)
	}
	// The same event again: nothing.
	if out := w.apply(events.NewRequestCreated(r), false); len(out) != 0 {
		t.Fatalf("a second delivery produced %v", kinds(out))
	}
	w.calls()
	// Redelivered (its events may not have been published): the same
	// events again, no Jira call.
	if got := kinds(w.apply(events.NewRequestCreated(r), true)); len(got) != 2 {
		t.Fatalf("redelivery produced %v, want the two events again", got)
	}
	w.calls()

	r2 := pending("r2")
	w.apply(events.NewRequestCreated(r2), false)
	w.calls(create, transition)
	rv := r2
	rv.Reviews = []events.Review{{Author: "bob", State: events.StateDenied, Reason: "no"}}
	w.apply(events.NewRequestReviewed(rv, 1), false)
	w.calls(comment)
	rv.State = events.StateDenied
	w.apply(events.NewRequestResolved(rv), false)
	w.calls(getIssue, transition) // first move out of Pending: learned once
	is, _ := w.jira.Get(w.entry("r2").IssueKey)
	if is.Status != "Denied" || len(is.Comments) != 2 || !strings.Contains(is.Comments[1].Body, "denied") || !domain.HasMarker(is.Comments[1].Body, "r2", domain.CauseResolved(events.StateDenied)) {
		t.Fatalf("issue = %+v", is)
	}

	r3 := pending("r3")
	w.apply(events.NewRequestCreated(r3), false)
	w.apply(events.NewRequestExpired(r3), false)
	w.calls(create, transition, transition)
}

// Jira Cloud: the create carries the move to Pending once the site is known
// to honour it.
func TestLinkerCloudCreateCarriesTheMove(t *testing.T) {
	w := newWorld(t, true, time.Now().Add(-time.Hour))
	w.apply(events.NewRequestCreated(pending("r1")), false)
	w.calls(create, getIssue, transition)
	w.apply(events.NewRequestCreated(pending("r2")), false)
	w.calls(create, getIssue) // is the transition in the create honoured? once
	w.apply(events.NewRequestCreated(pending("r3")), false)
	w.calls(create)
	if is, _ := w.jira.Get(w.entry("r3").IssueKey); is.Status != "Pending" {
		t.Fatalf("status %s", is.Status)
	}
}

// A crash after a write and before its record: the redelivery finds the
// intent and reads Jira instead of writing again.
func TestLinkerResolvesIntentsFromJira(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, false, time.Now().Add(-time.Hour))
	r := pending("r1")
	// The create happened, its record did not.
	is := w.jira.Add("Backlog", "teleport-access-request", "teleport-access-request-r1")
	if _, err := w.store.Modify(ctx, "r1", func(e *projection.Entry) error {
		e.Intend("", domain.WriteLink, "dead", time.Now().Add(-time.Minute))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w.apply(events.NewRequestCreated(r), false)
	w.calls(search, getIssue, transition) // found by label; adopted issues are read before a move
	if w.jira.Issues() != 1 || w.entry("r1").IssueID != is.ID {
		t.Fatalf("issues %d, entry %+v", w.jira.Issues(), w.entry("r1"))
	}

	// A comment written, its record lost.
	rv := r
	rv.Reviews = []events.Review{{Author: "bob", State: events.StateApproved}}
	body := domain.WithMarker(issues.ReviewComment(rv, 1), "r1", domain.CauseReview(1))
	w.jira.Comment(is.Key, jiratest.Bot, body)
	if _, err := w.store.Modify(ctx, "r1", func(e *projection.Entry) error {
		e.Intend(domain.CauseReview(1), domain.WriteComment, "me", time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := w.apply(events.NewRequestReviewed(rv, 1), true)
	w.calls(comments)
	if got, _ := w.jira.Get(is.Key); len(got.Comments) != 1 {
		t.Fatalf("comments = %+v, want the one already there", got.Comments)
	}
	if !slices.Contains(kinds(out), "issue.commented.v1 r1:commented:review:1") {
		t.Fatalf("events = %v", kinds(out))
	}

	// A transition made, its record lost.
	w.jira.Move(is.Key, "Approved", jiratest.Bot)
	if _, err := w.store.Modify(ctx, "r1", func(e *projection.Entry) error {
		e.Intend(domain.CauseResolved(events.StateApproved), domain.WriteTransition, "me", time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rv.State = events.StateApproved
	w.apply(events.NewRequestResolved(rv), true)
	w.calls(getIssue)
	if got, _ := w.jira.Get(is.Key); len(got.History) != 2 {
		t.Fatalf("history = %+v, want Backlog→Pending→Approved only", got.History)
	}
	if e := w.entry("r1"); e.Status != "Approved" || len(e.Intents) != 0 {
		t.Fatalf("entry = %+v", e)
	}
}

// Lost state: a request older than the bridge's log is looked up by its
// label; one already finished when first seen gets no issue.
func TestLinkerLostState(t *testing.T) {
	w := newWorld(t, false, time.Now().Add(time.Hour)) // the log began after these requests
	is := w.jira.Add("Pending", "teleport-access-request", "teleport-access-request-old")
	w.apply(events.NewRequestCreated(pending("old")), false)
	w.calls(search)
	if e := w.entry("old"); e.IssueID != is.ID || !e.Adopted {
		t.Fatalf("entry = %+v", e)
	}
	done := pending("done")
	done.State = events.StateApproved
	if out := w.apply(events.NewRequestResolved(done), false); len(out) != 0 {
		t.Fatalf("events = %v", kinds(out))
	}
	w.calls(search)
	if w.jira.Issues() != 1 {
		t.Fatalf("%d issues, want none created", w.jira.Issues())
	}
	// After the log began: no lookup.
	w2 := newWorld(t, false, time.Now().Add(-time.Hour))
	exp := pending("exp")
	if out := w2.apply(events.NewRequestExpired(exp), false); len(out) != 0 {
		t.Fatalf("events = %v", kinds(out))
	}
	w2.calls()
}

// teleport-jira's issue left in the workflow's initial status is moved to
// Pending like a new one.
func TestLinkerAdoptedIssueReachesPending(t *testing.T) {
	w := newWorld(t, false, time.Now().Add(-time.Hour))
	legacy := w.jira.Add("Backlog", "teleport-access-request-r1")
	r := pending("r1")
	r.LegacyIssue = &events.IssueRef{ID: legacy.ID, Key: legacy.Key}
	w.apply(events.NewRequestCreated(r), false)
	w.calls(getIssue, getIssue, transition)
	if is, _ := w.jira.Get(legacy.Key); is.Status != "Pending" || w.jira.Issues() != 1 {
		t.Fatalf("status %s, %d issues", is.Status, w.jira.Issues())
	}
}

// Two processes handle one event at once (JetStream moved the pin while
// the first still worked on it). Each read the entry before the other's
// intent, so each thinks the write is unclaimed; the store's
// compare-and-swap decides, and the loser waits instead of writing: one
// issue, one comment.
func TestIntentIsAnExclusiveClaim(t *testing.T) {
	w := newWorld(t, true, time.Time{})
	other := *w.w
	other.Owner, other.ClaimTTL = "other", time.Minute
	w.w.ClaimTTL = time.Minute
	ctx := context.Background()
	stale, err := w.store.Get(ctx, "r1") // what both read first
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Intend(ctx, &issues.Work{Entry: stale, Log: zerolog.Nop()}, "", domain.WriteLink, nil); err != nil {
		t.Fatal(err)
	}
	err = w.w.Intend(ctx, &issues.Work{Entry: stale, Log: zerolog.Nop()}, "", domain.WriteLink, nil)
	var retry *domain.RetryError
	if !errors.As(err, &retry) || retry.After <= 0 {
		t.Fatalf("second claim of one create: %v, want a retry after the first claim's time", err)
	}
	// The first process links the issue: a late claim is a conflict, and
	// the handler runs again on the linked entry.
	first, err := w.store.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Fold(ctx, &issues.Work{Entry: first, Log: zerolog.Nop()}, events.NewIssueLinked("r1", events.IssueRef{ID: "1", Key: "TAR-1"}, "Pending", false)); err != nil {
		t.Fatal(err)
	}
	if err := w.w.Intend(ctx, &issues.Work{Entry: stale, Log: zerolog.Nop()}, "", domain.WriteLink, nil); !errors.Is(err, projection.ErrConflict) {
		t.Fatalf("claim of a create already linked: %v, want a conflict", err)
	}
	// A comment claimed by the other process: this one neither reads nor
	// writes Jira, it waits.
	linked, err := w.store.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Intend(ctx, &issues.Work{Entry: linked, Log: zerolog.Nop()}, domain.CauseReview(1), domain.WriteComment, nil); err != nil {
		t.Fatal(err)
	}
	claimed, err := w.store.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	w.jira.Reset()
	err = w.w.Comment(ctx, &issues.Work{Entry: claimed, Log: zerolog.Nop()}, domain.CauseReview(1), "review")
	if !errors.As(err, &retry) {
		t.Fatalf("comment claimed by another process: %v, want a retry", err)
	}
	w.calls()
}
