package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// Rebuild reads every issue and decision event of the JIRA stream and folds
// them into the store, with the same fold the handlers use: missing entries
// are created and existing ones gain what they lack. It returns the events
// read and the entries written. Undecodable events are skipped (they cannot
// describe a change the bridge made).
func Rebuild(ctx context.Context, js jetstream.JetStream, s Store) (read, written int, err error) {
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
	byRequest := map[string][]events.Payload{}
	var order []string
	for pending := info.NumPending; pending > 0; {
		batch, err := cons.Fetch(int(min(pending, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return read, 0, fmt.Errorf("rebuild request-issues: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			if meta, err := msg.Metadata(); err == nil {
				pending = meta.NumPending
			}
			ev, err := events.Decode(msg.Data())
			if err != nil {
				continue
			}
			id := requestOf(ev.Payload)
			if id == "" {
				continue
			}
			if _, ok := byRequest[id]; !ok {
				order = append(order, id)
			}
			byRequest[id] = append(byRequest[id], ev.Payload)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return read, 0, fmt.Errorf("rebuild request-issues: %w", err)
		}
		read += n
		if n == 0 {
			break
		}
	}
	for _, id := range order {
		evs := byRequest[id]
		linked := false
		_, err := s.Modify(ctx, id, func(e *Entry) error {
			for _, p := range evs {
				e.Fold(p)
			}
			if !e.Linked() {
				return ErrNoChange // decisions without a link describe nothing the bridge did
			}
			linked = true
			return nil
		})
		if err != nil {
			return read, written, err
		}
		if linked {
			written++
		}
	}
	return read, written, nil
}

func requestOf(p events.Payload) string {
	switch p := p.(type) {
	case *events.IssueEvent:
		return p.RequestID
	case *events.Decision:
		return p.RequestID
	}
	return ""
}
