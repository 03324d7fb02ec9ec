package teleportbridge_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	teleportbridge "github.com/accessbridge/accessbridge/services/teleport-bridge"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/gravitational/teleport/api/types"
)

func TestRequestLifecycleEvents(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	b := h.start(h.config(teleportsim.UserAccessPlugin))

	// A created request yields exactly one request.created with the full snapshot.
	id, err := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "deploy hotfix",
		teleportsim.WithSuggestedReviewers(teleportsim.UserReviewer),
		teleportsim.WithResources(types.ResourceID{ClusterName: "teleport.example.com", Kind: "node", Name: "db-1"}))
	if err != nil {
		t.Fatal(err)
	}
	evs := h.waitIDs(id, id+":created")
	if evs[0].Type != events.RequestCreated || evs[0].Source != teleportbridge.Source {
		t.Fatalf("event = %s from %s", evs[0].Type, evs[0].Source)
	}
	snap := evs[0].Payload.(*events.RequestEvent).Request
	tr, _ := h.tp.Request(id)
	switch {
	case snap.User != teleportsim.UserRequester, !slices.Equal(snap.Roles, []string{"editor"}), snap.Reason != "deploy hotfix":
		t.Errorf("user/roles/reason = %q %v %q", snap.User, snap.Roles, snap.Reason)
	case snap.State != events.StatePending, !slices.Contains(snap.SuggestedReviewers, teleportsim.UserReviewer):
		t.Errorf("state/reviewers = %s %v", snap.State, snap.SuggestedReviewers)
	case len(snap.RequestedResources) != 1 || snap.RequestedResources[0].String() != "node/teleport.example.com/db-1":
		t.Errorf("resources = %+v", snap.RequestedResources)
	case !snap.Created.Equal(tr.GetCreationTime()), !snap.Expires.Equal(tr.Expiry()), !snap.MaxDuration.Equal(tr.GetMaxDuration()):
		t.Errorf("times = %v %v %v", snap.Created, snap.Expires, snap.MaxDuration)
	case snap.Revision != tr.GetRevision(), snap.Cluster.Name != teleportsim.DefaultClusterName,
		snap.Cluster.ProxyAddr != teleportsim.DefaultProxyPublicAddr, !snap.Cluster.AdvancedWorkflows:
		t.Errorf("revision/cluster = %q %+v", snap.Revision, snap.Cluster)
	case snap.LegacyIssue != nil:
		t.Errorf("legacy issue = %+v, want none", snap.LegacyIssue)
	}

	// A review (two approvals needed) yields request.reviewed; the second resolves.
	strict, err := h.tp.CreateRequest(teleportsim.UserStrictRequester, []string{"editor"}, "two please")
	if err != nil {
		t.Fatal(err)
	}
	h.waitIDs(strict, strict+":created")
	if err := h.tp.Review(strict, teleportsim.UserReviewer, true, "ok by me"); err != nil {
		t.Fatal(err)
	}
	evs = h.waitIDs(strict, strict+":created", strict+":review:1")
	rv := evs[1].Payload.(*events.RequestEvent)
	if rv.Review != 1 || rv.Request.Reviews[0].Author != teleportsim.UserReviewer || rv.Request.Reviews[0].Reason != "ok by me" || rv.Request.State != events.StatePending {
		t.Errorf("reviewed = %+v", rv)
	}
	if err := h.tp.Review(strict, teleportsim.UserReviewer2, true, "me too"); err != nil {
		t.Fatal(err)
	}
	evs = h.waitIDs(strict, strict+":created", strict+":review:1", strict+":review:2", strict+":resolved:APPROVED")
	if res := evs[3].Payload.(*events.RequestEvent).Request; res.State != events.StateApproved || res.ResolveReason != "me too" || len(res.Reviews) != 2 {
		t.Errorf("resolved = %+v", res)
	}

	// Approval and denial by an admin yield request.resolved.
	if err := h.tp.Approve(id, "go ahead"); err != nil {
		t.Fatal(err)
	}
	evs = h.waitIDs(id, id+":created", id+":resolved:APPROVED")
	if r := evs[1].Payload.(*events.RequestEvent).Request; r.ResolveReason != "go ahead" {
		t.Errorf("resolve reason %q", r.ResolveReason)
	}
	denied, _ := h.tp.CreateRequest("alice", []string{"editor"}, "")
	h.waitIDs(denied, denied+":created")
	if err := h.tp.Deny(denied, "not now"); err != nil {
		t.Fatal(err)
	}
	h.waitIDs(denied, denied+":created", denied+":resolved:DENIED")

	// Expiry (OpDelete) of a pending request yields request.expired; of a
	// resolved one, nothing.
	exp, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "short")
	h.waitIDs(exp, exp+":created")
	if err := h.tp.Expire(exp); err != nil {
		t.Fatal(err)
	}
	evs = h.waitIDs(exp, exp+":created", exp+":expired")
	if r := evs[1].Payload.(*events.RequestEvent).Request; r.User != teleportsim.UserRequester || r.State != events.StatePending {
		t.Errorf("expired snapshot = %+v", r)
	}
	if err := h.tp.Delete(id); err != nil {
		t.Fatal(err)
	}
	// A marker request shows the deletion was processed before we look.
	marker, _ := h.tp.CreateRequest("alice", []string{"editor"}, "marker")
	h.waitIDs(marker, marker+":created")
	h.waitIDs(id, id+":created", id+":resolved:APPROVED")

	// Metrics count published events by type.
	rec := httptest.NewRecorder()
	b.ops.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`accessbridge_teleport_bridge_events_published_total{type="request.created.v1"} 5`,
		`accessbridge_teleport_bridge_events_published_total{type="request.expired.v1"} 1`,
		`accessbridge_teleport_bridge_watch_connected 1`,
		`accessbridge_teleport_bridge_last_event_age_seconds`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestLegacyTeleportJiraIssueCarried(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	// teleport-jira left its plugin data before the bridge started.
	id, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "old")
	if err := h.tp.SetPluginData(id, "jira", map[string]string{"issue_id": "10042", "issue_key": "TAR-42"}); err != nil {
		t.Fatal(err)
	}
	h.start(h.config(teleportsim.UserAccessPlugin))
	evs := h.waitIDs(id, id+":created")
	if li := evs[0].Payload.(*events.RequestEvent).Request.LegacyIssue; li == nil || li.ID != "10042" || li.Key != "TAR-42" {
		t.Fatalf("legacy issue = %+v", li)
	}

	// With migration off, nothing is carried.
	h2 := newHarness(t, teleportsim.Options{})
	id2, _ := h2.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "old")
	if err := h2.tp.SetPluginData(id2, "jira", map[string]string{"issue_id": "10043", "issue_key": "TAR-43"}); err != nil {
		t.Fatal(err)
	}
	cfg := h2.config(teleportsim.UserAccessPlugin)
	cfg.MigrateTeleportJira = false
	h2.start(cfg)
	evs = h2.waitIDs(id2, id2+":created")
	if li := evs[0].Payload.(*events.RequestEvent).Request.LegacyIssue; li != nil {
		t.Fatalf("legacy issue with migration off = %+v", li)
	}
}

