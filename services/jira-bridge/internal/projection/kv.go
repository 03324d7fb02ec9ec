package projection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KV is the Store over a JetStream key-value bucket.
type KV struct {
	KV  jetstream.KeyValue
	Now func() time.Time
	// Timeout bounds each call to the bucket (default 5s). A handler's own
	// deadline is minutes: a put whose answer was lost while the NATS
	// connection moved to another server must fail fast and be retried,
	// not hold the request's events that long.
	Timeout time.Duration

	// last holds the entries this process last wrote, so that Modify
	// writes at a known revision without reading first; a stale one
	// (another replica wrote since) fails the compare-and-swap and is read
	// again. Bounded: cleared when full.
	mu   sync.Mutex
	last map[string]Entry
}

// lastEntries bounds the cache of written entries.
const lastEntries = 10000

func (s *KV) remember(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil || len(s.last) >= lastEntries {
		s.last = make(map[string]Entry, 64)
	}
	s.last[e.RequestID] = e
}

func (s *KV) cached(requestID string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.last[requestID]
	return e, ok
}

// call bounds one call to the bucket.
func (s *KV) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.Timeout <= 0 {
		return context.WithTimeout(ctx, 5*time.Second)
	}
	return context.WithTimeout(ctx, s.Timeout)
}

// Get implements Store.
func (s *KV) Get(ctx context.Context, requestID string) (Entry, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
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
	for attempt := range maxAttempts {
		e, ok := s.cached(requestID)
		if attempt > 0 || !ok {
			var err error
			if e, err = s.Get(ctx, requestID); err != nil {
				return e, err
			}
		} else {
			// fn may keep what it is given: give it its own slices.
			e.Applied, e.Intents = slices.Clone(e.Applied), slices.Clone(e.Intents)
		}
		if err := fn(&e); err != nil {
			if errors.Is(err, ErrNoChange) {
				return e, nil
			}
			return e, err
		}
		e.RequestID, e.Updated = requestID, now().UTC()
		var rev uint64
		var err error
		cctx, cancel := s.call(ctx)
		if e.Rev == 0 {
			rev, err = s.KV.Create(cctx, requestID, e.Encode())
		} else {
			rev, err = s.KV.Update(cctx, requestID, e.Encode(), e.Rev)
		}
		cancel()
		if err == nil {
			e.Rev = rev
			s.remember(e)
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
	ctx, cancel := s.call(ctx)
	defer cancel()
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
