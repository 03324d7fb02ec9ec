package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/accessbridge/accessbridge/test/harness"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The suite must not pass vacuously: after a clean run, each guarantee is
// broken on purpose — directly in the emulators, the streams or the logs,
// never through a switch in the product — and the checker must name it.
func TestInvariantChecksDetectBrokenState(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{})
	drv, c := mixed(t, s, play{n: 10})
	mustCheck(t, c)
	ctx := t.Context()
	js := s.JetStream()

	// Freeze the product so that what we break stays broken.
	s.StopAll()

	byOutcome := map[harness.Outcome]string{}
	for id, e := range drv.Expectations() {
		if e.ByBoard && e.Outcome == harness.Approved {
			byOutcome["board"] = id
		} else if !e.ByBoard {
			byOutcome[e.Outcome] = id
		}
	}
	bot := s.Jira.Bot().AccountID
	issue := func(id string) jirasim.Issue {
		is, ok := drv.IssueOf(id)
		if !ok {
			t.Fatalf("no issue for %s", id)
		}
		return is
	}
	expectNew := func(kind string, breakIt func()) {
		t.Helper()
		if r := c.Check(ctx); r.Has(kind) {
			t.Fatalf("%s reported before it was injected: %v", kind, r.Err())
		}
		breakIt()
		r := c.Check(ctx)
		if !r.Has(kind) {
			t.Fatalf("checker missed an injected %s; it reported %v", kind, r.Kinds())
		}
		t.Logf("injected %s: detected", kind)
	}

	expectNew("duplicate-issue", func() {
		id := byOutcome[harness.Denied]
		if _, err := s.Jira.CreateIssue(jirasim.NewIssue{Summary: "a second issue", Labels: []string{harness.LabelPrefix + id}, AsUser: bot}); err != nil {
			t.Fatal(err)
		}
	})
	expectNew("resolution-comment", func() {
		if _, err := s.Jira.AddComment(issue(byOutcome["board"]).Key, bot, "Access request has been *approved* in Teleport. (again)"); err != nil {
			t.Fatal(err)
		}
	})
	expectNew("duplicate-comment", func() {
		is := issue(byOutcome[harness.Expired])
		if _, err := s.Jira.AddComment(is.Key, bot, "Access request has *expired* in Teleport."); err != nil {
			t.Fatal(err)
		}
	})
	expectNew("review-comment", func() {
		id := byOutcome[harness.Approved] // approved by a review in Teleport
		req, err := s.Teleport.Request(id)
		if err != nil || len(req.GetReviews()) == 0 {
			t.Fatalf("request %s has no review: %v", id, err)
		}
		rv := req.GetReviews()[0]
		body := "*" + rv.Author + "* reviewed the request at " + rv.Created.UTC().Format(time.RFC3339) + ": *approved*. (copy)"
		if _, err := s.Jira.AddComment(issue(id).Key, bot, body); err != nil {
			t.Fatal(err)
		}
	})
	expectNew("resolution-transition", func() {
		is := issue(byOutcome[harness.Denied])
		if err := s.Jira.Move(is.Key, "Pending", bot, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Jira.Move(is.Key, "Denied", bot, ""); err != nil {
			t.Fatal(err)
		}
	})
	expectNew("lost", func() {
		id, err := s.Teleport.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "created while nothing runs")
		if err != nil {
			t.Fatal(err)
		}
		c.Requests[id] = harness.Expect{Outcome: harness.Pending}
	})
	expectNew("teleport-state", func() {
		// Deleted behind the bridge's back: Teleport no longer says APPROVED.
		if err := s.Teleport.Delete(byOutcome["board"]); err != nil {
			t.Fatal(err)
		}
	})
	republish := func(stream, filter string, kind events.Type, mutate func(*events.Envelope)) {
		t.Helper()
		msgs, err := harness.ReadStream(ctx, js, stream, filter)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var env events.Envelope
			if err := json.Unmarshal(m.Data, &env); err != nil {
				t.Fatal(err)
			}
			if env.Type != kind {
				continue
			}
			mutate(&env)
			b, err := events.Encode(env)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, env.Subject, b, jetstream.WithMsgID(env.ID)); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("no %s event on %s", kind, filter)
	}
	expectNew("unacked", func() {
		st, err := js.Stream(ctx, events.StreamTeleport)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "nobody-reads-this", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
	})
	expectNew("double-decision", func() {
		republish(events.StreamTeleport, events.SubjectTeleportDecisions+".>", events.DecisionApplied, func(e *events.Envelope) {
			e.ID += ":replayed"
		})
	})
	expectNew("duplicate-decision", func() {
		republish(events.StreamJira, events.SubjectJiraDecisions+".>", events.DecisionRequested, func(e *events.Envelope) {
			e.ID += ":replayed"
		})
	})
	expectNew("dead-letter", func() {
		m := nats.NewMsg(events.DeadLetterSubject(events.StreamJira, "jira-bridge-webhooks"))
		m.Data = []byte("{}")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	})
	expectNew("secret-in-log", func() {
		f, err := os.OpenFile(filepath.Join(s.LogDir, "jira-bridge-0.log"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(`{"level":"debug","token":"` + s.Emu.WebhookSecret + `"}` + "\n"); err != nil {
			t.Fatal(err)
		}
	})
}
