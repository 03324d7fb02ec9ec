package mattermostbridge

import (
	"context"
	"errors"
	"net/http"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/mattermost"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/posts"
)

var errUnexpected = errors.New("not a request event")

// classify maps the errors of the poster, the Mattermost client and the
// record store to what the consume loop does: the one place that decides.
func classify(err error) bus.Verdict {
	var rl *mattermost.RateLimitError
	var ae *mattermost.APIError
	switch {
	case errors.Is(err, errUnexpected):
		return bus.Verdict{Kind: bus.KindPermanent}
	case errors.Is(err, posts.ErrConflict):
		return bus.Verdict{Kind: bus.KindConflict}
	case errors.As(err, &rl):
		return bus.Verdict{Kind: bus.KindTransient, After: rl.RetryAfter}
	case errors.As(err, &ae):
		switch {
		case ae.Status >= 500 || ae.Status == http.StatusRequestTimeout:
			return bus.Verdict{Kind: bus.KindTransient}
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden || ae.Status == http.StatusNotFound:
			// The bot lost its token, a channel or a membership: retried
			// MaxAttempts times, then dead-lettered for the operator.
			return bus.Verdict{Kind: bus.KindSuspect}
		default:
			return bus.Verdict{Kind: bus.KindPermanent}
		}
	}
	return bus.Verdict{Kind: bus.KindTransient}
}

// logged counts and explains the errors that will dead-letter the event at
// once, and names the refusals that will after MaxAttempts.
func logged(h bus.Handler, m *metrics.Metrics) bus.Handler {
	return func(ctx context.Context, d bus.Delivery) ([]events.Payload, error) {
		out, err := h(ctx, d)
		if err == nil {
			return out, nil
		}
		switch classify(err).Kind {
		case bus.KindPermanent:
			m.DeadLetters.Inc()
			d.Log.Error().Err(err).Msg("event dead-lettered; see the error for the fix, then replay it from the DEADLETTER stream")
		case bus.KindSuspect:
			d.Log.Warn().Err(err).Msg("Mattermost refused the call; retrying, then dead-lettering after MATTERMOST_BRIDGE_MAX_ATTEMPTS")
		default:
			d.Log.Debug().Err(err).Msg("transient failure; retrying")
		}
		return out, err
	}
}
