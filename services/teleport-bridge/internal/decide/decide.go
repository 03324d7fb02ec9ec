// Package decide applies Jira decisions to Teleport: it checks that the
// decision comes from the issue linked to its request (the forgery check),
// that the request is still pending, applies it as a state change with a
// delegator or as a review by the mapped Teleport user, and publishes the
// outcome. Redeliveries are recognised, so a decision is applied once.
package decide

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/teleport"
	"github.com/gravitational/teleport/api/types"
	apiutils "github.com/gravitational/teleport/api/utils"
	"github.com/rs/zerolog"
)

// AnnotationDecision is the resolve annotation that records which decision
// resolved a request in state mode, so a redelivery is recognised.
const AnnotationDecision = "accessbridge-decision"

// Links knows the issue linked to each request, as the jira-bridge's
// issue.linked events say (never from the jira-bridge's own store).
type Links interface {
	// Lookup returns the linked issue; ok is false when none is linked
	// (yet).
	Lookup(ctx context.Context, requestID string) (issue events.IssueRef, ok bool, err error)
}

// Config of a Decider.
type Config struct {
	Client teleport.Client
	Links  Links
	// Mode is events.ModeState or events.ModeReview.
	Mode      string
	Reviewers Reviewers
	// Mattermost is how decisions made with Mattermost buttons are applied.
	Mattermost Mattermost
	// LinkWait is how long a decision for a request without a linked issue
	// is retried (the jira-bridge may lag) before it is rejected as forged.
	LinkWait time.Duration
	// Outcome is called with every published outcome (metrics); optional.
	Outcome func(*events.DecisionOutcome)
	Log     zerolog.Logger
	Now     func() time.Time
}

// Decider applies decisions.
type Decider struct{ cfg Config }

// New returns a Decider.
func New(cfg Config) *Decider {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Mode == "" {
		cfg.Mode = events.ModeState
	}
	return &Decider{cfg: cfg}
}

// ErrNotDecision is a message on the decisions subject that is not a
// decision: it can never be applied.
var ErrNotDecision = errors.New("not a decision")

// ErrRefused wraps what Teleport refused for a reason the next attempt
// will meet again (bad parameter, access denied).
var ErrRefused = errors.New("refused by teleport")

// WaitError asks for the next attempt no sooner than After.
type WaitError struct {
	Err   error
	After time.Duration
}

func (e *WaitError) Error() string { return e.Err.Error() }
func (e *WaitError) Unwrap() error { return e.Err }

// Handle is the bus handler for jira.decisions.>: it applies the decision
// and returns its outcome, which the bus publishes before the ack.
func (d *Decider) Handle(ctx context.Context, dl bus.Delivery) ([]events.Payload, error) {
	dec, ok := dl.Event.Payload.(*events.Decision)
	if !ok {
		return nil, fmt.Errorf("%s on %s: %w", dl.Event.Type, dl.Subject, ErrNotDecision)
	}
	log := d.cfg.Log.With().Str("subject", dl.Subject).Uint64("stream_seq", dl.Seq).Uint64("delivery", dl.Delivered).
		Str("event_id", dl.Event.ID).Str("request_id", dec.RequestID).Str("issue_key", dec.IssueKey).
		Str("verdict", string(dec.Verdict)).Logger()
	out, err := d.Decide(ctx, *dec, dl.Event.Time, log)
	if err != nil {
		return nil, err
	}
	if d.cfg.Outcome != nil {
		d.cfg.Outcome(out)
	}
	ev := log.Info()
	if out.Kind == events.DecisionRejected {
		ev = log.Warn().Str("code", string(out.Code)).Str("reason", out.Reason)
	}
	ev.Str("outcome", string(out.Kind)).Str("applied_as", out.AppliedAs).Str("request_state", string(out.RequestState)).
		Msg("decision handled")
	return []events.Payload{out}, nil
}

