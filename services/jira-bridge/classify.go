package jirabridge

import (
	"errors"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// refusedRetry is the delay before a refused transition is tried again
// (Jira Cloud's reads lag its writes by seconds).
const refusedRetry = 2 * time.Second

// classify is the jira-bridge's one mapping from the errors of its core and
// adapters (the Jira client, the projection store) to what the consume
// loop does with the event (registered as every consumer's Classify):
//   - a wait the bridge asked for (domain.RetryError) → retry after it;
//   - Jira 429/5xx → transient, honouring Retry-After;
//   - a transition the workflow refused (400/409, no such transition) →
//     suspect: retried, dead-lettered after MaxAttempts;
//   - a malformed event, an undecodable projection value, any other Jira
//     4xx → permanent: dead-lettered with the error text;
//   - a projection that kept changing under a compare-and-swap → conflict;
//   - anything else (network errors, an unavailable store) → transient.
func classify(err error) bus.Verdict {
	var (
		retry   *domain.RetryError
		refused *domain.RefusedError
		invalid *domain.InvalidError
		ae      *jira.APIError
	)
	switch {
	case errors.As(err, &retry):
		return bus.Verdict{Kind: bus.KindTransient, After: retry.After}
	case errors.As(err, &ae) && ae.Retryable():
		return bus.Verdict{Kind: bus.KindTransient, After: ae.RetryAfter}
	case errors.As(err, &refused):
		return bus.Verdict{Kind: bus.KindSuspect, After: refusedRetry}
	case errors.As(err, &invalid), errors.Is(err, projection.ErrCorrupt), ae != nil:
		return bus.Verdict{Kind: bus.KindPermanent}
	case errors.Is(err, projection.ErrConflict):
		return bus.Verdict{Kind: bus.KindConflict}
	}
	return bus.Verdict{Kind: bus.KindTransient}
}
