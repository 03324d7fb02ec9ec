// Package issues turns Teleport request events into Jira issues, comments
// and transitions, each applied exactly once.
//
// Exactly-once issue creation: the request is claimed in the request-issues
// bucket (compare-and-swap) before the create call; after it, issue.linked
// is published (deduplicated by id) and the entry is marked linked. A
// handler that finds a claim it did not finish (a crash between the create
// and the link) looks the issue up by its label before creating again.
// Comments and transitions are recorded in the entry's applied causes;
// before repeating a write that may have happened (a crash between Jira
// and the bucket), the handler checks Jira: an identical comment by the bot,
// or the issue already in the target status.
package issues

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// PropertyRequestID is the entity property (and custom field name) that
// carries the request id, as teleport-jira writes it.
const PropertyRequestID = "teleportAccessRequestId"

// Jira is what the linker needs of Jira.
type Jira interface {
	CreateIssue(ctx context.Context, fields, properties map[string]any) (jira.IssueRef, error)
	GetIssue(ctx context.Context, idOrKey string, properties []string, withChangelog bool) (jira.Issue, error)
	Search(ctx context.Context, jql string, properties []string, limit int) ([]jira.Issue, error)
	TransitionTo(ctx context.Context, idOrKey, status, comment string) error
	Comments(ctx context.Context, idOrKey string) ([]jira.Comment, error)
	AddComment(ctx context.Context, idOrKey, body string) (string, error)
	FindUserByEmail(ctx context.Context, email string) (jira.User, bool, error)
	Deployment() string
}

// Publisher publishes events.
type Publisher interface {
	PublishEvent(ctx context.Context, source string, p events.Payload) error
}

// Statuses are the workflow status names.
type Statuses struct {
	Pending, Approved, Denied, Expired, Promoted string
}

// Terminal reports whether status is a final status (any case).
func (s Statuses) Terminal(status string) bool {
	for _, t := range []string{s.Approved, s.Denied, s.Expired, s.Promoted} {
		if strings.EqualFold(t, status) {
			return true
		}
	}
	return false
}

// ForState maps a resolved request state to its status.
func (s Statuses) ForState(st events.State) string {
	switch st {
	case events.StateApproved:
		return s.Approved
	case events.StateDenied:
		return s.Denied
	case events.StatePromoted:
		return s.Promoted
	}
	return s.Pending
}

// Config of the linker.
type Config struct {
	Source         string
	DefaultProject string
	ProjectByRole  map[string]string
	IssueType      string
	Statuses       Statuses
	LabelPrefix    string
	ExtraLabels    []string
	// RequestIDField is the id of the teleportAccessRequestId custom field
	// ("" when Jira has none).
	RequestIDField string
	SetReporter    bool
	Bot            jira.User
	Owner          string // this process, recorded in claims
	// ClaimTTL: another process's claim younger than this is left alone.
	ClaimTTL time.Duration
}

// Linker applies request events to Jira.
type Linker struct {
	cfg     Config
	jira    Jira
	store   *projection.Store
	pub     Publisher
	metrics *metrics.Metrics
}

// New returns a linker.
func New(cfg Config, j Jira, store *projection.Store, pub Publisher, m *metrics.Metrics) *Linker {
	return &Linker{cfg: cfg, jira: j, store: store, pub: pub, metrics: m}
}

// Label is the per-request label.
func (l *Linker) Label(requestID string) string { return LabelFor(l.cfg.LabelPrefix, requestID) }

// LabelFor is the per-request label for a prefix.
func LabelFor(prefix, requestID string) string { return prefix + "-" + requestID }

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

