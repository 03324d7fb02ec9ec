package bus

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// deadLetter copies msg with its error to the DEADLETTER stream and
// terminates it. Until the copy is stored the original is kept: the copy
// is retried, the message is never dropped.
func (c *Consumer) deadLetter(work context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, cause error, log zerolog.Logger) {
	dl := nats.NewMsg(events.DeadLetterSubject(meta.Stream, c.spec.Durable))
	dl.Data = msg.Data()
	// An event in the message form (a webhook) has its attributes in its
	// headers: they go with it, so that the copy can be replayed.
	for k, v := range msg.Headers() {
		if strings.HasPrefix(k, "Ce-") || k == events.HeaderContentType {
			dl.Header[k] = v
		}
	}
	dl.Header.Set(events.HeaderMsgID, fmt.Sprintf("dlq:%s:%d", meta.Stream, meta.Sequence.Stream))
	dl.Header.Set(HeaderDLQStream, meta.Stream)
	dl.Header.Set(HeaderDLQConsumer, c.spec.Durable)
	dl.Header.Set(HeaderDLQSubject, msg.Subject())
	dl.Header.Set(HeaderDLQSequence, strconv.FormatUint(meta.Sequence.Stream, 10))
	dl.Header.Set(HeaderDLQDelivery, strconv.FormatUint(meta.NumDelivered, 10))
	dl.Header.Set(HeaderDLQError, truncate(cause.Error(), 1024))
	wait := c.spec.RetryMin
	for {
		pctx, cancel := c.bus.apiContext(work)
		_, err := c.bus.JS.PublishMsg(pctx, dl)
		cancel()
		if err == nil {
			break
		}
		log.Error().Err(err).Msg("could not copy to the dead-letter stream; will retry")
		select {
		case <-work.Done():
			_ = msg.Nak()
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, c.spec.RetryMax)
	}
	c.count(outcomeDeadLetter)
	c.metrics.deadLetters.WithLabelValues(c.spec.Durable).Inc()
	log.Error().Err(cause).Str("dead_letter_subject", dl.Subject).
		Msg("message dead-lettered; fix the cause, then replay it from the DEADLETTER stream")
	c.recent.add(meta.Sequence.Stream)
	if err := msg.TermWithReason(truncate(cause.Error(), 256)); err != nil {
		log.Warn().Err(err).Msg("term failed")
	}
}
