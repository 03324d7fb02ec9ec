package decisions

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
)

// Payload is the part of a Jira webhook body the bridge reads. It accepts
// Cloud and Server shapes: changelog items with or without fieldId, "status"
// in any case, a missing issue_event_type_name or changelog, a user without
// emailAddress (Cloud privacy) or without accountId (Server), and a numeric
// or string changelog id.
type Payload struct {
	WebhookEvent string     `json:"webhookEvent"`
	EventType    string     `json:"issue_event_type_name"`
	Timestamp    int64      `json:"timestamp"`
	User         *User      `json:"user"`
	Issue        IssueBody  `json:"issue"`
	Changelog    *Changelog `json:"changelog"`
	Comment      *struct {
		ID     string `json:"id"`
		Body   string `json:"body"`
		Author *User  `json:"author"`
	} `json:"comment"`
}

// User is a Jira user in a webhook.
type User struct {
	AccountID    string `json:"accountId"`
	Name         string `json:"name"`
	Key          string `json:"key"`
	EmailAddress string `json:"emailAddress"`
	DisplayName  string `json:"displayName"`
}

// IssueBody is the issue snapshot in a webhook.
type IssueBody struct {
	ID     string          `json:"id"`
	Key    string          `json:"key"`
	Fields json.RawMessage `json:"fields"`
}

// Changelog of the change that fired the webhook.
type Changelog struct {
	ID    FlexString `json:"id"`
	Items []struct {
		Field      string `json:"field"`
		FieldID    string `json:"fieldId"`
		FromString string `json:"fromString"`
		ToString   string `json:"toString"`
	} `json:"items"`
}

// FlexString decodes a JSON string or number.
type FlexString string

// UnmarshalJSON accepts "10228", 10228 and null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = FlexString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("changelog id: %w", err)
	}
	*f = FlexString(n.String())
	return nil
}

// StatusChange is a status move found in a changelog.
type StatusChange struct {
	ChangelogID string
	From, To    string
}

// ParsePayload decodes a webhook body.
func ParsePayload(body []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("webhook body: %w", err)
	}
	if p.WebhookEvent == "" {
		return p, fmt.Errorf("webhook body: no webhookEvent")
	}
	if p.Issue.ID == "" {
		return p, fmt.Errorf("webhook body: no issue.id")
	}
	if _, err := strconv.ParseUint(p.Issue.ID, 10, 64); err != nil {
		return p, fmt.Errorf("webhook body: issue.id %q is not numeric", p.Issue.ID)
	}
	return p, nil
}

// StatusChange returns the status move in the changelog, if any. It matches
// fieldId "status", or a field named status in any case (Server sends no
// fieldId); issue_event_type_name is not consulted.
func (p Payload) StatusChange() (StatusChange, bool) {
	if p.Changelog == nil {
		return StatusChange{}, false
	}
	for _, it := range p.Changelog.Items {
		if domain.IsStatusItem(it.Field, it.FieldID) {
			return StatusChange{ChangelogID: string(p.Changelog.ID), From: it.FromString, To: it.ToString}, true
		}
	}
	return StatusChange{}, false
}

// Labels returns issue.fields.labels.
func (p Payload) Labels() []string {
	var f struct {
		Labels []string `json:"labels"`
	}
	_ = json.Unmarshal(p.Issue.Fields, &f)
	return f.Labels
}

// FieldString returns issue.fields[id] when it is a string.
func (p Payload) FieldString(id string) string {
	if id == "" {
		return ""
	}
	var f map[string]json.RawMessage
	if json.Unmarshal(p.Issue.Fields, &f) != nil {
		return ""
	}
	var s string
	_ = json.Unmarshal(f[id], &s)
	return s
}

// ParseReason extracts the text after a "Reason:" or "Resolution:" marker
// (any case, optionally in wiki-markup bold), inline or on the following
// lines. ok is false when the comment has no marker.
func ParseReason(body string) (string, bool) {
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for i, l := range lines {
		t := strings.TrimLeft(strings.TrimSpace(l), "*_ ")
		lower := strings.ToLower(t)
		for _, m := range []string{"reason", "resolution"} {
			rest, ok := strings.CutPrefix(lower, m)
			if !ok {
				continue
			}
			rest = strings.TrimLeft(rest, "*_ ")
			if !strings.HasPrefix(rest, ":") {
				continue
			}
			_, text, _ := strings.Cut(t, ":")
			text = strings.TrimSpace(strings.TrimLeft(text, "*_ "))
			if text == "" {
				text = strings.TrimSpace(strings.Join(lines[i+1:], "\n"))
			}
			return text, true
		}
	}
	return "", false
}