// ApplyRequest brings the request's issue to the state the event's snapshot
// describes. May be called any number of times for the same event; an
// older event arriving late changes nothing.
func (l *Linker) ApplyRequest(ctx context.Context, ev *events.RequestEvent, log zerolog.Logger) error {
	r := ev.Request
	e, err := l.LinkIssue(ctx, r, log)
	if err != nil {
		return err
	}
	log = log.With().Str("issue_key", e.IssueKey).Logger()
	ref := events.IssueRef{ID: e.IssueID, Key: e.IssueKey}

	for n := 1; n <= len(r.Reviews); n++ {
		cause := "review:" + strconv.Itoa(n)
		if e, err = l.commentOnce(ctx, e, ref, cause, ReviewComment(r, n), log); err != nil {
			return err
		}
	}
	switch {
	case r.State.Resolved():
		if e, err = l.commentOnce(ctx, e, ref, "resolved:"+string(r.State), ResolutionComment(r), log); err != nil {
			return err
		}
		_, err = l.transitionOnce(ctx, e, ref, l.cfg.Statuses.ForState(r.State), "resolved:"+string(r.State), log)
		return err
	case ev.Kind == events.RequestExpired:
		if l.cfg.Statuses.Terminal(e.Status) {
			return nil
		}
		// The card may have been moved to a final status on the board (a
		// decision whose resolution the expiry overtook, or a bridge that
		// saw the request vanish before seeing it resolved): an expiry
		// never moves a card out of a final status.
		if !e.HasApplied("expired") {
			is, err := l.jira.GetIssue(ctx, ref.ID, nil, false)
			if err != nil {
				return jira.Classify(err)
			}
			if l.cfg.Statuses.Terminal(is.Status) {
				log.Info().Str("status", is.Status).Msg("request expired, but its issue is already final; leaving it")
				_, err = l.store.MarkApplied(ctx, e.RequestID, "", is.Status)
				return err
			}
		}
		if e, err = l.commentOnce(ctx, e, ref, "expired", ExpiryComment(r), log); err != nil {
			return err
		}
		_, err = l.transitionOnce(ctx, e, ref, l.cfg.Statuses.Expired, "expired", log)
		return err
	case e.Status == "":
		// A new issue: bring it to Pending when the workflow starts elsewhere.
		_, err = l.transitionOnce(ctx, e, ref, l.cfg.Statuses.Pending, "pending", log)
		return err
	}
	return nil
}

// LinkIssue returns the linked entry of a request, creating (or adopting)
// its issue exactly once.
func (l *Linker) LinkIssue(ctx context.Context, r events.AccessRequest, log zerolog.Logger) (projection.Entry, error) {
	e, err := l.store.Get(ctx, r.ID)
	if err != nil {
		return e, err
	}
	if e.Linked() {
		return e, nil
	}
	if e.Rev == 0 {
		// Claim before any Jira write.
		e.Phase, e.ClaimedBy, e.ClaimedAt = events.PhaseClaimed, l.cfg.Owner, time.Now().UTC()
		e.Project = l.ProjectFor(r)
		if e, err = l.store.Put(ctx, e); err != nil {
			return e, err
		}
		if r.LegacyIssue != nil {
			if ok, err := l.adoptLegacy(ctx, &e, r, log); err != nil || ok {
				return e, err
			}
		}
	} else {
		// A claim left unfinished. Another live replica may still be
		// creating the issue (the bus lease normally prevents that; this
		// guards a lease lost to a pause): leave it its time.
		if age := time.Since(e.ClaimedAt); e.ClaimedBy != l.cfg.Owner && age < l.cfg.ClaimTTL {
			return e, bus.RetryAfter(fmt.Errorf("request %s is claimed by %s since %s", r.ID, e.ClaimedBy, age.Round(time.Millisecond)), l.cfg.ClaimTTL-age)
		}
		// The issue may exist already.
		found, err := l.lookup(ctx, r.ID)
		if err != nil {
			return e, jira.Classify(err)
		}
		if found != nil {
			log.Info().Str("issue_key", found.Key).Msg("found the issue of an unfinished claim; linking it instead of creating another")
			l.metrics.IssuesAdopted.Inc()
			return l.link(ctx, e, r.ID, jira.IssueRef{ID: found.ID, Key: found.Key}, found.Status, false)
		}
		if r.LegacyIssue != nil {
			if ok, err := l.adoptLegacy(ctx, &e, r, log); err != nil || ok {
				return e, err
			}
		}
		e.ClaimedBy, e.ClaimedAt = l.cfg.Owner, time.Now().UTC()
		if e.Project == "" {
			e.Project = l.ProjectFor(r)
		}
		if e, err = l.store.Put(ctx, e); err != nil {
			return e, err
		}
	}
	fields, props := l.issueFields(ctx, r, e.Project, log)
	ref, err := l.jira.CreateIssue(ctx, fields, props)
	if err != nil {
		return e, jira.Classify(fmt.Errorf("create issue for request %s in project %s: %w", r.ID, e.Project, err))
	}
	l.metrics.IssuesCreated.Inc()
	log.Info().Str("issue_key", ref.Key).Str("project", e.Project).Msg("created issue")
	return l.link(ctx, e, r.ID, ref, "", false)
}

