package teleportsim_test

import (
	"strings"
	"testing"

	"github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"

	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

func review(t *testing.T, clt *client.Client, id, author string, state types.RequestState) (types.AccessRequest, error) {
	t.Helper()
	return clt.SubmitAccessReview(testContext(t), types.AccessReviewSubmission{
		RequestID: id,
		Review:    types.AccessReview{Author: author, ProposedState: state, Reason: "by " + author},
	})
}

func TestReviewThresholds(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{Edition: teleportsim.EditionEnterprise})
	r1 := connect(t, srv, teleportsim.UserReviewer)
	r2 := connect(t, srv, teleportsim.UserReviewer2)

	// bob's role needs two approvals.
	id := mustCreate(t, srv, teleportsim.UserStrictRequester)
	out, err := review(t, r1, id, teleportsim.UserReviewer, types.RequestState_APPROVED)
	if err != nil {
		t.Fatalf("first approval: %v", err)
	}
	if !out.GetState().IsPending() {
		t.Fatalf("after one of two approvals: %v, want PENDING", out.GetState())
	}
	if _, err := review(t, r1, id, teleportsim.UserReviewer, types.RequestState_APPROVED); !trace.IsAccessDenied(err) || !strings.Contains(err.Error(), "already reviewed") {
		t.Fatalf("second review by same author: %v", err)
	}
	if _, err := review(t, r2, id, teleportsim.UserReviewer2, types.RequestState_APPROVED); err != nil {
		t.Fatalf("second approval: %v", err)
	}
	req := mustState(t, srv, id, types.RequestState_APPROVED)
	if req.GetResolveReason() != "by reviewer2" {
		t.Errorf("resolve reason %q, want the deciding review's", req.GetResolveReason())
	}
	revs := req.GetReviews()
	if len(revs) != 2 || revs[0].Author != teleportsim.UserReviewer || revs[0].Created.IsZero() || revs[1].Created.IsZero() {
		t.Fatalf("reviews = %+v", revs)
	}

	// One denial (deny: 1) resolves myuser's request; a resolved request takes no reviews.
	id2 := mustCreate(t, srv, teleportsim.UserRequester)
	if _, err := review(t, r1, id2, teleportsim.UserReviewer, types.RequestState_DENIED); err != nil {
		t.Fatal(err)
	}
	mustState(t, srv, id2, types.RequestState_DENIED)
	if _, err := review(t, r2, id2, teleportsim.UserReviewer2, types.RequestState_APPROVED); !trace.IsAccessDenied(err) || !strings.Contains(err.Error(), "already denied") {
		t.Fatalf("review of denied request: %v", err)
	}

	var reviews int
	for _, ev := range srv.Audit() {
		if ev.Type == teleportsim.EventAccessRequestReview {
			reviews++
		}
	}
	if reviews != 3 {
		t.Errorf("%d access_request.review audit events, want 3", reviews)
	}
}

func TestReviewAuthorship(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	plugin := connect(t, srv, teleportsim.UserAccessPlugin)
	requester := connect(t, srv, teleportsim.UserRequester)
	admin := connect(t, srv, teleportsim.UserAdmin)
	id := mustCreate(t, srv, teleportsim.UserRequester)

	_, err := review(t, plugin, id, teleportsim.UserReviewer, types.RequestState_APPROVED)
	if !trace.IsAccessDenied(err) || !strings.Contains(err.Error(), `user "access-plugin" cannot submit reviews on behalf of "reviewer"`) {
		t.Fatalf("plugin on behalf of reviewer: %v", err)
	}
	if _, err := review(t, plugin, id, "", types.RequestState_APPROVED); !trace.IsAccessDenied(err) || !strings.Contains(err.Error(), "cannot submit reviews") {
		t.Fatalf("plugin as itself: %v", err)
	}
	// Requesters hold no review_requests; nobody reviews their own request.
	if _, err := review(t, requester, id, "", types.RequestState_APPROVED); !trace.IsAccessDenied(err) {
		t.Fatalf("requester reviewing own: %v", err)
	}
	if _, err := review(t, admin, id, "no-such-user", types.RequestState_APPROVED); !trace.IsNotFound(err) {
		t.Fatalf("unknown author: %v, want NotFound", err)
	}
	// The built-in admin may author on behalf of a reviewer.
	if _, err := review(t, admin, id, teleportsim.UserReviewer, types.RequestState_APPROVED); err != nil {
		t.Fatalf("admin on behalf of reviewer: %v", err)
	}
	mustState(t, srv, id, types.RequestState_APPROVED)
	if err := srv.Review(id, teleportsim.UserReviewer2, true, ""); !trace.IsAccessDenied(err) {
		t.Fatalf("review of approved request: %v", err)
	}
}

