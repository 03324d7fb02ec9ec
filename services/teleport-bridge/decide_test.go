package teleportbridge_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/gravitational/teleport/api/types"
)

func TestStateModeAppliesDecisionsWithDelegator(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	b := h.start(h.config(teleportsim.UserAccessPlugin))

	approve, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "a")
	deny, _ := h.tp.CreateRequest("alice", []string{"editor"}, "d")
	h.link(approve, "10001", "TAR-1")
	h.link(deny, "10002", "TAR-2")

	d1 := h.decide(approve, "10001", "TAR-1", "100", events.VerdictApprove, jiraActor)
	d2 := h.decide(deny, "10002", "TAR-2", "200", events.VerdictDeny, events.Actor{AccountID: "acct-2"})
	out1, out2 := h.outcome(d1), h.outcome(d2)
	if out1.Kind != events.DecisionApplied || out1.AppliedAs != "jira:"+jiraActor.AccountID || out1.RequestState != events.StateApproved || out1.Mode != events.ModeState {
		t.Errorf("approve outcome = %+v", out1)
	}
	if out2.Kind != events.DecisionApplied || out2.AppliedAs != "jira:acct-2" || out2.RequestState != events.StateDenied {
		t.Errorf("deny outcome = %+v", out2)
	}
	if r, _ := h.tp.Request(approve); r.GetState() != types.RequestState_APPROVED || r.GetResolveReason() != "decided in Jira 100" {
		t.Errorf("teleport: %v %q", r.GetState(), r.GetResolveReason())
	}
	if r, _ := h.tp.Request(deny); r.GetState() != types.RequestState_DENIED {
		t.Errorf("teleport: %v", r.GetState())
	}
	delegators := map[string]string{}
	for _, ev := range h.tp.Audit() {
		if ev.Type == teleportsim.EventAccessRequestUpdate && ev.RequestID != "" {
			delegators[ev.RequestID] = ev.Delegator + " by " + ev.UpdatedBy
		}
	}
	if delegators[approve] != "jira:"+jiraActor.AccountID+" by access-plugin" || delegators[deny] != "jira:acct-2 by access-plugin" {
		t.Errorf("audit delegators = %v", delegators)
	}

	// A later move of the same issue (a new changelog id) finds the request
	// resolved: it is rejected and Teleport is not touched again. (A
	// redelivery of the same decision is covered in internal/decide.)
	again := h.decide(approve, "10001", "TAR-1", "101", events.VerdictDeny, jiraActor)
	if out := h.outcome(again); out.Kind != events.DecisionRejected || out.Code != events.RejectAlreadyResolved || out.RequestState != events.StateApproved {
		t.Errorf("second decision = %+v", out)
	}
	// The request events reflect the decision.
	h.waitIDs(approve, approve+":created", approve+":resolved:APPROVED")
	if n := len(h.messages(events.StreamTeleport, events.TeleportDecisionSubject(approve))); n != 2 {
		t.Errorf("%d outcomes for %s, want 2", n, approve)
	}
	for _, want := range []string{
		`accessbridge_teleport_bridge_decisions_total{code="",outcome="applied"} 2`,
		`accessbridge_teleport_bridge_decisions_total{code="already_resolved",outcome="rejected"} 1`,
	} {
		if !strings.Contains(scrape(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestDecisionsRejected(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	h.start(h.config(teleportsim.UserAccessPlugin))
	updates := func() int {
		n := 0
		for _, ev := range h.tp.Audit() {
			if ev.Type == teleportsim.EventAccessRequestUpdate || ev.Type == teleportsim.EventAccessRequestReview {
				n++
			}
		}
		return n
	}

	// Already resolved in Teleport.
	resolved, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "")
	if err := h.tp.Deny(resolved, "no"); err != nil {
		t.Fatal(err)
	}
	h.link(resolved, "10001", "TAR-1")
	base := updates()
	out := h.outcome(h.decide(resolved, "10001", "TAR-1", "1", events.VerdictApprove, jiraActor))
	if out.Kind != events.DecisionRejected || out.Code != events.RejectAlreadyResolved || out.RequestState != events.StateDenied || !strings.Contains(out.Reason, "already DENIED") {
		t.Errorf("already resolved: %+v", out)
	}

	// Unknown (expired or never existed).
	out = h.outcome(h.decide("00000000-1111-2222-3333-444444444444", "10009", "TAR-9", "1", events.VerdictApprove, jiraActor))
	if out.Kind != events.DecisionRejected || out.Code != events.RejectNotFound {
		t.Errorf("unknown: %+v", out)
	}
	expired, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "")
	h.link(expired, "10003", "TAR-3")
	if err := h.tp.Expire(expired); err != nil {
		t.Fatal(err)
	}
	out = h.outcome(h.decide(expired, "10003", "TAR-3", "1", events.VerdictApprove, jiraActor))
	if out.Kind != events.DecisionRejected || out.Code != events.RejectNotFound || !strings.Contains(out.Reason, "expired or deleted") {
		t.Errorf("expired: %+v", out)
	}

	// Forged: another issue than the linked one; and no link at all after LinkWait.
	pending, _ := h.tp.CreateRequest("alice", []string{"editor"}, "")
	h.link(pending, "10004", "TAR-4")
	out = h.outcome(h.decide(pending, "66666", "EVIL-1", "1", events.VerdictApprove, jiraActor))
	if out.Kind != events.DecisionRejected || out.Code != events.RejectForged || !strings.Contains(out.Reason, "TAR-4") {
		t.Errorf("wrong issue: %+v", out)
	}
	unlinked, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "")
	start := time.Now()
	d := h.decide(unlinked, "10005", "TAR-5", "1", events.VerdictApprove, jiraActor)
	out = h.outcome(d)
	if out.Kind != events.DecisionRejected || out.Code != events.RejectForged || out.RequestState != events.StatePending {
		t.Errorf("unlinked: %+v", out)
	}
	if waited := time.Since(start); waited < 2*time.Second {
		t.Errorf("unlinked decision rejected after %v, before the 2s link wait", waited)
	}
	// Both forgeries are logged as security events.
	if logs := h.logs.String(); strings.Count(logs, `"security":true`) < 2 || !strings.Contains(logs, "EVIL-1") || !strings.Contains(logs, "forged_decision") {
		t.Errorf("security events not logged:\n%s", logs)
	}
	for _, id := range []string{pending, unlinked} {
		if r, _ := h.tp.Request(id); r.GetState() != types.RequestState_PENDING {
			t.Errorf("%s is %v after a forged decision", id, r.GetState())
		}
	}
	if n := updates(); n != base {
		t.Errorf("%d state changes or reviews after rejected decisions, want none", n-base)
	}
}

