package mattermostbridge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

func TestApprovedLifecycle(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	inst := e.start(e.config(), "mb-1")
	dm, town := e.channels()
	if dm == "" {
		t.Fatal("the start-up checks did not open the direct channel with alice")
	}
	e.mm.ResetRequests()

	r := request("req-approve")
	r.RequestedResources = []events.Resource{{Kind: "node", Cluster: "tele.example.com", Name: "db-01"}}
	e.publish(events.NewRequestCreated(r))
	e.settled(10*time.Second, []string{r.ID}, []string{dm, town}, "⏳ PENDING", 0)
	post := e.posts(r.ID)[town][0]
	for _, want := range []string{"carol@\u200bexample.com", "editor", "node/tele.example.com/db-01", "deploy the hotfix", "`req-approve`",
		"**Expires**", "https://tele.example.com:443/web/requests/req-approve"} {
		if !strings.Contains(post.Message, want) {
			t.Fatalf("post lacks %q:\n%s", want, post.Message)
		}
	}
	if post.UserID != e.mm.Bot().ID {
		t.Fatalf("posted by %s", post.UserID)
	}

	r.Reviews = []events.Review{{Author: "bob@example.com", State: events.StateApproved, Reason: "looks fine", Created: time.Now()}}
	e.publish(events.NewRequestReviewed(r, 1))
	e.settled(10*time.Second, []string{r.ID}, []string{dm, town}, "⏳ PENDING", 1)
	if rp := e.replies(post.ID)[0]; !strings.Contains(rp.Message, "✅ APPROVED") || !strings.Contains(rp.Message, "looks fine") {
		t.Fatalf("reply %q", rp.Message)
	}

	r.State, r.ResolveReason = events.StateApproved, "approved by bob"
	e.publish(events.NewRequestResolved(r))
	e.settled(10*time.Second, []string{r.ID}, []string{dm, town}, "✅ APPROVED", 1)
	if p := e.posts(r.ID)[dm][0]; !strings.Contains(p.Message, "approved by bob") || p.EditAt == 0 {
		t.Fatalf("updated post %+v", p)
	}

	for name, want := range map[string]float64{"posts_total": 2, "replies_total": 2, "updates_total": 2, "posts_found_total": 0} {
		if got := counter(t, inst, "accessbridge_mattermost_bridge_"+name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	// The calls of one lifecycle: the posts, the replies and the updates,
	// nothing else (lookups were cached at start).
	calls := e.mm.CallsByRoute()
	want := map[string]int{"POST /api/v4/posts": 4, "PUT /api/v4/posts/{post_id}/patch": 2}
	total := 0
	for k, n := range calls {
		total += n
		if want[k] != n {
			t.Errorf("%s: %d calls, want %d", k, n, want[k])
		}
	}
	t.Logf("Mattermost calls for one lifecycle (1 email + 1 channel, 1 review): %d %v", total, calls)

	// Redelivered events (new message ids, same content) change nothing.
	e.mm.ResetRequests()
	for _, p := range []events.Payload{events.NewRequestCreated(request("req-approve")), events.NewRequestResolved(r)} {
		env, _ := events.New("test/teleport-bridge", time.Now(), p)
		env.ID += ":again"
		if _, err := e.bus.Publish(t.Context(), env); err != nil {
			t.Fatal(err)
		}
	}
	sentinel := request("req-sentinel")
	e.publish(events.NewRequestCreated(sentinel))
	e.settled(10*time.Second, []string{sentinel.ID}, []string{dm, town}, "PENDING", 0)
	e.settled(time.Second, []string{r.ID}, []string{dm, town}, "✅ APPROVED", 1)
	if n := e.mm.CountRequests("POST", "/api/v4/posts"); n != 2 {
		t.Fatalf("%d posts after redelivery, want the sentinel's 2", n)
	}
	if n := e.mm.CountRequests("PUT", ""); n != 0 {
		t.Fatalf("%d updates after redelivery", n)
	}
}

func TestDeniedAndExpired(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	e.start(e.config(), "mb-1")
	dm, town := e.channels()

	denied := request("req-deny")
	e.lifecycle(denied, events.StateDenied)
	expired := request("req-expire")
	e.publish(events.NewRequestCreated(expired))
	e.publish(events.NewRequestExpired(expired))

	e.settled(10*time.Second, []string{denied.ID}, []string{dm, town}, "❌ DENIED", 1)
	e.settled(10*time.Second, []string{expired.ID}, []string{dm, town}, "⌛ EXPIRED", 0)
	if p := e.posts(denied.ID)[town][0]; !strings.Contains(p.Message, "reviewed by bob") {
		t.Fatalf("no resolve reason: %s", p.Message)
	}
}

func TestSuggestedReviewersAndRoleRouting(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	cfg := e.config()
	cfg.Recipients = nil
	cfg.RoleToRecipients = `{"dba":["myteam/off-topic"],"*":["myteam/town-square"]}`
	e.start(cfg, "mb-1")
	town, offTopic := e.mm.ChannelID("myteam", "town-square"), e.mm.ChannelID("myteam", "off-topic")

	r := request("req-dba", "dba")
	r.SuggestedReviewers = []string{"bob@example.com", "BOB@example.com", "some-teleport-user", "ghost@example.com"}
	e.publish(events.NewRequestCreated(r))
	other := request("req-other", "auditor")
	e.publish(events.NewRequestCreated(other))

	dmBob := ""
	eventually(t, 10*time.Second, "the direct channel with bob", func() bool {
		dmBob = e.mm.DirectChannelID(e.mm.Bot().Email, "bob@example.com")
		return dmBob != ""
	})
	e.settled(10*time.Second, []string{r.ID}, []string{offTopic, dmBob}, "PENDING", 0)
	e.settled(10*time.Second, []string{other.ID}, []string{town}, "PENDING", 0)
	if ps := e.posts(r.ID); len(ps) != 2 || len(ps[town]) != 0 {
		t.Fatalf("the dba request went to %d channels (town square: %d)", len(ps), len(ps[town]))
	}
	if ps := e.posts(other.ID); len(ps) != 1 {
		t.Fatalf("the default request went to %d channels", len(ps))
	}
}

func TestRequestWithoutRecipientIsSkipped(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	cfg := e.config()
	cfg.Recipients = nil
	inst := e.start(cfg, "mb-1")

	e.publish(events.NewRequestCreated(request("req-nobody")))
	r := request("req-suggested")
	r.SuggestedReviewers = []string{"bob@example.com"}
	e.publish(events.NewRequestCreated(r))
	eventually(t, 10*time.Second, "the suggested reviewer's post", func() bool { return len(e.posts(r.ID)) == 1 })
	if ps := e.posts("req-nobody"); len(ps) != 0 {
		t.Fatalf("a request without recipients was posted: %v", ps)
	}
	if got := counter(t, inst, "accessbridge_mattermost_bridge_requests_skipped_total"); got != 1 {
		t.Fatalf("skipped counter %v", got)
	}
}

func TestBackfillAfterDowntime(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	// Posted before the downtime, resolved during it.
	first := e.start(e.config(), "mb-1")
	dm, town := e.channels()
	before := request("req-before-down")
	e.publish(events.NewRequestCreated(before))
	e.settled(10*time.Second, []string{before.ID}, []string{dm, town}, "⏳ PENDING", 0)
	first.stop()

	before.State, before.ResolveReason = events.StateDenied, "denied while the bridge was down"
	e.publish(events.NewRequestResolved(before))
	// Published while no bridge runs: one pending, one pending with a
	// review, one already resolved, one past its expiry.
	pending := request("req-while-down")
	e.publish(events.NewRequestCreated(pending))
	reviewed := request("req-reviewed-while-down")
	e.publish(events.NewRequestCreated(reviewed))
	reviewed.Reviews = []events.Review{{Author: "bob", State: events.StateApproved, Created: time.Now()}}
	e.publish(events.NewRequestReviewed(reviewed, 1))
	// Resolved an hour ago (the envelope's time).
	resolved := request("req-resolved-while-down")
	e.publish(events.NewRequestCreated(resolved))
	resolved.State = events.StateApproved
	old, err := events.New("test/teleport-bridge", time.Now().Add(-time.Hour), events.NewRequestResolved(resolved))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.bus.Publish(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	// Resolved moments ago: posted and updated at once.
	recent := request("req-resolved-just-now")
	e.lifecycle(recent, events.StateApproved)
	stale := request("req-expired-while-down")
	stale.Created, stale.Expires = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	e.publish(events.NewRequestCreated(stale))
	sentinel := request("req-after-restart")

	e.start(e.config(), "mb-2")
	e.publish(events.NewRequestCreated(sentinel))
	e.settled(10*time.Second, []string{before.ID}, []string{dm, town}, "❌ DENIED", 0)
	e.settled(10*time.Second, []string{pending.ID, sentinel.ID}, []string{dm, town}, "⏳ PENDING", 0)
	e.settled(10*time.Second, []string{reviewed.ID}, []string{dm, town}, "⏳ PENDING", 1)
	e.settled(10*time.Second, []string{recent.ID}, []string{dm, town}, "✅ APPROVED", 1)
	// Requests that were over before the bridge saw them are not announced.
	for _, id := range []string{resolved.ID, stale.ID} {
		if ps := e.posts(id); len(ps) != 0 {
			t.Errorf("request %s, over before the bridge saw it, was posted: %v", id, ps)
		}
	}
}

func counter(t *testing.T, inst *instance, name string) float64 {
	t.Helper()
	mfs, err := inst.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}
