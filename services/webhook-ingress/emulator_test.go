package webhookingress

import (
	"context"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// TestJiraEmulatorToNATS runs the whole path: the Jira emulator sends
// signed webhooks (each one twice, as Jira sometimes does) to the ingress
// over HTTP, and each distinct delivery lands in the stream once. Then NATS
// goes away: the emulator gets 503, retries, and its retry is published
// once NATS is back.
func TestJiraEmulatorToNATS(t *testing.T) {
	cfg := baseConfig()
	cfg.RetryAfter = time.Second // the emulator honours it, as Jira may
	h := startIngress(t, cfg)
	jira := jirasim.Start(t, jirasim.Options{
		WebhookURLs:       []string{h.url + "/webhook"},
		WebhookSecret:     secretNew,
		WebhookBackoff:    100 * time.Millisecond,
		WebhookMaxRetries: 10,
		Faults:            jirasim.Faults{WebhookDuplicateRate: 1},
		Seed:              7,
	})
	wait := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := jira.WaitWebhooks(ctx); err != nil {
			t.Fatalf("webhooks still pending: %v", err)
		}
	}
	bot := jira.Bot().Name

	iss, err := jira.CreateIssue(jirasim.NewIssue{Summary: "alice requested editor"})
	if err != nil {
		t.Fatal(err)
	}
	if err := jira.Move(iss.Key, "Pending", bot, ""); err != nil {
		t.Fatal(err)
	}
	if err := jira.Move(iss.Key, "Approved", "alice", "Reason: on call"); err != nil {
		t.Fatal(err)
	}
	wait()

	distinct := map[string]bool{}
	for _, d := range jira.Webhooks() {
		if d.State != jirasim.DeliveryDelivered {
			t.Fatalf("delivery %s %s: %s %+v", d.ID, d.Event, d.State, d.Attempts)
		}
		distinct[d.ID] = true
	}
	got := h.published()
	if len(distinct) < 3 || len(got) != len(distinct) {
		t.Fatalf("%d distinct deliveries (each sent twice), %d published", len(distinct), len(got))
	}
	for _, ev := range got {
		w := ev.Payload.(*events.Webhook)
		if ev.Subject != "jira.webhooks."+iss.ID || w.IssueKey != iss.Key || !w.Signed || !distinct[w.Identifier] {
			t.Fatalf("event %s: subject %s key %s signed %v", ev.ID, ev.Subject, w.IssueKey, w.Signed)
		}
	}

	// NATS down: Jira's delivery is refused with 503 and retried.
	before := len(got)
	h.nats.Stop()
	eventually(t, 10*time.Second, "the bus notices the outage", func() bool { return !h.bus.NC.IsConnected() })
	if err := jira.SetFaults(jirasim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if err := jira.Move(iss.Key, "Denied", "bob", ""); err != nil {
		t.Fatal(err)
	}
	refused := func() bool {
		for _, d := range jira.Webhooks() {
			for _, a := range d.Attempts {
				if a.Status == 503 {
					return true
				}
			}
		}
		return false
	}
	eventually(t, 10*time.Second, "the emulator gets a 503", refused)
	t0 := time.Now()
	h.nats.Restart()
	eventually(t, 20*time.Second, "reconnect", func() bool { return h.bus.NC.IsConnected() })
	t.Logf("reconnected after %s", time.Since(t0))
	wait()
	t.Logf("delivered after %s", time.Since(t0))
	var last jirasim.Delivery
	for _, d := range jira.Webhooks() {
		last = d
	}
	if last.State != jirasim.DeliveryDelivered || len(last.Attempts) < 2 {
		t.Fatalf("delivery during the outage: %s %+v", last.State, last.Attempts)
	}
	got = h.published()
	if len(got) != before+1 || got[len(got)-1].ID != "webhook:"+last.ID {
		t.Fatalf("published %d (want %d), last %s", len(got), before+1, got[len(got)-1].ID)
	}
	if w := got[len(got)-1].Payload.(*events.Webhook); w.Retry < 1 {
		t.Fatalf("the published delivery is not the retry: retry %d", w.Retry)
	}
}
