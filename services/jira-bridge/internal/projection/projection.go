// Package projection reads and writes the request-issues KV bucket (request
// id → linked issue, status the bridge set, causes applied), which the
// jira-bridge owns. Every write is a compare-and-swap.
package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Store wraps the bucket.
type Store struct {
	KV  jetstream.KeyValue
	Now func() time.Time
}

// ErrConflict: another writer changed the entry since it was read.
var ErrConflict = errors.New("request-issues: concurrent update")

// Entry is a value and the revision it was read at (0: absent).
type Entry struct {
	events.RequestIssue
	Rev uint64
}

// Get reads the entry of a request.
func (s *Store) Get(ctx context.Context, requestID string) (Entry, error) {
	e, err := s.KV.Get(ctx, requestID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{RequestIssue: events.RequestIssue{RequestID: requestID}}, nil
	}
	if err != nil {
		return Entry{}, bus.Transient(fmt.Errorf("request-issues get %s: %w", requestID, err))
	}
	v, err := events.DecodeRequestIssue(e.Value())
	if err != nil {
		return Entry{}, bus.Permanent(fmt.Errorf("request-issues %s: %w", requestID, err))
	}
	return Entry{RequestIssue: v, Rev: e.Revision()}, nil
}

// Put writes e if the entry is still at e.Rev (creates it when e.Rev is 0)
// and returns the new revision. A conflict returns an error marked
// bus.Conflict wrapping ErrConflict.
func (s *Store) Put(ctx context.Context, e Entry) (Entry, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	e.Updated = now().UTC()
	var rev uint64
	var err error
	if e.Rev == 0 {
		rev, err = s.KV.Create(ctx, e.RequestID, e.Encode())
	} else {
		rev, err = s.KV.Update(ctx, e.RequestID, e.Encode(), e.Rev)
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return e, bus.Conflict(fmt.Errorf("%w of %s", ErrConflict, e.RequestID))
		}
		return e, bus.Transient(fmt.Errorf("request-issues put %s: %w", e.RequestID, err))
	}
	e.Rev = rev
	return e, nil
}

// MarkApplied records cause (and the status the bridge set, when not
// empty) with a compare-and-swap loop; modify may run more than once.
func (s *Store) MarkApplied(ctx context.Context, requestID, cause, status string) (Entry, error) {
	for attempt := 0; ; attempt++ {
		e, err := s.Get(ctx, requestID)
		if err != nil {
			return e, err
		}
		if e.Rev == 0 {
			return e, bus.Transient(fmt.Errorf("request-issues %s: vanished", requestID))
		}
		if status != "" {
			e.Status = status
		}
		if cause != "" && !e.HasApplied(cause) {
			e.Applied = append(e.Applied, cause)
		}
		e, err = s.Put(ctx, e)
		if err == nil || !errors.Is(err, ErrConflict) || attempt >= 10 {
			return e, err
		}
	}
}
