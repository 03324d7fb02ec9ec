// Package decisions turns authenticated Jira webhook deliveries into
// verified decision.requested events, and answers rejected decisions on the
// issue.
//
// A delivery becomes a decision only when: its changelog moves the status
// to the Approved or Denied status; the move was not made by the bridge's
// own Jira user; the issue is the one linked to the request in the
// request-issues projection (a label or property naming another request's
// id is a forgery and is ignored); and, for a delivery that was not
// HMAC-signed, Jira's API confirms the status (redelivered with back-off
// while Jira's read-after-write lag lasts, instead of blocking the handler).
//
// Deliveries about the bridge's own changes (echoes: the issue it created,
// its comments, its moves) are dropped first, before anything else is read.
package decisions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/issues"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// Jira is what the decider needs of Jira beyond the writer's.
type Jira interface {
	GetIssue(ctx context.Context, idOrKey string, properties []string, withChangelog bool) (jira.Issue, error)
	Comments(ctx context.Context, idOrKey string) ([]jira.Comment, error)
	Property(ctx context.Context, idOrKey, key string) (json.RawMessage, bool, error)
}

// Config of the decider.
type Config struct {
	Statuses       domain.Statuses
	Labels         domain.Labels
	RequestIDField string
	Bot            jira.User
	// ConfirmWindow is how long an unsigned delivery is re-checked against
	// the API before it is dropped as unconfirmed; ConfirmRetry the delay
	// between checks.
	ConfirmWindow time.Duration
	ConfirmRetry  time.Duration
	Now           func() time.Time
}

// Decider handles webhooks and decision outcomes.
type Decider struct {
	cfg     Config
	jira    Jira
	w       *issues.Writer
	metrics *metrics.Metrics
}

// New returns a decider.
func New(cfg Config, j Jira, w *issues.Writer) *Decider {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ConfirmRetry <= 0 {
		cfg.ConfirmRetry = time.Second
	}
	return &Decider{cfg: cfg, jira: j, w: w, metrics: w.Metrics}
}

func (d *Decider) ignore(log zerolog.Logger, reason, msg string) ([]events.Payload, error) {
	d.metrics.WebhooksIgnore.WithLabelValues(reason).Inc()
	log.Debug().Str("reason", reason).Msg(msg)
	return nil, nil
}

// webhookIssueUpdated is the only delivery type that can carry a decision;
// issue_created, comment_* and the rest are the bridge's own echoes or
// nothing to decide.
const webhookIssueUpdated = "jira:issue_updated"