func TestReviewsRefusedInOSS(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{Edition: teleportsim.EditionOSS})
	reviewer := connect(t, srv, teleportsim.UserReviewer)
	id := mustCreate(t, srv, teleportsim.UserRequester)
	if _, err := review(t, reviewer, id, "", types.RequestState_APPROVED); !trace.IsAccessDenied(err) {
		t.Fatalf("oss review: %v, want AccessDenied", err)
	}
	if err := srv.Review(id, teleportsim.UserReviewer, true, ""); !trace.IsAccessDenied(err) {
		t.Fatalf("oss admin review: %v, want AccessDenied", err)
	}
	// State changes with a delegator still work in oss.
	plugin := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := apiutilsWithDelegator(testContext(t), "jira:bob")
	if err := plugin.SetAccessRequestState(ctx, types.AccessRequestUpdate{RequestID: id, State: types.RequestState_DENIED, Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	mustState(t, srv, id, types.RequestState_DENIED)

	// Community Edition refuses roles with review_requests or thresholds.
	ent := teleportsim.DefaultModel(teleportsim.EditionEnterprise)
	if _, err := teleportsim.New(teleportsim.Options{Edition: teleportsim.EditionOSS, Model: &ent, IdentityDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "Enterprise") {
		t.Fatalf("oss with enterprise roles: %v", err)
	}
}

func TestPluginDataCompareAndSwap(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	id := mustCreate(t, srv, teleportsim.UserRequester)
	update := func(set, expect map[string]string) error {
		return clt.UpdatePluginData(ctx, types.PluginDataUpdateParams{
			Kind: types.KindAccessRequest, Resource: id, Plugin: "accessbridge", Set: set, Expect: expect,
		})
	}

	// Create only if absent: expect the field empty.
	if err := update(map[string]string{"issue_key": "TAR-1"}, map[string]string{"issue_key": ""}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := update(map[string]string{"issue_key": "TAR-2"}, map[string]string{"issue_key": ""}); !trace.IsCompareFailed(err) {
		t.Fatalf("second create: %v, want CompareFailed", err)
	}
	if err := update(map[string]string{"issue_key": "TAR-3"}, map[string]string{"issue_key": "TAR-9"}); !trace.IsCompareFailed(err) {
		t.Fatalf("wrong expectation: %v, want CompareFailed", err)
	}
	if err := update(map[string]string{"state": "approved"}, map[string]string{"issue_key": "TAR-1"}); err != nil {
		t.Fatalf("matching expectation: %v", err)
	}
	data, err := clt.GetPluginData(ctx, types.PluginDataFilter{Kind: types.KindAccessRequest, Resource: id, Plugin: "accessbridge"})
	if err != nil || len(data) != 1 {
		t.Fatalf("GetPluginData: %v (%d)", err, len(data))
	}
	entry := data[0].Entries()["accessbridge"]
	if entry.Data["issue_key"] != "TAR-1" || entry.Data["state"] != "approved" {
		t.Fatalf("plugin data = %v", entry.Data)
	}
	if err := clt.UpdatePluginData(ctx, types.PluginDataUpdateParams{Kind: types.KindAccessRequest, Resource: "missing", Plugin: "x", Set: map[string]string{"a": "b"}}); !trace.IsNotFound(err) {
		t.Fatalf("plugin data for unknown request: %v, want NotFound", err)
	}

	// Pre-seeded teleport-jira data is visible to the client.
	if err := srv.SetPluginData(id, "jira", map[string]string{"issue_id": "10001", "issue_key": "TAR-7"}); err != nil {
		t.Fatal(err)
	}
	jira, err := clt.GetPluginData(ctx, types.PluginDataFilter{Kind: types.KindAccessRequest, Resource: id, Plugin: "jira"})
	if err != nil || len(jira) != 1 || jira[0].Entries()["jira"].Data["issue_key"] != "TAR-7" {
		t.Fatalf("jira plugin data: %v %v", jira, err)
	}
	requester := connect(t, srv, teleportsim.UserRequester)
	if _, err := requester.GetPluginData(ctx, types.PluginDataFilter{Kind: types.KindAccessRequest, Resource: id}); !trace.IsAccessDenied(err) {
		t.Fatalf("requester reading plugin data: %v, want AccessDenied", err)
	}
}
