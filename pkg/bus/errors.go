package bus

import (
	"errors"
	"time"
)

// Kind says what the consume loop does with a handler's error.
type Kind int

// Error kinds.
const (
	// KindTransient: redeliver later with exponential back-off (default).
	KindTransient Kind = iota
	// KindPermanent: dead-letter with the reason and never redeliver.
	KindPermanent
	// KindConflict: a compare-and-swap lost a race; redeliver soon.
	KindConflict
)

func (k Kind) String() string {
	switch k {
	case KindPermanent:
		return "permanent"
	case KindConflict:
		return "conflict"
	}
	return "transient"
}

type kindError struct {
	kind    Kind
	after   time.Duration
	suspect bool
	err     error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: bad input, a missing status, a
// 400 from Jira. The message goes to the dead-letter stream.
func Permanent(err error) error { return &kindError{kind: KindPermanent, err: err} }

// Transient marks err as worth retrying with back-off.
func Transient(err error) error { return &kindError{kind: KindTransient, err: err} }

// RetryAfter is a transient error whose redelivery waits at least d (a
// Retry-After header, say).
func RetryAfter(err error, d time.Duration) error {
	return &kindError{kind: KindTransient, after: d, err: err}
}

// Suspect is a transient error that may be permanent: a transition
// refused because the issue was read stale, or because the workflow really
// lacks it. It is redelivered after at least d like RetryAfter, but a
// message failing with it is dead-lettered after MaxAttempts deliveries
// without waiting for the retry window, so a real configuration gap shows
// within minutes.
func Suspect(err error, d time.Duration) error {
	return &kindError{kind: KindTransient, after: d, suspect: true, err: err}
}

// Conflict marks a lost compare-and-swap: redeliver soon and re-read.
func Conflict(err error) error { return &kindError{kind: KindConflict, err: err} }

// KindOf returns the kind of err; unmarked errors are transient.
func KindOf(err error) Kind {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	return KindTransient
}

// isSuspect reports whether err was marked Suspect.
func isSuspect(err error) bool {
	var ke *kindError
	return errors.As(err, &ke) && ke.suspect
}

// retryAfter returns the minimum delay err asks for, if any.
func retryAfter(err error) time.Duration {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.after
	}
	return 0
}
