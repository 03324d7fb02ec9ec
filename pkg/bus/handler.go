package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Delivery is one message handed to a handler, decoded.
type Delivery struct {
	Event     events.Event
	Subject   string
	Stream    string
	Seq       uint64 // stream sequence
	Delivered uint64 // 1 on the first delivery
	// Attempt counts the handler calls for this message, 1 on the first,
	// including in-process retries and earlier deliveries.
	Attempt int
	// Published is when the stream stored the message.
	Published time.Time
	Header    nats.Header
	// Log carries subject, stream_seq, delivery and event id.
	Log zerolog.Logger
}

// Handler handles one event and returns the events it produced. The
// consumer publishes them (asynchronously, every ack awaited) before it
// acks the delivery. A handler must be idempotent: after a crash a message
// is delivered again.
type Handler func(ctx context.Context, d Delivery) ([]events.Payload, error)

// Func adapts a handler that produces no event.
func Func(h func(ctx context.Context, d Delivery) error) Handler {
	return func(ctx context.Context, d Delivery) ([]events.Payload, error) {
		return nil, h(ctx, d)
	}
}

// withTimeout bounds one handler call and turns a panic into a permanent
// error, so that one bad event cannot take the process down.
func withTimeout(h Handler, timeout time.Duration) Handler {
	return func(ctx context.Context, d Delivery) (out []events.Payload, err error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				out, err = nil, Permanent(fmt.Errorf("handler panicked: %v", r))
			}
		}()
		return h(ctx, d)
	}
}

// withDuration observes the time spent in the handler.
func withDuration(h Handler, m *Metrics, consumer string) Handler {
	return func(ctx context.Context, d Delivery) ([]events.Payload, error) {
		start := time.Now()
		defer func() { m.duration.WithLabelValues(consumer).Observe(time.Since(start).Seconds()) }()
		return h(ctx, d)
	}
}