func TestDecisionWaitsForLaggingLink(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	cfg := h.config(teleportsim.UserAccessPlugin)
	cfg.LinkWait = time.Minute
	h.start(cfg)
	id, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "")
	d := h.decide(id, "10001", "TAR-1", "1", events.VerdictApprove, jiraActor)
	// The jira-bridge records the link after the decision arrived.
	eventually(t, "decision retried while unlinked", func() error {
		if n := strings.Count(h.logs.String(), "will retry"); n < 1 {
			return fmt.Errorf("retried %d times", n)
		}
		return nil
	})
	if n := len(h.messages(events.StreamTeleport, events.TeleportDecisionSubject(id))); n != 0 {
		t.Fatalf("%d outcomes published before the link", n)
	}
	h.link(id, "10001", "TAR-1")
	if out := h.outcome(d); out.Kind != events.DecisionApplied {
		t.Fatalf("outcome = %+v", out)
	}
}

func writeReviewerMap(t *testing.T, m map[string]string) string {
	t.Helper()
	b, _ := json.Marshal(m)
	p := filepath.Join(t.TempDir(), "reviewers.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReviewModeRespectsThresholds(t *testing.T) {
	h := newHarness(t, teleportsim.Options{Edition: teleportsim.EditionEnterprise})
	// Review mode submits reviews on behalf of the mapped users, which
	// Teleport allows the built-in admin identity.
	cfg := h.config(teleportsim.UserAdmin)
	cfg.DecisionMode = events.ModeReview
	cfg.ReviewerMapFile = writeReviewerMap(t, map[string]string{"acct-r1": teleportsim.UserReviewer, "R2@Example.com": teleportsim.UserReviewer2})
	cfg.ReviewerMatchEmail = true // the second reviewer is mapped by email
	h.start(cfg)

	id, _ := h.tp.CreateRequest(teleportsim.UserStrictRequester, []string{"editor"}, "two approvals")
	h.link(id, "10001", "TAR-1")
	out := h.outcome(h.decide(id, "10001", "TAR-1", "1", events.VerdictApprove, events.Actor{AccountID: "acct-r1"}))
	if out.Kind != events.DecisionApplied || out.AppliedAs != teleportsim.UserReviewer || out.RequestState != events.StatePending || out.Mode != events.ModeReview {
		t.Fatalf("first review: %+v", out)
	}
	if r, _ := h.tp.Request(id); r.GetState() != types.RequestState_PENDING || len(r.GetReviews()) != 1 || r.GetReviews()[0].Author != teleportsim.UserReviewer {
		t.Fatalf("after one of two approvals: %v %+v", r.GetState(), r.GetReviews())
	}
	h.waitIDs(id, id+":created", id+":review:1")

	// An unmapped actor is rejected, nothing applied.
	out = h.outcome(h.decide(id, "10001", "TAR-1", "2", events.VerdictApprove, events.Actor{AccountID: "stranger"}))
	if out.Kind != events.DecisionRejected || out.Code != events.RejectUnmappedActor {
		t.Fatalf("unmapped: %+v", out)
	}
	eventually(t, "the unmapped actor's security event", func() error {
		if !strings.Contains(h.logs.String(), `"event":"unmapped_actor"`) {
			return errors.New("not logged")
		}
		return nil
	})
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, `"event":"unmapped_actor"`) && (!strings.Contains(l, `"security":true`) || !strings.Contains(l, `"actor":"stranger"`) ||
			!strings.Contains(l, `"claimed_request":"`+id+`"`) || !strings.Contains(l, `"issue_key":"TAR-1"`)) {
			t.Errorf("unmapped actor line: %s", l)
		}
	}
	// The same reviewer again: Teleport's rule, reported as refused.
	out = h.outcome(h.decide(id, "10001", "TAR-1", "3", events.VerdictDeny, events.Actor{AccountID: "acct-r1"}))
	if out.Kind != events.DecisionRejected || out.Code != events.RejectRefused {
		t.Fatalf("second review by the same user: %+v", out)
	}

	// The second mapped reviewer (email, any case) reaches the threshold.
	out = h.outcome(h.decide(id, "10001", "TAR-1", "4", events.VerdictApprove, events.Actor{AccountID: "acct-x", Email: "r2@example.com"}))
	if out.Kind != events.DecisionApplied || out.AppliedAs != teleportsim.UserReviewer2 || out.RequestState != events.StateApproved {
		t.Fatalf("second review: %+v", out)
	}
	h.waitIDs(id, id+":created", id+":review:1", id+":review:2", id+":resolved:APPROVED")
}

