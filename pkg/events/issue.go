package events

import "fmt"

// IssueEvent is the payload of the issue.* events the jira-bridge publishes
// after each change it made in Jira.
type IssueEvent struct {
	// Kind is the event type; it travels in the envelope, not in the data.
	Kind      Type   `json:"-"`
	RequestID string `json:"request_id"`
	IssueID   string `json:"issue_id"`
	IssueKey  string `json:"issue_key"`
	// Status is the issue's status after the change.
	Status string `json:"status,omitempty"`
	// FromStatus is the status before a transition.
	FromStatus string `json:"from_status,omitempty"`
	// CommentID is the Jira id of the comment an issue.commented reports.
	CommentID string `json:"comment_id,omitempty"`
	// Cause names what the change answered, such as "review:2",
	// "resolved:APPROVED", "expired" or "rejected:<decision id>". It makes
	// the dedup id, so one cause yields one change.
	Cause string `json:"cause,omitempty"`
	// Adopted is set on issue.linked when the issue existed before: left by
	// teleport-jira, or found by a lookup after a crash.
	Adopted bool `json:"adopted,omitempty"`
}

// MaxCauseLen bounds IssueEvent.Cause.
const MaxCauseLen = 512

// NewIssueLinked reports the issue that stands for a request.
func NewIssueLinked(requestID string, issue IssueRef, status string, adopted bool) *IssueEvent {
	return &IssueEvent{Kind: IssueLinked, RequestID: requestID, IssueID: issue.ID, IssueKey: issue.Key, Status: status, Adopted: adopted}
}

// NewIssueTransitioned reports a status change made for cause.
func NewIssueTransitioned(requestID string, issue IssueRef, from, to, cause string) *IssueEvent {
	return &IssueEvent{Kind: IssueTransitioned, RequestID: requestID, IssueID: issue.ID, IssueKey: issue.Key, FromStatus: from, Status: to, Cause: cause}
}

// NewIssueCommented reports a comment added for cause.
func NewIssueCommented(requestID string, issue IssueRef, commentID, cause string) *IssueEvent {
	return &IssueEvent{Kind: IssueCommented, RequestID: requestID, IssueID: issue.ID, IssueKey: issue.Key, CommentID: commentID, Cause: cause}
}

// EventType implements Payload.
func (e *IssueEvent) EventType() Type { return e.Kind }

// Subject implements Payload.
func (e *IssueEvent) Subject() string { return IssueSubject(e.RequestID) }

// DedupID implements Payload.
func (e *IssueEvent) DedupID() string {
	switch e.Kind {
	case IssueLinked:
		return e.RequestID + ":linked"
	case IssueTransitioned:
		return e.RequestID + ":transitioned:" + e.Cause
	case IssueCommented:
		return e.RequestID + ":commented:" + e.Cause
	}
	return e.RequestID + ":" + string(e.Kind) + ":" + e.Cause
}

// Validate implements Payload.
func (e *IssueEvent) Validate() error {
	if err := token("request_id", e.RequestID); err != nil {
		return err
	}
	if err := (IssueRef{ID: e.IssueID, Key: e.IssueKey}).validate("issue"); err != nil {
		return err
	}
	for f, v := range map[string]string{"status": e.Status, "from_status": e.FromStatus, "comment_id": e.CommentID} {
		if err := checkLen(f, v, MaxNameLen); err != nil {
			return err
		}
	}
	if err := checkLen("cause", e.Cause, MaxCauseLen); err != nil {
		return err
	}
	switch e.Kind {
	case IssueLinked:
	case IssueTransitioned:
		if e.Status == "" || e.Cause == "" {
			return fmt.Errorf("status and cause: a transition needs both")
		}
	case IssueCommented:
		if e.CommentID == "" || e.Cause == "" {
			return fmt.Errorf("comment_id and cause: a comment needs both")
		}
	default:
		return fmt.Errorf("kind: %q is not an issue event type", e.Kind)
	}
	return nil
}
