package jirabridge_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// The exact Jira calls of each request lifecycle, as the emulator recorded
// them, once the bridge has learned the workflow (the first issues of a
// process read it: see warmUp). Data Center: create 1, move to Pending 1,
// then one call per visible change. Cloud: the create carries the move to
// Pending.
func TestJiraCallsPerLifecycle(t *testing.T) {
	const (
		create     = "POST /rest/api/2/issue"
		transition = "POST /rest/api/2/issue/{issueIdOrKey}/transitions"
		comment    = "POST /rest/api/2/issue/{issueIdOrKey}/comment"
		getIssue   = "GET /rest/api/2/issue/{issueIdOrKey}"
	)
	type lifecycle struct {
		name string
		// end plays the lifecycle's end on a pending request and returns
		// the status the issue must reach.
		end  func(e *env, r events.AccessRequest, is jirasim.Issue) string
		want []string // after create (+ move to Pending)
	}
	board := func(unsigned bool) func(e *env, r events.AccessRequest, is jirasim.Issue) string {
		return func(e *env, r events.AccessRequest, is jirasim.Issue) string {
			e.unsigned.Store(unsigned)
			if err := e.jira.Move(is.Key, "Approved", userByName(t, e.jira, "alice").AccountID, "Reason: on call"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the decision", func() bool { return len(e.decisions(r.ID)) == 1 })
			// The teleport-bridge applies it; Teleport reports the resolution.
			e.publish(events.NewRequestResolved(resolved(r, events.StateApproved, "approved on the board")), 1)
			return "Approved"
		}
	}
	teleport := func(st events.State, status string) func(e *env, r events.AccessRequest, is jirasim.Issue) string {
		return func(e *env, r events.AccessRequest, is jirasim.Issue) string {
			e.publish(events.NewRequestResolved(resolved(r, st, "tctl")), 1)
			return status
		}
	}
	lifecycles := []lifecycle{
		{"approved on the board (signed webhook)", board(false), []string{comment}},
		{"approved on the board (unsigned webhook)", board(true), []string{getIssue, comment}},
		{"approved in Teleport", teleport(events.StateApproved, "Approved"), []string{transition}},
		{"denied in Teleport", teleport(events.StateDenied, "Denied"), []string{transition}},
		{"promoted in Teleport", teleport(events.StatePromoted, "Promoted"), []string{transition}},
		{"denied by one review", func(e *env, r events.AccessRequest, _ jirasim.Issue) string {
			rv := withReview(r, "bob", events.StateDenied, "not now")
			e.publish(events.NewRequestReviewed(rv, 1), 1)
			e.publish(events.NewRequestResolved(resolved(rv, events.StateDenied, "")), 1)
			return "Denied"
		}, []string{comment, transition}},
		{"expired", func(e *env, r events.AccessRequest, _ jirasim.Issue) string {
			e.publish(events.NewRequestExpired(r), 1)
			return "Expired"
		}, []string{transition}},
	}
	for _, flavor := range []string{jirasim.FlavorServer, jirasim.FlavorCloud} {
		start := []string{create, transition}
		if flavor == jirasim.FlavorCloud {
			start = []string{create}
		}
		for _, lc := range lifecycles {
			t.Run(flavor+"/"+lc.name, func(t *testing.T) {
				e := newEnv(t, jirasim.Options{Flavor: flavor})
				e.start(e.config(), "bridge")
				warmUp(t, e)
				e.jira.ResetRequests()

				r := request("carol@example.com", "editor")
				e.publish(events.NewRequestCreated(r), 1)
				is := e.issueOf(r.ID, "Pending")
				settle(t, e)
				status := lc.end(e, r, is)
				e.issueOf(r.ID, status)
				settle(t, e)
				want := append(slices.Clone(start), lc.want...)
				if got := e.jira.Calls(); !slices.Equal(got, want) {
					t.Fatalf("Jira calls:\n  %s\nwant (%d):\n  %s", strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
				}
				cs := e.jira.Comments(is.Key)
				if len(cs) == 0 {
					t.Fatal("no comment on the issue")
				}
				for _, c := range cs {
					if c.Author != e.jira.Bot().AccountID {
						continue
					}
					if !strings.Contains(c.Body, "accessbridge "+r.ID) {
						t.Errorf("comment without the bridge's marker: %q", c.Body)
					}
				}
				if d := e.deadLetters(); len(d) != 0 {
					t.Fatalf("dead letters: %v", d)
				}
			})
		}
	}
}

// warmUp runs two requests of the same requester so the bridge learns the
// workflow: the first issue is read once (initial status, transitions out
// of it), the first move out of Pending reads the issue once (transitions
// out of Pending), on Cloud the first create that carries the move to
// Pending is read once (does the site honour it?), and the requester's
// Jira account is looked up once.
func warmUp(t *testing.T, e *env) {
	t.Helper()
	for i := range 2 {
		r := request("carol@example.com", "editor")
		e.publish(events.NewRequestCreated(r), 1)
		e.issueOf(r.ID, "Pending")
		if i == 0 {
			e.publish(events.NewRequestResolved(resolved(r, events.StateApproved, "warm-up")), 1)
			e.issueOf(r.ID, "Approved")
		}
	}
	settle(t, e)
}

// settle waits until every consumer of the bridge is idle and the
// emulator has delivered its webhooks.
func settle(t *testing.T, e *env) {
	t.Helper()
	eventually(t, 15*time.Second, "the bridge idle", func() bool {
		_ = e.jira.WaitWebhooks(t.Context())
		return pendingCount(t, e, "jira-bridge-requests") == 0 && pendingCount(t, e, "jira-bridge-webhooks") == 0
	})
}

// The start-up checks cost five calls for one project (serverInfo, myself,
// permissions, the project's statuses, fields).
func TestStartupChecksMakeFiveCalls(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	e.jira.ResetRequests()
	if _, err := newService(e, e.config()); err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /rest/api/2/serverInfo", "GET /rest/api/2/myself", "GET /rest/api/2/mypermissions",
		"GET /rest/api/2/project/{projectIdOrKey}/statuses", "GET /rest/api/2/field"}
	if got := e.jira.Calls(); !slices.Equal(got, want) {
		t.Fatalf("start-up calls = %v, want %v", got, want)
	}
}

// Where the workflow's transition screens refuse a comment, the first
// resolution learns it (one refused call) and every resolution after it is
// a comment and a transition.
func TestTransitionScreensRefusingCommentsAreLearnedOnce(t *testing.T) {
	const (
		transition = "POST /rest/api/2/issue/{issueIdOrKey}/transitions"
		comment    = "POST /rest/api/2/issue/{issueIdOrKey}/comment"
	)
	e := newEnv(t, jirasim.Options{Flavor: jirasim.FlavorServer, TransitionScreensRefuseComments: true})
	e.start(e.config(), "bridge")
	warmUp(t, e) // resolves one request: the refusal is learned here
	first := e.jira.Issues()[0]
	if cs := e.jira.Comments(first.Key); len(cs) != 1 || first.Status != "Approved" {
		t.Fatalf("warm-up issue %s in %s with comments %+v", first.Key, first.Status, cs)
	}
	e.jira.ResetRequests()
	r := request("carol@example.com", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	e.issueOf(r.ID, "Pending")
	e.publish(events.NewRequestResolved(resolved(r, events.StateDenied, "no")), 1)
	is := e.issueOf(r.ID, "Denied")
	settle(t, e)
	want := []string{"POST /rest/api/2/issue", transition, comment, transition}
	if got := e.jira.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if cs := e.jira.Comments(is.Key); len(cs) != 1 || !strings.Contains(cs[0].Body, "denied") {
		t.Fatalf("comments = %+v", cs)
	}
}