func TestReviewModeTeleportRefusal(t *testing.T) {
	h := newHarness(t, teleportsim.Options{Edition: teleportsim.EditionEnterprise})
	cfg := h.config(teleportsim.UserAdmin)
	cfg.DecisionMode = events.ModeReview
	cfg.ReviewerMapFile = writeReviewerMap(t, map[string]string{"acct-myuser": teleportsim.UserRequester})
	h.start(cfg)
	id, _ := h.tp.CreateRequest("alice", []string{"editor"}, "")
	h.link(id, "10001", "TAR-1")
	// myuser holds no review_requests: Teleport refuses, the reason is carried.
	out := h.outcome(h.decide(id, "10001", "TAR-1", "1", events.VerdictApprove, events.Actor{AccountID: "acct-myuser"}))
	if out.Kind != events.DecisionRejected || out.Code != events.RejectRefused || !strings.Contains(out.Reason, "Teleport refused") || !strings.Contains(out.Reason, "myuser") {
		t.Fatalf("refused review: %+v", out)
	}
	if r, _ := h.tp.Request(id); r.GetState() != types.RequestState_PENDING || len(r.GetReviews()) != 0 {
		t.Fatalf("request changed: %v %v", r.GetState(), r.GetReviews())
	}
}

// Teleport unreachable for longer than DecisionMaxAttempts deliveries take,
// but within DecisionRetryWindow: the decision waits and is applied, not
// dead-lettered.
func TestDecisionOutlivesTeleportOutage(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	cfg := h.config(teleportsim.UserAccessPlugin)
	cfg.DecisionMaxAttempts = 2
	b := h.start(cfg)
	id, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "outage")
	h.link(id, "10001", "TAR-1")
	h.tp.RefuseConnections(5 * time.Second)
	d := h.decide(id, "10001", "TAR-1", "100", events.VerdictApprove, jiraActor)
	if out := h.outcome(d); out.Kind != events.DecisionApplied {
		t.Fatalf("outcome = %+v", out)
	}
	// The outage really outlasted MaxAttempts: the decision failed more
	// often than that before it was applied.
	m := scrape(b)
	var retries int
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, `accessbridge_messages_total{consumer="teleport-bridge-decisions",outcome="retry"} `) {
			retries, _ = strconv.Atoi(strings.Fields(line)[1])
		}
		if strings.Contains(line, `outcome="dead_letter"`) {
			t.Fatalf("dead-lettered: %s", line)
		}
	}
	if retries < cfg.DecisionMaxAttempts {
		t.Fatalf("%d failed attempts before the decision was applied; the outage did not outlast DecisionMaxAttempts=%d", retries, cfg.DecisionMaxAttempts)
	}
	t.Logf("applied after %d failed attempts", retries)
}
