package bus

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Ordering across replicas
//
// Several replicas of a service share one durable consumer, so JetStream
// spreads messages over them. Events of one subject (one request, one issue)
// must still be handled one at a time and in stream order. Each process keeps
// a FIFO per subject, and every process takes a lease on the subject in the
// consumer-leases bucket (compare-and-swap) before handling a message. The
// lease also records the last stream sequence handled for the subject, so a
// message is handled only when no earlier message of its subject is still
// pending; one that overtook an earlier message is redelivered a little
// later. A lease whose holder died expires after LeaseTTL.

// BucketLeases holds the per-subject leases and progress of every consumer.
const BucketLeases = "consumer-leases"

// Header names on dead-lettered messages.
const (
	HeaderDLQStream   = "Dlq-Stream"
	HeaderDLQConsumer = "Dlq-Consumer"
	HeaderDLQSubject  = "Dlq-Subject"
	HeaderDLQSequence = "Dlq-Sequence"
	HeaderDLQDelivery = "Dlq-Delivery"
	HeaderDLQError    = "Dlq-Error"
)

// Delivery is one message handed to a handler, decoded.
type Delivery struct {
	Event     events.Event
	Subject   string
	Stream    string
	Seq       uint64 // stream sequence
	Delivered uint64 // 1 on the first delivery
	Header    nats.Header
	// Log carries subject, stream_seq, delivery and event id.
	Log zerolog.Logger
}

// Handler handles one event. It must be idempotent: a message can be
// delivered more than once. Return nil to ack, or an error marked with
// Permanent, Transient, RetryAfter or Conflict.
type Handler func(ctx context.Context, d Delivery) error

// Consumer runs a handler over a durable consumer.
type Consumer struct {
	bus     *Bus
	spec    ConsumerSpec
	cons    jetstream.Consumer
	stream  jetstream.Stream
	leases  jetstream.KeyValue
	handler Handler
	metrics *Metrics
	log     zerolog.Logger
	owner   string

	leaseTTL time.Duration
	// opTimeout bounds one lease, ack or lookup call. It is shorter than
	// the API timeout: a request in flight when its server dies is never
	// answered, and waiting the full API timeout for it would hold the
	// subject back; the call is retried on another server instead.
	opTimeout time.Duration

	mu     sync.Mutex
	queues map[string][]jetstream.Msg
	ackMu  sync.Mutex
	ackAt  time.Time
	ackFlr uint64
}

// NewConsumer declares the consumer, the dead-letter stream and the lease
// bucket, and returns a loop ready to Run. metrics may be nil.
func (b *Bus) NewConsumer(ctx context.Context, spec ConsumerSpec, h Handler, m *Metrics) (*Consumer, error) {
	spec = spec.withDefaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	if _, err := b.EnsureStream(ctx, events.DeadLetterStream()); err != nil {
		return nil, err
	}
	leases, err := b.EnsureKV(ctx, BucketLeases, "per-subject leases and progress of AccessBridge consumers", orDefault(b.cfg.MaxAge, events.DefaultMaxAge))
	if err != nil {
		return nil, err
	}
	cons, err := b.EnsureConsumer(ctx, spec)
	if err != nil {
		return nil, err
	}
	actx, cancel := b.apiContext(ctx)
	defer cancel()
	stream, err := b.JS.Stream(actx, spec.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", spec.Stream, err)
	}
	return &Consumer{
		bus: b, spec: spec, cons: cons, stream: stream, leases: leases, handler: h, metrics: m,
		log:       b.log.With().Str("consumer", spec.Durable).Logger(),
		owner:     instanceID(),
		leaseTTL:  max(spec.AckWait, 5*time.Second),
		opTimeout: min(b.cfg.APITimeout, 2*time.Second),
		queues:    map[string][]jetstream.Msg{},
	}, nil
}

