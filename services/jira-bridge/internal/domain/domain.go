// Package domain is the jira-bridge's shared vocabulary: the workflow
// statuses, the request label and entity property, the causes of the
// bridge's writes, the marker its comments carry, and the error kinds its
// core returns. Every other package takes these from here instead of
// assembling the same strings itself.
package domain

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// PropertyRequestID is the entity property (and custom field name) that
// carries the request id, as teleport-jira writes it.
const PropertyRequestID = "teleportAccessRequestId"

// PropertyValue reads the request id from a teleportAccessRequestId
// property value: a JSON string (teleport-jira) or an object with
// "requestId"/"id".
func PropertyValue(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		RequestID string `json:"requestId"`
		ID        string `json:"id"`
	}
	if json.Unmarshal(raw, &o) == nil {
		if o.RequestID != "" {
			return o.RequestID
		}
		return o.ID
	}
	return ""
}

// Statuses are the workflow status names. Names compare case-insensitively,
// as Jira's do.
type Statuses struct {
	Pending, Approved, Denied, Expired, Promoted string
}

// Same reports whether two status names are the same status.
func Same(a, b string) bool { return strings.EqualFold(a, b) }

// Terminal reports whether status is a final status.
func (s Statuses) Terminal(status string) bool {
	for _, t := range []string{s.Approved, s.Denied, s.Expired, s.Promoted} {
		if Same(t, status) {
			return true
		}
	}
	return false
}

// ForState maps a resolved request state to its status.
func (s Statuses) ForState(st events.State) string {
	switch st {
	case events.StateApproved:
		return s.Approved
	case events.StateDenied:
		return s.Denied
	case events.StatePromoted:
		return s.Promoted
	}
	return s.Pending
}

// Verdict maps a status a reviewer moved an issue to onto a decision
// (Approved and Denied only).
func (s Statuses) Verdict(status string) (events.Verdict, bool) {
	switch {
	case Same(status, s.Approved):
		return events.VerdictApprove, true
	case Same(status, s.Denied):
		return events.VerdictDeny, true
	}
	return "", false
}

// Labels names the labels of the bridge's issues.
type Labels struct{ Prefix string }

// For is the per-request label.
func (l Labels) For(requestID string) string { return l.Prefix + "-" + requestID }

// RequestID returns the request id a label list names: the first
// <prefix>-<id> label whose id is a valid token.
func (l Labels) RequestID(labels []string) (string, bool) {
	for _, lb := range labels {
		if id, ok := strings.CutPrefix(lb, l.Prefix+"-"); ok && events.ValidToken(id) == nil {
			return id, true
		}
	}
	return "", false
}

// IsStatusItem reports whether a changelog item changes the status: fieldId
// "status", or, when there is no fieldId (older Server payloads), field
// "status" in any case.
func IsStatusItem(field, fieldID string) bool {
	if fieldID != "" {
		return fieldID == "status"
	}
	return strings.EqualFold(field, "status")
}

// Cause is what a write of the bridge answers: one review, the
// resolution, the expiry, the move of a new issue to Pending, a decision
// read from a changelog entry, or a rejected decision. It is the dedup key
// of the issue.* events, so one cause yields one change of each kind.
type Cause string

// The causes without parameters.
const (
	CausePending Cause = "pending"
	CauseExpired Cause = "expired"
)

// CauseReview is the n-th review (1-based).
func CauseReview(n int) Cause { return Cause("review:" + strconv.Itoa(n)) }

// CauseResolved is the resolution to state.
func CauseResolved(st events.State) Cause { return Cause("resolved:" + string(st)) }

// CauseDecision is the decision read from a changelog entry.
func CauseDecision(changelogID string) Cause { return Cause("decision:" + changelogID) }

// CauseRejected answers the rejection of the decision of a changelog entry.
func CauseRejected(changelogID string) Cause { return Cause("rejected:" + changelogID) }

// Kind is the cause without its parameter ("review", "resolved", …), for
// metrics.
func (c Cause) Kind() string {
	k, _, _ := strings.Cut(string(c), ":")
	return k
}

// Write is the kind of change a cause made.
type Write string

// The writes.
const (
	WriteLink       Write = "link"
	WriteComment    Write = "comment"
	WriteTransition Write = "transition"
	WriteDecision   Write = "decision"
)

// Marker is the line that ends every comment the bridge writes: it names
// the cause, so that after a crash between a comment and its record the
// comment is found by its marker instead of being written twice. It is
// short, grey wiki markup that a reader skims over.
func Marker(requestID string, c Cause) string {
	return fmt.Sprintf("{color:#97a0af}accessbridge %s %s{color}", requestID, c)
}

// WithMarker appends the marker to a comment body.
func WithMarker(body, requestID string, c Cause) string {
	return strings.TrimRight(body, "\n") + "\n" + Marker(requestID, c)
}

// HasMarker reports whether a comment body carries the marker.
func HasMarker(body, requestID string, c Cause) bool {
	return strings.Contains(body, Marker(requestID, c))
}

// RetryError asks the consume loop to try the event again after a delay:
// the bridge waits for something it knows will come (a link not yet
// recorded, Jira's read-after-write lag, another replica's create).
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter wraps err in a RetryError.
func RetryAfter(err error, after time.Duration) error { return &RetryError{Err: err, After: after} }

// InvalidError is an event the bridge can never handle (malformed, or
// missing what it needs): it is dead-lettered at once.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Invalid wraps err in an InvalidError.
func Invalid(err error) error { return &InvalidError{Err: err} }

// RefusedError is a transition the workflow refused: a stale read clears
// in seconds, a missing transition never does; the consume loop retries it
// a bounded number of times.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// PublishError is a failure to publish an event: always worth retrying.
type PublishError struct{ Err error }

func (e *PublishError) Error() string { return e.Err.Error() }
func (e *PublishError) Unwrap() error { return e.Err }
