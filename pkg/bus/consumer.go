package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Order and exclusion
//
// Each durable consumer has one priority group with the pinned-client
// policy: JetStream delivers its messages to exactly one replica at a time
// (the pinned one) and pins another when that one stops pulling for
// PinnedTTL. Inside the pinned process a FIFO per subject (one request, one
// issue) keeps the subject's events in stream order while different
// subjects run in parallel; a failing event is retried in process, so the
// events behind it wait instead of overtaking it. No KV read or write is
// needed per message.
//
// A takeover is the one moment order needs a look at the stream: messages
// the previous holder had received but not acked come back only after
// AckWait, and the new holder may meanwhile receive later messages of the
// same subjects. For that window (until the consumer's ack floor passes what
// had been delivered when the new holder got the pin) a message is handled
// only once no earlier unacked message of its subject remains (order.go).

// recentSeqsKept is how many finished stream sequences a consumer
// remembers to recognise a redelivery after a lost ack.
const recentSeqsKept = 1 << 16

// PriorityGroup is the priority group of every AccessBridge consumer.
const PriorityGroup = "accessbridge"

// Header names on dead-lettered messages.
const (
	HeaderDLQStream   = "Dlq-Stream"
	HeaderDLQConsumer = "Dlq-Consumer"
	HeaderDLQSubject  = "Dlq-Subject"
	HeaderDLQSequence = "Dlq-Sequence"
	HeaderDLQDelivery = "Dlq-Delivery"
	HeaderDLQError    = "Dlq-Error"
)

// Consumer runs a handler over a durable consumer.
type Consumer struct {
	bus     *Bus
	spec    ConsumerSpec
	cons    jetstream.Consumer
	stream  jetstream.Stream
	handler Handler
	metrics *Metrics
	log     zerolog.Logger
	guard   *orderGuard
	queues  *subjectQueues
	recent  *recentSeqs

	lostMu sync.Mutex
	lost   chan struct{} // closed when JetStream pins another replica
}

// NewConsumer declares the consumer (upgrading one declared by an earlier
// version in place) and the dead-letter stream, and returns a loop ready to
// Run. metrics may be nil.
func (b *Bus) NewConsumer(ctx context.Context, spec ConsumerSpec, h Handler, m *Metrics) (*Consumer, error) {
	spec.PinnedTTL = orDefault(spec.PinnedTTL, b.cfg.PinnedTTL)
	spec = spec.withDefaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	if _, err := b.EnsureStream(ctx, events.DeadLetterStream()); err != nil {
		return nil, err
	}
	cons, err := b.EnsureConsumer(ctx, spec)
	if err != nil {
		return nil, err
	}
	var stream jetstream.Stream
	err = b.declare(ctx, "stream "+spec.Stream, func(ctx context.Context) (err error) {
		stream, err = b.JS.Stream(ctx, spec.Stream)
		return err
	})
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		bus: b, spec: spec, cons: cons, stream: stream, metrics: m,
		log:    b.log.With().Str("consumer", spec.Durable).Logger(),
		queues: newSubjectQueues(),
		recent: newRecentSeqs(recentSeqsKept),
		lost:   make(chan struct{}),
	}
	c.handler = withDuration(withTimeout(h, spec.HandlerTimeout), m, spec.Durable)
	c.guard = newOrderGuard(c)
	return c, nil
}

