package decisions

import (
	"os"
	"path/filepath"
	"testing"
)

// corpus is the directory of real Jira webhook payloads (testdata/jira-webhooks
// at the repository root; its README gives their provenance).
const corpus = "../../../../testdata/jira-webhooks"

func readPayload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus, name))
	if err != nil {
		t.Fatalf("the real Jira payloads are missing: %v (expected testdata/jira-webhooks at the repository root)", err)
	}
	return b
}

func TestParsePayloadRealCorpus(t *testing.T) {
	cases := []struct {
		file                     string
		event, issueID, issueKey string
		changed                  bool
		changelog, from, to      string
		accountID, name, email   string
	}{
		{"01-cloud-issue_updated-status-to-done.json", "jira:issue_updated", "10040", "TES-41", true, "10228", "In Progress", "Done", "5c5f880629be9642ba529340", "admin", "some-instance-test@gmail.com"},
		{"02-server-issue_updated-status-to-resolved.json", "jira:issue_updated", "10300", "TES-4", true, "10414", "In Progress", "Resolved", "", "admin", "admin@admin.com"},
		{"03-cloud-issue_updated-custom-field.json", "jira:issue_updated", "10368", "TES-14", false, "", "", "", "5cedcb4355a88a0fc86388ba", "test", "test@example.com"},
		{"04-cloud-issue_created.json", "jira:issue_created", "10040", "TES-41", true, "10222", "", "To Do", "5c5f880629be9642ba529340", "admin", "some-instance-test@gmail.com"},
		{"05-cloud-issue_deleted.json", "jira:issue_deleted", "10303", "IDT-19", false, "", "", "", "5c5f880629be9642ba529340", "admin", "some-instance-test@gmail.com"},
		{"06-cloud-issue_updated-no-emailAddress.json", "jira:issue_updated", "10360", "TES-10", false, "", "", "", "5cedcb4355a88a0fc86388ba", "", ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			p, err := ParsePayload(readPayload(t, c.file))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if p.Event != c.event || p.Issue.ID != c.issueID || p.Issue.Key != c.issueKey {
				t.Fatalf("got event %q issue %s/%s, want %q %s/%s", p.Event, p.Issue.ID, p.Issue.Key, c.event, c.issueID, c.issueKey)
			}
			if p.User == nil || p.User.AccountID != c.accountID || p.User.Name != c.name || p.User.EmailAddress != c.email {
				t.Fatalf("user = %+v, want accountId %q name %q email %q", p.User, c.accountID, c.name, c.email)
			}
			ch, ok := p.StatusChange()
			if ok != c.changed {
				t.Fatalf("status change found = %v, want %v", ok, c.changed)
			}
			if ok && (ch.ChangelogID != c.changelog || ch.From != c.from || ch.To != c.to) {
				t.Fatalf("status change = %+v, want %s %q→%q", ch, c.changelog, c.from, c.to)
			}
		})
	}
}

func TestParsePayloadNumericChangelogIDAndErrors(t *testing.T) {
	p, err := ParsePayload([]byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":"1","key":"A-1"},"changelog":{"id":10124,"items":[{"field":"STATUS","fromString":"Pending","toString":"Approved"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	ch, ok := p.StatusChange()
	if !ok || ch.ChangelogID != "10124" || ch.To != "Approved" {
		t.Fatalf("got %+v %v", ch, ok)
	}
	// A custom field named "Status" is not the status: its fieldId says so.
	p, _ = ParsePayload([]byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":"1","key":"A-1"},"changelog":{"id":"5","items":[{"field":"Status","fieldId":"customfield_10001","toString":"Approved"}]}}`))
	if _, ok := p.StatusChange(); ok {
		t.Fatal("a custom field named Status was taken for the status")
	}
	for _, bad := range []string{`{`, `{"issue":{"id":"1"}}`, `{"webhookEvent":"x","issue":{}}`, `{"webhookEvent":"x","issue":{"id":"1.2"}}`} {
		if _, err := ParsePayload([]byte(bad)); err == nil {
			t.Errorf("ParsePayload(%s) succeeded", bad)
		}
	}
}

func TestParseReason(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"Reason: on call this week", "on call this week", true},
		{"looks fine\nreason:   needed for INC-42  ", "needed for INC-42", true},
		{"*Reason:*\nfirst line\nsecond line", "first line\nsecond line", true},
		{"Resolution: duplicate of another request", "duplicate of another request", true},
		{"RESOLUTION:\r\nno", "no", true},
		{"no marker here", "", false},
		{"Reasonable: not a marker", "", false},
	}
	for _, c := range cases {
		got, ok := ParseReason(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseReason(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
