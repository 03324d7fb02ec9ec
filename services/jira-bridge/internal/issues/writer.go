package issues

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

// Jira is what the bridge's writers need of Jira.
type Jira interface {
	Create(ctx context.Context, in jira.NewIssue) (jira.Created, error)
	Move(ctx context.Context, idOrKey string, key jira.WorkflowKey, to, comment string, allow func(from string) bool) (string, bool, error)
	ReadState(ctx context.Context, idOrKey, project, issueType string) (jira.IssueState, error)
	GetIssue(ctx context.Context, idOrKey string, properties []string, withChangelog bool) (jira.Issue, error)
	Search(ctx context.Context, jql string, properties []string, limit int) ([]jira.Issue, error)
	Comments(ctx context.Context, idOrKey string) ([]jira.Comment, error)
	AddComment(ctx context.Context, idOrKey, body string) (string, error)
	FindUserByEmailCached(ctx context.Context, email string) (jira.User, bool, error)
	TransitionCommentsRefused() bool
	Deployment() string
}

// Work is one handler's pass over one request: the entry as last written
// and the events the pass produced (to be published by the consume loop).
type Work struct {
	Entry projection.Entry
	Out   []events.Payload
	// Redelivered: the event was delivered before, so events folded then
	// may not have been published; they are produced again (their dedup
	// ids make the copies no-ops).
	Redelivered bool
	Log         zerolog.Logger

	// comments caches the issue's comments for a pass that must check them
	// (read once per pass).
	comments []jira.Comment
	read     bool
}

// Writer makes the bridge's Jira writes, each once: it records the intent
// in the projection, writes, then folds the event that reports the write.
// A pass that finds an intent without its outcome (a crash, a lost answer)
// reads Jira first: the comments for the cause's marker, the issue's
// status for a transition.
type Writer struct {
	Jira      Jira
	Store     projection.Store
	Metrics   *metrics.Metrics
	Owner     string
	IssueType string
	Bot       jira.User
	Now       func() time.Time
	// ClaimTTL: an intent of another process younger than this is its
	// claim on the write; Intend waits for it instead of taking it over.
	ClaimTTL time.Duration
}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Fold records ev in the projection and adds it to the pass's output.
func (w *Writer) Fold(ctx context.Context, wk *Work, ev events.Payload) error {
	e, err := w.Store.Modify(ctx, wk.Entry.RequestID, func(e *projection.Entry) error {
		e.Fold(ev)
		return nil
	})
	if err != nil {
		return err
	}
	wk.Entry = e
	wk.Out = append(wk.Out, ev)
	return nil
}

// done reports whether a write was applied; on a redelivery its event is
// produced again.
func (w *Writer) done(wk *Work, c domain.Cause, kind domain.Write) bool {
	a, ok := wk.Entry.Done(c, kind)
	if ok && wk.Redelivered {
		if ev := wk.Entry.Event(a); ev != nil {
			wk.Out = append(wk.Out, ev)
		}
	}
	return ok
}

