package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/accessbridge/accessbridge/test/harness"
	"github.com/nats-io/nats.go"
)

// Scenario 7: forged webhooks and a move by an unmapped user in review mode
// never become decisions; no service can publish outside its subjects; no
// configured secret reaches a log.
func TestSecurity(t *testing.T) {
	ctx := t.Context()
	users := jirasim.DefaultUsers()
	alice, bob := users[1].AccountID, users[2].AccountID // bob is not mapped
	s := harness.Start(t, bin, harness.Options{
		ReviewerMap: map[string]string{alice: teleportsim.UserReviewer},
		Env:         []string{"LOG_LEVEL=debug"},
	})
	js := s.JetStream()
	drv := harness.NewDriver(s)
	ids, err := drv.CreateRequests(6)
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.WaitPending(ctx, ids, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	issue := func(id string) jirasim.Issue {
		is, ok := drv.IssueOf(id)
		if !ok {
			t.Fatalf("no issue for %s", id)
		}
		return is
	}
	quiet := func() {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := s.Jira.WaitWebhooks(wctx); err != nil {
			t.Fatalf("webhooks still pending: %v", err)
		}
		if err := harness.Quiet(ctx, js, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	stillPending := func(what string, id string) {
		t.Helper()
		quiet()
		req, err := s.Teleport.Request(id)
		if err != nil {
			t.Fatal(err)
		}
		if req.GetState().String() != "PENDING" {
			t.Errorf("%s: request %s became %s", what, id, req.GetState())
		}
		if len(req.GetReviews()) > 0 {
			t.Errorf("%s: request %s got a review by %s", what, id, req.GetReviews()[0].Author)
		}
	}
	ingress := "http://" + s.Addr(harness.Ingress, 0) + "/webhook"
	post := func(body []byte, signature, identifier string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ingress, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if signature != "" {
			req.Header.Set("X-Hub-Signature", signature)
		}
		if identifier != "" {
			req.Header.Set("X-Atlassian-Webhook-Identifier", identifier)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	// A genuine approval of request 0, as Jira would sign it, built from a
	// real delivery of its issue (the bot's move to Pending).
	forgedApproval := func(id string) []byte {
		t.Helper()
		is := issue(id)
		var body map[string]any
		for _, d := range s.Jira.Webhooks() {
			if d.IssueKey == is.Key && bytes.Contains(d.Body, []byte(`"Pending"`)) {
				if err := json.Unmarshal(d.Body, &body); err != nil {
					t.Fatal(err)
				}
			}
		}
		if body == nil {
			t.Fatalf("no delivery for %s", is.Key)
		}
		b, _ := json.Marshal(body)
		b = bytes.ReplaceAll(b, []byte(`"toString":"Pending"`), []byte(`"toString":"Approved"`))
		return b
	}

	t.Run("unsigned and wrongly signed deliveries are refused", func(t *testing.T) {
		body := forgedApproval(ids[0])
		if code := post(body, "", "forged-1"); code != http.StatusUnauthorized {
			t.Errorf("no signature: %d, want 401", code)
		}
		if code := post(body, jirasim.Signature("not-the-secret", body), "forged-2"); code != http.StatusUnauthorized {
			t.Errorf("wrong secret: %d, want 401", code)
		}
		stillPending("forged delivery", ids[0])
	})

	forged := map[string]bool{}
	t.Run("a signed move of an issue not linked to the request", func(t *testing.T) {
		fake, err := s.Jira.CreateIssue(jirasim.NewIssue{Summary: "myuser requested editor", Labels: []string{harness.LabelPrefix + ids[1]},
			Status: "Pending", AsUser: bob,
			Properties: map[string]json.RawMessage{"teleportAccessRequestId": json.RawMessage(fmt.Sprintf("%q", ids[1]))}})
		if err != nil {
			t.Fatal(err)
		}
		forged[fake.Key] = true
		if err := s.Jira.Move(fake.Key, "Approved", alice, "Reason: forged"); err != nil {
			t.Fatal(err)
		}
		stillPending("move of an unlinked issue", ids[1])
		msgs, err := harness.ReadStream(ctx, js, events.StreamJira, events.WebhookSubject(fake.ID))
		if err != nil || len(msgs) == 0 {
			t.Fatalf("the forged move never reached the jira-bridge (%d webhooks, %v)", len(msgs), err)
		}
	})

	t.Run("a property edited to another request id", func(t *testing.T) {
		is := issue(ids[2])
		if err := s.Jira.SetProperty(is.Key, "teleportAccessRequestId", ids[3]); err != nil {
			t.Fatal(err)
		}
		if err := s.Jira.Move(is.Key, "Approved", alice, "Reason: approve the other one"); err != nil {
			t.Fatal(err)
		}
		drv.Set(ids[2], harness.Expect{Outcome: harness.Approved, ByBoard: true})
		if err := drv.WaitOutcomes(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		stillPending("property pointing at another request", ids[3])
	})

	t.Run("a replayed delivery", func(t *testing.T) {
		is := issue(ids[2])
		var last jirasim.Delivery
		for _, d := range s.Jira.Webhooks() {
			if d.IssueKey == is.Key && bytes.Contains(d.Body, []byte(`"toString":"Approved"`)) {
				last = d
			}
		}
		if last.ID == "" {
			t.Fatalf("no approval delivery for %s", is.Key)
		}
		audit := func() int {
			n := 0
			for _, a := range s.Teleport.Audit() {
				if a.RequestID == ids[2] && a.Type != teleportsim.EventAccessRequestCreate {
					n++
				}
			}
			return n
		}
		before := audit()
		sig := jirasim.Signature(s.Emu.WebhookSecret, last.Body)
		for _, id := range []string{last.ID, last.ID + "-replayed"} {
			if code := post(last.Body, sig, id); code != http.StatusOK {
				t.Errorf("replay with identifier %s: %d, want 200 (the ingress records, the jira-bridge decides)", id, code)
			}
		}
		quiet()
		if n := audit(); n != before || before == 0 {
			t.Errorf("request %s has %d audit events after the replay, %d before", ids[2], n, before)
		}
	})

	t.Run("a move by an unmapped user in review mode", func(t *testing.T) {
		is := issue(ids[4])
		if err := s.Jira.Move(is.Key, "Approved", bob, "Reason: I am not a Teleport reviewer"); err != nil {
			t.Fatal(err)
		}
		if err := harness.Eventually(ctx, 2*time.Minute, func() error {
			cur, _ := s.Jira.Issue(is.Key)
			if cur.Status != "Pending" {
				return fmt.Errorf("%s is in %s, want it moved back to Pending", is.Key, cur.Status)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		stillPending("unmapped actor", ids[4])
		msgs, err := harness.ReadStream(ctx, js, events.StreamTeleport, events.TeleportDecisionSubject(ids[4]))
		if err != nil {
			t.Fatal(err)
		}
		rejected := false
		for _, m := range msgs {
			if ev, err := events.Decode(m.Data); err == nil {
				if o, ok := ev.Payload.(*events.DecisionOutcome); ok && o.Kind == events.DecisionRejected && o.Code == events.RejectUnmappedActor {
					rejected = true
				}
			}
		}
		if !rejected {
			t.Errorf("no decision.rejected (%s) for %s", events.RejectUnmappedActor, ids[4])
		}
	})

	t.Run("a mapped reviewer's move becomes a review", func(t *testing.T) {
		if err := s.Jira.Move(issue(ids[5]).Key, "Approved", alice, "Reason: fine"); err != nil {
			t.Fatal(err)
		}
		drv.Set(ids[5], harness.Expect{Outcome: harness.Approved, ByBoard: true})
		if err := drv.WaitOutcomes(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("services cannot publish outside their subjects", func(t *testing.T) {
		forbidden := map[string][]string{
			harness.UserIngress: {events.JiraDecisionSubject(ids[0]), events.RequestSubject(ids[0]),
				events.TeleportDecisionSubject(ids[0]), "$KV.request-issues." + ids[0], events.IssueSubject(ids[0]),
				"$JS.API.STREAM.DELETE.JIRA", "$JS.API.STREAM.PURGE.JIRA"},
			harness.UserTeleportBridge: {events.JiraDecisionSubject(ids[0]), events.WebhookSubject("10000"),
				events.IssueSubject(ids[0]), "$KV.request-issues." + ids[0]},
			harness.UserJiraBridge: {events.TeleportDecisionSubject(ids[0]), events.RequestSubject(ids[0]),
				events.WebhookSubject("10000")},
		}
		for user, subjects := range forbidden {
			var mu sync.Mutex
			var denied []string
			nc, err := s.Connect(user, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
					mu.Lock()
					denied = append(denied, err.Error())
					mu.Unlock()
				}
			}))
			if err != nil {
				t.Fatalf("connect as %s: %v", user, err)
			}
			for _, subj := range subjects {
				if err := nc.Publish(subj, []byte(`{"forged":true}`)); err != nil {
					t.Fatal(err)
				}
			}
			if user == harness.UserIngress {
				if _, err := nc.SubscribeSync("jira.>"); err != nil {
					t.Fatal(err)
				}
			}
			_ = nc.Flush()
			want := len(subjects)
			if user == harness.UserIngress {
				want++ // the subscription
			}
			if err := harness.Eventually(ctx, 10*time.Second, func() error {
				mu.Lock()
				defer mu.Unlock()
				if len(denied) < want {
					return fmt.Errorf("%s: %d of %d forbidden operations denied: %v", user, len(denied), want, denied)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			nc.Close()
			t.Logf("%s: %d forbidden operations denied by nats-server", user, len(denied))
		}
		// Nothing forged reached a stream.
		for _, st := range []string{events.StreamTeleport, events.StreamJira} {
			msgs, err := harness.ReadStream(ctx, js, st, ">")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if bytes.Contains(m.Data, []byte(`"forged":true`)) {
					t.Errorf("a forbidden publication reached %s on %s", st, m.Subject)
				}
			}
		}
	})

	quiet()
	c := s.Checker()
	c.Requests = drv.Expectations()
	c.ForgedIssues = forged
	r := mustCheck(t, c)
	if r.DecisionsApplied != 2 {
		t.Errorf("%d decisions applied, want 2 (the two mapped reviewer's moves)", r.DecisionsApplied)
	}
}
