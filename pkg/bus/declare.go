package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// declare runs one declaration, retrying it while JetStream is only
// momentarily unable to answer: a cluster electing its meta leader or a
// stream leader ("no suitable peers for placement", "JetStream system
// temporarily unavailable", no responders, a timed-out call). A service
// that starts with the cluster, or during a node's restart, then waits for
// it instead of exiting. Other errors (bad settings, permissions) return at
// once, and the last error returns after DeclareTimeout.
func (b *Bus) declare(ctx context.Context, what string, do func(ctx context.Context) error) error {
	deadline := time.Now().Add(orDefault(b.cfg.DeclareTimeout, time.Minute))
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		before := b.NC.LastError()
		actx, cancel := b.apiContext(ctx)
		err := do(actx)
		cancel()
		if err == nil {
			return nil
		}
		// The server drops a request the user may not publish and says so
		// asynchronously: the call itself only times out.
		if denied := b.NC.LastError(); denied != nil && denied != before &&
			errors.Is(denied, nats.ErrPermissionViolation) && strings.Contains(denied.Error(), "$JS.API.") {
			return fmt.Errorf("declare %s: %w (the NATS user may not manage streams: allow it to publish to $JS.API.>, or declare them with another user)", what, denied)
		}
		if ctx.Err() != nil || !unavailable(err) || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("declare %s: %w", what, err)
		}
		b.log.Warn().Err(err).Str("declare", what).Int("attempt", attempt).
			Msg("JetStream not available yet; retrying the declaration")
		select {
		case <-ctx.Done():
			return fmt.Errorf("declare %s: %w", what, ctx.Err())
		case <-time.After(wait/2 + time.Duration(rand.Int64N(int64(wait/2)+1))):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// unavailable reports whether a JetStream API error means "not now" rather
// than "not this way".
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10005, // no suitable peers for placement (peers not known yet)
		10008, // JetStream system temporarily unavailable
		10009, // JetStream cluster can not handle request (no leader)
		10118, // stream is offline
		10119, // consumer is offline
		10194, // stream is offline: reason
		10195: // consumer is offline: reason
		return true
	}
	return apiErr.Code == 503
}

// EnsureStream creates the stream or updates its settings; it never purges
// messages or touches consumers, so running it twice changes nothing. A
// stream whose settings already hold is left alone: no update is sent,
// since nats-server (2.15) updating a stream while a consumer of it is
// being created is a data race in the server — every replica starting at
// once declares the stream and its consumers.
func (b *Bus) EnsureStream(ctx context.Context, spec events.StreamSpec) (jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name:        spec.Name,
		Subjects:    spec.Subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    max(b.cfg.Replicas, 1),
		Duplicates:  orDefault(b.cfg.DuplicateWindow, events.DefaultDuplicateWindow),
		MaxAge:      orDefault(b.cfg.MaxAge, events.DefaultMaxAge),
		AllowDirect: true, // fast per-subject reads (the takeover guard, nats stream view)
		Discard:     jetstream.DiscardOld,
	}
	var s jetstream.Stream
	err := b.declare(ctx, "stream "+spec.Name, func(ctx context.Context) (err error) {
		s, err = b.JS.Stream(ctx, spec.Name)
		switch {
		case err == nil && sameStreamSettings(s.CachedInfo().Config, cfg):
			return nil
		case err != nil && !errors.Is(err, jetstream.ErrStreamNotFound):
			return err
		}
		s, err = b.JS.CreateOrUpdateStream(ctx, cfg)
		return err
	})
	return s, err
}

// sameStreamSettings reports whether have holds every setting EnsureStream
// declares as want.
func sameStreamSettings(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Storage == want.Storage &&
		have.Retention == want.Retention && have.Replicas == want.Replicas &&
		have.Duplicates == want.Duplicates && have.MaxAge == want.MaxAge &&
		have.AllowDirect == want.AllowDirect && have.Discard == want.Discard
}

