package webhook

import (
	"bytes"
	"errors"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// Fields is what the ingress reads from a delivery: enough to route it.
type Fields struct {
	Event    string // webhookEvent
	IssueID  string // issue.id, digits only
	IssueKey string // issue.key
}

// IsIssueEvent reports whether the event type is about one issue
// (jira:issue_created, jira:issue_updated, jira:issue_deleted).
func IsIssueEvent(event string) bool { return events.IsIssueEvent(event) }

// Parse errors; each answers 400.
var (
	ErrEmptyBody = errors.New("empty body")
	ErrNotJSON   = events.ErrWebhookNotJSON
	ErrNoEvent   = events.ErrWebhookNoEvent
	ErrNoIssue   = events.ErrWebhookNoIssue
)

// Parse reads webhookEvent, issue.id and issue.key from a body with the
// shared parser (events.ParseJiraWebhook, the one the jira-bridge uses), in
// the one pass that also checks the whole body is one JSON object. An event
// that is not about an issue (a project or user event) comes back with an
// empty IssueID and no error; an issue event without an issue id is
// ErrNoIssue.
func Parse(body []byte) (Fields, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return Fields{}, ErrEmptyBody
	}
	w, err := events.ParseJiraWebhook(body)
	if err != nil {
		return Fields{}, err
	}
	return Fields{Event: w.Event, IssueID: w.Issue.ID, IssueKey: w.Issue.Key}, nil
}
