package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publish sends an event to its subject with the event id as Nats-Msg-Id and
// waits for the stream's ack. A duplicate within the window is acked with
// Duplicate set and stored once.
func (b *Bus) Publish(ctx context.Context, env events.Envelope) (*jetstream.PubAck, error) {
	data, err := events.Encode(env)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", env.ID, err)
	}
	msg := nats.NewMsg(env.Subject)
	msg.Data = data
	msg.Header.Set(events.HeaderMsgID, env.ID)
	msg.Header.Set(events.HeaderType, string(env.Type))
	ctx, cancel := b.apiContext(ctx)
	defer cancel()
	wait := 20 * time.Millisecond
	for {
		ack, err := b.JS.PublishMsg(ctx, msg)
		if err == nil {
			return ack, nil
		}
		// On a replicated stream, another replica publishing the same
		// event at the same moment gets "duplicate message id is in
		// process": ask again once that publish has been decided.
		if !isDuplicateInProcess(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("publish %s to %s: %w", env.Type, env.Subject, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("publish %s to %s: %w", env.Type, env.Subject, err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

// errCodeDuplicateInProcess is JetStream's JSStreamDuplicateMessageConflict.
const errCodeDuplicateInProcess = 10158

func isDuplicateInProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeDuplicateInProcess
}

// PublishEvent wraps a payload in an envelope from source and publishes it.
func (b *Bus) PublishEvent(ctx context.Context, source string, p events.Payload) (*jetstream.PubAck, error) {
	env, err := events.New(source, time.Now(), p)
	if err != nil {
		return nil, err
	}
	return b.Publish(ctx, env)
}

// PublishAll publishes the events of payloads from source asynchronously
// and returns once every one of them is acked by its stream, or with the
// first error. A handler's results go out this way: one round trip's
// latency for all of them, and the source message is acked only after.
func (b *Bus) PublishAll(ctx context.Context, source string, payloads []events.Payload) error {
	if len(payloads) == 0 {
		return nil
	}
	if len(payloads) == 1 {
		_, err := b.PublishEvent(ctx, source, payloads[0])
		return err
	}
	now := time.Now()
	envs := make([]events.Envelope, len(payloads))
	futures := make([]jetstream.PubAckFuture, len(payloads))
	for i, p := range payloads {
		env, err := events.New(source, now, p)
		if err != nil {
			return err
		}
		data, err := events.Encode(env)
		if err != nil {
			return fmt.Errorf("publish %s: %w", env.ID, err)
		}
		msg := nats.NewMsg(env.Subject)
		msg.Data = data
		msg.Header.Set(events.HeaderMsgID, env.ID)
		msg.Header.Set(events.HeaderType, string(env.Type))
		f, err := b.JS.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("publish %s to %s: %w", env.Type, env.Subject, err)
		}
		envs[i], futures[i] = env, f
	}
	ctx, cancel := b.apiContext(ctx)
	defer cancel()
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if !isDuplicateInProcess(err) {
				return fmt.Errorf("publish %s to %s: %w", envs[i].Type, envs[i].Subject, err)
			}
			// Another replica published it at the same moment: ask again.
			if _, err := b.Publish(ctx, envs[i]); err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("publish %s to %s: %w", envs[i].Type, envs[i].Subject, ctx.Err())
		}
	}
	return nil
}