// Decide checks and applies one decision and returns its outcome, or an
// error for the consume loop (transient: retry; permanent: dead-letter).
// published is when the decision entered the stream; it bounds how long a
// missing link is waited for. Decide may be called more than once for the
// same decision and then returns the same outcome.
func (d *Decider) Decide(ctx context.Context, dec events.Decision, published time.Time, log zerolog.Logger) (*events.DecisionOutcome, error) {
	mode := d.cfg.Mode
	reject := func(code events.RejectCode, state events.State, format string, args ...any) *events.DecisionOutcome {
		return events.NewDecisionRejected(dec, mode, code, fmt.Sprintf(format, args...), state)
	}
	if dec.Mattermost != nil { // no issue link: the button token and the allow-lists
		return d.decideMattermost(ctx, dec, log, reject)
	}

	link, linked, err := d.cfg.Links.Lookup(ctx, dec.RequestID)
	if err != nil {
		return nil, fmt.Errorf("look up the issue linked to %s: %w", dec.RequestID, err)
	}
	if linked && link.ID != dec.IssueID {
		securityEvent(log, dec, fmt.Sprintf("issue %s (%s) is not the issue linked to the request (%s, %s)", dec.IssueID, dec.IssueKey, link.ID, link.Key))
		return reject(events.RejectForged, "", "issue %s is not the issue linked to access request %s (%s)", dec.IssueKey, dec.RequestID, link.Key), nil
	}

	req, err := teleport.GetRequest(ctx, d.cfg.Client, dec.RequestID)
	if err != nil {
		return nil, teleportError("read access request", err)
	}
	if req == nil {
		return reject(events.RejectNotFound, "", "access request %s no longer exists in Teleport (expired or deleted)", dec.RequestID), nil
	}
	state := teleport.State(req.GetState())

	if !linked {
		waited := d.cfg.Now().Sub(published)
		if waited < d.cfg.LinkWait {
			return nil, &WaitError{Err: fmt.Errorf("access request %s has no linked issue yet; waiting for the jira-bridge", dec.RequestID),
				After: min(2*time.Second, d.cfg.LinkWait-waited)}
		}
		securityEvent(log, dec, fmt.Sprintf("no issue linked to the request after %s", d.cfg.LinkWait))
		return reject(events.RejectForged, state, "no issue is linked to access request %s; issue %s cannot decide it", dec.RequestID, dec.IssueKey), nil
	}

	if mode == events.ModeReview {
		return d.review(ctx, dec, req, log, reject)
	}
	return d.setState(ctx, dec, req, log, reject)
}

type rejectFunc func(code events.RejectCode, state events.State, format string, args ...any) *events.DecisionOutcome

func (d *Decider) setState(ctx context.Context, dec events.Decision, req types.AccessRequest, log zerolog.Logger, reject rejectFunc) (*events.DecisionOutcome, error) {
	delegator := dec.Delegator()
	state := teleport.State(req.GetState())
	if state.Resolved() {
		if slices.Contains(req.GetResolveAnnotations()[AnnotationDecision], dec.DedupID()) {
			return events.NewDecisionApplied(dec, events.ModeState, delegator, state), nil // a redelivery
		}
		return reject(events.RejectAlreadyResolved, state, "access request %s is already %s", dec.RequestID, state), nil
	}
	want := types.RequestState_APPROVED
	if dec.Verdict == events.VerdictDeny {
		want = types.RequestState_DENIED
	}
	err := d.cfg.Client.SetAccessRequestState(apiutils.WithDelegator(ctx, delegator), types.AccessRequestUpdate{
		RequestID:   dec.RequestID,
		State:       want,
		Reason:      reason(dec),
		Annotations: map[string][]string{AnnotationDecision: {dec.DedupID()}},
	})
	if err != nil {
		return d.refused(ctx, dec, err, log, reject)
	}
	return events.NewDecisionApplied(dec, events.ModeState, delegator, teleport.State(want)), nil
}

