package webhookingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/webhook-ingress/internal/mmaction"
	"github.com/accessbridge/accessbridge/services/webhook-ingress/internal/webhook"
)

// newActions builds the Mattermost button endpoint: same client IP and
// per-IP rate limit as the Jira paths, its own body limit.
func newActions(cfg Config, b *bus.Bus, log zerolog.Logger, reg prometheus.Registerer, h *webhook.Handler, limiter *webhook.RateLimiter) (http.Handler, error) {
	o := mmaction.Options{
		Keys: cfg.mattermostButtonKeys(), Publisher: actionPublisher{b: b}, Log: log, Registry: reg,
		PublishTimeout: cfg.PublishTimeout, ClientIP: h.ClientIP,
	}
	if limiter != nil {
		o.Allow = limiter.Allow
	}
	a, err := mmaction.New(o)
	if err != nil {
		return nil, fmt.Errorf("%s_MATTERMOST_BUTTON_KEY: %w", EnvPrefix, err)
	}
	log.Info().Str("path", cfg.MattermostActionsPath).Msg("Mattermost Approve / Deny button endpoint on")
	return a, nil
}

// actionPublisher records clicks on mattermost.actions.<req> (stream
// MATTERMOST, declared by the mattermost-bridge).
type actionPublisher struct{ b *bus.Bus }

func (p actionPublisher) Publish(ctx context.Context, a *events.MattermostAction) (bool, error) {
	ack, err := p.b.PublishEvent(ctx, Source, a)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		return false, fmt.Errorf("no %s stream answers for %s (is the mattermost-bridge with buttons running?): %w", events.StreamMattermost, a.Subject(), err)
	}
	if err != nil {
		return false, err
	}
	return ack.Duplicate, nil
}
