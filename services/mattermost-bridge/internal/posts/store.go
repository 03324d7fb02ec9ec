package posts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// ErrConflict is a record written by someone else since it was read (the
// expected last sequence of the subject did not match): read again.
var ErrConflict = errors.New("the request's post record changed since it was read")

// StreamStore keeps the record of each request as the last event of
// mattermost.posts.<req> in the MATTERMOST stream: reading it is one
// last-message-per-subject get, and every write states the sequence it
// read (a compare-and-swap on the subject), so two writers never both win.
type StreamStore struct {
	JS      jetstream.JetStream
	Stream  jetstream.Stream
	Source  string
	Timeout time.Duration // of one JetStream call (default 10s)
}

func (s *StreamStore) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 10 * time.Second
	}
	return s.Timeout
}

// Load returns the record of a request and its stream sequence (0 and an
// empty record when there is none).
func (s *StreamStore) Load(ctx context.Context, requestID string) (events.MattermostPosts, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	msg, err := s.Stream.GetLastMsgForSubject(ctx, events.MattermostPostsSubject(requestID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.MattermostPosts{RequestID: requestID}, 0, nil
	}
	if err != nil {
		return events.MattermostPosts{}, 0, fmt.Errorf("read the post record of %s: %w", requestID, err)
	}
	ev, err := events.Decode(msg.Data)
	if err != nil {
		return events.MattermostPosts{}, 0, fmt.Errorf("post record of %s at seq %d: %w", requestID, msg.Sequence, err)
	}
	rec, ok := ev.Payload.(*events.MattermostPosts)
	if !ok {
		return events.MattermostPosts{}, 0, fmt.Errorf("post record of %s at seq %d is a %s", requestID, msg.Sequence, ev.Type)
	}
	return *rec, msg.Sequence, nil
}

// errWrongLastSequence is JetStream's JSStreamWrongLastSequenceErr.
const errWrongLastSequence = 10071

// Save publishes rec if the subject's last sequence is still expect, and
// returns the new sequence.
func (s *StreamStore) Save(ctx context.Context, rec *events.MattermostPosts, expect uint64) (uint64, error) {
	env, err := events.New(s.Source, time.Now(), rec)
	if err != nil {
		return 0, err
	}
	data, err := events.Encode(env)
	if err != nil {
		return 0, err
	}
	msg := nats.NewMsg(env.Subject)
	msg.Data = data
	msg.Header.Set(events.HeaderMsgID, env.ID)
	msg.Header.Set(events.HeaderType, string(env.Type))
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	ack, err := s.JS.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(expect))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errWrongLastSequence {
		return 0, fmt.Errorf("%w (%s)", ErrConflict, env.ID)
	}
	if err != nil {
		return 0, fmt.Errorf("record %s: %w", env.ID, err)
	}
	if ack.Duplicate {
		// The same version was stored before with other content.
		return 0, fmt.Errorf("%w (%s is a duplicate)", ErrConflict, env.ID)
	}
	return ack.Sequence, nil
}

// LatestRequestEvent reads the newest event of teleport.requests.<id> (nil
// when there is none).
func LatestRequestEvent(ctx context.Context, stream jetstream.Stream, requestID string) (*events.RequestEvent, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := stream.GetLastMsgForSubject(ctx, events.RequestSubject(requestID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read the newest event of request %s: %w", requestID, err)
	}
	ev, err := events.Decode(msg.Data)
	if err != nil {
		// An undecodable event is the consumer's to dead-letter, not a
		// reason to stop here.
		return nil, time.Time{}, nil
	}
	re, _ := ev.Payload.(*events.RequestEvent)
	return re, ev.Time, nil
}
