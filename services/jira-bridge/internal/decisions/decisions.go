// Package decisions turns authenticated Jira webhook deliveries into
// verified decision.requested events, and answers rejected decisions on the
// issue.
//
// A delivery becomes a decision only when: its changelog moves the status
// to the Approved or Denied status; the move was not made by the bridge's
// own Jira user; the issue is the one linked to the request in the
// request-issues bucket (a label or property naming another request's id is
// a forgery and is ignored); and, for a delivery that was not HMAC-signed,
// Jira's API confirms the status (redelivered with back-off while Jira's
// read-after-write lag lasts, instead of blocking the handler).
package decisions

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/issues"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// Jira is what the decider needs of Jira.
type Jira interface {
	GetIssue(ctx context.Context, idOrKey string, properties []string, withChangelog bool) (jira.Issue, error)
	Comments(ctx context.Context, idOrKey string) ([]jira.Comment, error)
	AddComment(ctx context.Context, idOrKey, body string) (string, error)
	TransitionTo(ctx context.Context, idOrKey, status, comment string) error
	Property(ctx context.Context, idOrKey, key string) (json.RawMessage, bool, error)
}

// Config of the decider.
type Config struct {
	Source         string
	Statuses       issues.Statuses
	LabelPrefix    string
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
	store   *projection.Store
	pub     issues.Publisher
	metrics *metrics.Metrics
}

// New returns a decider.
func New(cfg Config, j Jira, store *projection.Store, pub issues.Publisher, m *metrics.Metrics) *Decider {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ConfirmRetry <= 0 {
		cfg.ConfirmRetry = time.Second
	}
	return &Decider{cfg: cfg, jira: j, store: store, pub: pub, metrics: m}
}

func (d *Decider) ignore(log zerolog.Logger, reason, msg string) error {
	d.metrics.WebhooksIgnore.WithLabelValues(reason).Inc()
	log.Debug().Str("reason", reason).Msg(msg)
	return nil
}