// EnsureKV creates the bucket or updates its settings, keeping its content;
// a bucket whose settings already hold is left alone (see EnsureStream:
// its watchers are consumers of its stream).
func (b *Bus) EnsureKV(ctx context.Context, bucket, description string, ttl time.Duration) (jetstream.KeyValue, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: description,
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    max(b.cfg.Replicas, 1),
	}
	var kv jetstream.KeyValue
	err := b.declare(ctx, "key-value bucket "+bucket, func(ctx context.Context) error {
		s, err := b.JS.Stream(ctx, "KV_"+bucket)
		switch {
		case err == nil && sameBucketSettings(s.CachedInfo().Config, cfg):
			kv, err = b.JS.KeyValue(ctx, bucket)
			return err
		case err != nil && !errors.Is(err, jetstream.ErrStreamNotFound):
			return err
		}
		kv, err = b.JS.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	return kv, err
}

// sameBucketSettings reports whether the stream config have of a bucket
// holds every setting EnsureKV declares as want.
func sameBucketSettings(have jetstream.StreamConfig, want jetstream.KeyValueConfig) bool {
	return have.Description == want.Description && have.MaxMsgsPerSubject == int64(max(want.History, 1)) &&
		have.MaxAge == want.TTL && have.Storage == want.Storage && have.Replicas == max(want.Replicas, 1)
}

// ConsumerSpec declares one durable pull consumer and how it is consumed.
type ConsumerSpec struct {
	Stream         string
	Durable        string
	FilterSubjects []string
	// Source is the CloudEvents source of the events handlers return (the
	// service's name).
	Source string
	// Classify maps handler errors to verdicts (nil: errors marked with
	// Permanent, Suspect, ... keep their mark, the rest are transient).
	Classify Classifier
	// AckWait is how long JetStream waits for an ack before redelivering;
	// the loop sends progress heartbeats for every message it holds.
	// Default 30s.
	AckWait time.Duration
	// PinnedTTL is how long a replica that stopped pulling (killed, cut
	// off) keeps the pin before JetStream gives the consumer to another
	// replica. Default 10s.
	PinnedTTL time.Duration
	// MaxAttempts and RetryWindow bound the retries of a transient failure:
	// a message is dead-lettered once it has been attempted MaxAttempts
	// times and was published at least RetryWindow ago, whichever comes
	// last, so an outage shorter than the window loses nothing to the
	// dead-letter stream however many attempts it costs. A permanent error
	// is dead-lettered at once, a suspect one after MaxAttempts. Defaults
	// 10 and 24h.
	MaxAttempts int
	RetryWindow time.Duration
	// Concurrency bounds the messages in flight in this process (prefetch
	// included). Default 64.
	Concurrency int
	// RetryMin and RetryMax bound the exponential delay between attempts
	// after a transient error. Defaults 1s and 5m.
	RetryMin, RetryMax time.Duration
	// HandlerTimeout bounds one handler call. Default 2m.
	HandlerTimeout time.Duration
	// DrainTimeout bounds how long Run waits, after it was asked to stop,
	// for the handlers in flight. Default 10s.
	DrainTimeout time.Duration
}

func (s ConsumerSpec) withDefaults() ConsumerSpec {
	s.AckWait = orDefault(s.AckWait, 30*time.Second)
	s.PinnedTTL = orDefault(s.PinnedTTL, 10*time.Second)
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 10
	}
	s.RetryWindow = orDefault(s.RetryWindow, 24*time.Hour)
	if s.Concurrency <= 0 {
		s.Concurrency = 64
	}
	s.RetryMin = orDefault(s.RetryMin, time.Second)
	s.RetryMax = orDefault(s.RetryMax, 5*time.Minute)
	s.HandlerTimeout = orDefault(s.HandlerTimeout, 2*time.Minute)
	s.DrainTimeout = orDefault(s.DrainTimeout, 10*time.Second)
	return s
}

// maxDeliver is the JetStream bound, a safety net: retries happen in
// process and do not count as deliveries; a message is delivered again only
// when its holder stopped or died while it was in flight. The loop
// dead-letters a message before JetStream would give up on it, so none is
// dropped silently.
func (s ConsumerSpec) maxDeliver() int {
	return max(s.MaxAttempts*10, 100)
}

// EnsureConsumer creates the durable consumer or updates its settings. An
// update keeps its delivery state, so a restarted service resumes where it
// stopped — and a consumer declared by a version before priority groups is
// upgraded in place, its acks and pending messages kept. A consumer whose
// settings already hold is left alone, like a stream (EnsureStream): every
// replica declares it at start, while another may be consuming it.
func (b *Bus) EnsureConsumer(ctx context.Context, spec ConsumerSpec) (jetstream.Consumer, error) {
	spec = spec.withDefaults()
	cfg := jetstream.ConsumerConfig{
		Durable:        spec.Durable,
		FilterSubjects: spec.FilterSubjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckWait:        spec.AckWait,
		MaxDeliver:     spec.maxDeliver(),
		MaxAckPending:  max(spec.Concurrency*4, 256),
		PriorityGroups: []string{PriorityGroup},
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      spec.PinnedTTL,
	}
	var c jetstream.Consumer
	err := b.declare(ctx, "consumer "+spec.Durable+" on "+spec.Stream, func(ctx context.Context) (err error) {
		c, err = b.JS.Consumer(ctx, spec.Stream, spec.Durable)
		switch {
		case err == nil && sameConsumerSettings(c.CachedInfo().Config, cfg):
			return nil
		case err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound):
			return err
		}
		c, err = b.JS.CreateOrUpdateConsumer(ctx, spec.Stream, cfg)
		return err
	})
	return c, err
}

// sameConsumerSettings reports whether have holds every setting
// EnsureConsumer declares as want.
func sameConsumerSettings(have, want jetstream.ConsumerConfig) bool {
	filters := have.FilterSubjects
	if have.FilterSubject != "" {
		filters = []string{have.FilterSubject}
	}
	return slices.Equal(filters, want.FilterSubjects) && have.AckPolicy == want.AckPolicy &&
		have.DeliverPolicy == want.DeliverPolicy && have.AckWait == want.AckWait &&
		have.MaxDeliver == want.MaxDeliver && have.MaxAckPending == want.MaxAckPending &&
		slices.Equal(have.PriorityGroups, want.PriorityGroups) && have.PriorityPolicy == want.PriorityPolicy &&
		have.PinnedTTL == want.PinnedTTL
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
