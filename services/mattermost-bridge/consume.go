package mattermostbridge

import (
	"context"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/metrics"
)

// handler is the bridge's handler: it returns the events it produced (none:
// its records are written while it works, see posts.StreamStore) and errors
// of the adapters' own types, which classify maps.
type handler func(ctx context.Context, d bus.Delivery) ([]events.Payload, error)

// newConsumer runs h over the durable consumer, marking its errors with the
// kind classify gives them and counting dead letters.
func newConsumer(ctx context.Context, b *bus.Bus, spec bus.ConsumerSpec, h handler, m *metrics.Metrics) (*bus.Consumer, error) {
	wrapped := func(ctx context.Context, d bus.Delivery) error {
		_, err := h(ctx, d)
		if err == nil {
			return nil
		}
		kind, after, suspect := classify(err)
		switch {
		case kind == bus.KindPermanent:
			m.DeadLetters.Inc()
			d.Log.Error().Err(err).Msg("event dead-lettered; see the error for the fix, then replay it from the DEADLETTER stream")
			return bus.Permanent(err)
		case kind == bus.KindConflict:
			return bus.Conflict(err)
		case suspect:
			d.Log.Warn().Err(err).Msg("Mattermost refused the call; retrying, then dead-lettering after MATTERMOST_BRIDGE_MAX_ATTEMPTS")
			return bus.Suspect(err, after)
		case after > 0:
			return bus.RetryAfter(err, after)
		}
		d.Log.Debug().Err(err).Msg("transient failure; retrying")
		return bus.Transient(err)
	}
	return b.NewConsumer(ctx, spec, wrapped, bus.NewMetrics(nil))
}
