package teleportsim_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/client/proto"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"
	"github.com/jonboulle/clockwork"

	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

func TestPing(t *testing.T) {
	for _, tc := range []struct {
		edition  teleportsim.Edition
		advanced bool
	}{
		{teleportsim.EditionEnterprise, true},
		{teleportsim.EditionOSS, false},
	} {
		t.Run(string(tc.edition), func(t *testing.T) {
			srv := teleportsim.Start(t, teleportsim.Options{Edition: tc.edition})
			clt := connect(t, srv, teleportsim.UserAccessPlugin)
			pong, err := clt.Ping(testContext(t))
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if pong.ClusterName != teleportsim.DefaultClusterName || pong.ServerVersion != teleportsim.DefaultServerVersion {
				t.Errorf("Ping = %s %s", pong.ClusterName, pong.ServerVersion)
			}
			if pong.ProxyPublicAddr != teleportsim.DefaultProxyPublicAddr {
				t.Errorf("ProxyPublicAddr = %q", pong.ProxyPublicAddr)
			}
			if got := pong.ServerFeatures.GetAdvancedAccessWorkflows(); got != tc.advanced {
				t.Errorf("AdvancedAccessWorkflows = %v, want %v", got, tc.advanced)
			}
		})
	}
}

func TestLoadKeyPairAndCallerFromCertificate(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	mine := mustCreate(t, srv, teleportsim.UserRequester)
	mustCreate(t, srv, "alice")

	crt, key, cas := srv.TLSFiles(teleportsim.UserRequester)
	clt := connectWith(t, srv, client.LoadKeyPair(crt, key, cas))
	ctx := testContext(t)
	if _, err := clt.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// Without list/read on access_request a user sees only its own requests:
	// the server took the user from the certificate.
	reqs, err := clt.GetAccessRequests(ctx, types.AccessRequestFilter{})
	if err != nil {
		t.Fatalf("GetAccessRequests: %v", err)
	}
	if len(reqs) != 1 || reqs[0].GetName() != mine {
		t.Fatalf("requester sees %d requests, want only its own", len(reqs))
	}
}

func TestIdentityFileFormat(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	raw, err := os.ReadFile(srv.IdentityFile(teleportsim.UserAccessPlugin))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []string{"-----BEGIN PRIVATE KEY-----", "ecdsa-sha2-nistp256-cert-v01@openssh.com ", "-----BEGIN CERTIFICATE-----", "@cert-authority "} {
		if !strings.Contains(text, want) {
			t.Errorf("identity file lacks %q", want)
		}
	}
	info, err := os.Stat(srv.IdentityFile(teleportsim.UserAccessPlugin))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode = %v, want 0600", info.Mode().Perm())
	}
	if filepath.Base(srv.IdentityFile("x")) != "identity" {
		t.Errorf("unexpected identity path %s", srv.IdentityFile("x"))
	}
}

func TestWatchPutAndDelete(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	w := watchRequests(t, ctx, clt)

	node := types.ResourceID{ClusterName: teleportsim.DefaultClusterName, Kind: types.KindNode, Name: "db-1"}
	id := mustCreate(t, srv, teleportsim.UserRequester,
		teleportsim.WithSuggestedReviewers(teleportsim.UserReviewer), teleportsim.WithResources(node))
	ev := nextEvent(t, w)
	req, ok := ev.Resource.(types.AccessRequest)
	if ev.Type != types.OpPut || !ok || req.GetName() != id || !req.GetState().IsPending() {
		t.Fatalf("create event = %v %T", ev.Type, ev.Resource)
	}
	if req.GetRequestReason() != "need to edit" || len(req.GetSuggestedReviewers()) != 1 {
		t.Errorf("request fields lost: reason %q reviewers %v", req.GetRequestReason(), req.GetSuggestedReviewers())
	}
	if res := req.GetRequestedResourceIDs(); len(res) != 1 || types.ResourceIDToString(res[0]) != types.ResourceIDToString(node) {
		t.Errorf("requested resources = %v", res)
	}

	if err := srv.Approve(id, "ok"); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, w)
	if req, ok := ev.Resource.(types.AccessRequest); ev.Type != types.OpPut || !ok || !req.GetState().IsApproved() {
		t.Fatalf("approve event = %v %T", ev.Type, ev.Resource)
	}

	if err := srv.Expire(id); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, w)
	if ev.Type != types.OpDelete || ev.Resource.GetKind() != types.KindAccessRequest || ev.Resource.GetName() != id {
		t.Fatalf("expire event = %v %s/%s", ev.Type, ev.Resource.GetKind(), ev.Resource.GetName())
	}
	if _, err := srv.Request(id); !trace.IsNotFound(err) {
		t.Fatalf("Request after expiry: %v, want NotFound", err)
	}
}

