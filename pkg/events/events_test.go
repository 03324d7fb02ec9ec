package events_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)

func sampleRequest() events.AccessRequest {
	return events.AccessRequest{
		ID:    "0b5e1a52-3f9e-4a8e-9d2b-1c0b6b7e9f10",
		User:  "alice@example.com",
		Roles: []string{"editor", "auditor"},
		RequestedResources: []events.Resource{
			{Kind: "node", Cluster: "teleport.example.com", Name: "6b1c", FriendlyName: "db-01"},
		},
		Reason:             "incident INC-42",
		SuggestedReviewers: []string{"bob@example.com"},
		State:              events.StateApproved,
		Reviews: []events.Review{
			{Author: "bob@example.com", State: events.StateApproved, Reason: "ok", Created: t0.Add(time.Minute)},
		},
		ResolveReason: "approved by bob",
		Created:       t0,
		Expires:       t0.Add(time.Hour),
		MaxDuration:   t0.Add(8 * time.Hour),
		Revision:      "7f1d",
		Cluster:       events.Cluster{Name: "teleport.example.com", ProxyAddr: "teleport.example.com:443", AdvancedWorkflows: true},
		LegacyIssue:   &events.IssueRef{ID: "10040", Key: "TAR-41"},
	}
}

func sampleDecision() events.Decision {
	d := events.NewDecision(sampleRequest().ID, events.IssueRef{ID: "10040", Key: "TAR-41"}, "10500",
		events.VerdictApprove, "Approved", events.Actor{AccountID: "5c1f", Email: "carol@example.com", DisplayName: "Carol"}, t0)
	d.FromStatus = "Pending"
	d.Reason = "looks fine"
	d.Verification = events.VerifiedSignedWebhook
	return *d
}

// samples holds one valid payload of every event type.
func samples() map[events.Type]events.Payload {
	r := sampleRequest()
	pending := r
	pending.State = events.StatePending
	pending.ResolveReason = ""
	issue := events.IssueRef{ID: "10040", Key: "TAR-41"}
	d := sampleDecision()
	return map[events.Type]events.Payload{
		events.RequestCreated:    events.NewRequestCreated(pending),
		events.RequestReviewed:   events.NewRequestReviewed(pending, 1),
		events.RequestResolved:   events.NewRequestResolved(r),
		events.RequestExpired:    events.NewRequestExpired(pending),
		events.IssueLinked:       events.NewIssueLinked(r.ID, issue, "Pending", false),
		events.IssueTransitioned: events.NewIssueTransitioned(r.ID, issue, "Pending", "Approved", "resolved:APPROVED"),
		events.IssueCommented:    events.NewIssueCommented(r.ID, issue, "10200", "review:1"),
		events.WebhookReceived: events.NewWebhook("10040", "TAR-41", "jira:issue_updated", "wh-1", t0, true,
			[]string{events.AuthHMAC}, []byte(`{"webhookEvent": "jira:issue_updated", "issue": {"id": "10040", "self": "https://x/avatar?size=48&s=48", "summary": "<b>"}}`)),
		events.DecisionRequested: &d,
		events.DecisionApplied:   events.NewDecisionApplied(d, events.ModeState, d.Delegator(), events.StateApproved),
		events.DecisionRejected:  events.NewDecisionRejected(d, events.ModeState, events.RejectAlreadyResolved, "request is already DENIED", events.StateDenied),
		events.PostsRecorded: events.NewMattermostPosts(r.ID, 3, "review:1", []events.MattermostPost{{
			Recipient: "myteam/town-square", ChannelID: "4xp9fdt77pncbef59f4k1qe83o", PostID: "ua3wzahbjpgwxbhbkbhk5xbs9c",
			IntentAt: t0, Status: "PENDING", Replies: []events.MattermostReply{{Review: 1, IntentAt: t0.Add(time.Minute)}},
		}}),
		events.ActionReceived: sampleAction(),
	}
}

func TestEveryTypeHasASample(t *testing.T) {
	s := samples()
	for _, typ := range events.Types() {
		if _, ok := s[typ]; !ok {
			t.Errorf("no sample (and so no golden test) for %s", typ)
		}
	}
}

