package teleportbridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/decide"
)

// MattermostDecisionsConsumer is the durable consumer of
// mattermost.decisions.> (decisions made with the mattermost-bridge's
// buttons), created with TELEPORT_BRIDGE_MATTERMOST_DECISIONS.
const MattermostDecisionsConsumer = "teleport-bridge-mattermost-decisions"

func (c *Config) checkMattermost(fail func(error)) {
	if !c.MattermostDecisions {
		return
	}
	if c.DecisionMode == events.ModeState && len(c.mattermostStateReviewers()) == 0 {
		fail(fmt.Errorf("TELEPORT_BRIDGE_MATTERMOST_STATE_REVIEWERS: empty; in state mode with TELEPORT_BRIDGE_MATTERMOST_DECISIONS=true, list the Teleport users whose Mattermost clicks may approve or deny (or use TELEPORT_BRIDGE_DECISION_MODE=review)"))
	}
}

func (c *Config) mattermostStateReviewers() []string {
	var out []string
	for _, u := range c.MattermostStateReviewers {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// mattermostConsumer applies Mattermost decisions with the same decider as
// Jira's; nil when they are off.
func mattermostConsumer(ctx context.Context, cfg Config, b *bus.Bus, decider *decide.Decider, m *bus.Metrics, log zerolog.Logger) (*bus.Consumer, error) {
	if !cfg.MattermostDecisions {
		return nil, nil
	}
	// Declared here too (the same spec, idempotent), so the start order of
	// the two bridges does not matter.
	if _, err := b.EnsureStream(ctx, events.MattermostStream()); err != nil {
		return nil, err
	}
	c, err := b.NewConsumer(ctx, bus.ConsumerSpec{
		Stream: events.StreamMattermost, Durable: MattermostDecisionsConsumer,
		FilterSubjects: []string{events.SubjectMattermostDecisions + ".>"},
		MaxAttempts:    cfg.DecisionMaxAttempts, RetryWindow: cfg.DecisionRetryWindow, Concurrency: cfg.DecisionConcurrency,
		RetryMin: 500 * time.Millisecond, RetryMax: time.Minute, HandlerTimeout: time.Minute,
		Source: Source, Classify: classify,
	}, decider.Handle, m)
	if err != nil {
		return nil, fmt.Errorf("TELEPORT_BRIDGE_MATTERMOST_DECISIONS: consume %s from stream %s (started by the mattermost-bridge): %w",
			events.SubjectMattermostDecisions+".>", events.StreamMattermost, err)
	}
	log.Info().Int("state_reviewers", len(cfg.mattermostStateReviewers())).Msg("applying decisions from Mattermost buttons")
	return c, nil
}
