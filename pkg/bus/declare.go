package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// EnsureStream creates the stream or updates its settings; it never purges
// messages or touches consumers, so running it twice changes nothing.
func (b *Bus) EnsureStream(ctx context.Context, spec events.StreamSpec) (jetstream.Stream, error) {
	ctx, cancel := b.apiContext(ctx)
	defer cancel()
	cfg := jetstream.StreamConfig{
		Name:        spec.Name,
		Subjects:    spec.Subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    max(b.cfg.Replicas, 1),
		Duplicates:  orDefault(b.cfg.DuplicateWindow, events.DefaultDuplicateWindow),
		MaxAge:      orDefault(b.cfg.MaxAge, events.DefaultMaxAge),
		AllowDirect: true, // fast per-subject reads for the ordering guard
		Discard:     jetstream.DiscardOld,
	}
	s, err := b.JS.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("declare stream %s: %w", spec.Name, err)
	}
	return s, nil
}

// EnsureKV creates the bucket or updates its settings, keeping its content.
func (b *Bus) EnsureKV(ctx context.Context, bucket, description string, ttl time.Duration) (jetstream.KeyValue, error) {
	ctx, cancel := b.apiContext(ctx)
	defer cancel()
	kv, err := b.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: description,
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    max(b.cfg.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("declare key-value bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// ConsumerSpec declares one durable pull consumer and how it is consumed.
type ConsumerSpec struct {
	Stream         string
	Durable        string
	FilterSubjects []string
	// AckWait is how long JetStream waits for an ack before redelivering;
	// the loop sends progress heartbeats while a handler runs. Default 30s.
	AckWait time.Duration
	// MaxAttempts bounds handler failures before a message is dead-lettered.
	// Default 10.
	MaxAttempts int
	// Concurrency bounds the messages in flight in this process (prefetch
	// included). Default 64.
	Concurrency int
	// RetryMin and RetryMax bound the exponential redelivery delay after a
	// transient error. Defaults 1s and 5m.
	RetryMin, RetryMax time.Duration
	// HandlerTimeout bounds one handler call. Default 2m.
	HandlerTimeout time.Duration
}

func (s ConsumerSpec) withDefaults() ConsumerSpec {
	s.AckWait = orDefault(s.AckWait, 30*time.Second)
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 10
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 64
	}
	s.RetryMin = orDefault(s.RetryMin, time.Second)
	s.RetryMax = orDefault(s.RetryMax, 5*time.Minute)
	s.HandlerTimeout = orDefault(s.HandlerTimeout, 2*time.Minute)
	return s
}

// maxDeliver is the JetStream bound. It is above MaxAttempts because
// redeliveries that wait for an earlier message of the same subject also
// count; the loop dead-letters a message before JetStream would give up on
// it, so none is dropped silently.
func (s ConsumerSpec) maxDeliver() int { return s.MaxAttempts * 5 }

// EnsureConsumer creates the durable consumer or updates its settings. An
// update keeps its delivery state, so a restarted service resumes where it
// stopped.
func (b *Bus) EnsureConsumer(ctx context.Context, spec ConsumerSpec) (jetstream.Consumer, error) {
	spec = spec.withDefaults()
	ctx, cancel := b.apiContext(ctx)
	defer cancel()
	c, err := b.JS.CreateOrUpdateConsumer(ctx, spec.Stream, jetstream.ConsumerConfig{
		Durable:        spec.Durable,
		FilterSubjects: spec.FilterSubjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckWait:        spec.AckWait,
		MaxDeliver:     spec.maxDeliver(),
		MaxAckPending:  max(spec.Concurrency*4, 256),
	})
	if err != nil {
		return nil, fmt.Errorf("declare consumer %s on %s: %w", spec.Durable, spec.Stream, err)
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
