package decisions

import (
	"fmt"
	"strings"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// Payload is the part of a Jira webhook body the bridge reads, decoded by
// the one parser the ingress uses too (events.ParseJiraWebhook): Cloud and
// Server shapes, changelog items with or without fieldId, "status" in any
// case, a missing issue_event_type_name or changelog, a user without
// emailAddress (Cloud privacy) or without accountId (Server), ids and the
// timestamp as strings or numbers; every other field is only checked to be
// well-formed.
type Payload = events.JiraWebhook

// StatusChange is a status move found in a changelog.
type StatusChange = events.JiraStatusChange

// ParsePayload decodes a webhook body, keeping the issue fields named (the
// request-id custom field). Its errors are the delivery's: it can never be
// handled (permanent).
func ParsePayload(body []byte, fields ...string) (Payload, error) {
	p, err := events.ParseJiraWebhook(body, fields...)
	if err != nil {
		return p, fmt.Errorf("webhook body: %w", err)
	}
	if p.Issue.ID == "" {
		return p, fmt.Errorf("webhook body: no issue.id")
	}
	return p, nil
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