// HandleWebhook handles one webhook.received event. lastTry says the
// attempts JIRA_BRIDGE_MAX_ATTEMPTS allows are spent: a move on an issue
// whose link is not recorded, or whose status Jira does not confirm, is
// then given up instead of retried (the reconciler still compares the
// board with the projection).
func (d *Decider) HandleWebhook(ctx context.Context, w *events.Webhook, lastTry bool, log zerolog.Logger) error {
	p, err := ParsePayload(w.Body)
	if err != nil {
		return bus.Permanent(err)
	}
	log = log.With().Str("issue_key", p.Issue.Key).Str("webhook_event", p.WebhookEvent).Logger()
	change, ok := p.StatusChange()
	if !ok {
		return d.ignore(log, "no_status_change", "webhook without a status change")
	}
	verdict, ok := d.verdict(change.To)
	if !ok {
		return d.ignore(log, "not_a_decision", "status change to a non-decision status")
	}
	actor := p.User
	if actor == nil {
		return d.ignore(log, "no_actor", "status change without a user")
	}
	ju := jira.User{AccountID: actor.AccountID, Name: actor.Name, Key: actor.Key}
	if ju.Is(d.cfg.Bot) {
		return d.ignore(log, "own_move", "status change made by the bridge itself")
	}
	requestID := d.requestIDOf(p)
	if requestID == "" {
		// Someone may have removed the label: the entity property is the
		// other record of the request (subject to the same forgery check).
		raw, ok, err := d.jira.Property(ctx, p.Issue.ID, issues.PropertyRequestID)
		if err != nil {
			return jira.Classify(err)
		}
		if id := issues.PropertyValue(raw); ok && events.ValidToken(id) == nil {
			requestID = id
		}
	}
	if requestID == "" {
		return d.ignore(log, "unlinked", "issue not linked to an access request")
	}
	log = log.With().Str("request_id", requestID).Logger()
	e, err := d.store.Get(ctx, requestID)
	if err != nil {
		return err
	}
	if e.Phase == events.PhaseClaimed && !lastTry {
		// The issue is being created and its link not recorded yet: a
		// reviewer was quick. Wait for the link rather than drop the move.
		return bus.RetryAfter(fmt.Errorf("request %s is claimed but not linked yet", requestID), d.cfg.ConfirmRetry)
	}
	if !e.Linked() || e.IssueID != p.Issue.ID {
		log.Warn().Str("linked_issue", e.IssueID).Msg("webhook names a request that is not linked to this issue; ignored (forgery check)")
		return d.ignore(log, "forged", "issue is not the one linked to the request")
	}
	if change.ChangelogID == "" {
		return bus.Permanent(fmt.Errorf("status change on %s without a changelog id", p.Issue.Key))
	}
	cause := "decision:" + change.ChangelogID
	if e.HasApplied(cause) {
		return d.ignore(log, "duplicate", "decision already published")
	}
	verification := events.VerifiedSignedWebhook
	if !w.Signed {
		verification = events.VerifiedAPI
		is, err := d.jira.GetIssue(ctx, p.Issue.ID, nil, false)
		if err != nil {
			return jira.Classify(err)
		}
		if !strings.EqualFold(is.Status, change.To) {
			if !lastTry && d.cfg.Now().Sub(w.ReceivedAt) < d.cfg.ConfirmWindow {
				return bus.RetryAfter(fmt.Errorf("%s is %q in Jira, webhook says %q: waiting for Jira's read lag", p.Issue.Key, is.Status, change.To), d.cfg.ConfirmRetry)
			}
			return d.ignore(log, "unconfirmed", "Jira does not confirm the status of an unsigned webhook")
		}
	}
	var transitionComment string
	if p.Comment != nil && (p.Comment.Author == nil || (jira.User{AccountID: p.Comment.Author.AccountID, Name: p.Comment.Author.Name, Key: p.Comment.Author.Key}).Is(ju)) {
		transitionComment = p.Comment.Body
	}
	at := time.UnixMilli(p.Timestamp)
	if p.Timestamp == 0 {
		at = w.ReceivedAt
	}
	a := events.Actor{AccountID: actor.AccountID, Key: actor.Key, Name: actor.Name, Email: actor.EmailAddress, DisplayName: actor.DisplayName}
	return d.Decide(ctx, e, change, verdict, a, ju, transitionComment, verification, at, log)
}