func instanceID() string {
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// Run consumes until ctx is done, then stops pulling and lets the messages
// in flight finish (up to drainTimeout) before returning.
func (c *Consumer) Run(ctx context.Context) error {
	const drainTimeout = 10 * time.Second
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	sem := make(chan struct{}, c.spec.Concurrency)
	var wg sync.WaitGroup
	cc, err := c.cons.Consume(func(msg jetstream.Msg) {
		sem <- struct{}{}
		key := msg.Subject()
		c.mu.Lock()
		c.queues[key] = append(c.queues[key], msg)
		first := len(c.queues[key]) == 1
		c.mu.Unlock()
		if !first {
			return // the goroutine draining this subject will get to it
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := msg; m != nil; m = c.next(key) {
				c.process(work, m)
				<-sem
			}
		}()
	},
		jetstream.PullMaxMessages(c.spec.Concurrency),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				c.log.Warn().Err(err).Msg("consume")
			}
		}),
	)
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.spec.Durable, err)
	}
	c.log.Info().Strs("subjects", c.spec.FilterSubjects).Int("concurrency", c.spec.Concurrency).Msg("consuming")
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
	case <-time.After(drainTimeout):
		c.log.Warn().Msg("drain timed out; unfinished messages will be redelivered")
		cancelWork()
		<-done
	}
	return nil
}

// next drops the head of key's queue and returns the following message.
func (c *Consumer) next(key string) jetstream.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queues[key][1:]
	if len(q) == 0 {
		delete(c.queues, key)
		return nil
	}
	c.queues[key] = q
	return q[0]
}

func (c *Consumer) process(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		c.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without JetStream metadata; terminating it")
		_ = msg.TermWithReason("no metadata")
		return
	}
	seq := meta.Sequence.Stream
	log := c.log.With().Str("subject", msg.Subject()).Uint64("stream_seq", seq).Uint64("delivery", meta.NumDelivered).Logger()
	key := c.leaseKey(msg.Subject())

	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	go c.heartbeat(hbCtx, msg, key)

	last, err := c.acquire(ctx, key)
	if err != nil {
		c.count(outcomeBusy)
		log.Debug().Err(err).Msg("subject busy; redelivering later")
		c.redeliver(ctx, msg, meta, key, 0, c.orderDelay(meta.NumDelivered), err)
		return
	}
	if seq <= last {
		c.count(outcomeDuplicate)
		c.release(ctx, key, 0)
		c.ack(ctx, msg, log)
		return
	}
	if earlier, err := c.earlierPending(ctx, msg.Subject(), last, seq); err != nil || earlier {
		c.count(outcomeWaiting)
		if err == nil {
			err = fmt.Errorf("an earlier message of %s is not handled yet", msg.Subject())
		}
		log.Debug().Err(err).Msg("waiting for an earlier message of the subject")
		c.redeliver(ctx, msg, meta, key, 0, c.orderDelay(meta.NumDelivered), err)
		return
	}

	herr := c.handle(ctx, msg, meta, log)
	switch {
	case herr == nil:
		c.count(outcomeAck)
		c.release(ctx, key, seq)
		c.ack(ctx, msg, log)
	case KindOf(herr) == KindPermanent:
		c.deadLetter(ctx, msg, meta, key, herr, log)
	case c.retriesSpent(meta, herr):
		c.deadLetter(ctx, msg, meta, key, fmt.Errorf("still failing after %d attempts over %s: %w",
			meta.NumDelivered, time.Since(meta.Timestamp).Round(time.Second), herr), log)
	default:
		c.count(outcomeRetry)
		delay := c.backoff(meta.NumDelivered, KindOf(herr))
		delay = max(delay, retryAfter(herr))
		log.Warn().Err(herr).Dur("retry_in", delay).Str("kind", KindOf(herr).String()).Msg("handler failed; will retry")
		c.redeliver(ctx, msg, meta, key, 0, delay, herr)
	}
}

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, log zerolog.Logger) (err error) {
	ev, err := events.DecodeMessage(events.Header(msg.Headers()), msg.Data())
	if err != nil {
		return Permanent(fmt.Errorf("undecodable event: %w", err))
	}
	log = log.With().Str("event_id", ev.ID).Str("event_type", string(ev.Type)).Logger()
	ctx, cancel := context.WithTimeout(ctx, c.spec.HandlerTimeout)
	defer cancel()
	start := time.Now()
	defer func() {
		c.metrics.duration.WithLabelValues(c.spec.Durable).Observe(time.Since(start).Seconds())
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("handler panicked: %v", r))
		}
	}()
	return c.handler(ctx, Delivery{
		Event: ev, Subject: msg.Subject(), Stream: meta.Stream, Seq: meta.Sequence.Stream,
		Delivered: meta.NumDelivered, Header: msg.Headers(), Log: log,
	})
}

