// Package issues turns Teleport request events into Jira issues, comments
// and transitions, each applied once, and returns the events that report
// them.
//
// Exactly once without re-reads: before each Jira write the intent is
// recorded in the request-issues projection; after it, the event that
// reports the write is folded into the projection and returned. Only a
// pass that finds an intent without its outcome reads Jira (the issue by
// its label, the comment by its marker, the status). A request the bridge
// may have met before its own log began (a new or lost NATS store) is
// looked up by label before an issue is created, and a request already
// resolved or expired when first seen gets no issue.
package issues

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// Config of the linker.
type Config struct {
	DefaultProject string
	ProjectByRole  map[string]string
	IssueType      string
	Statuses       domain.Statuses
	Labels         domain.Labels
	ExtraLabels    []string
	// RequestIDField is the id of the teleportAccessRequestId custom field
	// ("" when Jira has none).
	RequestIDField string
	SetReporter    bool
	// ClaimTTL: another process's unconfirmed create younger than this is
	// left alone.
	ClaimTTL time.Duration
	// LogStart is when the bridge's own log (the JIRA stream) began: a
	// request created before it may already have an issue (made before the
	// store was lost, or by teleport-jira), so it is looked up by label
	// before one is created. Requests created after it are never looked up.
	LogStart time.Time
}

// Linker applies request events to Jira.
type Linker struct {
	cfg     Config
	w       *Writer
	metrics *metrics.Metrics
}

// New returns a linker writing through w.
func New(cfg Config, w *Writer) *Linker {
	return &Linker{cfg: cfg, w: w, metrics: w.Metrics}
}

// ProjectFor routes a request to a project: the first role with an entry
// in the role→project map, else the default project.
func (l *Linker) ProjectFor(r events.AccessRequest) string {
	for _, role := range r.Roles {
		if p, ok := l.cfg.ProjectByRole[role]; ok && p != "" {
			return p
		}
	}
	return l.cfg.DefaultProject
}

