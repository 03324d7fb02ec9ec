package bus

import (
	"context"
	"errors"
	"time"
)

// Kind says what the consume loop does with a handler's error.
type Kind int

// Error kinds.
const (
	// KindTransient: retry with exponential back-off, for MaxAttempts and
	// the retry window (default).
	KindTransient Kind = iota
	// KindPermanent: dead-letter with the reason at once.
	KindPermanent
	// KindConflict: a compare-and-swap lost a race; retry at once-ish.
	KindConflict
	// KindSuspect: transient that may be permanent (a transition refused
	// because the issue was read stale, or because the workflow lacks it):
	// retried like a transient error but dead-lettered after MaxAttempts
	// without waiting for the retry window, so a real configuration gap
	// shows within minutes.
	KindSuspect
)

func (k Kind) String() string {
	switch k {
	case KindPermanent:
		return "permanent"
	case KindConflict:
		return "conflict"
	case KindSuspect:
		return "suspect"
	}
	return "transient"
}

// Verdict is what the consume loop does with one handler error.
type Verdict struct {
	Kind Kind
	// After is the least wait before the next attempt (a Retry-After).
	After time.Duration
}

// Classifier maps a handler's error to a verdict. A service registers one
// per consumer (ConsumerSpec.Classify): its adapters return their own typed
// or sentinel errors and know nothing of the bus; the policy lives here.
type Classifier func(error) Verdict

type kindError struct {
	verdict Verdict
	err     error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying. The message goes to the
// dead-letter stream.
func Permanent(err error) error { return &kindError{Verdict{Kind: KindPermanent}, err} }

// Transient marks err as worth retrying with back-off.
func Transient(err error) error { return &kindError{Verdict{Kind: KindTransient}, err} }

// RetryAfter is a transient error whose next attempt waits at least d.
func RetryAfter(err error, d time.Duration) error {
	return &kindError{Verdict{Kind: KindTransient, After: d}, err}
}

// Suspect is a KindSuspect error whose next attempt waits at least d.
func Suspect(err error, d time.Duration) error {
	return &kindError{Verdict{Kind: KindSuspect, After: d}, err}
}

// Conflict marks a lost compare-and-swap: retry soon and re-read.
func Conflict(err error) error { return &kindError{Verdict{Kind: KindConflict}, err} }

// KindOf returns the kind err was marked with; unmarked errors are
// transient.
func KindOf(err error) Kind {
	v, _ := marked(err)
	return v.Kind
}

func marked(err error) (Verdict, bool) {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.verdict, true
	}
	return Verdict{Kind: KindTransient}, false
}

// classify is the one place where a handler error becomes a verdict: an
// explicit mark wins, then the service's classifier, then transient. A
// handler that ran out of its time is transient whatever the classifier
// says: the next attempt gets a fresh timeout.
func classify(c Classifier, err error) Verdict {
	if v, ok := marked(err); ok {
		return v
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Verdict{Kind: KindTransient}
	}
	if c != nil {
		return c(err)
	}
	return Verdict{Kind: KindTransient}
}