// adoptLegacy links the issue teleport-jira recorded, after checking that it
// exists and carries the request id. ok=false: create a new one.
func (l *Linker) adoptLegacy(ctx context.Context, e *projection.Entry, r events.AccessRequest, log zerolog.Logger) (bool, error) {
	li := r.LegacyIssue
	is, err := l.jira.GetIssue(ctx, li.ID, []string{PropertyRequestID}, false)
	if jira.IsStatus(err, 404) {
		log.Warn().Str("issue_key", li.Key).Msg("legacy teleport-jira issue not found; creating a new issue")
		return false, nil
	}
	if err != nil {
		return false, jira.Classify(err)
	}
	if PropertyValue(is.Properties[PropertyRequestID]) != r.ID && !slices.Contains(is.Labels, l.Label(r.ID)) {
		log.Warn().Str("issue_key", li.Key).Msg("legacy teleport-jira issue does not carry the request id; creating a new issue")
		return false, nil
	}
	l.metrics.IssuesAdopted.Inc()
	linked, err := l.link(ctx, *e, r.ID, jira.IssueRef{ID: is.ID, Key: is.Key}, is.Status, true)
	*e = linked
	if err == nil {
		log.Info().Str("issue_key", is.Key).Msg("adopted the teleport-jira issue")
	}
	return err == nil, err
}

// link publishes issue.linked, then marks the entry linked. status is the
// issue's current status when known ("" for a new issue: Pending is still
// to be reached).
func (l *Linker) link(ctx context.Context, e projection.Entry, requestID string, ref jira.IssueRef, status string, adopted bool) (projection.Entry, error) {
	ev := events.NewIssueLinked(requestID, events.IssueRef{ID: ref.ID, Key: ref.Key}, status, adopted)
	if err := l.pub.PublishEvent(ctx, l.cfg.Source, ev); err != nil {
		return e, bus.Transient(fmt.Errorf("publish issue.linked: %w", err))
	}
	e.Phase, e.IssueID, e.IssueKey = events.PhaseLinked, ref.ID, ref.Key
	if adopted && status != "" {
		e.Status = status
	}
	return l.store.Put(ctx, e)
}

// lookup finds the issue of a request by its label.
func (l *Linker) lookup(ctx context.Context, requestID string) (*jira.Issue, error) {
	jql := fmt.Sprintf(`labels = "%s" ORDER BY created ASC`, l.Label(requestID))
	found, err := l.jira.Search(ctx, jql, []string{PropertyRequestID}, 10)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, nil
	}
	return &found[0], nil
}

func (l *Linker) issueFields(ctx context.Context, r events.AccessRequest, project string, log zerolog.Logger) (map[string]any, map[string]any) {
	labels := append([]string{l.cfg.LabelPrefix, l.Label(r.ID)}, l.cfg.ExtraLabels...)
	fields := map[string]any{
		"project":     map[string]string{"key": project},
		"issuetype":   map[string]string{"name": l.cfg.IssueType},
		"summary":     Summary(r),
		"description": Description(r),
		"labels":      labels,
	}
	if l.cfg.RequestIDField != "" {
		fields[l.cfg.RequestIDField] = r.ID
	}
	if l.cfg.SetReporter && strings.Contains(r.User, "@") {
		u, ok, err := l.jira.FindUserByEmail(ctx, r.User)
		switch {
		case err != nil:
			log.Warn().Err(err).Msg("reporter lookup failed; the bridge's user stays the reporter")
		case ok && l.jira.Deployment() == jira.DeploymentCloud && u.AccountID != "":
			fields["reporter"] = map[string]string{"accountId": u.AccountID}
		case ok && u.Name != "":
			fields["reporter"] = map[string]string{"name": u.Name}
		}
	}
	return fields, map[string]any{PropertyRequestID: r.ID}
}