func TestTwoReplicasPublishEachEventOnce(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	cfg := h.config(teleportsim.UserAccessPlugin)
	replicas := []*bridge{h.start(cfg), h.start(cfg)}
	var reqs []string
	for i := range 5 {
		id, err := h.tp.CreateRequest(teleportsim.UserStrictRequester, []string{"editor"}, fmt.Sprint("r", i))
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, id)
	}
	for _, id := range reqs {
		if err := h.tp.Review(id, teleportsim.UserReviewer, true, ""); err != nil {
			t.Fatal(err)
		}
		if err := h.tp.Review(id, teleportsim.UserReviewer2, true, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range reqs {
		h.waitIDs(id, id+":created", id+":review:1", id+":review:2", id+":resolved:APPROVED")
	}
	// Decisions consumed by two replicas are applied once each.
	var decs []*events.Decision
	for i := range 6 {
		id, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "")
		issue := fmt.Sprint(20000 + i)
		h.link(id, issue, "TAR-"+issue)
		decs = append(decs, h.decide(id, issue, "TAR-"+issue, "1", events.VerdictApprove, jiraActor))
	}
	for _, d := range decs {
		if out := h.outcome(d); out.Kind != events.DecisionApplied {
			t.Errorf("%s: %+v", d.RequestID, out)
		}
	}
	updates := map[string]int{}
	for _, ev := range h.tp.Audit() {
		if ev.Type == teleportsim.EventAccessRequestUpdate {
			updates[ev.RequestID]++
		}
	}
	for _, d := range decs {
		if updates[d.RequestID] != 1 {
			t.Errorf("%s updated %d times", d.RequestID, updates[d.RequestID])
		}
	}

	// Both replicas did publish every event; the stream kept one of each.
	for i, b := range replicas {
		want := `accessbridge_teleport_bridge_events_published_total{type="request.reviewed.v1"} 10`
		eventually(t, fmt.Sprint("replica ", i, " published"), func() error {
			if !strings.Contains(scrape(b), want) {
				return fmt.Errorf("metrics lack %s", want)
			}
			return nil
		})
	}
}

