package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Upgrading from the lease layout
//
// Versions before priority groups serialised each subject with a lease in
// the consumer-leases bucket. Their durable consumers are the same ones
// this version uses: EnsureConsumer adds the pinned priority group to each
// in place, so acks, the ack floor and pending messages carry over — a
// message an old process held unacked is redelivered after AckWait, and
// the takeover guard keeps it ahead of later messages of its subject. The
// bucket is deleted once no consumer of the old layout remains and no
// lease is held.

// LegacyBucketLeases is the bucket of the lease layout.
const LegacyBucketLeases = "consumer-leases"

// legacyLease is a value in LegacyBucketLeases.
type legacyLease struct {
	Owner string    `json:"owner,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

// RetireLeases deletes the lease bucket of the old layout when nothing uses
// it any more: every durable consumer of every stream has the pinned
// priority group, and no lease is held. It reports whether the bucket is
// gone (or never existed).
func (b *Bus) RetireLeases(ctx context.Context) (bool, error) {
	ctx, cancel := b.apiContext(ctx)
	defer cancel()
	kv, err := b.JS.KeyValue(ctx, LegacyBucketLeases)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", LegacyBucketLeases, err)
	}
	streams := b.JS.StreamNames(ctx)
	for name := range streams.Name() {
		if isInternalStream(name) {
			continue
		}
		stream, err := b.JS.Stream(ctx, name)
		if err != nil {
			return false, fmt.Errorf("stream %s: %w", name, err)
		}
		consumers := stream.ListConsumers(ctx)
		for info := range consumers.Info() {
			if info.Config.Durable != "" && len(info.Config.PriorityGroups) == 0 {
				return false, nil // an old-layout consumer, not upgraded yet
			}
		}
		if err := consumers.Err(); err != nil {
			return false, fmt.Errorf("list consumers of %s: %w", name, err)
		}
	}
	if err := streams.Err(); err != nil {
		return false, fmt.Errorf("list streams: %w", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("list %s: %w", LegacyBucketLeases, err)
	}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var l legacyLease
		if json.Unmarshal(e.Value(), &l) == nil && l.Owner != "" && time.Now().Before(l.Until) {
			_ = keys.Stop()
			return false, nil // an old process is handling a message
		}
	}
	if err := b.JS.DeleteKeyValue(ctx, LegacyBucketLeases); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return false, fmt.Errorf("delete %s: %w", LegacyBucketLeases, err)
	}
	b.log.Info().Str("bucket", LegacyBucketLeases).Msg("upgrade: the lease bucket of the old layout is no longer used; deleted it")
	return true, nil
}

// isInternalStream reports whether a stream belongs to KV or object store
// (their consumers are none of ours).
func isInternalStream(name string) bool {
	return len(name) > 3 && (name[:3] == "KV_" || name[:4] == "OBJ_")
}

// retireLeases calls RetireLeases until it succeeds or ctx ends.
func (c *Consumer) retireLeases(ctx context.Context) {
	t := time.NewTicker(c.spec.PinnedTTL)
	defer t.Stop()
	for {
		gone, err := c.bus.RetireLeases(ctx)
		if err != nil {
			c.log.Debug().Err(err).Msg("upgrade: retire the lease bucket")
		}
		if gone {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
