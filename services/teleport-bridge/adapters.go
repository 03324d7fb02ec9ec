package teleportbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// publisher publishes events with the service's source.
type publisher struct{ bus *bus.Bus }

func (p publisher) Publish(ctx context.Context, pl events.Payload) error {
	_, err := p.bus.PublishEvent(ctx, Source, pl)
	return err
}

// history reads the last request event of a request from the TELEPORT
// stream.
type history struct {
	bus    *bus.Bus
	stream jetstream.Stream
}

func (h history) LastSnapshot(ctx context.Context, requestID string) (events.AccessRequest, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, h.bus.Config().APITimeout)
	defer cancel()
	msg, err := h.stream.GetLastMsgForSubject(ctx, events.RequestSubject(requestID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.AccessRequest{}, false, nil
	}
	if err != nil {
		return events.AccessRequest{}, false, err
	}
	ev, err := events.Decode(msg.Data)
	if err != nil {
		return events.AccessRequest{}, false, fmt.Errorf("decode %s seq %d: %w", msg.Subject, msg.Sequence, err)
	}
	re, ok := ev.Payload.(*events.RequestEvent)
	if !ok {
		return events.AccessRequest{}, false, nil
	}
	return re.Request, true, nil
}

// Unfinished returns the last snapshot of every request whose last event
// in the stream is neither resolved nor expired.
func (h history) Unfinished(ctx context.Context) ([]events.AccessRequest, error) {
	ictx, cancel := context.WithTimeout(ctx, h.bus.Config().APITimeout)
	info, err := h.stream.Info(ictx, jetstream.WithSubjectFilter(events.SubjectRequests+".>"))
	cancel()
	if err != nil {
		return nil, err
	}
	var out []events.AccessRequest
	for subject := range info.State.Subjects {
		gctx, cancel := context.WithTimeout(ctx, h.bus.Config().APITimeout)
		msg, err := h.stream.GetLastMsgForSubject(gctx, subject)
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ev, err := events.Decode(msg.Data)
		if err != nil {
			continue // not ours to judge; the consumers dead-letter it
		}
		if re, ok := ev.Payload.(*events.RequestEvent); ok && (re.Kind == events.RequestCreated || re.Kind == events.RequestReviewed) && !re.Request.State.Resolved() {
			out = append(out, re.Request)
		}
	}
	return out, nil
}

// links learns the issue linked to a request from the jira-bridge's
// issue.linked event on jira.issues.<request> in the JIRA stream: the
// first issue.linked of the subject (the jira-bridge publishes nothing
// about a request before linking it), read directly by subject. The stream
// may not exist yet.
type links struct {
	bus *bus.Bus

	mu     sync.Mutex
	stream jetstream.Stream
}

// maxLinkScan bounds the messages read for one lookup.
const maxLinkScan = 64

func (l *links) Lookup(ctx context.Context, requestID string) (events.IssueRef, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.bus.Config().APITimeout)
	defer cancel()
	l.mu.Lock()
	st := l.stream
	l.mu.Unlock()
	if st == nil {
		var err error
		st, err = l.bus.JS.Stream(ctx, events.StreamJira)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return events.IssueRef{}, false, nil
		}
		if err != nil {
			return events.IssueRef{}, false, err
		}
		l.mu.Lock()
		l.stream = st
		l.mu.Unlock()
	}
	subject := events.IssueSubject(requestID)
	for seq, n := uint64(1), 0; n < maxLinkScan; n++ {
		msg, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return events.IssueRef{}, false, nil
		}
		if err != nil {
			return events.IssueRef{}, false, err
		}
		seq = msg.Sequence + 1
		ev, err := events.Decode(msg.Data)
		if err != nil {
			continue
		}
		if ie, ok := ev.Payload.(*events.IssueEvent); ok && ie.Kind == events.IssueLinked && ie.RequestID == requestID {
			return events.IssueRef{ID: ie.IssueID, Key: ie.IssueKey}, true, nil
		}
	}
	return events.IssueRef{}, false, nil
}
