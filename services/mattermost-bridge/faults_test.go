package mattermostbridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

// A post made whose answer was lost (500 after the write, or a dropped
// connection) is found by its request-id prop, not posted again; the same
// for a reply.
func TestPostWrittenButAnswerLost(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	inst := e.start(e.config(), "mb-1")
	dm, town := e.channels()

	e.mm.FailNext(mmsim.Scripted{Method: "POST", Route: "/api/v4/posts", Kind: mmsim.FailAfterWrite, Status: 503})
	e.mm.FailNext(mmsim.Scripted{Method: "POST", Route: "/api/v4/posts", Kind: mmsim.DropResponse})
	r := request("req-lost")
	e.publish(events.NewRequestCreated(r))
	e.settled(10*time.Second, []string{r.ID}, []string{dm, town}, "PENDING", 0)

	e.mm.FailNext(mmsim.Scripted{Method: "POST", Route: "/api/v4/posts", Kind: mmsim.FailAfterWrite})
	r.Reviews = []events.Review{{Author: "bob", State: events.StateDenied, Created: time.Now()}}
	e.publish(events.NewRequestReviewed(r, 1))
	e.settled(10*time.Second, []string{r.ID}, []string{dm, town}, "PENDING", 1)

	e.mm.FailNext(mmsim.Scripted{Method: "PUT", Route: "/api/v4/posts/{post_id}/patch", Kind: mmsim.FailBefore, Status: 503, Count: 6})
	r.State = events.StateDenied
	e.publish(events.NewRequestResolved(r))
	e.settled(20*time.Second, []string{r.ID}, []string{dm, town}, "❌ DENIED", 1)

	if found := counter(t, inst, "accessbridge_mattermost_bridge_posts_found_total"); found < 2 {
		t.Fatalf("%v posts found after lost answers, want at least 2 (the post and the reply)", found)
	}
	if n := e.mm.CountRequests("GET", "/api/v4/channels/{channel_id}/posts"); n < 2 {
		t.Fatalf("%d searches", n)
	}
}

// Random 5xx (before and after the write), dropped answers and the rate
// limiter cost attempts, never a message and never a duplicate.
func TestMattermostFaultsLoseNothing(t *testing.T) {
	e := newEnv(t, mmsim.Options{Seed: 42})
	e.start(e.config(), "mb-1")
	dm, town := e.channels()
	if err := e.mm.SetFaults(mmsim.Faults{ErrorRate: 0.15, ErrorAfterWriteRate: 0.1, DropResponseRate: 0.05, RateLimit: 150, RateBurst: 30}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 40 {
		r := request(fmt.Sprintf("req-fault-%02d", i))
		ids = append(ids, r.ID)
		e.lifecycle(r, events.StateApproved)
	}
	e.settled(60*time.Second, ids, []string{dm, town}, "✅ APPROVED", 1)
	faults := map[string]int{}
	for _, r := range e.mm.Requests() {
		faults[r.Fault]++
	}
	t.Logf("calls by injected fault: %v", faults)
	if faults["before"] == 0 || faults["after-write"] == 0 {
		t.Fatalf("the faults did not fire: %v", faults)
	}
}

// Two replicas consume a burst; one stops abruptly in the middle and a third
// starts: exactly one post per recipient per request, every post updated.
func TestReplicaKilledDuringBurst(t *testing.T) {
	e := newEnv(t, mmsim.Options{Faults: mmsim.Faults{Latency: 2 * time.Millisecond}})
	cfg := e.config()
	cfg.AckWait = 3 * time.Second
	first := e.start(cfg, "mb-1")
	e.start(cfg, "mb-2")
	dm, town := e.channels()

	const n = 200
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("req-burst-%03d", i)
	}
	go func() {
		for i, id := range ids {
			r := request(id)
			if i%3 == 0 {
				e.lifecycle(r, events.StateDenied)
				continue
			}
			e.publish(events.NewRequestCreated(r))
			r.State = events.StateApproved
			e.publish(events.NewRequestResolved(r))
		}
	}()
	begin := time.Now()
	eventually(t, 60*time.Second, "a third of the posts", func() bool { return e.mm.PostCount() > n*2/3 })
	t.Logf("stopping mb-1 after %s", time.Since(begin))
	first.stop()
	t.Logf("mb-1 stopped after %s", time.Since(begin))
	e.start(cfg, "mb-3")

	var denied, approved []string
	for i, id := range ids {
		if i%3 == 0 {
			denied = append(denied, id)
		} else {
			approved = append(approved, id)
		}
	}
	e.settled(120*time.Second, denied, []string{dm, town}, "❌ DENIED", 1)
	e.settled(30*time.Second, approved, []string{dm, town}, "✅ APPROVED", 0)
	t.Logf("settled after %s", time.Since(begin))
	t.Logf("%d Mattermost calls for %d requests: %v", len(e.mm.Requests()), n, e.mm.CallsByRoute())
}

// A channel the bot was removed from after the start does not hold back the
// other recipients: their posts are made, replied to and updated, while the
// refused one is retried and finally dead-lettered for the operator.
func TestRefusedChannelDoesNotHoldBackOthers(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	cfg := e.config()
	cfg.MaxAttempts = 3
	e.start(cfg, "mb-1")
	dm, town := e.channels()
	e.mm.RemoveMember("myteam", "town-square", "teleport")

	r := request("req-refused")
	e.lifecycle(r, events.StateApproved)
	e.settled(15*time.Second, []string{r.ID}, []string{dm}, "✅ APPROVED", 1)
	if ps := e.posts(r.ID); len(ps[town]) != 0 {
		t.Fatalf("posted where the bot is not a member: %v", ps[town])
	}
	if n := e.mm.CountRequests("POST", "/api/v4/posts"); n < 3 {
		t.Fatalf("the refused post was not retried: %d post calls", n)
	}
}
