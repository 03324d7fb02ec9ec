package decide_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/decide"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/teleport"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/rs/zerolog"
)

type links map[string]events.IssueRef

func (l links) Lookup(_ context.Context, id string) (events.IssueRef, bool, error) {
	e, ok := l[id]
	return e, ok, nil
}

func dial(t *testing.T, srv *teleportsim.Server, user string) *teleport.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := teleport.Dial(ctx, teleport.Options{Addr: srv.Addr(), IdentityFile: srv.IdentityFile(user)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A decision handled twice (a redelivery after Teleport applied it but
// before the ack) is reported as applied both times and applied once.
func TestDecideIsIdempotent(t *testing.T) {
	for _, mode := range []string{events.ModeState, events.ModeReview} {
		t.Run(mode, func(t *testing.T) {
			srv := teleportsim.Start(t, teleportsim.Options{})
			user := teleportsim.UserAccessPlugin
			if mode == events.ModeReview {
				user = teleportsim.UserAdmin
			}
			id, err := srv.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "")
			if err != nil {
				t.Fatal(err)
			}
			d := decide.New(decide.Config{
				Client: dial(t, srv, user), Mode: mode,
				Links:     links{id: {ID: "1", Key: "TAR-1"}},
				Reviewers: decide.Reviewers{ByActor: map[string]string{"acct": teleportsim.UserReviewer}},
			})
			dec := *events.NewDecision(id, events.IssueRef{ID: "1", Key: "TAR-1"}, "c1", events.VerdictApprove, "Approved", events.Actor{AccountID: "acct"}, time.Now())
			for i := range 2 {
				out, err := d.Decide(context.Background(), dec, time.Now(), zerolog.Nop())
				if err != nil {
					t.Fatalf("attempt %d: %v", i, err)
				}
				if out.Kind != events.DecisionApplied || out.RequestState != events.StateApproved {
					t.Fatalf("attempt %d: %+v", i, out)
				}
			}
			changes := 0
			for _, ev := range srv.Audit() {
				if ev.Type == teleportsim.EventAccessRequestUpdate || ev.Type == teleportsim.EventAccessRequestReview {
					changes++
				}
			}
			if changes != 1 {
				t.Fatalf("%d changes in the audit, want 1", changes)
			}
			// Another decision for the resolved request is not a redelivery.
			other := dec
			other.ChangelogID, other.Verdict = "c2", events.VerdictDeny
			out, err := d.Decide(context.Background(), other, time.Now(), zerolog.Nop())
			if err != nil || out.Kind != events.DecisionRejected || out.Code != events.RejectAlreadyResolved {
				t.Fatalf("other decision: %+v %v", out, err)
			}
		})
	}
}

// Teleport unreachable: the error is transient, so the bus retries it.
func TestDecideTransientWhenTeleportDown(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	conn := dial(t, srv, teleportsim.UserAccessPlugin)
	id, _ := srv.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "")
	d := decide.New(decide.Config{
		Client: conn, Mode: events.ModeState,
		Links: links{id: {ID: "1", Key: "TAR-1"}},
	})
	_ = srv.Close()
	dec := *events.NewDecision(id, events.IssueRef{ID: "1", Key: "TAR-1"}, "c1", events.VerdictApprove, "Approved", events.Actor{AccountID: "acct"}, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := d.Decide(ctx, dec, time.Now(), zerolog.Nop())
	if err == nil || errors.Is(err, decide.ErrRefused) || errors.Is(err, decide.ErrNotDecision) {
		t.Fatalf("err = %v, want an error the next attempt may not meet (Teleport unreachable)", err)
	}
}
