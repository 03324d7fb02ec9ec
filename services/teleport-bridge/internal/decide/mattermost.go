package decide

import (
	"context"
	"fmt"
	"slices"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/teleport"
)

// Mattermost configures decisions made with the mattermost-bridge's
// Approve / Deny buttons (mattermost.decisions.<req>). They carry no Jira
// issue, so there is no link to check: the webhook-ingress verified the
// click's per-post HMAC token and the mattermost-bridge mapped the
// Mattermost user to a Teleport user through its allow-list. Review mode
// submits the review as that user (Teleport checks the user's review
// permissions and the thresholds); state mode, which bypasses both, applies
// only the clicks of the Teleport users listed here.
type Mattermost struct {
	// Enabled: without it every Mattermost decision is rejected.
	Enabled bool
	// StateReviewers are the Teleport users whose clicks may set a
	// request's state in state mode.
	StateReviewers []string
}

// author is the Teleport user a decision is reviewed as: the one the
// mattermost-bridge mapped for a click, else the Jira actor's mapping.
func (d *Decider) author(dec events.Decision) (string, bool) {
	if dec.Mattermost != nil {
		return dec.Mattermost.TeleportUser, dec.Mattermost.TeleportUser != ""
	}
	return d.cfg.Reviewers.Author(dec.Actor)
}

func (d *Decider) decideMattermost(ctx context.Context, dec events.Decision, log zerolog.Logger, reject rejectFunc) (*events.DecisionOutcome, error) {
	m := dec.Mattermost
	log = log.With().Str("origin", "mattermost").Str("mattermost_user_id", dec.Actor.AccountID).Str("mattermost_user", dec.Actor.Name).
		Str("teleport_user", m.TeleportUser).Str("post_id", m.PostID).Logger()
	security := func(event, why string) {
		log.Error().Bool("security", true).Str("event", event).Str("verification", dec.Verification).
			Msg("SECURITY: Mattermost decision rejected: " + why)
	}
	if !d.cfg.Mattermost.Enabled {
		security("mattermost_decisions_off", "Mattermost decisions are not enabled (TELEPORT_BRIDGE_MATTERMOST_DECISIONS)")
		return reject(events.RejectRefused, "", "decisions from Mattermost are not enabled in the teleport-bridge (TELEPORT_BRIDGE_MATTERMOST_DECISIONS)"), nil
	}
	if dec.Verification != events.VerifiedButtonToken || m.TeleportUser == "" {
		security("forged_decision", "not verified by a button token or no mapped Teleport user")
		return reject(events.RejectForged, "", "the Mattermost decision was not verified by a button token"), nil
	}
	if d.cfg.Mode == events.ModeState && !slices.Contains(d.cfg.Mattermost.StateReviewers, m.TeleportUser) {
		security("unlisted_state_reviewer", fmt.Sprintf("Teleport user %s may not set request states from Mattermost (TELEPORT_BRIDGE_MATTERMOST_STATE_REVIEWERS)", m.TeleportUser))
		return reject(events.RejectUnmappedActor, "", "Teleport user %s is not allowed to decide from Mattermost in state mode (TELEPORT_BRIDGE_MATTERMOST_STATE_REVIEWERS)", m.TeleportUser), nil
	}
	req, err := teleport.GetRequest(ctx, d.cfg.Client, dec.RequestID)
	if err != nil {
		return nil, teleportError("read access request", err)
	}
	if req == nil {
		return reject(events.RejectNotFound, "", "access request %s no longer exists in Teleport (expired or deleted)", dec.RequestID), nil
	}
	if d.cfg.Mode == events.ModeReview {
		return d.review(ctx, dec, req, log, reject)
	}
	return d.setState(ctx, dec, req, log, reject)
}

// mattermostReason names who decided, for Teleport's audit log and the
// resolve reason the posts show.
func mattermostReason(dec events.Decision) string {
	who := dec.Actor.Name
	if who == "" {
		who = dec.Actor.AccountID
	}
	return fmt.Sprintf("%s in Mattermost by @%s (Teleport user %s)", dec.Status, who, dec.Mattermost.TeleportUser)
}
