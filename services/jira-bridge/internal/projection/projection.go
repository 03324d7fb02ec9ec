// Package projection holds the request-issues projection the jira-bridge
// owns: request id → linked issue, the status the bridge knows it in, the
// writes applied (typed, per cause) and the writes intended but not yet
// confirmed. An entry changes only by folding the bridge's own events
// (Entry.Fold, the same fold that rebuilds the projection from the JIRA
// stream) and by recording intents before Jira writes (Entry.Intend).
//
// The Store interface has two implementations that pass one contract
// suite: KV (a JetStream key-value bucket, compare-and-swap) and Mem (in
// memory, for tests of the core without NATS).
package projection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
)

// Bucket is the name of the KV bucket.
const Bucket = "request-issues"

// Entry is the projection of one request.
type Entry struct {
	RequestID string `json:"request_id"`
	IssueID   string `json:"issue_id,omitempty"`
	IssueKey  string `json:"issue_key,omitempty"`
	Project   string `json:"project,omitempty"`
	// Status is the issue's status as the bridge last set it or learned it
	// (from a verified decision, or a read after a crash); "" when unknown.
	Status  string `json:"status,omitempty"`
	Adopted bool   `json:"adopted,omitempty"`
	// Applied lists the writes done, each once.
	Applied []Applied `json:"applied,omitempty"`
	// Intents lists the writes started and not yet confirmed: a redelivery
	// that finds one reads Jira before writing again.
	Intents []Intent  `json:"intents,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
	// Rev is the revision the entry was read at (0: absent). Not stored.
	Rev uint64 `json:"-"`
}

// Applied is one write the bridge made (or found made) for a cause.
type Applied struct {
	Cause     domain.Cause `json:"cause"`
	Write     domain.Write `json:"write"`
	CommentID string       `json:"comment_id,omitempty"`
	// Status is the status a transition moved the issue to.
	Status string `json:"status,omitempty"`
	// From is the status a transition moved the issue from.
	From string `json:"from,omitempty"`
	// Decision is the decision published, kept so that a redelivery can
	// publish it again.
	Decision *events.Decision `json:"decision,omitempty"`
}

// Intent is a write about to be made.
type Intent struct {
	Cause domain.Cause `json:"cause"`
	Write domain.Write `json:"write"`
	Owner string       `json:"owner,omitempty"`
	At    time.Time    `json:"at"`
}

// Linked reports whether the request has an issue.
func (e *Entry) Linked() bool { return e.IssueID != "" }

// Ref is the linked issue.
func (e *Entry) Ref() events.IssueRef { return events.IssueRef{ID: e.IssueID, Key: e.IssueKey} }

// Done returns the record of a write, if it was applied.
func (e *Entry) Done(c domain.Cause, w domain.Write) (Applied, bool) {
	for _, a := range e.Applied {
		if a.Cause == c && a.Write == w {
			return a, true
		}
	}
	return Applied{}, false
}

// Intended returns the intent of a write, if one is on record.
func (e *Entry) Intended(c domain.Cause, w domain.Write) (Intent, bool) {
	for _, in := range e.Intents {
		if in.Cause == c && in.Write == w {
			return in, true
		}
	}
	return Intent{}, false
}

// Intend records that a write is about to be made.
func (e *Entry) Intend(c domain.Cause, w domain.Write, owner string, at time.Time) {
	e.Intents = slices.DeleteFunc(e.Intents, func(in Intent) bool { return in.Cause == c && in.Write == w })
	e.Intents = append(e.Intents, Intent{Cause: c, Write: w, Owner: owner, At: at.UTC()})
}

func (e *Entry) apply(a Applied) {
	e.Intents = slices.DeleteFunc(e.Intents, func(in Intent) bool { return in.Cause == a.Cause && in.Write == a.Write })
	if _, ok := e.Done(a.Cause, a.Write); !ok {
		e.Applied = append(e.Applied, a)
	}
}

// Fold applies one of the bridge's events to the entry: issue.linked links
// it, issue.transitioned and issue.commented record their write, and
// decision.requested records the decision and the status the reviewer
// moved the issue to. Folding an event twice changes nothing. Events of
// other requests and other types are ignored.
func (e *Entry) Fold(p events.Payload) {
	switch p := p.(type) {
	case *events.IssueEvent:
		if p.RequestID != e.RequestID {
			return
		}
		e.IssueID, e.IssueKey = p.IssueID, p.IssueKey
		if e.Project == "" {
			e.Project, _, _ = strings.Cut(p.IssueKey, "-")
		}
		switch p.Kind {
		case events.IssueLinked:
			if e.Status == "" || p.Adopted {
				e.Status = p.Status
			}
			e.Adopted = e.Adopted || p.Adopted
			e.apply(Applied{Cause: "", Write: domain.WriteLink, Status: p.Status})
		case events.IssueTransitioned:
			e.Status = p.Status
			e.apply(Applied{Cause: domain.Cause(p.Cause), Write: domain.WriteTransition, Status: p.Status, From: p.FromStatus})
		case events.IssueCommented:
			e.apply(Applied{Cause: domain.Cause(p.Cause), Write: domain.WriteComment, CommentID: p.CommentID})
		}
	case *events.Decision:
		if p.RequestID != e.RequestID {
			return
		}
		if _, ok := e.Done(domain.CauseDecision(p.ChangelogID), domain.WriteDecision); !ok && p.IssueID == e.IssueID {
			e.Status = p.Status
		}
		e.apply(Applied{Cause: domain.CauseDecision(p.ChangelogID), Write: domain.WriteDecision, Status: p.Status, From: p.FromStatus, Decision: p})
	}
}

// Event rebuilds the event that recorded an applied write, so that a
// redelivery whose events may not have been published can publish them
// again (the dedup id makes the second copy a no-op).
func (e *Entry) Event(a Applied) events.Payload {
	switch a.Write {
	case domain.WriteLink:
		return events.NewIssueLinked(e.RequestID, e.Ref(), a.Status, e.Adopted)
	case domain.WriteComment:
		return events.NewIssueCommented(e.RequestID, e.Ref(), a.CommentID, string(a.Cause))
	case domain.WriteTransition:
		return events.NewIssueTransitioned(e.RequestID, e.Ref(), a.From, a.Status, string(a.Cause))
	case domain.WriteDecision:
		if a.Decision != nil {
			return a.Decision
		}
	}
	return nil
}

// Encode returns the stored form.
func (e *Entry) Encode() []byte {
	b, _ := json.Marshal(e)
	return b
}

// Decode parses the stored form, and the form bridges before this one
// wrote (a phase and a list of cause strings).
func Decode(b []byte) (Entry, error) {
	if bytes.Contains(b, []byte(`"phase":`)) {
		if le, ok := decodeLegacy(b); ok {
			return le, nil
		}
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if e.RequestID == "" {
		return e, fmt.Errorf("%w: no request_id", ErrCorrupt)
	}
	return e, nil
}

// Store reads and changes entries.
type Store interface {
	// Get returns the entry of a request; an absent one is returned empty
	// (RequestID set, Rev 0) without error.
	Get(ctx context.Context, requestID string) (Entry, error)
	// Modify reads the entry (empty when absent), calls fn on it and
	// writes the result with compare-and-swap, re-reading and calling fn
	// again after a concurrent change: fn may be called more than once and
	// must depend only on the entry it is given. fn returning ErrNoChange
	// leaves the entry as it is (no write); any other error is returned.
	Modify(ctx context.Context, requestID string, fn func(*Entry) error) (Entry, error)
}

// Errors of a Store.
var (
	// ErrNoChange, returned by a Modify function, skips the write.
	ErrNoChange = errors.New("no change")
	// ErrConflict: the entry kept changing under Modify.
	ErrConflict = errors.New("request-issues: concurrent update")
	// ErrCorrupt: a stored value cannot be read.
	ErrCorrupt = errors.New("request-issues: undecodable value")
	// ErrUnavailable wraps a failure of the underlying store.
	ErrUnavailable = errors.New("request-issues: store unavailable")
)

// maxAttempts bounds the compare-and-swap loop of Modify.
const maxAttempts = 10

// decodeLegacy reads an entry written before the typed records: phase
// "claimed" (an unconfirmed create) or "linked", and applied causes as
// strings ("review:1", "resolved:APPROVED", "expired" for comments,
// "transition:<cause>", "decision:<id>", "rejected:<id>:comment|moved").
func decodeLegacy(b []byte) (Entry, bool) {
	var v struct {
		RequestID string    `json:"request_id"`
		Phase     string    `json:"phase"`
		IssueID   string    `json:"issue_id"`
		IssueKey  string    `json:"issue_key"`
		Project   string    `json:"project"`
		Status    string    `json:"status"`
		Applied   []string  `json:"applied"`
		ClaimedBy string    `json:"claimed_by"`
		ClaimedAt time.Time `json:"claimed_at"`
	}
	if json.Unmarshal(b, &v) != nil || v.RequestID == "" || (v.Phase != "claimed" && v.Phase != "linked") {
		return Entry{}, false
	}
	e := Entry{RequestID: v.RequestID, Project: v.Project, Status: v.Status}
	if v.Phase == "claimed" || v.IssueID == "" {
		e.Intend("", domain.WriteLink, v.ClaimedBy, v.ClaimedAt)
		return e, true
	}
	e.IssueID, e.IssueKey = v.IssueID, v.IssueKey
	e.Applied = append(e.Applied, Applied{Write: domain.WriteLink})
	for _, c := range v.Applied {
		a := Applied{Cause: domain.Cause(c), Write: domain.WriteComment}
		switch {
		case strings.HasPrefix(c, "transition:"):
			a = Applied{Cause: domain.Cause(strings.TrimPrefix(c, "transition:")), Write: domain.WriteTransition, Status: v.Status}
		case strings.HasPrefix(c, "decision:"):
			a.Write = domain.WriteDecision
		case strings.HasPrefix(c, "rejected:"):
			cause, kind, _ := strings.Cut(strings.TrimPrefix(c, "rejected:"), ":")
			a.Cause = domain.CauseRejected(cause)
			if kind == "moved" {
				a.Write = domain.WriteTransition
			}
		}
		e.apply(a)
	}
	return e, true
}
