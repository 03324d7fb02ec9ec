package bus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// retry runs the handler on d until it succeeds and its events are
// published, its error is permanent, or its retries are spent — waiting
// with back-off in between, in process, so that the events behind it on
// its subject keep their order. It returns false when the consumer stopped
// (ctx done) or lost the pin during a wait: the message is then handed back
// to JetStream for the next holder.
func (c *Consumer) retry(ctx, work context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, d Delivery) bool {
	log := d.Log
	lost := c.lostSignal()
	var (
		out     []events.Payload
		handled bool
	)
	// Earlier deliveries were attempts too (by a process that stopped).
	for attempt := int(meta.NumDelivered); ; attempt++ {
		d.Attempt = attempt
		var err error
		if !handled {
			out, err = c.handler(work, d)
			handled = err == nil
		}
		if handled {
			// The handler's work is done and idempotent; only its events
			// are missing. They are published before the ack, so that a
			// crash in between repeats the publish, never loses it.
			if err = c.bus.PublishAll(work, c.spec.Source, out); err == nil {
				c.ack(msg, meta, log)
				return true
			}
			err = fmt.Errorf("publish the handler's events: %w", err)
		}
		v := classify(c.spec.Classify, err)
		if v.Kind == KindPermanent {
			c.deadLetter(work, msg, meta, err, log)
			return true
		}
		if c.retriesSpent(attempt, meta.Timestamp, v.Kind) {
			c.deadLetter(work, msg, meta, fmt.Errorf("still failing after %d attempts over %s: %w",
				attempt, time.Since(meta.Timestamp).Round(time.Second), err), log)
			return true
		}
		c.count(outcomeRetry)
		delay := max(c.backoff(attempt, v.Kind), v.After)
		log.Warn().Err(err).Dur("retry_in", delay).Str("kind", v.Kind.String()).Int("attempt", attempt).
			Msg("handler failed; will retry")
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = msg.Nak()
			return false
		case <-work.Done():
			t.Stop()
			_ = msg.Nak()
			return false
		case <-lost:
			t.Stop()
			_ = msg.Nak()
			return false
		case <-t.C:
		}
	}
}

// retriesSpent reports whether a failure at attempt ends the message's
// retries: MaxAttempts attempts and RetryWindow since it was published have
// both passed (MaxAttempts alone for a suspect error).
func (c *Consumer) retriesSpent(attempt int, published time.Time, kind Kind) bool {
	if attempt < c.spec.MaxAttempts {
		return false
	}
	return kind == KindSuspect || time.Since(published) >= c.spec.RetryWindow
}

// backoff is exponential in the attempt, with full jitter, between
// RetryMin and RetryMax. Conflicts retry at once-ish.
func (c *Consumer) backoff(attempt int, kind Kind) time.Duration {
	if kind == KindConflict {
		return time.Duration(rand.Int64N(int64(50 * time.Millisecond)))
	}
	d := c.spec.RetryMin << min(max(attempt-1, 0), 20)
	d = min(d, c.spec.RetryMax)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}