func scrape(b *bridge) string {
	rec := httptest.NewRecorder()
	b.ops.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestBackfillAfterDowntime(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	cfg := h.config(teleportsim.UserAccessPlugin)
	cfg.ListLag = time.Millisecond // the emulator's listings do not lag
	first := h.start(cfg)
	seen, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "before")
	gone, _ := h.tp.CreateRequest("alice", []string{"editor"}, "expires while down")
	h.waitIDs(seen, seen+":created")
	h.waitIDs(gone, gone+":created")
	first.stop(t)
	if err := h.tp.Expire(gone); err != nil {
		t.Fatal(err)
	}

	// While the bridge is down: a new request, a review, a resolution.
	created, _ := h.tp.CreateRequest("alice", []string{"editor"}, "while down")
	reviewed, _ := h.tp.CreateRequest(teleportsim.UserStrictRequester, []string{"editor"}, "while down")
	if err := h.tp.Review(reviewed, teleportsim.UserReviewer, true, "one"); err != nil {
		t.Fatal(err)
	}
	if err := h.tp.Deny(seen, "denied while down"); err != nil {
		t.Fatal(err)
	}

	h.start(cfg)
	h.waitIDs(created, created+":created")
	h.waitIDs(reviewed, reviewed+":created", reviewed+":review:1")
	h.waitIDs(seen, seen+":created", seen+":resolved:DENIED")
	evs := h.waitIDs(gone, gone+":created", gone+":expired")
	if r := evs[1].Payload.(*events.RequestEvent).Request; r.User != "alice" || r.Reason != "expires while down" {
		t.Errorf("expired snapshot = %+v", r)
	}
}

func TestWatchDropSurvivedWithoutLoss(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	b := h.start(h.config(teleportsim.UserAccessPlugin))
	for round := range 3 {
		h.tp.DropWatchers()
		// Created while the watch may be down: found by the relist or the new watch.
		id, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, fmt.Sprint("round ", round))
		h.waitIDs(id, id+":created")
		if err := h.tp.Approve(id, ""); err != nil {
			t.Fatal(err)
		}
		h.waitIDs(id, id+":created", id+":resolved:APPROVED")
	}
	// A refused connection window: readiness goes false, then recovers.
	h.tp.RefuseConnections(800 * time.Millisecond)
	eventually(t, "not ready while Teleport refuses connections", func() error {
		if b.ops.Ready(context.Background()) == nil {
			return fmt.Errorf("still ready")
		}
		return nil
	})
	id, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "during outage")
	eventually(t, "ready again", func() error { return b.ops.Ready(context.Background()) })
	h.waitIDs(id, id+":created")

	rec := httptest.NewRecorder()
	b.ops.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if body := rec.Body.String(); strings.Contains(body, "accessbridge_teleport_bridge_watch_reconnects_total 0") ||
		!strings.Contains(body, "accessbridge_teleport_bridge_watch_reconnects_total") {
		t.Errorf("reconnects not counted")
	}
}

func TestRotatedIdentityPickedUpWithoutRestart(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	h.start(h.config(teleportsim.UserAccessPlugin))
	before, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "before")
	h.waitIDs(before, before+":created")

	// The old certificate is rejected from now on and its connections cut.
	if err := h.tp.RotateIdentity(teleportsim.UserAccessPlugin); err != nil {
		t.Fatal(err)
	}
	after, _ := h.tp.CreateRequest("alice", []string{"editor"}, "after")
	h.waitIDs(after, after+":created")

	// Decisions work with the new identity too.
	h.link(after, "10001", "TAR-1")
	d := h.decide(after, "10001", "TAR-1", "1", events.VerdictApprove, jiraActor)
	if out := h.outcome(d); out.Kind != events.DecisionApplied {
		t.Fatalf("outcome after rotation = %s %s %s", out.Kind, out.Code, out.Reason)
	}
}

func TestNATSRestartSurvived(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	h.start(h.config(teleportsim.UserAccessPlugin))
	before, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "before")
	h.waitIDs(before, before+":created")
	h.nats.Stop()
	// Changes while NATS is down are published once it is back.
	if err := h.tp.Approve(before, "while NATS was down"); err != nil {
		t.Fatal(err)
	}
	during, _ := h.tp.CreateRequest("alice", []string{"editor"}, "during")
	h.nats.Restart()
	h.waitIDs(before, before+":created", before+":resolved:APPROVED")
	h.waitIDs(during, during+":created")
}
