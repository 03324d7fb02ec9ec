package teleportbridge_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/gravitational/teleport/api/types"
)

// mmDecide publishes the decision.requested the mattermost-bridge would for
// a click by Mattermost user mmUser mapped to teleportUser.
func (h *harness) mmDecide(requestID, postID, mmUser, teleportUser string, v events.Verdict) *events.Decision {
	h.t.Helper()
	a := &events.MattermostAction{RequestID: requestID, Verdict: v, UserID: mmUser + "00000000000000000000000"[:26-len(mmUser)],
		UserName: mmUser, ChannelID: "chan0000000000000000000000", PostID: postID, ReceivedAt: time.Now().UTC()}
	d := events.NewMattermostDecision(a, teleportUser, a.ReceivedAt)
	ctx := testContext(h.t)
	if _, err := h.bus.EnsureStream(ctx, events.MattermostStream()); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.bus.PublishEvent(ctx, "test/mattermost-bridge", d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// TestMattermostDecisionsStateMode: a click by a listed state reviewer sets
// the state with delegator mattermost:<teleport user> and a resolve reason
// naming the Mattermost user; no issue link is needed. A click mapped to a
// Teleport user not on TELEPORT_BRIDGE_MATTERMOST_STATE_REVIEWERS is
// rejected and logged as a security event, and Teleport is not touched.
func TestMattermostDecisionsStateMode(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	cfg := h.config(teleportsim.UserAccessPlugin)
	cfg.MattermostDecisions, cfg.MattermostStateReviewers = true, []string{"bob"}
	h.start(cfg)

	unlisted, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "u")
	out := h.outcome(h.mmDecide(unlisted, "post00000000000000000000001", "mallory", "mallory", events.VerdictApprove))
	if out.Kind != events.DecisionRejected || out.Code != events.RejectUnmappedActor {
		t.Fatalf("unlisted state reviewer: %+v", out)
	}
	if r, _ := h.tp.Request(unlisted); r.GetState() != types.RequestState_PENDING {
		t.Fatalf("unlisted reviewer changed the request: %v", r.GetState())
	}
	eventually(t, "security event", func() error {
		if l := h.logs.String(); !strings.Contains(l, `"event":"unlisted_state_reviewer"`) || !strings.Contains(l, `"security":true`) {
			return errors.New("not logged")
		}
		return nil
	})

	id, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "a")
	out = h.outcome(h.mmDecide(id, "post00000000000000000000002", "bobmm", "bob", events.VerdictApprove))
	if out.Kind != events.DecisionApplied || out.AppliedAs != "mattermost:bob" || out.RequestState != events.StateApproved || out.Mode != events.ModeState {
		t.Fatalf("outcome %+v", out)
	}
	r, _ := h.tp.Request(id)
	if r.GetState() != types.RequestState_APPROVED || r.GetResolveReason() != "Approved in Mattermost by @bobmm (Teleport user bob)" {
		t.Fatalf("teleport: %v %q", r.GetState(), r.GetResolveReason())
	}
	h.waitIDs(id, id+":created", id+":resolved:APPROVED")
}

// TestMattermostDecisionsReviewMode: review mode submits the review as the
// mapped Teleport user and keeps Teleport's thresholds (two approvals).
func TestMattermostDecisionsReviewMode(t *testing.T) {
	h := newHarness(t, teleportsim.Options{Edition: teleportsim.EditionEnterprise})
	cfg := h.config(teleportsim.UserAdmin)
	cfg.DecisionMode = events.ModeReview
	cfg.ReviewerMapFile = writeReviewerMap(t, map[string]string{"acct": teleportsim.UserReviewer})
	cfg.MattermostDecisions = true
	h.start(cfg)

	id, _ := h.tp.CreateRequest(teleportsim.UserStrictRequester, []string{"editor"}, "two approvals")
	out := h.outcome(h.mmDecide(id, "post00000000000000000000003", "rev1", teleportsim.UserReviewer, events.VerdictApprove))
	if out.Kind != events.DecisionApplied || out.AppliedAs != teleportsim.UserReviewer || out.RequestState != events.StatePending || out.Mode != events.ModeReview {
		t.Fatalf("first review: %+v", out)
	}
	out = h.outcome(h.mmDecide(id, "post00000000000000000000003", "rev2", teleportsim.UserReviewer2, events.VerdictApprove))
	if out.Kind != events.DecisionApplied || out.AppliedAs != teleportsim.UserReviewer2 || out.RequestState != events.StateApproved {
		t.Fatalf("second review: %+v", out)
	}
	r, _ := h.tp.Request(id)
	if len(r.GetReviews()) != 2 || !strings.Contains(r.GetReviews()[0].Reason, "in Mattermost by @rev1") {
		t.Fatalf("reviews %+v", r.GetReviews())
	}
}

// TestMattermostDecisionsConfig: state mode needs the list of Teleport
// users allowed to decide from Mattermost.
func TestMattermostDecisionsConfig(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	cfg := h.config(teleportsim.UserAccessPlugin)
	cfg.MattermostDecisions = true
	if err := cfg.CheckAndSetDefaults(); err == nil || !strings.Contains(err.Error(), "TELEPORT_BRIDGE_MATTERMOST_STATE_REVIEWERS") {
		t.Fatalf("state mode without state reviewers: %v", err)
	}
}