// HandleWebhook handles one webhook.received event and returns the
// decision it verified, if any. lastTry says the attempts
// JIRA_BRIDGE_MAX_ATTEMPTS allows are spent: a move on an issue whose link
// is not recorded, or whose status Jira does not confirm, is then given up
// instead of retried (the reconciler still compares the board with the
// projection). redelivered: the delivery was handled before, so a decision
// already recorded is produced again (its dedup id makes the copy a
// no-op).
func (d *Decider) HandleWebhook(ctx context.Context, w *events.Webhook, redelivered, lastTry bool, log zerolog.Logger) ([]events.Payload, error) {
	if w.Event != "" && w.Event != webhookIssueUpdated {
		return d.ignore(log, "not_an_update", "webhook that cannot carry a status change")
	}
	p, err := ParsePayload(w.Body, d.cfg.RequestIDField)
	if err != nil {
		return nil, domain.Invalid(err)
	}
	log = log.With().Str("issue_key", p.Issue.Key).Str("webhook_event", p.Event).Logger()
	if p.Event != webhookIssueUpdated {
		return d.ignore(log, "not_an_update", "webhook that cannot carry a status change")
	}
	actor := p.User
	if actor != nil {
		if (jira.User{AccountID: actor.AccountID, Name: actor.Name, Key: actor.Key}).Is(d.cfg.Bot) {
			return d.ignore(log, "own_move", "change made by the bridge itself")
		}
	}
	change, ok := p.StatusChange()
	if !ok {
		return d.ignore(log, "no_status_change", "webhook without a status change")
	}
	verdict, ok := d.cfg.Statuses.Verdict(change.To)
	if !ok {
		return d.ignore(log, "not_a_decision", "status change to a non-decision status")
	}
	if actor == nil {
		return d.ignore(log, "no_actor", "status change without a user")
	}
	a := actor.Actor()
	if a.StableID() == "" {
		// Only a display name (or an email a Data Center user can edit):
		// nobody to name as the decider. It can never become a decision,
		// so it is dropped and counted, not retried.
		log.Warn().Str("actor_display_name", a.DisplayName).Msg("status change by a user without an account id, key or name; ignored")
		return d.ignore(log, "no_actor_id", "status change by a user without a stable id")
	}
	ju := jira.User{AccountID: actor.AccountID, Name: actor.Name, Key: actor.Key}
	requestID := d.requestIDOf(p)
	if requestID == "" {
		// Someone may have removed the label: the entity property is the
		// other record of the request (subject to the same forgery check).
		raw, ok, err := d.jira.Property(ctx, p.Issue.ID, domain.PropertyRequestID)
		if err != nil {
			return nil, err
		}
		if id := domain.PropertyValue(raw); ok && events.ValidToken(id) == nil {
			requestID = id
		}
	}
	if requestID == "" {
		securityEvent(log, "unlinked_move", "a move to a decision status on an issue linked to no access request", w, p, change, a, "", "")
		return d.ignore(log, "unlinked", "issue not linked to an access request")
	}
	log = log.With().Str("request_id", requestID).Logger()
	e, err := d.w.Store.Get(ctx, requestID)
	if err != nil {
		return nil, err
	}
	if _, creating := e.Intended("", domain.WriteLink); creating && !e.Linked() && !lastTry {
		// The issue is being created and its link not recorded yet: a
		// reviewer was quick. Wait for the link rather than drop the move.
		return nil, domain.RetryAfter(fmt.Errorf("request %s is being linked", requestID), d.cfg.ConfirmRetry)
	}
	if !e.Linked() || e.IssueID != p.Issue.ID {
		securityEvent(log, "forged_move", "the issue names a request that is linked to another issue (or to none); ignored", w, p, change, a, requestID, e.IssueKey+" "+e.IssueID)
		return d.ignore(log, "forged", "issue is not the one linked to the request")
	}
	if change.ChangelogID == "" {
		return nil, domain.Invalid(fmt.Errorf("status change on %s without a changelog id", p.Issue.Key))
	}
	wk := &issues.Work{Entry: e, Redelivered: redelivered, Log: log}
	if a, ok := e.Done(domain.CauseDecision(change.ChangelogID), domain.WriteDecision); ok {
		if redelivered && a.Decision != nil {
			return []events.Payload{a.Decision}, nil
		}
		return d.ignore(log, "duplicate", "decision already published")
	}
	verification := events.VerifiedSignedWebhook
	if !w.Signed {
		verification = events.VerifiedAPI
		is, err := d.jira.GetIssue(ctx, p.Issue.ID, nil, false)
		if err != nil {
			return nil, err
		}
		if !domain.Same(is.Status, change.To) {
			if !lastTry && d.cfg.Now().Sub(w.ReceivedAt) < d.cfg.ConfirmWindow {
				return nil, domain.RetryAfter(fmt.Errorf("%s is %q in Jira, webhook says %q: waiting for Jira's read lag", p.Issue.Key, is.Status, change.To), d.cfg.ConfirmRetry)
			}
			return d.ignore(log, "unconfirmed", "Jira does not confirm the status of an unsigned webhook")
		}
	}
	var transitionComment string
	if p.Comment != nil && (p.Comment.Author == nil || (jira.User{AccountID: p.Comment.Author.AccountID, Name: p.Comment.Author.Name, Key: p.Comment.Author.Key}).Is(ju)) {
		transitionComment = p.Comment.Body
	}
	// The decision's time is when the ingress received the move: the
	// body's timestamp is only what the sender claims.
	dec, err := d.Decide(ctx, e, change, verdict, a, ju, transitionComment, verification, w.ReceivedAt, log)
	if err != nil {
		return nil, err
	}
	if p.Timestamp > 0 {
		dec.JiraTimestamp = time.UnixMilli(p.Timestamp).UTC()
	}
	dec.SourceIP = w.SourceIP
	// Recorded before it is published: a crash in between redelivers the
	// webhook, which produces the recorded decision again.
	err = d.w.Fold(ctx, wk, dec)
	return wk.Out, err
}

