package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// webhookCorpus holds the real Jira payloads (testdata/jira-webhooks at the
// repository root).
const webhookCorpus = "../../testdata/jira-webhooks"

func corpusFiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(webhookCorpus, "*.json"))
	if len(files) < 6 {
		tb.Fatalf("want the real Jira payloads in %s (testdata/jira-webhooks at the repository root), found %d", webhookCorpus, len(files))
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(f)[:2]] = b
	}
	return out
}

// edit decodes a body, lets fn change it, and encodes it again.
func edit(tb testing.TB, body []byte, fn func(m map[string]any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func obj(m map[string]any, k string) map[string]any { return m[k].(map[string]any) }

func TestParseJiraWebhookCorpusAndVariants(t *testing.T) {
	c := corpusFiles(t)
	type want struct {
		err                       error
		event, typeName           string
		ts                        int64
		issueID, issueKey         string
		labels                    []string
		user                      *JiraUser
		status                    *JiraStatusChange
		changelog, comment, field bool
	}
	admin := &JiraUser{AccountID: "5c5f880629be9642ba529340", Key: "admin", Name: "admin", EmailAddress: "some-instance-test@gmail.com", DisplayName: "Test User"}
	cases := []struct {
		name string
		body []byte
		want want
	}{
		{"01 cloud status to Done", c["01"], want{event: "jira:issue_updated", typeName: "issue_generic", ts: 1550286940507, issueID: "10040", issueKey: "TES-41", user: admin,
			status: &JiraStatusChange{ChangelogID: "10228", From: "In Progress", To: "Done"}, changelog: true}},
		{"02 server status to Resolved (no fieldId, no accountId)", c["02"], want{event: "jira:issue_updated", typeName: "issue_resolved", ts: 1565652182025, issueID: "10300", issueKey: "TES-4",
			user:   &JiraUser{Key: "admin", Name: "admin", EmailAddress: "admin@admin.com", DisplayName: "Test User"},
			status: &JiraStatusChange{ChangelogID: "10414", From: "In Progress", To: "Resolved"}, changelog: true}},
		{"03 custom field edit", c["03"], want{event: "jira:issue_updated", typeName: "issue_updated", issueID: "10368", issueKey: "TES-14", changelog: true}},
		{"04 created, Status with capital S", c["04"], want{event: "jira:issue_created", typeName: "issue_created", issueID: "10040", issueKey: "TES-41", user: admin,
			status: &JiraStatusChange{ChangelogID: "10222", To: "To Do"}, changelog: true}},
		{"05 deleted: no event type name, no changelog", c["05"], want{event: "jira:issue_deleted", issueID: "10303", issueKey: "IDT-19", user: admin}},
		{"06 privacy: user without email, name, key", c["06"], want{event: "jira:issue_updated", typeName: "issue_updated", issueID: "10360", issueKey: "TES-10",
			user: &JiraUser{AccountID: "5cedcb4355a88a0fc86388ba", DisplayName: "Test User"}, changelog: true}},

		{"numeric issue.id", edit(t, c["01"], func(m map[string]any) { obj(m, "issue")["id"] = 10040 }),
			want{event: "jira:issue_updated", typeName: "issue_generic", ts: 1550286940507, issueID: "10040", issueKey: "TES-41", user: admin,
				status: &JiraStatusChange{ChangelogID: "10228", From: "In Progress", To: "Done"}, changelog: true}},
		{"string timestamp", edit(t, c["01"], func(m map[string]any) { m["timestamp"] = "2019-1-30 15:51:34,870" }),
			want{event: "jira:issue_updated", typeName: "issue_generic", issueID: "10040", issueKey: "TES-41", user: admin,
				status: &JiraStatusChange{ChangelogID: "10228", From: "In Progress", To: "Done"}, changelog: true}},
		{"timestamp as a string of digits", edit(t, c["01"], func(m map[string]any) { m["timestamp"] = "1550286940507" }),
			want{event: "jira:issue_updated", typeName: "issue_generic", ts: 1550286940507, issueID: "10040", issueKey: "TES-41", user: admin,
				status: &JiraStatusChange{ChangelogID: "10228", From: "In Progress", To: "Done"}, changelog: true}},
		{"numeric changelog id", edit(t, c["01"], func(m map[string]any) { obj(m, "changelog")["id"] = 10228 }),
			want{event: "jira:issue_updated", typeName: "issue_generic", ts: 1550286940507, issueID: "10040", issueKey: "TES-41", user: admin,
				status: &JiraStatusChange{ChangelogID: "10228", From: "In Progress", To: "Done"}, changelog: true}},
		{"missing optional objects", []byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":"7","key":"TAR-7"}}`),
			want{event: "jira:issue_updated", issueID: "7", issueKey: "TAR-7"}},
		{"optional objects null or of another type", []byte(`{"webhookEvent":"jira:issue_updated","timestamp":null,"user":"bob","changelog":[1],"comment":true,"issue":{"id":"7","key":"TAR-7","fields":null}}`),
			want{event: "jira:issue_updated", issueID: "7", issueKey: "TAR-7"}},
		{"user with only displayName", edit(t, c["01"], func(m map[string]any) { m["user"] = map[string]any{"displayName": "Nobody"} }),
			want{event: "jira:issue_updated", typeName: "issue_generic", ts: 1550286940507, issueID: "10040", issueKey: "TES-41", user: &JiraUser{DisplayName: "Nobody"},
				status: &JiraStatusChange{ChangelogID: "10228", From: "In Progress", To: "Done"}, changelog: true}},
		{"labels, a custom field as number, a transition comment", []byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":"7","fields":{"labels":["a",3,"teleport-access-request-r1"],"customfield_10050":12,"summary":{"x":[1,2]}}},
			"comment":{"id":100,"body":"Reason: ok","author":{"accountId":"a1"}}}`),
			want{event: "jira:issue_updated", issueID: "7", labels: []string{"a", "teleport-access-request-r1"}, comment: true, field: true}},
		{"a status item moving nowhere is no status change", []byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":"7"},"changelog":{"id":"1","items":[{"field":"status","fieldId":"status","fromString":null,"toString":null}]}}`),
			want{event: "jira:issue_updated", issueID: "7", changelog: true}},
		{"not an issue event: no issue needed", []byte(`{"webhookEvent":"project_created","project":{"id":1}}`), want{event: "project_created"}},

		{"issue event without issue", []byte(`{"webhookEvent":"jira:issue_updated"}`), want{err: ErrWebhookNoIssue}},
		{"issue.id not digits", edit(t, c["01"], func(m map[string]any) { obj(m, "issue")["id"] = "10040; drop" }), want{err: ErrWebhookIssueID}},
		{"issue.id a float", edit(t, c["01"], func(m map[string]any) { obj(m, "issue")["id"] = 1.5 }), want{err: ErrWebhookIssueID}},
		{"issue.id an object", edit(t, c["01"], func(m map[string]any) { obj(m, "issue")["id"] = map[string]any{} }), want{err: ErrWebhookIssueID}},
		{"webhookEvent a number", []byte(`{"webhookEvent":1,"issue":{"id":"1"}}`), want{err: ErrWebhookNoEvent}},
		{"no webhookEvent", []byte(`{"issue":{"id":"1"}}`), want{err: ErrWebhookNoEvent}},
		{"array", []byte(`[{"webhookEvent":"x"}]`), want{err: ErrWebhookNotJSON}},
		{"cut short", c["01"][:len(c["01"])-2], want{err: ErrWebhookNotJSON}},
		{"trailing garbage", append(append([]byte{}, c["01"]...), '}'), want{err: ErrWebhookNotJSON}},
		{"empty", nil, want{err: ErrWebhookNotJSON}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := ParseJiraWebhook(tc.body, "customfield_10050")
			if tc.want.err != nil {
				if !errors.Is(err, tc.want.err) {
					t.Fatalf("err = %v, want %v", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if w.Event != tc.want.event || w.EventTypeName != tc.want.typeName || w.Issue.ID != tc.want.issueID || w.Issue.Key != tc.want.issueKey {
				t.Errorf("event %q/%q issue %q %q", w.Event, w.EventTypeName, w.Issue.ID, w.Issue.Key)
			}
			if tc.want.ts != 0 && w.Timestamp != tc.want.ts {
				t.Errorf("timestamp %d, want %d", w.Timestamp, tc.want.ts)
			}
			if tc.want.user != nil && !reflect.DeepEqual(w.User, tc.want.user) {
				t.Errorf("user %+v, want %+v", w.User, tc.want.user)
			}
			sc, ok := w.StatusChange()
			if ok != (tc.want.status != nil) || (ok && sc != *tc.want.status) {
				t.Errorf("status change %+v %v, want %+v", sc, ok, tc.want.status)
			}
			if (w.Changelog != nil) != tc.want.changelog {
				t.Errorf("changelog %+v", w.Changelog)
			}
			if tc.want.labels != nil && !reflect.DeepEqual(w.Issue.Labels, tc.want.labels) {
				t.Errorf("labels %q", w.Issue.Labels)
			}
			if tc.want.comment && (w.Comment == nil || w.Comment.ID != "100" || w.Comment.Body != "Reason: ok" || w.Comment.Author == nil || w.Comment.Author.AccountID != "a1") {
				t.Errorf("comment %+v", w.Comment)
			}
			if tc.want.field && w.Issue.Fields["customfield_10050"] != "12" {
				t.Errorf("fields %v", w.Issue.Fields)
			}
		})
	}
}

// reference extracts with encoding/json what ParseJiraWebhook should: the
// fuzz target holds the two to the same answers.
func reference(body []byte) (JiraWebhook, bool) {
	var m map[string]any
	if !json.Valid(body) {
		return JiraWebhook{}, false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&m) != nil || m == nil {
		return JiraWebhook{}, false
	}
	str := func(v any) string {
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return x.String()
		}
		return ""
	}
	user := func(v any) *JiraUser {
		u, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		return &JiraUser{AccountID: str(u["accountId"]), Key: str(u["key"]), Name: str(u["name"]), EmailAddress: str(u["emailAddress"]), DisplayName: str(u["displayName"])}
	}
	var w JiraWebhook
	w.Event, _ = m["webhookEvent"].(string)
	w.EventTypeName = str(m["issue_event_type_name"])
	w.User = user(m["user"])
	if is, ok := m["issue"].(map[string]any); ok {
		w.Issue.ID, w.Issue.Key = str(is["id"]), str(is["key"])
		if f, ok := is["fields"].(map[string]any); ok {
			if ls, ok := f["labels"].([]any); ok {
				for _, l := range ls {
					if s, ok := l.(string); ok {
						w.Issue.Labels = append(w.Issue.Labels, s)
					}
				}
			}
		}
	}
	if c, ok := m["changelog"].(map[string]any); ok {
		w.Changelog = &JiraChangelog{ID: str(c["id"])}
		if items, ok := c["items"].([]any); ok {
			for _, it := range items {
				if o, ok := it.(map[string]any); ok {
					w.Changelog.Items = append(w.Changelog.Items, JiraChangelogItem{Field: str(o["field"]), FieldID: str(o["fieldId"]), FromString: str(o["fromString"]), ToString: str(o["toString"])})
				}
			}
		}
	}
	if c, ok := m["comment"].(map[string]any); ok {
		w.Comment = &JiraComment{ID: str(c["id"]), Body: str(c["body"]), Author: user(c["author"])}
	}
	return w, true
}

// FuzzScanValid holds the one-pass parser to encoding/json: the same
// documents are valid, and the same values are read from them.
func FuzzScanValid(f *testing.F) {
	for _, b := range corpusFiles(f) {
		f.Add(b)
	}
	for _, s := range []string{`{}`, `[]`, `""`, `"\u00e9\ud83d\ude00"`, `-0.5e+7`, `01`, `1.`, `{"a":}`, `{"a" 1}`, `[1,]`, "\"\x01\"", `"\x"`, `nul`, `tru`, " {\"webhookEvent\":\"x\",\"issue\":{\"id\":1}} ",
		`{"webhook\u0045vent":"jira:issue_updated","issue":{"id":"5","id":"6","fields":{"labels":["x"],"labels":["y"]}},"user":{"accountId":"a"},"user":1}`,
		"{\"webhookEvent\":\"e\",\"user\":{\"displayName\":\"\xff\"}}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b) == nil, json.Valid(b); got != want {
			t.Fatalf("valid = %v, encoding/json says %v", got, want)
		}
		w, err := ParseJiraWebhook(b)
		ref, isObject := reference(b)
		if !isObject {
			if err == nil {
				t.Fatalf("parsed a body encoding/json does not read as an object")
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrWebhookNoEvent) && !errors.Is(err, ErrWebhookNoIssue) && !errors.Is(err, ErrWebhookIssueID) {
				t.Fatalf("error %v on an object encoding/json reads", err)
			}
			return
		}
		if w.Event != ref.Event || w.EventTypeName != ref.EventTypeName || w.Issue.ID != ref.Issue.ID || w.Issue.Key != ref.Issue.Key ||
			!reflect.DeepEqual(w.User, ref.User) || !reflect.DeepEqual(w.Changelog, ref.Changelog) || !reflect.DeepEqual(w.Comment, ref.Comment) ||
			strings.Join(w.Issue.Labels, "\x00") != strings.Join(ref.Issue.Labels, "\x00") {
			t.Fatalf("parsed %+v\nencoding/json reads %+v", w, ref)
		}
	})
}

