package projection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Fold applies one event of the JIRA stream to the entries being rebuilt:
// issue.linked links, issue.transitioned and issue.commented record their
// causes (as the handlers record them), decision.requested records the
// decision. It is the inverse of what the handlers write, so a bucket
// rebuilt from the stream lets them recognise every change as applied.
func Fold(entries map[string]*events.RequestIssue, ev events.Event) {
	entry := func(id string) *events.RequestIssue {
		e, ok := entries[id]
		if !ok {
			e = &events.RequestIssue{RequestID: id, Phase: events.PhaseClaimed}
			entries[id] = e
		}
		return e
	}
	apply := func(e *events.RequestIssue, cause string) {
		if !e.HasApplied(cause) {
			e.Applied = append(e.Applied, cause)
		}
	}
	switch p := ev.Payload.(type) {
	case *events.IssueEvent:
		e := entry(p.RequestID)
		e.IssueID, e.IssueKey = p.IssueID, p.IssueKey
		switch p.Kind {
		case events.IssueLinked:
			e.Phase = events.PhaseLinked
			if e.Status == "" {
				e.Status = p.Status
			}
		case events.IssueTransitioned:
			e.Status = p.Status
			if strings.HasPrefix(p.Cause, "rejected:") {
				apply(e, p.Cause+":moved")
			} else {
				apply(e, "transition:"+p.Cause)
			}
		case events.IssueCommented:
			if strings.HasPrefix(p.Cause, "rejected:") {
				apply(e, p.Cause+":comment")
			} else {
				apply(e, p.Cause)
			}
		}
	case *events.Decision:
		apply(entry(p.RequestID), "decision:"+p.ChangelogID)
	}
}

// Rebuild reads every issue and decision event of the JIRA stream and
// merges what they say into the bucket: missing entries are created, and
// existing ones gain the causes they lack. It returns the number of events
// read and entries written. Undecodable events are skipped and counted in
// the error-free result (they cannot describe a change the bridge made).
func (s *Store) Rebuild(ctx context.Context, js jetstream.JetStream) (read, written int, err error) {
	// A throw-away consumer, deleted when done (an ordered consumer would
	// linger until its inactivity threshold, showing as unconsumed backlog).
	cons, err := js.CreateConsumer(ctx, events.StreamJira, jetstream.ConsumerConfig{
		FilterSubjects:    []string{events.SubjectIssues + ".>", events.SubjectJiraDecisions + ".>"},
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return 0, 0, fmt.Errorf("rebuild request-issues: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = js.DeleteConsumer(dctx, events.StreamJira, cons.CachedInfo().Name)
	}()
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("rebuild request-issues: %w", err)
	}
	entries := map[string]*events.RequestIssue{}
	for pending := info.NumPending; pending > 0; {
		batch, err := cons.Fetch(int(min(pending, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return read, 0, fmt.Errorf("rebuild request-issues: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			if ev, err := events.Decode(msg.Data()); err == nil {
				Fold(entries, ev)
			}
			if meta, err := msg.Metadata(); err == nil {
				pending = meta.NumPending
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return read, 0, fmt.Errorf("rebuild request-issues: %w", err)
		}
		read += n
		if n == 0 {
			break
		}
	}
	for _, want := range entries {
		if want.Phase != events.PhaseLinked {
			continue
		}
		if err := s.merge(ctx, *want); err != nil {
			return read, written, err
		}
		written++
	}
	return read, written, nil
}

// merge writes want into the bucket, keeping what an existing entry knows.
func (s *Store) merge(ctx context.Context, want events.RequestIssue) error {
	for attempt := 0; ; attempt++ {
		e, err := s.Get(ctx, want.RequestID)
		if err != nil {
			return err
		}
		if e.Rev == 0 || !e.Linked() {
			applied := want.Applied
			for _, c := range e.Applied {
				if !want.HasApplied(c) {
					applied = append(applied, c)
				}
			}
			e.RequestIssue, e.Applied = want, applied
		} else {
			for _, c := range want.Applied {
				if !e.HasApplied(c) {
					e.Applied = append(e.Applied, c)
				}
			}
		}
		if _, err = s.Put(ctx, e); err == nil || !errors.Is(err, ErrConflict) || attempt >= 10 {
			return err
		}
	}
}

// Empty reports whether the bucket holds no entry.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	keys, err := s.KV.ListKeys(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = keys.Stop() }()
	for range keys.Keys() {
		return false, nil
	}
	return true, nil
}
