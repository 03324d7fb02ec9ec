package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Fields is what the ingress reads from a delivery: enough to route it.
type Fields struct {
	Event    string // webhookEvent
	IssueID  string // issue.id, digits only
	IssueKey string // issue.key
}

// IsIssueEvent reports whether the event type is about one issue
// (jira:issue_created, jira:issue_updated, jira:issue_deleted).
func IsIssueEvent(event string) bool { return strings.HasPrefix(event, "jira:issue_") }

// Parse errors; each answers 400.
var (
	ErrEmptyBody = errors.New("empty body")
	ErrNotJSON   = errors.New("body is not a JSON object")
	ErrNoEvent   = errors.New("not a Jira webhook: no webhookEvent")
	ErrNoIssue   = errors.New("issue event without issue.id")
)

// maxIssueIDLen bounds issue.id: Jira ids are 64-bit integers.
const maxIssueIDLen = 20

// Parse reads webhookEvent, issue.id and issue.key from a body. It checks
// that the whole body is one JSON object (the jira-bridge will parse it),
// but keeps nothing else. An event that is not about an issue (a project
// or user event) comes back with an empty IssueID and no error; an issue
// event without an issue id is ErrNoIssue.
func Parse(body []byte) (Fields, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Fields{}, ErrEmptyBody
	}
	if trimmed[0] != '{' {
		return Fields{}, ErrNotJSON
	}
	var p struct {
		WebhookEvent json.RawMessage `json:"webhookEvent"`
		Issue        *struct {
			ID  json.RawMessage `json:"id"`
			Key json.RawMessage `json:"key"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(trimmed, &p); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Fields{}, fmt.Errorf("%w: %v at byte %d", ErrNotJSON, syn, syn.Offset)
		}
		// A type mismatch: "issue" is not an object, say.
		return Fields{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	var f Fields
	if s, ok := jsonString(p.WebhookEvent); ok {
		f.Event = s
	}
	if f.Event == "" {
		return Fields{}, ErrNoEvent
	}
	if p.Issue != nil {
		id, ok := jsonString(p.Issue.ID)
		if !ok {
			// Jira sends a string; accept a bare integer too.
			if n := string(bytes.TrimSpace(p.Issue.ID)); isDigits(n) {
				id = n
			}
		}
		if id != "" && (!isDigits(id) || len(id) > maxIssueIDLen) {
			return Fields{}, fmt.Errorf("issue.id %.40q is not a Jira issue id (digits)", id)
		}
		f.IssueID = id
		f.IssueKey, _ = jsonString(p.Issue.Key)
	}
	if f.IssueID == "" && IsIssueEvent(f.Event) {
		return Fields{}, ErrNoIssue
	}
	return f, nil
}

func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