// Decide publishes one decision for a verified status change, at most once
// per changelog entry, and records it.
func (d *Decider) Decide(ctx context.Context, e projection.Entry, change StatusChange, verdict events.Verdict, actor events.Actor, who jira.User, transitionComment, verification string, at time.Time, log zerolog.Logger) error {
	reason := ""
	if transitionComment != "" {
		if r, ok := ParseReason(transitionComment); ok {
			reason = r
		} else {
			reason = strings.TrimSpace(transitionComment)
		}
	}
	if reason == "" {
		cs, err := d.jira.Comments(ctx, e.IssueID)
		if err != nil {
			return jira.Classify(err)
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
	dec := events.NewDecision(e.RequestID, events.IssueRef{ID: e.IssueID, Key: e.IssueKey}, change.ChangelogID, verdict, change.To, actor, at)
	dec.Reason, dec.FromStatus, dec.Verification = reason, change.From, verification
	if err := d.pub.PublishEvent(ctx, d.cfg.Source, dec); err != nil {
		return bus.Transient(fmt.Errorf("publish decision: %w", err))
	}
	d.metrics.Decisions.WithLabelValues(string(verdict), verification).Inc()
	log.Info().Str("verdict", string(verdict)).Str("actor", actor.Identity()).Str("verification", verification).Msg("decision requested")
	_, err := d.store.MarkApplied(ctx, e.RequestID, "decision:"+change.ChangelogID, "")
	return err
}

// Verdict maps a target status to a verdict (Approved/Denied only).
func (d *Decider) verdict(status string) (events.Verdict, bool) {
	switch {
	case strings.EqualFold(status, d.cfg.Statuses.Approved):
		return events.VerdictApprove, true
	case strings.EqualFold(status, d.cfg.Statuses.Denied):
		return events.VerdictDeny, true
	}
	return "", false
}

// Verdict is exported for the reconciler.
func (d *Decider) Verdict(status string) (events.Verdict, bool) { return d.verdict(status) }

// requestIDOf reads the request id the payload claims: its label, else the
// custom field. The caller checks it against the bucket.
func (d *Decider) requestIDOf(p Payload) string {
	prefix := d.cfg.LabelPrefix + "-"
	for _, l := range p.Labels() {
		if id, ok := strings.CutPrefix(l, prefix); ok && events.ValidToken(id) == nil {
			return id
		}
	}
	if id := p.FieldString(d.cfg.RequestIDField); id != "" && events.ValidToken(id) == nil {
		return id
	}
	return ""
}

// HandleOutcome answers a rejected decision: a comment saying why, and the
// issue moved back to its previous status (unless someone moved it since).
func (d *Decider) HandleOutcome(ctx context.Context, o *events.DecisionOutcome, log zerolog.Logger) error {
	if o.Kind != events.DecisionRejected {
		return nil
	}
	dec := o.Decision
	log = log.With().Str("request_id", dec.RequestID).Str("issue_key", dec.IssueKey).Logger()
	e, err := d.store.Get(ctx, dec.RequestID)
	if err != nil {
		return err
	}
	if !e.Linked() || e.IssueID != dec.IssueID {
		log.Warn().Msg("rejected decision for an issue that is not linked; nothing to answer")
		return nil
	}
	ref := events.IssueRef{ID: e.IssueID, Key: e.IssueKey}
	cause := "rejected:" + dec.ChangelogID
	if !e.HasApplied(cause + ":comment") {
		body := fmt.Sprintf("The move to *%s* by %s was not applied in Teleport (%s): %s", dec.Status, dec.Actor.Identity(), o.Code, o.Reason)
		id, err := d.addCommentOnce(ctx, ref, body)
		if err != nil {
			return err
		}
		if err := d.pub.PublishEvent(ctx, d.cfg.Source, events.NewIssueCommented(e.RequestID, ref, id, cause)); err != nil {
			return bus.Transient(err)
		}
		d.metrics.Comments.WithLabelValues("rejection").Inc()
		if e, err = d.store.MarkApplied(ctx, e.RequestID, cause+":comment", ""); err != nil {
			return err
		}
	}
	back := dec.FromStatus
	if d.cfg.Statuses.Terminal(e.Status) {
		back = e.Status // Teleport resolved the request meanwhile: its status wins
	}
	if e.HasApplied(cause+":moved") || back == "" {
		return nil
	}
	is, err := d.jira.GetIssue(ctx, e.IssueID, nil, false)
	if err != nil {
		return jira.Classify(err)
	}
	if strings.EqualFold(is.Status, dec.Status) {
		if err := d.jira.TransitionTo(ctx, e.IssueID, back, ""); err != nil {
			return jira.ClassifyTransition(fmt.Errorf("move %s back to %q: %w", e.IssueKey, back, err))
		}
		d.metrics.Transitions.WithLabelValues(back).Inc()
		log.Info().Str("status", back).Msg("moved issue back after a rejected decision")
		if err := d.pub.PublishEvent(ctx, d.cfg.Source, events.NewIssueTransitioned(e.RequestID, ref, dec.Status, back, cause)); err != nil {
			return bus.Transient(err)
		}
	}
	_, err = d.store.MarkApplied(ctx, e.RequestID, cause+":moved", "")
	return err
}

func (d *Decider) addCommentOnce(ctx context.Context, ref events.IssueRef, body string) (string, error) {
	cs, err := d.jira.Comments(ctx, ref.ID)
	if err != nil {
		return "", jira.Classify(err)
	}
	for _, c := range cs {
		if c.Author.Is(d.cfg.Bot) && strings.TrimSpace(c.Body) == strings.TrimSpace(body) {
			return c.ID, nil
		}
	}
	id, err := d.jira.AddComment(ctx, ref.ID, body)
	return id, jira.Classify(err)
}