// redeliver releases the lease without progress and asks for a redelivery
// after delay — unless the message is about to exhaust JetStream's own
// delivery limit, in which case it is dead-lettered rather than dropped.
func (c *Consumer) redeliver(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, key string, progress uint64, delay time.Duration, cause error) {
	if int(meta.NumDelivered) >= c.spec.maxDeliver()-1 {
		c.deadLetter(ctx, msg, meta, key, fmt.Errorf("gave up after %d deliveries: %w", meta.NumDelivered, cause), c.log)
		return
	}
	c.release(ctx, key, progress)
	if err := msg.NakWithDelay(delay); err != nil {
		c.log.Warn().Err(err).Msg("nak failed; the message will be redelivered after the ack wait")
	}
}

func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, key string, cause error, log zerolog.Logger) {
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
	pctx, cancel := c.bus.apiContext(ctx)
	defer cancel()
	if _, err := c.bus.JS.PublishMsg(pctx, dl); err != nil {
		// Keep the original: it is not lost, only retried later.
		log.Error().Err(err).Msg("could not copy to the dead-letter stream; will retry")
		c.release(ctx, key, 0)
		_ = msg.NakWithDelay(c.spec.RetryMin)
		return
	}
	c.count(outcomeDeadLetter)
	c.metrics.deadLetters.WithLabelValues(c.spec.Durable).Inc()
	log.Error().Err(cause).Str("dead_letter_subject", dl.Subject).
		Msg("message dead-lettered; fix the cause, then replay it from the DEADLETTER stream")
	c.release(ctx, key, meta.Sequence.Stream)
	if err := msg.TermWithReason(truncate(cause.Error(), 256)); err != nil {
		log.Warn().Err(err).Msg("term failed")
	}
}