func TestGoldenAndRoundTrip(t *testing.T) {
	for typ, p := range samples() {
		t.Run(string(typ), func(t *testing.T) {
			env, err := events.New("accessbridge/test", t0, p)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			b, err := events.Encode(env)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "golden", strings.ReplaceAll(string(typ), ".", "_")+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run go test -update to create it): %v", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("wire format changed for %s:\n got: %s\nwant: %s", typ, pretty.Bytes(), want)
			}
			// The golden file itself decodes back to the same payload.
			ev, err := events.Decode(want)
			if err != nil {
				t.Fatalf("Decode golden: %v", err)
			}
			if ev.Type != typ || ev.ID != p.DedupID() || ev.Subject != p.Subject() {
				t.Fatalf("decoded %s %s %s, want %s %s %s", ev.Type, ev.ID, ev.Subject, typ, p.DedupID(), p.Subject())
			}
			again, err := json.Marshal(ev.Payload)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := json.Marshal(p)
			if !bytes.Equal(again, orig) {
				t.Fatalf("round trip changed the data:\n got %s\nwant %s", again, orig)
			}
		})
	}
}

// TestWebhookBodySurvivesTheWire checks a real payload (avatar URLs hold
// '&') through encode and decode: the body hash must still match.
func TestWebhookBodySurvivesTheWire(t *testing.T) {
	body, err := os.ReadFile("../../testdata/jira-webhooks/01-cloud-issue_updated-status-to-done.json")
	if err != nil {
		t.Fatalf("the real Jira payloads are in testdata/jira-webhooks at the repository root: %v", err)
	}
	w := events.NewWebhook("10040", "TES-41", "jira:issue_updated", "", t0, true, []string{events.AuthHMAC}, body)
	env, err := events.New("test", t0, w)
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Decode(b)
	if err != nil {
		t.Fatalf("a real payload does not survive the wire: %v", err)
	}
	var orig, got any
	_ = json.Unmarshal(body, &orig)
	_ = json.Unmarshal(ev.Payload.(*events.Webhook).Body, &got)
	if !reflect.DeepEqual(orig, got) {
		t.Fatal("the body changed meaning on the wire")
	}
}

func TestDedupIDs(t *testing.T) {
	r := sampleRequest()
	want := map[events.Type]string{
		events.RequestCreated:    r.ID + ":created",
		events.RequestReviewed:   r.ID + ":review:1",
		events.RequestResolved:   r.ID + ":resolved:APPROVED",
		events.RequestExpired:    r.ID + ":expired",
		events.IssueLinked:       r.ID + ":linked",
		events.IssueTransitioned: r.ID + ":transitioned:resolved:APPROVED",
		events.IssueCommented:    r.ID + ":commented:review:1",
		events.WebhookReceived:   "webhook:wh-1",
		events.DecisionRequested: r.ID + ":10040:10500",
		events.DecisionApplied:   r.ID + ":10040:10500",
		events.DecisionRejected:  r.ID + ":10040:10500",
		events.PostsRecorded:     r.ID + ":posts:3",
		events.ActionReceived:    r.ID + ":action:ua3wzahbjpgwxbhbkbhk5xbs9c:kx8ncbx1i3bfzm9ryxn7hbpnfr:approve",
	}
	for typ, p := range samples() {
		if got := p.DedupID(); got != want[typ] {
			t.Errorf("%s: dedup id %q, want %q", typ, got, want[typ])
		}
	}
	// Without Jira's identifier the body hash dedups, and whitespace does not matter.
	a := events.NewWebhook("1", "", "jira:issue_updated", "", t0, false, []string{events.AuthToken}, []byte(`{"a": 1}`))
	b := events.NewWebhook("1", "", "jira:issue_updated", "", t0.Add(time.Second), false, []string{events.AuthToken}, []byte(`{"a":1}`))
	if a.DedupID() != b.DedupID() || !strings.HasPrefix(a.DedupID(), "webhook:sha256:") {
		t.Errorf("body-hash dedup ids differ: %q vs %q", a.DedupID(), b.DedupID())
	}
}

