package jirabridge

import (
	"context"
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
// loop does with the event:
//   - a wait the bridge asked for (domain.RetryError) → retry after it;
//   - a transition the workflow refused (400/409, no such transition) →
//     retried a bounded number of times (bus.Suspect), then dead-lettered;
//   - Jira 429/5xx, network errors, an unavailable store, a failed publish
//     → transient (Retry-After honoured);
//   - a concurrent projection update → conflict;
//   - other Jira 4xx, a malformed event, an undecodable projection value →
//     permanent: dead-lettered with the error text.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var (
		retry   *domain.RetryError
		refused *domain.RefusedError
		invalid *domain.InvalidError
		ae      *jira.APIError
	)
	switch {
	case errors.As(err, &retry):
		return bus.RetryAfter(err, retry.After)
	case errors.As(err, &ae) && ae.Retryable():
		if ae.RetryAfter > 0 {
			return bus.RetryAfter(err, ae.RetryAfter)
		}
		return bus.Transient(err)
	case errors.As(err, &refused):
		return bus.Suspect(err, refusedRetry)
	case errors.As(err, &invalid), errors.Is(err, projection.ErrCorrupt):
		return bus.Permanent(err)
	case errors.Is(err, projection.ErrConflict):
		return bus.Conflict(err)
	case ae != nil:
		return bus.Permanent(err)
	case errors.Is(err, context.Canceled):
		return bus.Transient(err)
	}
	return bus.Transient(err)
}