// ack acknowledges msg and waits for the server to confirm, retrying
// through a leader change until the ack wait has passed (the message is
// redelivered then anyway) or work is cancelled (a drain that timed out).
func (c *Consumer) ack(work context.Context, msg jetstream.Msg, log zerolog.Logger) {
	deadline := time.Now().Add(c.spec.AckWait)
	wait := 50 * time.Millisecond
	for {
		ctx, cancel := c.opContext(context.Background())
		err := msg.DoubleAck(ctx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return
		}
		if time.Now().Add(wait).After(deadline) || work.Err() != nil {
			// The handler's effects are recorded in the lease; a
			// redelivery is recognised as a duplicate.
			log.Warn().Err(err).Msg("ack not confirmed; the message will be redelivered and recognised as handled")
			return
		}
		select {
		case <-work.Done():
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

func (c *Consumer) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opTimeout)
}

func (c *Consumer) count(outcome string) {
	c.metrics.outcomes.WithLabelValues(c.spec.Durable, outcome).Inc()
}

// backoff is exponential in the delivery count, with full jitter, between
// RetryMin and RetryMax. Conflicts retry at once-ish.
func (c *Consumer) backoff(delivered uint64, kind Kind) time.Duration {
	if kind == KindConflict {
		return time.Duration(rand.Int64N(int64(50 * time.Millisecond)))
	}
	d := c.spec.RetryMin << min(delivered-1, 20)
	d = min(d, c.spec.RetryMax)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// retriesSpent reports whether the transient failure herr of this delivery
// ends the message's retries: MaxAttempts deliveries and RetryWindow since
// it was published have both passed (MaxAttempts alone for a Suspect error).
func (c *Consumer) retriesSpent(meta *jetstream.MsgMetadata, herr error) bool {
	if int(meta.NumDelivered) < c.spec.MaxAttempts {
		return false
	}
	return isSuspect(herr) || time.Since(meta.Timestamp) >= c.spec.RetryWindow
}

// maxOrderDelay is the longest a message waits before it looks again
// whether an earlier message of its subject has been handled.
const maxOrderDelay = 2 * time.Second

func (c *Consumer) orderDelay(delivered uint64) time.Duration {
	d := 50 * time.Millisecond << min(delivered, 6)
	return min(d, maxOrderDelay) + time.Duration(rand.Int64N(int64(20*time.Millisecond)))
}

// heartbeat keeps the ack timer and the lease alive while a message waits
// for its lease or is being handled.
func (c *Consumer) heartbeat(ctx context.Context, msg jetstream.Msg, key string) {
	t := time.NewTicker(max(c.spec.AckWait/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = msg.InProgress()
			c.extend(ctx, key)
		}
	}
}

func (c *Consumer) leaseKey(subject string) string {
	k := c.spec.Durable + "." + subject
	if validKVKey(k) {
		return k
	}
	sum := sha256.Sum256([]byte(subject))
	return c.spec.Durable + ".h." + hex.EncodeToString(sum[:16])
}

func validKVKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' {
		return false
	}
	for _, r := range k {
		ok := r == '-' || r == '/' || r == '_' || r == '=' || r == '.' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// lease is the value of a key in BucketLeases.
type lease struct {
	Owner   string    `json:"owner,omitempty"`
	Until   time.Time `json:"until,omitzero"`
	LastSeq uint64    `json:"last_seq"`
}

var errBusy = errors.New("subject leased by another replica")

// acquire takes the lease on key, waiting up to the ack wait for another
// holder to release it, and returns the last sequence handled.
func (c *Consumer) acquire(ctx context.Context, key string) (uint64, error) {
	deadline := time.Now().Add(c.spec.AckWait)
	wait := 5 * time.Millisecond
	for {
		won, last, err := c.tryAcquire(ctx, key)
		if err != nil || won {
			return last, err
		}
		if time.Now().After(deadline) {
			return 0, errBusy
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait + time.Duration(rand.Int64N(int64(wait)))):
		}
		wait = min(wait*2, 200*time.Millisecond)
	}
}

func (c *Consumer) tryAcquire(ctx context.Context, key string) (won bool, last uint64, err error) {
	actx, cancel := c.opContext(ctx)
	defer cancel()
	now := time.Now()
	entry, err := c.leases.Get(actx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		b, _ := json.Marshal(lease{Owner: c.owner, Until: now.Add(c.leaseTTL)})
		if _, err := c.leases.Create(actx, key, b); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return false, 0, nil
			}
			return false, 0, fmt.Errorf("create lease %s: %w", key, err)
		}
		return true, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("read lease %s: %w", key, err)
	}
	var l lease
	if err := json.Unmarshal(entry.Value(), &l); err != nil {
		return false, 0, fmt.Errorf("lease %s holds %q: %w", key, entry.Value(), err)
	}
	if l.Owner != "" && l.Owner != c.owner && now.Before(l.Until) {
		return false, 0, nil
	}
	l.Owner, l.Until = c.owner, now.Add(c.leaseTTL)
	b, _ := json.Marshal(l)
	if _, err := c.leases.Update(actx, key, b, entry.Revision()); err != nil {
		if isCASConflict(err) {
			return false, 0, nil
		}
		return false, 0, fmt.Errorf("take lease %s: %w", key, err)
	}
	return true, l.LastSeq, nil
}