// ApplyRequest brings the request's issue to the state the event's
// snapshot describes and returns the events that report what it did. It
// may be called any number of times for the same event; an older event
// arriving late changes nothing.
func (l *Linker) ApplyRequest(ctx context.Context, ev *events.RequestEvent, redelivered bool, log zerolog.Logger) ([]events.Payload, error) {
	r := ev.Request
	e, err := l.w.Store.Get(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	wk := &Work{Entry: e, Redelivered: redelivered, Log: log}
	finished := r.State.Resolved() || ev.Kind == events.RequestExpired
	if err := l.LinkIssue(ctx, wk, r, finished); err != nil || !wk.Entry.Linked() {
		return wk.Out, err
	}
	wk.Log = wk.Log.With().Str("issue_key", wk.Entry.IssueKey).Logger()
	st := l.cfg.Statuses
	if !finished {
		if err := l.toPending(ctx, wk); err != nil {
			return wk.Out, err
		}
	}
	for n := 1; n <= len(r.Reviews); n++ {
		if err := l.w.Comment(ctx, wk, domain.CauseReview(n), ReviewComment(r, n)); err != nil {
			return wk.Out, err
		}
	}
	switch {
	case r.State.Resolved():
		c, target := domain.CauseResolved(r.State), st.ForState(r.State)
		status := wk.Entry.Status
		// A final status is kept — except Expired before a resolution: an
		// expiry is inferred (the request vanished from a listing), a
		// resolution is Teleport's word, and the card must show it. Where
		// the card already shows it (a decision on the board), the comment
		// is all that is left to write.
		if domain.Same(status, target) || (st.Terminal(status) && !domain.Same(status, st.Expired)) {
			if _, moved := wk.Entry.Done(c, domain.WriteTransition); !moved {
				return wk.Out, l.w.Comment(ctx, wk, c, ResolutionComment(r))
			}
		}
		err = l.w.Transition(ctx, wk, c, target, ResolutionComment(r), func(from string) bool {
			return !st.Terminal(from) || domain.Same(from, st.Expired)
		})
	case ev.Kind == events.RequestExpired:
		// An expiry never moves a card out of a final status (a decision
		// on the board that the expiry overtook).
		if st.Terminal(wk.Entry.Status) {
			return wk.Out, nil
		}
		err = l.w.Transition(ctx, wk, domain.CauseExpired, st.Expired, ExpiryComment(r), func(from string) bool { return !st.Terminal(from) })
	}
	return wk.Out, err
}

// toPending brings a new (or adopted) issue to Pending when the workflow
// starts elsewhere; a card a reviewer already moved to a final status is
// left there.
func (l *Linker) toPending(ctx context.Context, wk *Work) error {
	st := l.cfg.Statuses
	if l.w.done(wk, domain.CausePending, domain.WriteTransition) {
		return nil
	}
	status := wk.Entry.Status
	if status != "" && (domain.Same(status, st.Pending) || st.Terminal(status)) {
		return nil
	}
	return l.w.Transition(ctx, wk, domain.CausePending, st.Pending, "", func(from string) bool { return !st.Terminal(from) })
}

// LinkIssue links the request to its issue: found (an unconfirmed create,
// or a request older than the bridge's log), adopted (teleport-jira's), or
// created — unless the request was already finished when first seen.
func (l *Linker) LinkIssue(ctx context.Context, wk *Work, r events.AccessRequest, finished bool) error {
	if wk.Entry.Linked() {
		l.w.done(wk, "", domain.WriteLink)
		return nil
	}
	log := wk.Log
	in, intended := wk.Entry.Intended("", domain.WriteLink)
	if intended && in.Owner != l.w.Owner {
		// Another replica's create. The consume loop gives one request to
		// one replica at a time, so it died or lost its turn; still, leave
		// it its time.
		if age := l.w.now().Sub(in.At); age < l.cfg.ClaimTTL {
			return domain.RetryAfter(fmt.Errorf("request %s is being linked by %s since %s", r.ID, in.Owner, age.Round(time.Millisecond)), l.cfg.ClaimTTL-age)
		}
	}
	if intended || r.Created.Before(l.cfg.LogStart) {
		found, err := l.lookup(ctx, r.ID)
		if err != nil {
			return err
		}
		if found != nil {
			log.Info().Str("issue_key", found.Key).Bool("unconfirmed_create", intended).Msg("found the request's issue by its label; linking it instead of creating another")
			l.metrics.IssuesAdopted.Inc()
			return l.w.Fold(ctx, wk, events.NewIssueLinked(r.ID, events.IssueRef{ID: found.ID, Key: found.Key}, found.Status, true))
		}
	}
	if r.LegacyIssue != nil {
		if ok, err := l.adoptLegacy(ctx, wk, r); err != nil || ok {
			return err
		}
	}
	if finished {
		log.Info().Str("state", string(r.State)).Msg("request already resolved or expired when first seen; no issue created")
		return nil
	}
	project := l.ProjectFor(r)
	if err := l.w.Intend(ctx, wk, "", domain.WriteLink, func(e *projection.Entry) { e.Project = project }); err != nil {
		return err
	}
	created, err := l.w.Jira.Create(ctx, jira.NewIssue{
		Project: project, IssueType: l.cfg.IssueType, Fields: l.issueFields(ctx, r, log),
		Properties: map[string]any{domain.PropertyRequestID: r.ID}, Target: l.cfg.Statuses.Pending,
	})
	if err != nil {
		return fmt.Errorf("create issue for request %s in project %s: %w", r.ID, project, err)
	}
	l.metrics.IssuesCreated.Inc()
	log.Info().Str("issue_key", created.Key).Str("project", project).Str("status", created.Status).Msg("created issue")
	return l.w.Fold(ctx, wk, events.NewIssueLinked(r.ID, events.IssueRef{ID: created.ID, Key: created.Key}, created.Status, false))
}

// adoptLegacy links the issue teleport-jira recorded, after checking that it
// exists and carries the request id. ok=false: create a new one.
func (l *Linker) adoptLegacy(ctx context.Context, wk *Work, r events.AccessRequest) (bool, error) {
	li := r.LegacyIssue
	is, err := l.w.Jira.GetIssue(ctx, li.ID, []string{domain.PropertyRequestID}, false)
	if jira.IsStatus(err, 404) {
		wk.Log.Warn().Str("issue_key", li.Key).Msg("legacy teleport-jira issue not found; creating a new issue")
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if domain.PropertyValue(is.Properties[domain.PropertyRequestID]) != r.ID && !slices.Contains(is.Labels, l.cfg.Labels.For(r.ID)) {
		wk.Log.Warn().Str("issue_key", li.Key).Msg("legacy teleport-jira issue does not carry the request id; creating a new issue")
		return false, nil
	}
	l.metrics.IssuesAdopted.Inc()
	wk.Log.Info().Str("issue_key", is.Key).Str("status", is.Status).Msg("adopted the teleport-jira issue")
	return true, l.w.Fold(ctx, wk, events.NewIssueLinked(r.ID, events.IssueRef{ID: is.ID, Key: is.Key}, is.Status, true))
}

// lookup finds the issue of a request by its label.
func (l *Linker) lookup(ctx context.Context, requestID string) (*jira.Issue, error) {
	jql := fmt.Sprintf(`labels = "%s" ORDER BY created ASC`, l.cfg.Labels.For(requestID))
	found, err := l.w.Jira.Search(ctx, jql, []string{domain.PropertyRequestID}, 10)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, nil
	}
	return &found[0], nil
}

func (l *Linker) issueFields(ctx context.Context, r events.AccessRequest, log zerolog.Logger) map[string]any {
	labels := append([]string{l.cfg.Labels.Prefix, l.cfg.Labels.For(r.ID)}, l.cfg.ExtraLabels...)
	fields := map[string]any{
		"summary":     Summary(r),
		"description": Description(r),
		"labels":      labels,
	}
	if l.cfg.RequestIDField != "" {
		fields[l.cfg.RequestIDField] = r.ID
	}
	if l.cfg.SetReporter && strings.Contains(r.User, "@") {
		u, ok, err := l.w.Jira.FindUserByEmailCached(ctx, r.User)
		switch {
		case err != nil:
			log.Warn().Err(err).Msg("reporter lookup failed; the bridge's user stays the reporter")
		case ok && l.w.Jira.Deployment() == jira.DeploymentCloud && u.AccountID != "":
			fields["reporter"] = map[string]string{"accountId": u.AccountID}
		case ok && u.Name != "":
			fields["reporter"] = map[string]string{"name": u.Name}
		}
	}
	return fields
}
