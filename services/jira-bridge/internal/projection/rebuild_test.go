package projection_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// TestRebuildRestoresWhatTheHandlersRecorded publishes the events the
// handlers publish for two requests, rebuilds an empty bucket from them,
// and checks every cause the handlers would look for.
func TestRebuildRestoresWhatTheHandlersRecorded(t *testing.T) {
	ctx := context.Background()
	srv := bustest.Start(t)
	b := srv.Connect(t, "rebuild")
	if _, err := b.EnsureStream(ctx, events.JiraStream()); err != nil {
		t.Fatal(err)
	}
	kv, err := b.EnsureKV(ctx, events.BucketRequestIssues, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	store := &projection.Store{KV: kv}
	if empty, err := store.Empty(ctx); err != nil || !empty {
		t.Fatalf("Empty = %v, %v on a new bucket", empty, err)
	}

	a := events.IssueRef{ID: "10000", Key: "TAR-1"}
	c := events.IssueRef{ID: "10001", Key: "TAR-2"}
	dec := events.NewDecision("r2", c, "10500", events.VerdictDeny, "Denied", events.Actor{AccountID: "x"}, time.Now())
	dec.Verification = events.VerifiedSignedWebhook
	for _, p := range []events.Payload{
		events.NewIssueLinked("r1", a, "Backlog", false),
		events.NewIssueTransitioned("r1", a, "Backlog", "Pending", "pending"),
		events.NewIssueCommented("r1", a, "1", "review:1"),
		events.NewIssueCommented("r1", a, "2", "resolved:APPROVED"),
		events.NewIssueTransitioned("r1", a, "Pending", "Approved", "resolved:APPROVED"),
		events.NewIssueLinked("r2", c, "Pending", true),
		dec,
		events.NewIssueCommented("r2", c, "3", "rejected:10500"),
		events.NewIssueTransitioned("r2", c, "Denied", "Pending", "rejected:10500"),
		// An issue event of a request never linked is left out.
		events.NewIssueCommented("r3", events.IssueRef{ID: "10009", Key: "TAR-9"}, "4", "review:1"),
	} {
		if _, err := b.PublishEvent(ctx, "test", p); err != nil {
			t.Fatal(err)
		}
	}
	read, written, err := store.Rebuild(ctx, b.JS)
	if err != nil || read != 10 || written != 2 {
		t.Fatalf("Rebuild = %d read, %d written, %v; want 10, 2", read, written, err)
	}
	r1, err := store.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Linked() || r1.IssueKey != "TAR-1" || r1.Status != "Approved" {
		t.Fatalf("r1 = %+v", r1.RequestIssue)
	}
	for _, cause := range []string{"transition:pending", "review:1", "resolved:APPROVED", "transition:resolved:APPROVED"} {
		if !r1.HasApplied(cause) {
			t.Errorf("r1 lacks %s: %v", cause, r1.Applied)
		}
	}
	r2, _ := store.Get(ctx, "r2")
	want := []string{"decision:10500", "rejected:10500:comment", "rejected:10500:moved"}
	if r2.Status != "Pending" || !slices.Equal(r2.Applied, want) {
		t.Fatalf("r2 = %+v, want status Pending and applied %v", r2.RequestIssue, want)
	}
	if e, _ := store.Get(ctx, "r3"); e.Rev != 0 {
		t.Fatalf("r3 was written: %+v", e.RequestIssue)
	}

	// A second rebuild changes nothing but the timestamps.
	if _, _, err := store.Rebuild(ctx, b.JS); err != nil {
		t.Fatal(err)
	}
	again, _ := store.Get(ctx, "r1")
	if !slices.Equal(again.Applied, r1.Applied) || again.Status != r1.Status {
		t.Fatalf("rebuild is not idempotent: %+v vs %+v", again.RequestIssue, r1.RequestIssue)
	}
}
