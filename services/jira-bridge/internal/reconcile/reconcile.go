// Package reconcile finds decisions whose webhooks never arrived: it
// periodically lists the recently updated issues of the bridge's projects
// and, for each linked issue a reviewer moved to Approved or Denied that the
// bridge has not resolved, publishes the decision the webhook would have
// produced (same dedup id: request, issue, changelog entry).
package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/decisions"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// Jira is what the reconciler needs of Jira.
type Jira interface {
	Search(ctx context.Context, jql string, properties []string, limit int) ([]jira.Issue, error)
	GetIssue(ctx context.Context, idOrKey string, properties []string, withChangelog bool) (jira.Issue, error)
}

// Publisher publishes the decisions the reconciler finds.
type Publisher interface {
	PublishEvent(ctx context.Context, source string, p events.Payload) error
}

// Config of the reconciler.
type Config struct {
	Source   string
	Projects []string
	Labels   domain.Labels
	Statuses domain.Statuses
	Interval time.Duration
	// Window: issues updated within it are examined.
	Window time.Duration
	// Grace: an issue updated less than this long ago is left to its
	// webhook, which is usually on its way (0: none). Without it every
	// move would be read back (changelog, comments) before its webhook
	// arrived.
	Grace time.Duration
	Bot   jira.User
	Limit int
}

// Reconciler compares Jira with the projection.
type Reconciler struct {
	cfg     Config
	jira    Jira
	store   projection.Store
	decider *decisions.Decider
	pub     Publisher
	log     zerolog.Logger
}

// New returns a reconciler.
func New(cfg Config, j Jira, store projection.Store, d *decisions.Decider, pub Publisher, log zerolog.Logger) *Reconciler {
	if cfg.Limit <= 0 {
		cfg.Limit = 1000
	}
	return &Reconciler{cfg: cfg, jira: j, store: store, decider: d, pub: pub, log: log.With().Str("component", "reconciler").Logger()}
}

// Run reconciles every Interval until ctx ends (Interval <= 0: never).
func (r *Reconciler) Run(ctx context.Context) error {
	if r.cfg.Interval <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n, err := r.ReconcileOpenIssues(ctx)
			if err != nil {
				r.log.Warn().Err(err).Msg("reconciliation failed; retrying at the next period")
			} else if n > 0 {
				r.log.Info().Int("decisions", n).Msg("published decisions whose webhooks were missing")
			}
		}
	}
}

// ReconcileOpenIssues runs one pass and returns the decisions published.
func (r *Reconciler) ReconcileOpenIssues(ctx context.Context) (int, error) {
	quoted := make([]string, 0, len(r.cfg.Projects))
	for _, p := range r.cfg.Projects {
		quoted = append(quoted, fmt.Sprintf("%q", p))
	}
	mins := max(1, int(r.cfg.Window/time.Minute))
	jql := fmt.Sprintf(`project in (%s) AND labels = "%s" AND status in ("%s", "%s") AND updated >= "-%dm" ORDER BY updated ASC`,
		strings.Join(quoted, ", "), r.cfg.Labels.Prefix, r.cfg.Statuses.Approved, r.cfg.Statuses.Denied, mins)
	found, err := r.jira.Search(ctx, jql, nil, r.cfg.Limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, is := range found {
		ok, err := r.reconcileIssue(ctx, is)
		if err != nil {
			r.log.Warn().Err(err).Str("issue_key", is.Key).Msg("reconcile issue")
			continue
		}
		if ok {
			n++
		}
	}
	return n, nil
}

func (r *Reconciler) reconcileIssue(ctx context.Context, is jira.Issue) (bool, error) {
	if r.cfg.Grace > 0 && !is.Updated.IsZero() && time.Since(is.Updated) < r.cfg.Grace {
		return false, nil
	}
	requestID, ok := r.cfg.Labels.RequestID(is.Labels)
	if !ok {
		return false, nil
	}
	e, err := r.store.Get(ctx, requestID)
	if err != nil {
		return false, err
	}
	if !e.Linked() || e.IssueID != is.ID || resolvedByBridge(e) || decidedAt(e, is.Status) {
		return false, nil // not ours, already resolved by Teleport, or the move already decided
	}
	verdict, ok := r.decider.Verdict(is.Status)
	if !ok {
		return false, nil
	}
	full, err := r.jira.GetIssue(ctx, is.ID, nil, true)
	if err != nil {
		return false, err
	}
	for _, h := range slices.Backward(full.Histories) {
		for _, it := range h.Items {
			if !domain.IsStatusItem(it.Field, it.FieldID) {
				continue
			}
			if !domain.Same(it.ToString, is.Status) || h.Author.Is(r.cfg.Bot) {
				return false, nil
			}
			if _, ok := e.Done(domain.CauseDecision(h.ID), domain.WriteDecision); ok {
				return false, nil
			}
			at, err := jira.ParseTime(h.Created)
			if err != nil {
				at = time.Now()
			}
			actor := events.Actor{AccountID: h.Author.AccountID, Key: h.Author.Key, Name: h.Author.Name, Email: h.Author.EmailAddress, DisplayName: h.Author.DisplayName}
			change := decisions.StatusChange{ChangelogID: h.ID, From: it.FromString, To: it.ToString}
			log := r.log.With().Str("request_id", requestID).Str("issue_key", is.Key).Logger()
			dec, err := r.decider.Decide(ctx, e, change, verdict, actor, h.Author, "", events.VerifiedReconciler, at, log)
			if err != nil {
				return false, err
			}
			// Published, then recorded: a failure in between publishes it
			// again at the next pass (same dedup id).
			if err := r.pub.PublishEvent(ctx, r.cfg.Source, dec); err != nil {
				return false, fmt.Errorf("publish decision: %w", err)
			}
			_, err = r.store.Modify(ctx, requestID, func(e *projection.Entry) error { e.Fold(dec); return nil })
			return true, err
		}
	}
	return false, nil
}

// resolvedByBridge reports whether the bridge recorded a resolution or
// expiry of the request (Teleport's word, which a board move cannot change).
func resolvedByBridge(e projection.Entry) bool {
	for _, a := range e.Applied {
		if k := a.Cause.Kind(); k == "resolved" || a.Cause == domain.CauseExpired {
			return true
		}
	}
	return false
}

// decidedAt reports whether a decision moving the issue to status is on
// record: the move the listing shows was seen (no changelog read needed).
func decidedAt(e projection.Entry, status string) bool {
	if !domain.Same(e.Status, status) {
		return false
	}
	for _, a := range e.Applied {
		if a.Write == domain.WriteDecision && domain.Same(a.Status, status) {
			return true
		}
	}
	return false
}