// Intend records an intent before a write. It is a claim, decided by the
// store's compare-and-swap on the entry as it is now: when another process
// recorded the same intent lately (two replicas handling one event while
// JetStream moves the pin) Intend fails with a retry after that claim's
// time, and when the write was applied meanwhile (or, for a link, the
// request was linked) with projection.ErrConflict, so that the handler
// runs again on the entry as it is. Only one process writes to Jira.
func (w *Writer) Intend(ctx context.Context, wk *Work, c domain.Cause, kind domain.Write, also func(*projection.Entry)) error {
	e, err := w.Store.Modify(ctx, wk.Entry.RequestID, func(e *projection.Entry) error {
		if _, done := e.Done(c, kind); done || (kind == domain.WriteLink && e.Linked()) {
			return fmt.Errorf("%w: %s %s of %s was applied meanwhile", projection.ErrConflict, kind, c, e.RequestID)
		}
		if err := w.claimed(e, c, kind); err != nil {
			return err
		}
		e.Intend(c, kind, w.Owner, w.now())
		if also != nil {
			also(e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	wk.Entry = e
	return nil
}

// claimed returns a retry error when another process recorded the intent
// of this write less than ClaimTTL ago: it is writing it now.
func (w *Writer) claimed(e *projection.Entry, c domain.Cause, kind domain.Write) error {
	in, ok := e.Intended(c, kind)
	if !ok || in.Owner == w.Owner {
		return nil
	}
	if age := w.now().Sub(in.At); age < w.ClaimTTL {
		return domain.RetryAfter(fmt.Errorf("%s %s of %s is being written by %s since %s", kind, c, e.RequestID, in.Owner, age.Round(time.Millisecond)), w.ClaimTTL-age)
	}
	return nil
}

// mine reports whether this process recorded the intent of the write.
func (w *Writer) mine(e *projection.Entry, c domain.Cause, kind domain.Write) bool {
	in, ok := e.Intended(c, kind)
	return ok && in.Owner == w.Owner
}

// Comment adds the comment of a cause once.
func (w *Writer) Comment(ctx context.Context, wk *Work, c domain.Cause, body string) error {
	if w.done(wk, c, domain.WriteComment) {
		return nil
	}
	e := &wk.Entry
	if err := w.claimed(e, c, domain.WriteComment); err != nil {
		return err
	}
	_, intended := e.Intended(c, domain.WriteComment)
	if intended || e.Adopted {
		// Written before a crash, or before the bridge's store was lost (an
		// issue found by its label)? Its marker says.
		if !wk.read {
			cs, err := w.Jira.Comments(ctx, e.IssueID)
			if err != nil {
				return err
			}
			wk.comments, wk.read = cs, true
		}
		for _, cm := range wk.comments {
			if cm.Author.Is(w.Bot) && domain.HasMarker(cm.Body, e.RequestID, c) {
				wk.Log.Info().Str("cause", string(c)).Msg("found the comment already in Jira; not writing it again")
				return w.Fold(ctx, wk, events.NewIssueCommented(e.RequestID, e.Ref(), cm.ID, string(c)))
			}
		}
	}
	if !w.mine(e, c, domain.WriteComment) {
		// Claim it (another process's older intent is taken over).
		if err := w.Intend(ctx, wk, c, domain.WriteComment, nil); err != nil {
			return err
		}
	}
	id, err := w.Jira.AddComment(ctx, wk.Entry.IssueID, domain.WithMarker(body, wk.Entry.RequestID, c))
	if err != nil {
		return fmt.Errorf("comment on %s: %w", wk.Entry.IssueKey, err)
	}
	w.Metrics.Comments.WithLabelValues(c.Kind()).Inc()
	wk.Log.Info().Str("cause", string(c)).Msg("commented")
	return w.Fold(ctx, wk, events.NewIssueCommented(wk.Entry.RequestID, wk.Entry.Ref(), id, string(c)))
}

// Transition moves the issue to status for a cause once, carrying comment
// when not empty (or, where transitions refuse comments, commenting
// first). allow says whether an issue found in another status than the
// projection knows may still be moved. An issue found already in status,
// or left where allow keeps it, is recorded as it is, without the comment
// (TransitionOrComment writes it).
func (w *Writer) Transition(ctx context.Context, wk *Work, c domain.Cause, status, comment string, allow func(from string) bool) error {
	if w.done(wk, c, domain.WriteTransition) {
		return nil
	}
	if comment != "" {
		if _, ok := wk.Entry.Done(c, domain.WriteComment); ok || w.Jira.TransitionCommentsRefused() {
			if err := w.Comment(ctx, wk, c, comment); err != nil {
				return err
			}
			comment = ""
		}
	}
	e := &wk.Entry
	if err := w.claimed(e, c, domain.WriteTransition); err != nil {
		return err
	}
	from := e.Status
	_, intended := e.Intended(c, domain.WriteTransition)
	if intended || e.Adopted {
		// Moved before a crash, or before the bridge's store was lost? The
		// status says.
		st, err := w.Jira.ReadState(ctx, e.IssueID, e.Project, w.IssueType)
		if err != nil {
			return err
		}
		if domain.Same(st.Status, status) {
			return w.Fold(ctx, wk, events.NewIssueTransitioned(e.RequestID, e.Ref(), e.Status, st.Status, string(c)))
		}
		from = st.Status
	}
	if !w.mine(e, c, domain.WriteTransition) {
		if err := w.Intend(ctx, wk, c, domain.WriteTransition, nil); err != nil {
			return err
		}
	}
	body := ""
	if comment != "" {
		body = domain.WithMarker(comment, wk.Entry.RequestID, c)
	}
	key := jira.WorkflowKey{Project: wk.Entry.Project, IssueType: w.IssueType, From: from}
	was, moved, err := w.Jira.Move(ctx, wk.Entry.IssueID, key, status, body, allow)
	if errors.Is(err, jira.ErrCommentRefused) {
		wk.Log.Info().Msg("the workflow's transition screens refuse comments; commenting separately")
		if err := w.Comment(ctx, wk, c, comment); err != nil {
			return err
		}
		was, moved, err = w.Jira.Move(ctx, wk.Entry.IssueID, key, status, "", allow)
	}
	if err != nil {
		err = fmt.Errorf("move %s from %q to %q: %w (if the workflow lacks this transition, add it or set the status names JIRA_BRIDGE_STATUS_*)", wk.Entry.IssueKey, from, status, err)
		if errors.Is(err, jira.ErrNoTransition) || jira.IsStatus(err, 400) || jira.IsStatus(err, 409) {
			// Jira's reads lag its writes: a stale status clears in seconds,
			// a missing transition never does.
			return &domain.RefusedError{Err: err}
		}
		return err
	}
	to := was
	if moved {
		to = status
		w.Metrics.Transitions.WithLabelValues(status).Inc()
		if body != "" {
			w.Metrics.Comments.WithLabelValues(c.Kind()).Inc()
		}
		wk.Log.Info().Str("from", was).Str("status", status).Msg("moved issue")
	} else if !strings.EqualFold(was, status) {
		wk.Log.Info().Str("status", was).Str("wanted", status).Msg("issue found in another status; left there")
	}
	return w.Fold(ctx, wk, events.NewIssueTransitioned(wk.Entry.RequestID, wk.Entry.Ref(), was, to, string(c)))
}

// TransitionOrComment is Transition for a comment that must be written
// whether or not the card moves: it travels with the move (one call), and
// an issue that stays where it is gets it on its own.
func (w *Writer) TransitionOrComment(ctx context.Context, wk *Work, c domain.Cause, status, comment string, allow func(from string) bool) error {
	if err := w.Transition(ctx, wk, c, status, comment, allow); err != nil {
		return err
	}
	if a, ok := wk.Entry.Done(c, domain.WriteTransition); ok && domain.Same(a.From, a.Status) {
		return w.Comment(ctx, wk, c, comment)
	}
	return nil
}
