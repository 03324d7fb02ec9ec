package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// RequestIssue is the value stored under a request id in the
// BucketRequestIssues key-value bucket. The jira-bridge owns and writes it
// (compare-and-swap); the teleport-bridge only reads it, to check that a
// decision names the issue linked to its request. It can be rebuilt from the
// JIRA stream's issue.* events.
type RequestIssue struct {
	RequestID string `json:"request_id"`
	// Phase is "claimed" between the claim and the Jira create call, and
	// "linked" once the issue is known.
	Phase    string `json:"phase"`
	IssueID  string `json:"issue_id,omitempty"`
	IssueKey string `json:"issue_key,omitempty"`
	Project  string `json:"project,omitempty"`
	// Status is the Jira status the bridge last set or verified.
	Status string `json:"status,omitempty"`
	// Applied lists the causes already applied to the issue ("review:1",
	// "resolved:APPROVED", "expired", …), so a redelivery changes nothing.
	Applied []string `json:"applied,omitempty"`
	// ClaimedBy and ClaimedAt identify the replica that claimed the request.
	ClaimedBy string    `json:"claimed_by,omitempty"`
	ClaimedAt time.Time `json:"claimed_at,omitzero"`
	Updated   time.Time `json:"updated,omitzero"`
}

// Projection phases.
const (
	PhaseClaimed = "claimed"
	PhaseLinked  = "linked"
)

// Linked reports whether the request has an issue.
func (r RequestIssue) Linked() bool { return r.Phase == PhaseLinked && r.IssueID != "" }

// HasApplied reports whether cause was applied already.
func (r RequestIssue) HasApplied(cause string) bool {
	for _, c := range r.Applied {
		if c == cause {
			return true
		}
	}
	return false
}

// DecodeRequestIssue parses a bucket value.
func DecodeRequestIssue(b []byte) (RequestIssue, error) {
	var r RequestIssue
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("request-issues value: %w", err)
	}
	if r.Phase != PhaseClaimed && r.Phase != PhaseLinked {
		return r, fmt.Errorf("request-issues value: phase %q is not %q or %q", r.Phase, PhaseClaimed, PhaseLinked)
	}
	return r, nil
}

// Encode returns the bucket value.
func (r RequestIssue) Encode() []byte {
	b, _ := json.Marshal(r)
	return b
}
