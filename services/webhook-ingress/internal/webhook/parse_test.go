package webhook

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		body string
		want Fields
		err  error // nil, or the sentinel; "any" below
		any  bool
	}{
		{"issue event", `{"webhookEvent":"jira:issue_updated","issue":{"id":"10040","key":"TES-41"}}`, Fields{"jira:issue_updated", "10040", "TES-41"}, nil, false},
		{"numeric id", `{"webhookEvent":"jira:issue_created","issue":{"id":10040,"key":"TES-41"}}`, Fields{"jira:issue_created", "10040", "TES-41"}, nil, false},
		{"comment with issue", `{"webhookEvent":"comment_created","comment":{},"issue":{"id":"7","key":"A-1"}}`, Fields{"comment_created", "7", "A-1"}, nil, false},
		{"project event", `{"webhookEvent":"project_created","project":{"id":1}}`, Fields{Event: "project_created"}, nil, false},
		{"leading space", "  \n{\"webhookEvent\":\"user_created\"}", Fields{Event: "user_created"}, nil, false},
		{"empty", "", Fields{}, ErrEmptyBody, false},
		{"spaces", "   ", Fields{}, ErrEmptyBody, false},
		{"array", `[{"webhookEvent":"x"}]`, Fields{}, ErrNotJSON, false},
		{"null", `null`, Fields{}, ErrNotJSON, false},
		{"truncated", `{"webhookEvent":"jira:issue_updated","issue":{"id":"1"`, Fields{}, ErrNotJSON, false},
		{"trailing garbage", `{"webhookEvent":"jira:issue_updated","issue":{"id":"1"}} x`, Fields{}, ErrNotJSON, false},
		{"issue is a string (counts as absent)", `{"webhookEvent":"jira:issue_updated","issue":"1"}`, Fields{}, ErrNoIssue, false},
		{"no event", `{"issue":{"id":"1"}}`, Fields{}, ErrNoEvent, false},
		{"event not a string", `{"webhookEvent":1,"issue":{"id":"1"}}`, Fields{}, ErrNoEvent, false},
		{"issue event without issue", `{"webhookEvent":"jira:issue_deleted"}`, Fields{}, ErrNoIssue, false},
		{"issue without id", `{"webhookEvent":"jira:issue_deleted","issue":{"key":"A-1"}}`, Fields{}, ErrNoIssue, false},
		{"id with a subject wildcard", `{"webhookEvent":"jira:issue_updated","issue":{"id":"1.>"}}`, Fields{}, nil, true},
		{"id too long", `{"webhookEvent":"jira:issue_updated","issue":{"id":"123456789012345678901"}}`, Fields{}, nil, true},
		{"negative id", `{"webhookEvent":"jira:issue_updated","issue":{"id":-1}}`, Fields{}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse([]byte(c.body))
			switch {
			case c.any:
				if err == nil {
					t.Fatalf("no error; got %+v", got)
				}
			case c.err != nil:
				if !errors.Is(err, c.err) {
					t.Fatalf("error %v, want %v", err, c.err)
				}
			case err != nil:
				t.Fatalf("error %v", err)
			case got != c.want:
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseSamples(t *testing.T) {
	for i, body := range samples(t) {
		f, err := Parse(body)
		if err != nil || f.IssueID == "" || f.IssueKey == "" || !IsIssueEvent(f.Event) {
			t.Fatalf("sample %d: %+v %v", i+1, f, err)
		}
	}
}
