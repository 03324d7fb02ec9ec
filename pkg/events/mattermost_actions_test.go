package events_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/accessbridge/accessbridge/pkg/events"
)

func sampleAction() *events.MattermostAction {
	return &events.MattermostAction{
		RequestID: sampleRequest().ID, Verdict: events.VerdictApprove, UserID: "kx8ncbx1i3bfzm9ryxn7hbpnfr", UserName: "bob",
		ChannelID: "4xp9fdt77pncbef59f4k1qe83o", PostID: "ua3wzahbjpgwxbhbkbhk5xbs9c", TeamID: "rbs8m4i3p7ft8rbe9ffm1e3jty",
		TriggerID: "trig-1", ReceivedAt: t0, SourceIP: "192.0.2.7",
	}
}

func TestMattermostDecisionRoundTrip(t *testing.T) {
	d := events.NewMattermostDecision(sampleAction(), "bob", t0)
	if got, want := d.Subject(), "mattermost.decisions."+sampleRequest().ID; got != want {
		t.Fatalf("Subject = %q, want %q", got, want)
	}
	if got := d.Delegator(); got != "mattermost:bob" {
		t.Fatalf("Delegator = %q", got)
	}
	b, err := events.New("test", t0, d)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := events.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	got := ev.Payload.(*events.Decision)
	if got.Mattermost == nil || got.Mattermost.TeleportUser != "bob" || got.DedupID() != d.DedupID() {
		t.Fatalf("round trip lost the Mattermost part: %+v", got)
	}
	// A Jira decision keeps its subject and id.
	j := sampleDecision()
	if j.Subject() != events.JiraDecisionSubject(j.RequestID) || strings.Contains(j.DedupID(), "mattermost") {
		t.Fatalf("Jira decision changed: %s %s", j.Subject(), j.DedupID())
	}
}

func TestMattermostDecisionValidate(t *testing.T) {
	for name, mut := range map[string]func(d *events.Decision){
		"issue set":         func(d *events.Decision) { d.IssueID = "10040" },
		"no teleport user":  func(d *events.Decision) { d.Mattermost.TeleportUser = "" },
		"jira verification": func(d *events.Decision) { d.Verification = events.VerifiedSignedWebhook },
		"other post":        func(d *events.Decision) { d.ChangelogID = "zzz" },
		"no user id":        func(d *events.Decision) { d.Actor.AccountID = "" },
	} {
		d := events.NewMattermostDecision(sampleAction(), "bob", t0)
		mut(d)
		if err := d.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, d)
		}
	}
	// Claiming Mattermost data on a Jira subject is refused by Decode.
	d := events.NewMattermostDecision(sampleAction(), "bob", t0)
	ev, err := events.New("test", t0, d)
	if err != nil {
		t.Fatal(err)
	}
	ev.Subject = events.JiraDecisionSubject(d.RequestID)
	raw, _ := json.Marshal(ev)
	if _, err := events.Decode(raw); err == nil {
		t.Fatal("a Mattermost decision on jira.decisions decoded")
	}
}

func TestButtonToken(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	tok := events.ButtonToken(key, "req1", "chan1", events.VerdictApprove)
	if !events.CheckButtonToken(key, tok, "req1", "chan1", events.VerdictApprove) {
		t.Fatal("own token refused")
	}
	for name, ok := range map[string]bool{
		"other request": events.CheckButtonToken(key, tok, "req2", "chan1", events.VerdictApprove),
		"other channel": events.CheckButtonToken(key, tok, "req1", "chan2", events.VerdictApprove),
		"other verdict": events.CheckButtonToken(key, tok, "req1", "chan1", events.VerdictDeny),
		"other key":     events.CheckButtonToken([]byte(strings.Repeat("x", 32)), tok, "req1", "chan1", events.VerdictApprove),
		"empty":         events.CheckButtonToken(key, "", "req1", "chan1", events.VerdictApprove),
	} {
		if ok {
			t.Errorf("%s: token accepted", name)
		}
	}
}
