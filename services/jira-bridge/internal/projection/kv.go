package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KV is the Store over a JetStream key-value bucket.
type KV struct {
	KV  jetstream.KeyValue
	Now func() time.Time
}

// Get implements Store.
func (s *KV) Get(ctx context.Context, requestID string) (Entry, error) {
	kve, err := s.KV.Get(ctx, requestID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{RequestID: requestID}, nil
	}
	if err != nil {
		return Entry{}, fmt.Errorf("%w: get %s: %v", ErrUnavailable, requestID, err)
	}
	e, err := Decode(kve.Value())
	if err != nil {
		return Entry{}, fmt.Errorf("%s: %w", requestID, err)
	}
	e.Rev = kve.Revision()
	return e, nil
}

// Modify implements Store.
func (s *KV) Modify(ctx context.Context, requestID string, fn func(*Entry) error) (Entry, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	for range maxAttempts {
		e, err := s.Get(ctx, requestID)
		if err != nil {
			return e, err
		}
		if err := fn(&e); err != nil {
			if errors.Is(err, ErrNoChange) {
				return e, nil
			}
			return e, err
		}
		e.RequestID, e.Updated = requestID, now().UTC()
		var rev uint64
		if e.Rev == 0 {
			rev, err = s.KV.Create(ctx, requestID, e.Encode())
		} else {
			rev, err = s.KV.Update(ctx, requestID, e.Encode(), e.Rev)
		}
		if err == nil {
			e.Rev = rev
			return e, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return e, fmt.Errorf("%w: put %s: %v", ErrUnavailable, requestID, err)
		}
	}
	return Entry{}, fmt.Errorf("%w of %s", ErrConflict, requestID)
}

// Empty reports whether the bucket holds no entry.
func (s *KV) Empty(ctx context.Context) (bool, error) {
	keys, err := s.KV.ListKeys(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = keys.Stop() }()
	for range keys.Keys() {
		return false, nil
	}
	return true, nil
}