func TestExpiryFollowsClock(t *testing.T) {
	clock := clockwork.NewFakeClock()
	srv := teleportsim.Start(t, teleportsim.Options{Clock: clock})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	w := watchRequests(t, ctx, clt)

	short := mustCreate(t, srv, teleportsim.UserRequester, teleportsim.WithTTL(10*time.Minute))
	long := mustCreate(t, srv, "alice", teleportsim.WithTTL(time.Hour))
	nextEvent(t, w)
	nextEvent(t, w)
	if err := srv.SetPluginData(short, "jira", map[string]string{"issue_key": "TAR-1"}); err != nil {
		t.Fatal(err)
	}

	clock.Advance(11 * time.Minute)
	ev := nextEvent(t, w)
	if ev.Type != types.OpDelete || ev.Resource.GetName() != short {
		t.Fatalf("event = %v %s, want OpDelete %s", ev.Type, ev.Resource.GetName(), short)
	}
	mustState(t, srv, long, types.RequestState_PENDING)
	// Plugin data outlives the request so plugins can handle the delete.
	data, err := clt.GetPluginData(ctx, types.PluginDataFilter{Kind: types.KindAccessRequest, Resource: short, Plugin: "jira"})
	if err != nil || len(data) != 1 {
		t.Fatalf("plugin data after expiry: %v (%d)", err, len(data))
	}
}

func TestWatchFilter(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	filter := types.AccessRequestFilter{User: "alice"}
	w := watchRequests(t, ctx, clt, types.WatchKind{Kind: types.KindAccessRequest, Filter: filter.IntoMap()})

	mustCreate(t, srv, teleportsim.UserRequester)
	id := mustCreate(t, srv, "alice")
	ev := nextEvent(t, w)
	if ev.Type != types.OpPut || ev.Resource.GetName() != id {
		t.Fatalf("filtered watch got %v %s, want alice's %s", ev.Type, ev.Resource.GetName(), id)
	}
}