// Decide builds the decision of a verified status change; the caller
// records and publishes it.
func (d *Decider) Decide(ctx context.Context, e projection.Entry, change StatusChange, verdict events.Verdict, actor events.Actor, who jira.User, transitionComment, verification string, at time.Time, log zerolog.Logger) (*events.Decision, error) {
	reason := ""
	if transitionComment != "" {
		if r, ok := ParseReason(transitionComment); ok {
			reason = r
		} else {
			reason = strings.TrimSpace(transitionComment)
		}
	}
	if reason == "" {
		// No comment came with the move: the reviewer's newest comment
		// with "Reason:" (one read; a move with a comment needs none).
		cs, err := d.jira.Comments(ctx, e.IssueID)
		if err != nil {
			return nil, err
		}
		for _, c := range slices.Backward(cs) {
			if !c.Author.Is(who) {
				continue
			}
			if r, ok := ParseReason(c.Body); ok {
				reason = r
				break
			}
		}
	}
	if len(reason) > events.MaxReasonLen {
		reason = strings.ToValidUTF8(reason[:events.MaxReasonLen], "")
	}
	dec := events.NewDecision(e.RequestID, e.Ref(), change.ChangelogID, verdict, change.To, actor, at)
	dec.Reason, dec.FromStatus, dec.Verification = reason, change.From, verification
	if err := dec.Validate(); err != nil {
		// It can never be published: dead-letter it with the reason rather
		// than retry it and hold the issue's later deliveries behind it.
		return nil, domain.Invalid(fmt.Errorf("decision for %s: %w", e.IssueKey, err))
	}
	d.metrics.Decisions.WithLabelValues(string(verdict), verification).Inc()
	log.Info().Str("verdict", string(verdict)).Str("actor", actor.Identity()).Str("verification", verification).Msg("decision requested")
	return dec, nil
}

// Verdict maps a target status to a verdict (Approved/Denied only).
func (d *Decider) Verdict(status string) (events.Verdict, bool) {
	return d.cfg.Statuses.Verdict(status)
}

// requestIDOf reads the request id the payload claims: its label, else the
// custom field. The caller checks it against the projection.
func (d *Decider) requestIDOf(p Payload) string {
	if id, ok := d.cfg.Labels.RequestID(p.Issue.Labels); ok {
		return id
	}
	if id := p.Issue.Fields[d.cfg.RequestIDField]; id != "" && events.ValidToken(id) == nil {
		return id
	}
	return ""
}

// HandleOutcome answers a rejected decision: the issue moved back to its
// previous status with a comment saying why (one call), or the comment
// alone when someone moved the card since.
func (d *Decider) HandleOutcome(ctx context.Context, o *events.DecisionOutcome, redelivered bool, log zerolog.Logger) ([]events.Payload, error) {
	if o.Kind != events.DecisionRejected {
		return nil, nil
	}
	dec := o.Decision
	log = log.With().Str("request_id", dec.RequestID).Str("issue_key", dec.IssueKey).Logger()
	e, err := d.w.Store.Get(ctx, dec.RequestID)
	if err != nil {
		return nil, err
	}
	if !e.Linked() || e.IssueID != dec.IssueID {
		log.Warn().Msg("rejected decision for an issue that is not linked; nothing to answer")
		return nil, nil
	}
	wk := &issues.Work{Entry: e, Redelivered: redelivered, Log: log}
	cause := domain.CauseRejected(dec.ChangelogID)
	body := fmt.Sprintf("The move to *%s* by %s was not applied in Teleport (%s): %s", dec.Status, dec.Actor.Display(), o.Code, o.Reason)
	back := dec.FromStatus
	switch st := wk.Entry.Status; {
	case o.RequestState.Resolved():
		back = d.cfg.Statuses.ForState(o.RequestState) // Teleport resolved the request meanwhile: its status wins
	case d.cfg.Statuses.Terminal(st) && !domain.Same(st, dec.Status):
		back = st
	}
	if back == "" || domain.Same(back, dec.Status) {
		return wk.Out, d.w.Comment(ctx, wk, cause, body)
	}
	// Move back, with the comment, only a card still where the reviewer
	// put it; one left elsewhere gets the comment alone.
	err = d.w.TransitionOrComment(ctx, wk, cause, back, body, func(from string) bool { return domain.Same(from, dec.Status) })
	var refused *domain.RefusedError
	if errors.As(err, &refused) && errors.Is(err, jira.ErrNoTransition) {
		log.Warn().Err(err).Msg("cannot move the issue back; left where the reviewer put it")
		return wk.Out, d.w.Comment(ctx, wk, cause, body)
	}
	return wk.Out, err
}

// securityEvent writes the one line an auditor needs about a move that was
// refused as a forgery (or names no access request): security=true, the
// issue, the request it claims, the issue linked to that request, the actor
// and the address the delivery came from. log carries the issue key.
func securityEvent(log zerolog.Logger, event, why string, w *events.Webhook, p Payload, change StatusChange, a events.Actor, claimed, linked string) {
	log.Error().Bool("security", true).Str("event", event).
		Str("issue_id", p.Issue.ID). // issue_key is in the context
		Str("claimed_request", claimed).Str("linked_issue", strings.TrimSpace(linked)).
		Str("actor", a.Identity()).Str("actor_display", a.Display()).
		Str("source_ip", w.SourceIP).Bool("signed", w.Signed).
		Str("changelog_id", change.ChangelogID).Str("to_status", change.To).
		Msg("SECURITY: " + why)
}