// PropertyValue reads the request id from a teleportAccessRequestId
// property value: a JSON string (teleport-jira) or an object with
// "requestId"/"id".
func PropertyValue(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		RequestID string `json:"requestId"`
		ID        string `json:"id"`
	}
	if json.Unmarshal(raw, &o) == nil {
		if o.RequestID != "" {
			return o.RequestID
		}
		return o.ID
	}
	return ""
}

// commentOnce adds a comment for cause unless it was applied; before adding
// it looks for an identical comment by the bot (a write whose record was
// lost).
func (l *Linker) commentOnce(ctx context.Context, e projection.Entry, ref events.IssueRef, cause, body string, log zerolog.Logger) (projection.Entry, error) {
	if e.HasApplied(cause) {
		return e, nil
	}
	id, err := l.findComment(ctx, ref.ID, body)
	if err != nil {
		return e, jira.Classify(err)
	}
	if id == "" {
		if id, err = l.jira.AddComment(ctx, ref.ID, body); err != nil {
			return e, jira.Classify(fmt.Errorf("comment on %s: %w", ref.Key, err))
		}
		l.metrics.Comments.WithLabelValues(causeKind(cause)).Inc()
		log.Info().Str("cause", cause).Msg("commented")
	}
	if err := l.pub.PublishEvent(ctx, l.cfg.Source, events.NewIssueCommented(e.RequestID, ref, id, cause)); err != nil {
		return e, bus.Transient(fmt.Errorf("publish issue.commented: %w", err))
	}
	return l.store.MarkApplied(ctx, e.RequestID, cause, "")
}

func (l *Linker) findComment(ctx context.Context, issueID, body string) (string, error) {
	cs, err := l.jira.Comments(ctx, issueID)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.Author.Is(l.cfg.Bot) && strings.TrimSpace(c.Body) == strings.TrimSpace(body) {
			return c.ID, nil
		}
	}
	return "", nil
}

// transitionOnce moves the issue to status unless the bridge already did,
// or the issue is already there (a reviewer's move, or a lost record). A
// final status the bridge set is never left.
func (l *Linker) transitionOnce(ctx context.Context, e projection.Entry, ref events.IssueRef, status, cause string, log zerolog.Logger) (projection.Entry, error) {
	tcause := "transition:" + cause
	if e.HasApplied(tcause) || strings.EqualFold(e.Status, status) {
		return e, nil
	}
	// A final status is kept — except Expired before a resolution: an expiry
	// is inferred (the request vanished from a listing), a resolution is
	// Teleport's word, and the card must show it.
	overrideExpiry := strings.HasPrefix(cause, "resolved:") && strings.EqualFold(e.Status, l.cfg.Statuses.Expired)
	if l.cfg.Statuses.Terminal(e.Status) && !overrideExpiry {
		log.Debug().Str("status", e.Status).Str("wanted", status).Msg("issue already final; not moving it")
		return e, nil
	}
	is, err := l.jira.GetIssue(ctx, ref.ID, nil, false)
	if err != nil {
		return e, jira.Classify(err)
	}
	from := is.Status
	if cause == "pending" && l.cfg.Statuses.Terminal(from) {
		// A reviewer moved the new issue before the bridge brought it to
		// Pending (found after a crash, or adopted): keep their move.
		status = from
	}
	if !strings.EqualFold(is.Status, status) {
		if err := l.jira.TransitionTo(ctx, ref.ID, status, ""); err != nil {
			return e, jira.ClassifyTransition(fmt.Errorf("move %s from %q to %q: %w (if the workflow lacks this transition, add it or set the status names JIRA_BRIDGE_STATUS_*)", ref.Key, from, status, err))
		}
		l.metrics.Transitions.WithLabelValues(status).Inc()
		log.Info().Str("from", from).Str("status", status).Msg("moved issue")
	}
	if err := l.pub.PublishEvent(ctx, l.cfg.Source, events.NewIssueTransitioned(e.RequestID, ref, from, status, cause)); err != nil {
		return e, bus.Transient(fmt.Errorf("publish issue.transitioned: %w", err))
	}
	return l.store.MarkApplied(ctx, e.RequestID, tcause, status)
}

func causeKind(cause string) string {
	k, _, _ := strings.Cut(cause, ":")
	return k
}
