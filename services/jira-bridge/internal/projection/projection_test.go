package projection_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// The contract every Store passes.
func TestStoreContract(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) projection.Store{
		"mem": func(*testing.T) projection.Store { return projection.NewMem() },
		"kv":  openKV,
	} {
		t.Run(name, func(t *testing.T) { storeContract(t, open) })
	}
}

func openKV(t *testing.T) projection.Store {
	t.Helper()
	b := bustest.Start(t).Connect(t, "projection-test")
	kv, err := b.EnsureKV(context.Background(), projection.Bucket, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return &projection.KV{KV: kv}
}

func storeContract(t *testing.T, open func(t *testing.T) projection.Store) {
	ctx := context.Background()
	t.Run("absent entry is empty", func(t *testing.T) {
		s := open(t)
		e, err := s.Get(ctx, "r1")
		if err != nil || e.RequestID != "r1" || e.Rev != 0 || e.Linked() {
			t.Fatalf("Get = %+v, %v", e, err)
		}
	})
	t.Run("modify creates then updates", func(t *testing.T) {
		s := open(t)
		e, err := s.Modify(ctx, "r1", func(e *projection.Entry) error {
			e.Fold(events.NewIssueLinked("r1", events.IssueRef{ID: "10001", Key: "TAR-1"}, "Backlog", false))
			return nil
		})
		if err != nil || e.Rev == 0 || !e.Linked() || e.Status != "Backlog" {
			t.Fatalf("Modify = %+v, %v", e, err)
		}
		e, err = s.Modify(ctx, "r1", func(e *projection.Entry) error {
			e.Fold(events.NewIssueTransitioned("r1", e.Ref(), "Backlog", "Pending", string(domain.CausePending)))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "r1")
		if err != nil || got.Rev != e.Rev || got.Status != "Pending" || got.IssueKey != "TAR-1" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if _, ok := got.Done(domain.CausePending, domain.WriteTransition); !ok {
			t.Fatalf("pending transition not recorded: %+v", got.Applied)
		}
	})
	t.Run("no change and errors write nothing", func(t *testing.T) {
		s := open(t)
		e, err := s.Modify(ctx, "r1", func(*projection.Entry) error { return projection.ErrNoChange })
		if err != nil || e.Rev != 0 {
			t.Fatalf("ErrNoChange: %+v, %v", e, err)
		}
		boom := errors.New("boom")
		if _, err := s.Modify(ctx, "r1", func(e *projection.Entry) error { e.Status = "x"; return boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		if e, _ := s.Get(ctx, "r1"); e.Rev != 0 {
			t.Fatalf("an erroring modify wrote %+v", e)
		}
	})
	t.Run("concurrent modifies all land", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				_, err := s.Modify(ctx, "r1", func(e *projection.Entry) error {
					e.Intend(domain.CauseReview(i+1), domain.WriteComment, "w", time.Now())
					return nil
				})
				if err != nil && !errors.Is(err, projection.ErrConflict) {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		e, _ := s.Get(ctx, "r1")
		// Each writer retries up to its attempt budget; with 8 writers
		// every one lands.
		if len(e.Intents) != 8 {
			t.Fatalf("%d intents, want 8: %+v", len(e.Intents), e.Intents)
		}
	})
	t.Run("fold is idempotent and intents clear", func(t *testing.T) {
		s := open(t)
		ref := events.IssueRef{ID: "10001", Key: "TAR-1"}
		for range 2 {
			if _, err := s.Modify(ctx, "r1", func(e *projection.Entry) error {
				e.Fold(events.NewIssueLinked("r1", ref, "", false))
				e.Intend(domain.CauseReview(1), domain.WriteComment, "w", time.Now())
				e.Fold(events.NewIssueCommented("r1", ref, "20001", string(domain.CauseReview(1))))
				e.Fold(events.NewIssueCommented("r2", ref, "20002", string(domain.CauseReview(2)))) // another request's: ignored
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		e, _ := s.Get(ctx, "r1")
		if len(e.Applied) != 2 || len(e.Intents) != 0 {
			t.Fatalf("applied %+v intents %+v, want link + one comment and no intent", e.Applied, e.Intents)
		}
		a, _ := e.Done(domain.CauseReview(1), domain.WriteComment)
		if ev := e.Event(a).(*events.IssueEvent); ev.CommentID != "20001" || ev.DedupID() != "r1:commented:review:1" {
			t.Fatalf("rebuilt event = %+v", ev)
		}
	})
}

// A decision folds the status the reviewer moved the issue to, once.
func TestFoldDecisionSetsStatus(t *testing.T) {
	e := projection.Entry{RequestID: "r1"}
	ref := events.IssueRef{ID: "10001", Key: "TAR-1"}
	e.Fold(events.NewIssueLinked("r1", ref, "Backlog", false))
	e.Fold(events.NewIssueTransitioned("r1", ref, "Backlog", "Pending", "pending"))
	d := events.NewDecision("r1", ref, "30001", events.VerdictApprove, "Approved", events.Actor{Name: "alice"}, time.Now())
	e.Fold(d)
	if e.Status != "Approved" {
		t.Fatalf("status = %q, want Approved", e.Status)
	}
	e.Fold(events.NewIssueTransitioned("r1", ref, "Approved", "Pending", string(domain.CauseRejected("30001"))))
	e.Fold(d) // a copy of the decision does not undo the move back
	if e.Status != "Pending" {
		t.Fatalf("status = %q, want Pending after the move back", e.Status)
	}
}

// The projection rebuilt from the JIRA stream equals the one the handlers
// folded.
func TestRebuildFoldsTheStream(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t).Connect(t, "rebuild")
	if _, err := b.EnsureStream(ctx, events.JiraStream()); err != nil {
		t.Fatal(err)
	}
	live := projection.NewMem()
	for i := range 3 {
		id := fmt.Sprintf("r%d", i)
		ref := events.IssueRef{ID: fmt.Sprint(10001 + i), Key: fmt.Sprintf("TAR-%d", i+1)}
		evs := []events.Payload{
			events.NewIssueLinked(id, ref, "Backlog", false),
			events.NewIssueTransitioned(id, ref, "Backlog", "Pending", "pending"),
			events.NewIssueCommented(id, ref, "2000"+fmt.Sprint(i), "review:1"),
			decision(id, ref, "3000"+fmt.Sprint(i)),
		}
		for _, p := range evs {
			if _, err := b.PublishEvent(ctx, "test", p); err != nil {
				t.Fatal(err)
			}
			if _, err := live.Modify(ctx, id, func(e *projection.Entry) error { e.Fold(p); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A decision for a request never linked describes nothing.
	if _, err := b.PublishEvent(ctx, "test", decision("stray", events.IssueRef{ID: "1", Key: "TAR-9"}, "1")); err != nil {
		t.Fatal(err)
	}
	rebuilt := projection.NewMem()
	read, written, err := projection.Rebuild(ctx, b.JS, rebuilt)
	if err != nil || read != 13 || written != 3 {
		t.Fatalf("Rebuild = %d read, %d written, %v", read, written, err)
	}
	for i := range 3 {
		id := fmt.Sprintf("r%d", i)
		want, _ := live.Get(ctx, id)
		got, _ := rebuilt.Get(ctx, id)
		want.Updated, got.Updated, want.Rev, got.Rev = time.Time{}, time.Time{}, 0, 0
		if string(want.Encode()) != string(got.Encode()) {
			t.Fatalf("rebuilt %s = %s\nwant %s", id, got.Encode(), want.Encode())
		}
	}
}

func decision(id string, ref events.IssueRef, changelog string) *events.Decision {
	d := events.NewDecision(id, ref, changelog, events.VerdictDeny, "Denied", events.Actor{Name: "bob"}, time.Now())
	d.Verification = events.VerifiedSignedWebhook
	return d
}

// Entries written by the bridge before the typed records still read.
func TestDecodeLegacyEntries(t *testing.T) {
	linked := `{"request_id":"r1","phase":"linked","issue_id":"10001","issue_key":"TAR-1","status":"Approved",
		"applied":["transition:pending","review:1","resolved:APPROVED","transition:resolved:APPROVED","decision:300","rejected:301:comment"]}`
	e, err := projection.Decode([]byte(linked))
	if err != nil || !e.Linked() || e.Status != "Approved" {
		t.Fatalf("Decode = %+v, %v", e, err)
	}
	for _, want := range []struct {
		c domain.Cause
		w domain.Write
	}{{domain.CausePending, domain.WriteTransition}, {domain.CauseReview(1), domain.WriteComment}, {domain.CauseResolved(events.StateApproved), domain.WriteComment},
		{domain.CauseResolved(events.StateApproved), domain.WriteTransition}, {domain.CauseDecision("300"), domain.WriteDecision}, {domain.CauseRejected("301"), domain.WriteComment}} {
		if _, ok := e.Done(want.c, want.w); !ok {
			t.Errorf("%s %s not applied: %+v", want.c, want.w, e.Applied)
		}
	}
	claimed, err := projection.Decode([]byte(`{"request_id":"r2","phase":"claimed","claimed_by":"x","claimed_at":"2026-12-01T00:00:00Z"}`))
	if _, ok := claimed.Intended("", domain.WriteLink); err != nil || !ok || claimed.Linked() {
		t.Fatalf("claimed = %+v, %v", claimed, err)
	}
	if _, err := projection.Decode([]byte(`{"request_id":"r3","phase":"lost","applied":[1]}`)); !errors.Is(err, projection.ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}

// A call to the bucket is bounded by the store's own timeout, not by the
// caller's deadline (a handler's is minutes): with NATS gone, a write
// fails in about Timeout and is retried, instead of holding the request's
// events behind it.
func TestKVCallsAreBounded(t *testing.T) {
	srv := bustest.Start(t)
	b := srv.Connect(t, "projection-timeout")
	kv, err := b.EnsureKV(context.Background(), projection.Bucket, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &projection.KV{KV: kv, Timeout: 300 * time.Millisecond}
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	_, err = s.Modify(ctx, "r1", func(e *projection.Entry) error { e.Project = "TAR"; return nil })
	if !errors.Is(err, projection.ErrUnavailable) {
		t.Fatalf("Modify with NATS down: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("Modify with NATS down took %s, want about the store's 300ms timeout", took)
	}
}