// Run consumes until ctx is done, then stops pulling, lets the messages in
// flight finish (up to DrainTimeout), hands those still waiting for a retry
// back to JetStream and releases the pin so that another replica takes
// over at once.
func (c *Consumer) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	// sem bounds the handlers running at once; the messages received and
	// not finished are bounded by the consumer's MaxAckPending. Intake
	// never blocks: a message waiting for an earlier one of its subject
	// must not keep that earlier one from arriving.
	sem := make(chan struct{}, c.spec.Concurrency)
	var wg sync.WaitGroup
	cc, err := c.cons.Consume(func(msg jetstream.Msg) {
		c.guard.observe(work, msg)
		subject, first := c.queues.push(msg)
		if !first {
			return // the goroutine draining this subject will get to it
		}
		wg.Go(func() { c.drainSubject(ctx, work, subject, sem) })
	},
		jetstream.PullPriorityGroup(PriorityGroup),
		jetstream.PullMaxMessages(c.spec.Concurrency),
		// The pin lasts while the holder keeps pulling: an idle holder
		// renews its pull request well within PinnedTTL.
		jetstream.PullExpiry(max(c.spec.PinnedTTL/3, time.Second)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { c.consumeError(err) }),
	)
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.spec.Durable, err)
	}
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		c.heartbeat(work)
	}()
	retired := make(chan struct{})
	go func() {
		defer close(retired)
		c.retireLeases(ctx)
	}()
	c.log.Info().Strs("subjects", c.spec.FilterSubjects).Int("concurrency", c.spec.Concurrency).
		Dur("pinned_ttl", c.spec.PinnedTTL).Msg("consuming")
	<-ctx.Done()
	cc.Drain()
	done := make(chan struct{})
	go func() {
		<-cc.Closed()
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(c.spec.DrainTimeout):
		c.log.Warn().Msg("drain timed out; unfinished messages will be redelivered")
		cancelWork()
		<-done
	}
	cancelWork()
	<-hbDone
	<-retired
	c.unpin()
	return nil
}

// drainSubject handles the queued messages of one subject in stream order
// until its queue is empty. When the consumer stops (ctx done) or loses the
// pin while a message waits for a retry, that message and the rest of the
// queue are handed back to JetStream in order.
func (c *Consumer) drainSubject(ctx, work context.Context, subject string, sem chan struct{}) {
	for {
		msg := c.queues.head(subject)
		if msg == nil {
			return
		}
		switch {
		case work.Err() != nil || c.queues.isReturned(subject, pinOf(msg)) || c.guard.stale(msg):
			// A message delivered under a pin this process lost (stale)
			// belongs to the replica pinned since.
			c.handBack(subject, pinOf(msg))
			return
		case c.guard.blocked(work, msg):
			c.count(outcomeWaiting)
			select {
			case <-work.Done():
			case <-time.After(c.guard.pollEvery):
			}
			continue // the head may have changed: an earlier message arrived
		}
		sem <- struct{}{}
		finished := c.process(ctx, work, msg)
		<-sem
		c.queues.pop(subject, msg)
		if !finished { // process handed msg back
			c.guard.noteHandBack(msg)
			c.handBack(subject, pinOf(msg))
			return
		}
	}
}

// handBack hands subject's queued messages back to JetStream in stream
// order and ends its drainer. The subject stays handed back for pin, even
// with nothing queued: a later message of it delivered under the same pin,
// still on its way here, is handed back too (isReturned) — handling it
// would overtake the one handed back, which the next holder now gets.
func (c *Consumer) handBack(subject, pin string) {
	for _, m := range c.queues.takeAll(subject, pin) {
		c.guard.noteHandBack(m)
		_ = m.Nak()
	}
}

// pinOf returns the pin id msg was delivered under ("" without one).
func pinOf(msg jetstream.Msg) string { return msg.Headers().Get("Nats-Pin-Id") }

