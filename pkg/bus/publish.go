package bus

import (
	"context"
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
	ack, err := b.JS.PublishMsg(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("publish %s to %s: %w", env.Type, env.Subject, err)
	}
	return ack, nil
}

// PublishEvent wraps a payload in an envelope from source and publishes it.
func (b *Bus) PublishEvent(ctx context.Context, source string, p events.Payload) (*jetstream.PubAck, error) {
	env, err := events.New(source, time.Now(), p)
	if err != nil {
		return nil, err
	}
	return b.Publish(ctx, env)
}