func encodeSample(t *testing.T, typ events.Type) map[string]any {
	t.Helper()
	env, err := events.New("accessbridge/test", t0, samples()[typ])
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(m map[string]any)
		wantErr string
	}{
		{"unknown major version", func(m map[string]any) { m["type"] = "request.created.v2" }, "major version 2"},
		{"unknown type", func(m map[string]any) { m["type"] = "request.exploded.v1" }, "unknown event type"},
		{"no version", func(m map[string]any) { m["type"] = "request.created" }, "no version suffix"},
		{"wrong specversion", func(m map[string]any) { m["specversion"] = "0.3" }, "specversion"},
		{"missing id", func(m map[string]any) { delete(m, "id") }, "id: must not be empty"},
		{"missing data", func(m map[string]any) { delete(m, "data") }, "data: must not be empty"},
		{"empty user", func(m map[string]any) { m["data"].(map[string]any)["request"].(map[string]any)["user"] = "" }, "data.request.user: must not be empty"},
		{"bad state", func(m map[string]any) { m["data"].(map[string]any)["request"].(map[string]any)["state"] = "MAYBE" }, "data.request.state"},
		{"id with a dot", func(m map[string]any) { m["data"].(map[string]any)["request"].(map[string]any)["id"] = "a.b" }, "data.request.id"},
		{"subject mismatch", func(m map[string]any) { m["subject"] = "teleport.requests.other" }, "subject"},
		{"long reason", func(m map[string]any) {
			m["data"].(map[string]any)["request"].(map[string]any)["reason"] = strings.Repeat("x", events.MaxReasonLen+1)
		}, "data.request.reason: is 16385 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := encodeSample(t, events.RequestCreated)
			tt.mutate(m)
			b, _ := json.Marshal(m)
			_, err := events.Decode(b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Decode error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	m := encodeSample(t, events.DecisionRequested)
	m["traceparent"] = "00-abc"
	m["data"].(map[string]any)["added_in_v1_5"] = map[string]any{"x": 1}
	b, _ := json.Marshal(m)
	ev, err := events.Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	d, ok := ev.Payload.(*events.Decision)
	if !ok || d.Verdict != events.VerdictApprove {
		t.Fatalf("payload %#v", ev.Payload)
	}
}

func TestNewValidates(t *testing.T) {
	r := sampleRequest()
	r.State = events.StatePending
	if _, err := events.New("src", t0, events.NewRequestResolved(r)); err == nil || !strings.Contains(err.Error(), "final state") {
		t.Fatalf("resolved event with a pending request: err = %v", err)
	}
	if _, err := events.New("src", t0, events.NewRequestReviewed(r, 5)); err == nil || !strings.Contains(err.Error(), "review: 5") {
		t.Fatalf("review index out of range: err = %v", err)
	}
	d := sampleDecision()
	if _, err := events.New("src", t0, events.NewDecisionRejected(d, events.ModeState, "", "", "")); err == nil || !strings.Contains(err.Error(), "code") {
		t.Fatalf("rejection without code: err = %v", err)
	}
	if _, err := events.New("", t0, &d); err == nil || !strings.Contains(err.Error(), "source") {
		t.Fatalf("missing source: err = %v", err)
	}
}

func TestSubjects(t *testing.T) {
	id, err := events.LastToken(events.RequestSubject("abc"), events.SubjectRequests)
	if err != nil || id != "abc" {
		t.Fatalf("LastToken = %q, %v", id, err)
	}
	for _, bad := range []string{"teleport.requests", "teleport.requests.a.b", "jira.issues.x"} {
		if _, err := events.LastToken(bad, events.SubjectRequests); err == nil {
			t.Errorf("LastToken(%q) accepted", bad)
		}
	}
	if got := events.DeadLetterSubject("JIRA", "jira-bridge-webhooks"); got != "dlq.JIRA.jira-bridge-webhooks" {
		t.Errorf("DeadLetterSubject = %q", got)
	}
	for _, bad := range []string{"", "a b", "a*", "a>", strings.Repeat("x", 200)} {
		if events.ValidToken(bad) == nil {
			t.Errorf("ValidToken(%q) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, typ := range events.Types() {
		env, err := events.New("fuzz", t0, samples()[typ])
		if err != nil {
			f.Fatal(err)
		}
		b, _ := events.Encode(env)
		f.Add(b)
	}
	f.Add([]byte(`{"specversion":"1.0","type":"request.created.v9"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := events.Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must be valid and encode again.
		if err := ev.Payload.Validate(); err != nil {
			t.Fatalf("decoded an invalid payload: %v", err)
		}
		if _, err := events.Encode(ev.Envelope); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