func (d *Decider) review(ctx context.Context, dec events.Decision, req types.AccessRequest, log zerolog.Logger, reject rejectFunc) (*events.DecisionOutcome, error) {
	state := teleport.State(req.GetState())
	author, ok := d.author(dec)
	if !ok {
		log.Error().Bool("security", true).Str("event", "unmapped_actor").
			Str("issue_id", dec.IssueID).Str("issue_key", dec.IssueKey).Str("claimed_request", dec.RequestID).
			Str("linked_issue", dec.IssueKey+" "+dec.IssueID).Str("actor", dec.Actor.Identity()).Str("actor_display", dec.Actor.Display()).
			Str("source_ip", dec.SourceIP).Str("changelog_id", dec.ChangelogID).
			Msg("SECURITY: a Jira user who is not mapped to a Teleport user moved a request's issue (review mode); not applied")
		return reject(events.RejectUnmappedActor, state, "Jira user %s is not mapped to a Teleport user (TELEPORT_BRIDGE_REVIEWER_MAP_FILE)", dec.Actor.Identity()), nil
	}
	var previous *types.AccessReview
	for _, rv := range req.GetReviews() {
		if rv.Author == author {
			previous = &rv
		}
	}
	switch {
	case previous != nil && teleport.State(previous.ProposedState) == dec.Verdict.State():
		// A redelivery, or the same reviewer deciding the same way again.
		return events.NewDecisionApplied(dec, events.ModeReview, author, state), nil
	case state.Resolved():
		return reject(events.RejectAlreadyResolved, state, "access request %s is already %s", dec.RequestID, state), nil
	case previous != nil:
		return reject(events.RejectRefused, state, "Teleport user %s has already reviewed access request %s (%s)", author, dec.RequestID, teleport.State(previous.ProposedState)), nil
	}
	want := types.RequestState_APPROVED
	if dec.Verdict == events.VerdictDeny {
		want = types.RequestState_DENIED
	}
	out, err := d.cfg.Client.SubmitAccessReview(ctx, types.AccessReviewSubmission{
		RequestID: dec.RequestID,
		Review: types.AccessReview{
			Author: author, ProposedState: want, Reason: reason(dec), Created: d.cfg.Now().UTC(),
		},
	})
	if err != nil {
		return d.refused(ctx, dec, err, log, reject)
	}
	return events.NewDecisionApplied(dec, events.ModeReview, author, teleport.State(out.GetState())), nil
}

// refused turns a failed state change or review into an outcome: retry what
// is transient, and otherwise re-read the request so the rejection says
// whether it was resolved meanwhile or what Teleport refused.
func (d *Decider) refused(ctx context.Context, dec events.Decision, err error, log zerolog.Logger, reject rejectFunc) (*events.DecisionOutcome, error) {
	if teleport.Retryable(err) {
		return nil, teleportError("apply decision", err)
	}
	req, rerr := teleport.GetRequest(ctx, d.cfg.Client, dec.RequestID)
	if rerr != nil {
		return nil, teleportError("re-read access request", rerr)
	}
	if req == nil {
		return reject(events.RejectNotFound, "", "access request %s no longer exists in Teleport (expired or deleted)", dec.RequestID), nil
	}
	state := teleport.State(req.GetState())
	if state.Resolved() && d.cfg.Mode == events.ModeState {
		return d.setState(ctx, dec, req, log, reject)
	}
	log.Error().Err(err).Msg("teleport refused the decision; if it says access denied, " + teleport.PluginRoleHint +
		" (review mode: the identity must be allowed to submit reviews on behalf of the mapped users)")
	return reject(events.RejectRefused, state, "Teleport refused: %s", teleport.Message(err)), nil
}

func teleportError(what string, err error) error {
	if errors.Is(err, context.Canceled) || teleport.Retryable(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, ErrRefused, err)
}

func reason(dec events.Decision) string {
	if dec.Mattermost != nil {
		return mattermostReason(dec)
	}
	if dec.Reason != "" {
		return dec.Reason
	}
	return fmt.Sprintf("%s in Jira %s by %s", dec.Status, dec.IssueKey, dec.Actor.Identity())
}

// securityEvent logs a decision that did not come from the linked issue.
func securityEvent(log zerolog.Logger, dec events.Decision, why string) {
	log.Error().Bool("security", true).Str("event", "forged_decision").
		Str("issue_id", dec.IssueID).Str("changelog_id", dec.ChangelogID).
		Str("actor", dec.Actor.Identity()).Str("verification", dec.Verification).
		Msg("SECURITY: decision rejected as forged: " + why)
}