// release gives the lease up, raising its progress to seq (0: unchanged).
func (c *Consumer) release(ctx context.Context, key string, seq uint64) {
	c.modifyLease(ctx, key, func(l *lease) {
		if l.Owner == c.owner {
			l.Owner, l.Until = "", time.Time{}
		}
		l.LastSeq = max(l.LastSeq, seq)
	})
}

// extend pushes the lease's expiry forward while we still hold it.
func (c *Consumer) extend(ctx context.Context, key string) {
	c.modifyLease(ctx, key, func(l *lease) {
		if l.Owner == c.owner {
			l.Until = time.Now().Add(c.leaseTTL)
		}
	})
}

// modifyLease is a compare-and-swap loop; modify may be called more than once.
func (c *Consumer) modifyLease(ctx context.Context, key string, modify func(*lease)) {
	// Transient errors (a leader change on a replicated bucket answers "no
	// response from stream" for a moment, a request to a server that died
	// is never answered) are retried until the lease would have expired
	// anyway: a lost release holds back the next events of the subject.
	deadline := time.Now().Add(c.leaseTTL)
	wait := 20 * time.Millisecond
	for {
		err := c.tryModifyLease(ctx, key, modify)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return // shutting down, or a heartbeat whose message is done
		}
		if time.Now().Add(wait).After(deadline) {
			c.log.Warn().Err(err).Str("lease", key).Msg("update lease: giving up; the lease expires after the ack wait")
			return
		}
		if !isCASConflict(err) {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(wait*2, time.Second)
		}
	}
}

// tryModifyLease is one read-modify-compare-and-swap of the lease.
func (c *Consumer) tryModifyLease(ctx context.Context, key string, modify func(*lease)) error {
	actx, cancel := c.opContext(ctx)
	defer cancel()
	entry, err := c.leases.Get(actx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		// Never taken (its creation failed) or wiped: record progress
		// only, if there is any.
		var l lease
		modify(&l)
		if l.LastSeq == 0 {
			return nil
		}
		l.Owner, l.Until = "", time.Time{}
		b, _ := json.Marshal(l)
		_, err := c.leases.Create(actx, key, b)
		return err
	}
	if err != nil {
		return fmt.Errorf("read lease: %w", err)
	}
	var l lease
	_ = json.Unmarshal(entry.Value(), &l)
	before := l
	modify(&l)
	if l == before {
		return nil
	}
	b, _ := json.Marshal(l)
	if _, err := c.leases.Update(actx, key, b, entry.Revision()); err != nil {
		return err
	}
	return nil
}

func isCASConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// earlierPending reports whether a message of subject with a sequence
// between last and seq may still be unhandled by this consumer.
func (c *Consumer) earlierPending(ctx context.Context, subject string, last, seq uint64) (bool, error) {
	from := last + 1
	for from < seq {
		actx, cancel := c.opContext(ctx)
		m, err := c.stream.GetMsg(actx, from, jetstream.WithGetMsgSubject(subject))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("look up earlier messages of %s: %w", subject, err)
		}
		if m.Sequence >= seq {
			return false, nil
		}
		// Progress may be missing (a wiped bucket): below the consumer's
		// ack floor, every message has been acked.
		floor, err := c.ackFloor(ctx, m.Sequence)
		if err != nil {
			return false, err
		}
		if m.Sequence > floor {
			return true, nil
		}
		from = m.Sequence + 1
	}
	return false, nil
}

// ackFloor returns the consumer's ack floor, refreshed when it is below
// need and older than a second.
func (c *Consumer) ackFloor(ctx context.Context, need uint64) (uint64, error) {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if c.ackFlr >= need || time.Since(c.ackAt) < time.Second {
		return c.ackFlr, nil
	}
	actx, cancel := c.opContext(ctx)
	defer cancel()
	info, err := c.cons.Info(actx)
	if err != nil {
		return 0, fmt.Errorf("consumer info: %w", err)
	}
	c.ackFlr, c.ackAt = info.AckFloor.Stream, time.Now()
	return c.ackFlr, nil
}
