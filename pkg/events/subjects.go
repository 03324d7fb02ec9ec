package events

import (
	"fmt"
	"strings"
)

// Subject prefixes; the last token is a request id or a Jira issue id.
const (
	SubjectRequests          = "teleport.requests"
	SubjectTeleportDecisions = "teleport.decisions"
	SubjectIssues            = "jira.issues"
	SubjectWebhooks          = "jira.webhooks"
	SubjectJiraDecisions     = "jira.decisions"
	SubjectDeadLetter        = "dlq"
)

// MaxTokenLen bounds ids used as subject tokens.
const MaxTokenLen = 128

// RequestSubject is teleport.requests.<req>.
func RequestSubject(requestID string) string { return SubjectRequests + "." + requestID }

// TeleportDecisionSubject is teleport.decisions.<req>.
func TeleportDecisionSubject(requestID string) string {
	return SubjectTeleportDecisions + "." + requestID
}

// IssueSubject is jira.issues.<req>.
func IssueSubject(requestID string) string { return SubjectIssues + "." + requestID }

// WebhookSubject is jira.webhooks.<issue-id>.
func WebhookSubject(issueID string) string { return SubjectWebhooks + "." + issueID }

// JiraDecisionSubject is jira.decisions.<req>.
func JiraDecisionSubject(requestID string) string { return SubjectJiraDecisions + "." + requestID }

// DeadLetterSubject is dlq.<stream>.<consumer>.
func DeadLetterSubject(stream, consumer string) string {
	return SubjectDeadLetter + "." + stream + "." + consumer
}

// LastToken returns the id a per-entity subject ends with, checking the
// prefix: LastToken("teleport.requests.abc", SubjectRequests) is "abc".
func LastToken(subject, prefix string) (string, error) {
	id, ok := strings.CutPrefix(subject, prefix+".")
	if !ok || id == "" || strings.Contains(id, ".") {
		return "", fmt.Errorf("subject %q is not %s.<id>", subject, prefix)
	}
	return id, nil
}

// ValidToken reports whether s can be one NATS subject token: non-empty,
// bounded, and free of separators, wildcards and whitespace.
func ValidToken(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(s) > MaxTokenLen {
		return fmt.Errorf("is %d characters, over %d", len(s), MaxTokenLen)
	}
	for _, r := range s {
		switch {
		case r == '.', r == '*', r == '>', r <= ' ', r == 0x7f:
			return fmt.Errorf("%q contains %q, not allowed in a NATS subject token", s, r)
		}
	}
	return nil
}