// process handles msg to its end — acked, dead-lettered, or handed back
// when the consumer stops during a retry (false).
func (c *Consumer) process(ctx, work context.Context, msg jetstream.Msg) bool {
	meta, err := msg.Metadata()
	if err != nil {
		c.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without JetStream metadata; terminating it")
		_ = msg.TermWithReason("no metadata")
		return true
	}
	log := c.log.With().Str("subject", msg.Subject()).Uint64("stream_seq", meta.Sequence.Stream).
		Uint64("delivery", meta.NumDelivered).Logger()
	if meta.NumDelivered > 1 && c.recent.has(meta.Sequence.Stream) {
		c.count(outcomeDuplicate)
		log.Debug().Msg("redelivered after a lost ack; finished already")
		c.ack(msg, meta, log)
		return true
	}
	if c.guard.belowFloor(meta.Sequence.Stream) {
		c.count(outcomeDuplicate)
		log.Debug().Msg("delivered again below the consumer's ack floor; finished already")
		c.ack(msg, meta, log)
		return true
	}
	if int(meta.NumDelivered) >= c.spec.maxDeliver()-1 {
		c.deadLetter(work, msg, meta, fmt.Errorf("gave up after %d deliveries", meta.NumDelivered), log)
		return true
	}
	// Either form: an enveloped event, or the message form (a webhook's
	// raw body with its attributes in Ce-* headers).
	ev, err := events.DecodeMessage(events.Header(msg.Headers()), msg.Data())
	if err != nil {
		c.deadLetter(work, msg, meta, fmt.Errorf("undecodable event: %w", err), log)
		return true
	}
	log = log.With().Str("event_id", ev.ID).Str("event_type", string(ev.Type)).Logger()
	d := Delivery{
		Event: ev, Subject: msg.Subject(), Stream: meta.Stream, Seq: meta.Sequence.Stream,
		Delivered: meta.NumDelivered, Published: meta.Timestamp, Header: msg.Headers(), Log: log,
	}
	return c.retry(ctx, work, msg, meta, d)
}

// ack acknowledges msg. The handler is idempotent and its effects are
// recorded where it made them, so a plain ack is enough: a lost ack costs a
// redelivery that changes nothing.
func (c *Consumer) ack(msg jetstream.Msg, meta *jetstream.MsgMetadata, log zerolog.Logger) {
	c.count(outcomeAck)
	c.recent.add(meta.Sequence.Stream)
	if err := msg.Ack(); err != nil {
		log.Warn().Err(err).Msg("ack not sent; the message will be redelivered and change nothing")
	}
}

// heartbeat tells JetStream that every queued message is still being worked
// on, so that none is redelivered while it waits behind its subject or for
// a retry.
func (c *Consumer) heartbeat(work context.Context) {
	t := time.NewTicker(max(c.spec.AckWait/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-work.Done():
			return
		case <-t.C:
			for _, m := range c.queues.all() {
				_ = m.InProgress()
			}
		}
	}
}

// consumeError handles what the consume loop reports. A pin id mismatch
// means another replica holds the pin; any other disruption (a consumer
// leader that changed, a server shut down) keeps an open window open for
// another windowBound, as what was delivered before it may be redelivered
// only a fresh AckWait after a new leader took over.
func (c *Consumer) consumeError(err error) {
	switch {
	case errors.Is(err, jetstream.ErrPinIDMismatch):
		c.pinLost()
	case !errors.Is(err, jetstream.ErrNoHeartbeat):
		c.guard.disrupted()
		c.log.Warn().Err(err).Msg("consume")
	}
}

// pinLost is called when JetStream answers that another replica holds the
// pin (a consumer leader that changed and pinned anew, a pin released by
// an operator). Messages waiting here for a retry are handed back at once,
// so that the new holder gets them instead of waiting behind them, and so
// is every message delivered under the lost pin that has not started.
func (c *Consumer) pinLost() {
	c.guard.markLost()
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	close(c.lost)
	c.lost = make(chan struct{})
	c.log.Info().Msg("pin lost: another replica now receives this consumer; handing back the messages waiting for a retry")
}

// lostSignal is closed when the pin is lost from now on.
func (c *Consumer) lostSignal() <-chan struct{} {
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	return c.lost
}

// unpin releases the pin if this process holds it, so that a standby
// replica takes over without waiting for PinnedTTL.
func (c *Consumer) unpin() {
	pin := c.guard.pin()
	if pin == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.bus.cfg.APITimeout)
	defer cancel()
	info, err := c.cons.Info(ctx)
	if err != nil {
		return
	}
	for _, g := range info.PriorityGroups {
		if g.Group == PriorityGroup && g.PinnedClientID == pin {
			if err := c.stream.UnpinConsumer(ctx, c.spec.Durable, PriorityGroup); err != nil {
				c.log.Debug().Err(err).Msg("unpin")
			}
		}
	}
}

func (c *Consumer) count(outcome string) {
	c.metrics.outcomes.WithLabelValues(c.spec.Durable, outcome).Inc()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