func TestWatchUnsupportedKind(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	w, err := clt.NewWatcher(ctx, types.Watch{Kinds: []types.WatchKind{{Kind: types.KindNode}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	select {
	case ev := <-w.Events():
		t.Fatalf("got %v, want the stream to fail", ev.Type)
	case <-w.Done():
		if !trace.IsBadParameter(w.Error()) {
			t.Fatalf("watch error = %v, want BadParameter", w.Error())
		}
	case <-time.After(waitFor):
		t.Fatal("watch of unsupported kind did not fail")
	}

	// With partial success, OpInit confirms only what is supported.
	w2, err := clt.NewWatcher(ctx, types.Watch{AllowPartialSuccess: true, Kinds: []types.WatchKind{{Kind: types.KindNode}, {Kind: types.KindAccessRequest}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	ev := nextEvent(t, w2)
	status, ok := ev.Resource.(types.WatchStatus)
	if ev.Type != types.OpInit || !ok || len(status.GetKinds()) != 1 || status.GetKinds()[0].Kind != types.KindAccessRequest {
		t.Fatalf("init = %v %#v", ev.Type, ev.Resource)
	}
}

func TestGetAccessRequestsFilters(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{MaxPageSize: 2})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	var ids []string
	for range 5 {
		ids = append(ids, mustCreate(t, srv, teleportsim.UserRequester))
	}
	if err := srv.Approve(ids[1], ""); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deny(ids[2], ""); err != nil {
		t.Fatal(err)
	}

	all, err := clt.GetAccessRequests(ctx, types.AccessRequestFilter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("all (paged by 2): %d, %v", len(all), err)
	}
	byID, err := clt.GetAccessRequests(ctx, types.AccessRequestFilter{ID: ids[3]})
	if err != nil || len(byID) != 1 || byID[0].GetName() != ids[3] {
		t.Fatalf("by id: %v, %v", byID, err)
	}
	pending, err := clt.GetAccessRequests(ctx, types.AccessRequestFilter{State: types.RequestState_PENDING})
	if err != nil || len(pending) != 3 {
		t.Fatalf("pending: %d, %v", len(pending), err)
	}
	approved, err := clt.GetAccessRequests(ctx, types.AccessRequestFilter{State: types.RequestState_APPROVED})
	if err != nil || len(approved) != 1 || approved[0].GetName() != ids[1] {
		t.Fatalf("approved: %v, %v", approved, err)
	}
	none, err := clt.GetAccessRequests(ctx, types.AccessRequestFilter{ID: "missing"})
	if err != nil || len(none) != 0 {
		t.Fatalf("missing id: %v, %v", none, err)
	}
}

func TestSetAccessRequestStateWithDelegator(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	id := mustCreate(t, srv, teleportsim.UserRequester)

	err := clt.SetAccessRequestState(apiutilsWithDelegator(ctx, "jira:alice@example.com"), types.AccessRequestUpdate{
		RequestID:   id,
		State:       types.RequestState_APPROVED,
		Reason:      "approved in Jira",
		Annotations: map[string][]string{"jira_issue": {"TAR-1"}},
	})
	if err != nil {
		t.Fatalf("SetAccessRequestState: %v", err)
	}
	req := mustState(t, srv, id, types.RequestState_APPROVED)
	if req.GetResolveReason() != "approved in Jira" || req.GetResolveAnnotations()["jira_issue"][0] != "TAR-1" {
		t.Errorf("resolve reason %q annotations %v", req.GetResolveReason(), req.GetResolveAnnotations())
	}
	var found bool
	for _, ev := range srv.Audit() {
		if ev.Type == teleportsim.EventAccessRequestUpdate && ev.RequestID == id {
			found = true
			if ev.UpdatedBy != teleportsim.UserAccessPlugin || ev.Delegator != "jira:alice@example.com" || ev.State != "APPROVED" || ev.Code != "T5001I" {
				t.Errorf("audit event = %+v", ev)
			}
		}
	}
	if !found {
		t.Fatal("no access_request.update audit event")
	}
}

func TestStateRules(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	plugin := connect(t, srv, teleportsim.UserAccessPlugin)
	requester := connect(t, srv, teleportsim.UserRequester)
	ctx := testContext(t)
	set := func(clt *client.Client, id string, state types.RequestState) error {
		return clt.SetAccessRequestState(ctx, types.AccessRequestUpdate{RequestID: id, State: state})
	}

	denied := mustCreate(t, srv, teleportsim.UserRequester)
	if err := set(plugin, denied, types.RequestState_DENIED); err != nil {
		t.Fatal(err)
	}
	err := set(plugin, denied, types.RequestState_APPROVED)
	if !trace.IsBadParameter(err) || !strings.Contains(err.Error(), "already denied") {
		t.Fatalf("approve after deny: %v, want BadParameter already denied", err)
	}
	mustState(t, srv, denied, types.RequestState_DENIED)

	// As in Teleport, a denial may overwrite an approval.
	approved := mustCreate(t, srv, teleportsim.UserRequester)
	if err := set(plugin, approved, types.RequestState_APPROVED); err != nil {
		t.Fatal(err)
	}
	if err := set(plugin, approved, types.RequestState_DENIED); err != nil {
		t.Fatalf("deny after approve: %v", err)
	}

	if err := set(plugin, "no-such-request", types.RequestState_APPROVED); !trace.IsNotFound(err) {
		t.Fatalf("unknown id: %v, want NotFound", err)
	}
	own := mustCreate(t, srv, teleportsim.UserRequester)
	if err := set(requester, own, types.RequestState_APPROVED); !trace.IsAccessDenied(err) {
		t.Fatalf("requester approving: %v, want AccessDenied", err)
	}
	if err := set(plugin, own, types.RequestState_PENDING); !trace.IsBadParameter(err) {
		t.Fatalf("set PENDING: %v, want BadParameter", err)
	}
}

func TestCreateAndDeleteThroughAPI(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	requester := connect(t, srv, teleportsim.UserRequester)
	plugin := connect(t, srv, teleportsim.UserAccessPlugin)
	admin := connect(t, srv, teleportsim.UserAdmin)
	ctx := testContext(t)
	w := watchRequests(t, ctx, plugin)

	req, err := types.NewAccessRequest("11111111-2222-3333-4444-555555555555", teleportsim.UserRequester, "editor")
	if err != nil {
		t.Fatal(err)
	}
	req.SetRequestReason("deploy")
	created, err := requester.CreateAccessRequestV2(ctx, req)
	if err != nil {
		t.Fatalf("CreateAccessRequestV2: %v", err)
	}
	if !created.GetState().IsPending() || created.GetCreationTime().IsZero() || len(created.GetThresholds()) == 0 {
		t.Errorf("created = %v created %v thresholds %v", created.GetState(), created.GetCreationTime(), created.GetThresholds())
	}
	if ev := nextEvent(t, w); ev.Type != types.OpPut || ev.Resource.GetName() != req.GetName() {
		t.Fatalf("create event %v %s", ev.Type, ev.Resource.GetName())
	}
	if _, err := requester.CreateAccessRequestV2(ctx, req); !trace.IsAlreadyExists(err) {
		t.Fatalf("duplicate: %v, want AlreadyExists", err)
	}
	bad, _ := types.NewAccessRequest("66666666-2222-3333-4444-555555555555", teleportsim.UserRequester, "access-plugin")
	if _, err := requester.CreateAccessRequestV2(ctx, bad); !trace.IsAccessDenied(err) {
		t.Fatalf("unrequestable role: %v, want AccessDenied", err)
	}
	other, _ := types.NewAccessRequest("77777777-2222-3333-4444-555555555555", "alice", "editor")
	if _, err := plugin.CreateAccessRequestV2(ctx, other); !trace.IsAccessDenied(err) {
		t.Fatalf("plugin creating for alice: %v, want AccessDenied", err)
	}

	if err := plugin.DeleteAccessRequest(ctx, req.GetName()); !trace.IsAccessDenied(err) {
		t.Fatalf("plugin delete: %v, want AccessDenied", err)
	}
	if err := admin.DeleteAccessRequest(ctx, req.GetName()); err != nil {
		t.Fatalf("admin delete: %v", err)
	}
	if ev := nextEvent(t, w); ev.Type != types.OpDelete || ev.Resource.GetName() != req.GetName() {
		t.Fatalf("delete event %v %s", ev.Type, ev.Resource.GetName())
	}
	if err := admin.DeleteAccessRequest(ctx, req.GetName()); !trace.IsNotFound(err) {
		t.Fatalf("second delete: %v, want NotFound", err)
	}
}

// Deleting requests between two pages must not make the listing skip a
// request that exists throughout (Teleport pages by backend key, not by
// offset). An offset page key skipped one request per deletion.
func TestListingSkipsNothingWhenRequestsGoAway(t *testing.T) {
	for _, order := range []struct {
		sort       proto.AccessRequestSort
		descending bool
	}{{proto.AccessRequestSort_DEFAULT, false}, {proto.AccessRequestSort_DEFAULT, true}, {proto.AccessRequestSort_CREATED, true}, {proto.AccessRequestSort_USER, false}} {
		t.Run(fmt.Sprintf("%v descending=%v", order.sort, order.descending), func(t *testing.T) {
			srv := teleportsim.Start(t, teleportsim.Options{})
			clt := connect(t, srv, teleportsim.UserAccessPlugin)
			ctx := testContext(t)
			for range 9 {
				mustCreate(t, srv, teleportsim.UserRequester)
			}
			req := &proto.ListAccessRequestsRequest{Limit: 2, Sort: order.sort, Descending: order.descending}
			seen := map[string]bool{}
			deleted := map[string]bool{}
			var names []string // in the order listed
			for page := 0; ; page++ {
				rsp, err := clt.ListAccessRequests(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rsp.AccessRequests {
					seen[r.GetName()] = true
					names = append(names, r.GetName())
				}
				// Teleport expires the requests already listed.
				for _, r := range rsp.AccessRequests {
					if err := srv.Expire(r.GetName()); err != nil {
						t.Fatal(err)
					}
					deleted[r.GetName()] = true
				}
				if rsp.NextKey == "" {
					break
				}
				if page > 10 {
					t.Fatal("the listing never ends")
				}
				req.StartKey = rsp.NextKey
			}
			if len(seen) != 9 {
				t.Fatalf("listed %d of 9 requests while listed ones were deleted", len(seen))
			}
			if order.sort == proto.AccessRequestSort_DEFAULT {
				if order.descending {
					slices.Reverse(names)
				}
				if !slices.IsSorted(names) {
					t.Fatalf("listed by name (descending %v) in the order %v", order.descending, names)
				}
			}
		})
	}
}