func TestValidJSONDepthLimit(t *testing.T) {
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if err := validJSON([]byte(deep)); err != nil {
		t.Fatalf("depth %d: %v", maxDepth, err)
	}
	deeper := "[" + deep + "]"
	if validJSON([]byte(deeper)) == nil || json.Valid([]byte(deeper)) {
		t.Fatalf("depth %d accepted", maxDepth+1)
	}
}

func TestSortedKeysNotRequired(t *testing.T) {
	// Keys in any order, the issue before webhookEvent.
	w, err := ParseJiraWebhook([]byte(`{"issue":{"key":"K-1","id":"9"},"webhookEvent":"jira:issue_updated"}`))
	if err != nil || w.Issue.ID != "9" {
		t.Fatalf("%+v %v", w, err)
	}
}

func TestActorIdentityIsStable(t *testing.T) {
	cases := []struct {
		a             Actor
		id, display   string
		stableMissing bool
	}{
		{Actor{AccountID: "5b10ac", Email: "alice@example.com", DisplayName: "Alice"}, "5b10ac", "5b10ac (Alice <alice@example.com>)", false},
		{Actor{Key: "JIRAUSER10100", Name: "alice", Email: "alice@example.com"}, "JIRAUSER10100", "JIRAUSER10100 (alice@example.com)", false},
		{Actor{Name: "alice", DisplayName: "Alice"}, "alice", "alice (Alice)", false},
		{Actor{Email: "old@example.com"}, "old@example.com", "old@example.com", true},
		{Actor{DisplayName: "Nobody"}, "", "", true},
	}
	for _, c := range cases {
		if got := c.a.Identity(); got != c.id {
			t.Errorf("%+v: Identity() = %q, want %q", c.a, got, c.id)
		}
		if got := c.a.Display(); got != c.display {
			t.Errorf("%+v: Display() = %q, want %q", c.a, got, c.display)
		}
		if (c.a.StableID() == "") != c.stableMissing {
			t.Errorf("%+v: StableID() = %q", c.a, c.a.StableID())
		}
	}
	d := Decision{Actor: Actor{AccountID: "5b10ac", Email: "mallory@example.com"}}
	if d.Delegator() != "jira:5b10ac" {
		t.Errorf("delegator %q: an email the user can edit must not name them", d.Delegator())
	}
}

func BenchmarkParseJiraWebhook(b *testing.B) {
	body := corpusFiles(b)["01"]
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseJiraWebhook(body, "customfield_10050"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlainRunFindsTheFirstStop checks the eight-bytes-at-a-time string
// scan against the byte-at-a-time rule, for every byte value at every
// position of a word and across the words' boundary, behind plain bytes of
// each kind (ASCII, spaces, UTF-8) and ahead of a second stop.
func TestPlainRunFindsTheFirstStop(t *testing.T) {
	isStop := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	for _, fill := range []byte{'a', ' ', 0x7f, 0x80, 0xff, '!', '#', '[', ']'} {
		for n := 1; n <= 20; n++ {
			for p := 0; p < n; p++ {
				for c := 0; c < 256; c++ {
					b := bytes.Repeat([]byte{fill}, n)
					b[p] = byte(c)
					if p+1 < n {
						b[p+1] = '"'
					}
					want := p
					if !isStop(byte(c)) {
						want = p + 1
						if p+1 >= n {
							want = n
						}
					}
					if got := plainRun(b, 0); got != want {
						t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
					}
				}
			}
		}
	}
}
