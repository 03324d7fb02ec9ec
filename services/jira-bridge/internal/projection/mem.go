package projection

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Mem is an in-memory Store with the KV store's semantics (values stored
// encoded, compare-and-swap by revision).
type Mem struct {
	mu   sync.Mutex
	vals map[string][]byte
	revs map[string]uint64
	rev  uint64
	// BeforeWrite, when set, runs inside Modify after fn and before the
	// compare-and-swap (tests use it to interleave a concurrent writer).
	BeforeWrite func(requestID string)
}

// NewMem returns an empty store.
func NewMem() *Mem { return &Mem{vals: map[string][]byte{}, revs: map[string]uint64{}} }

// Get implements Store.
func (s *Mem) Get(_ context.Context, requestID string) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vals[requestID]
	if !ok {
		return Entry{RequestID: requestID}, nil
	}
	e, err := Decode(v)
	if err != nil {
		return Entry{}, err
	}
	e.Rev = s.revs[requestID]
	return e, nil
}

// Modify implements Store.
func (s *Mem) Modify(ctx context.Context, requestID string, fn func(*Entry) error) (Entry, error) {
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
		if s.BeforeWrite != nil {
			s.BeforeWrite(requestID)
		}
		e.RequestID, e.Updated = requestID, time.Now().UTC()
		s.mu.Lock()
		if s.revs[requestID] == e.Rev {
			s.rev++
			s.vals[requestID], s.revs[requestID] = e.Encode(), s.rev
			e.Rev = s.rev
			s.mu.Unlock()
			return e, nil
		}
		s.mu.Unlock()
	}
	return Entry{}, ErrConflict
}

// Put stores raw bytes under a key (tests: a corrupt value).
func (s *Mem) Put(requestID string, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
	s.vals[requestID], s.revs[requestID] = raw, s.rev
}

// Len is the number of entries.
func (s *Mem) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.vals)
}
