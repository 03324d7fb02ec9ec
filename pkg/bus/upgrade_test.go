package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// TestUpgradeFromLeaseLayout starts from what the lease layout left behind:
// a durable consumer without priority groups, partly consumed — some
// messages acked, some delivered to a process that died before handling
// them, the rest never delivered — and the consumer-leases bucket. The new
// version upgrades the consumer in place: every event not handled before is
// handled exactly once, in order per subject, none handled before is
// handled again, and the lease bucket is deleted once unused.
func TestUpgradeFromLeaseLayout(t *testing.T) {
	_, b := setup(t)
	ctx := context.Background()
	const subjects, perSubject = 10, 6
	s := spec("upgraded")
	s.AckWait = 2 * time.Second

	// The old layout: the consumer as the lease version declared it.
	old, err := b.JS.CreateOrUpdateConsumer(ctx, events.StreamTeleport, jetstream.ConsumerConfig{
		Durable: s.Durable, FilterSubjects: s.FilterSubjects, AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, AckWait: s.AckWait, MaxDeliver: 86450, MaxAckPending: 256,
	})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := b.EnsureKV(ctx, bus.LegacyBucketLeases, "per-subject leases and progress of AccessBridge consumers", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < subjects; i++ {
		if _, err := leases.Put(ctx, fmt.Sprintf("upgraded.teleport.requests.r%d", i), []byte(`{"last_seq":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	publishLoad(t, b, subjects, 1, perSubject)

	l := newLedger()
	// The old process handled and acked the first 15 messages, then
	// received 5 more and died before handling them.
	batch, err := old.Fetch(20, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if n > 15 {
			continue
		}
		ev, err := events.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		l.seen[ev.Payload.(*events.RequestEvent).Request.ID] = append(l.seen[ev.Payload.(*events.RequestEvent).Request.ID], ev.Payload.(*events.RequestEvent).Review)
		l.calls[ev.ID]++
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n != 20 {
		t.Fatalf("the old process received %d messages, want 20", n)
	}

	run(t, b, s, l.handler(func() bool { return true }, 0, nil))
	eventually(t, 30*time.Second, "every event handled", func() bool { return l.complete(subjects, perSubject) })
	l.check(t, subjects, perSubject, true)
	for id, n := range l.calls {
		if n != 1 {
			t.Fatalf("%s handled %d times across the upgrade", id, n)
		}
	}
	if len(l.calls) != subjects*perSubject {
		t.Fatalf("%d events handled, want %d", len(l.calls), subjects*perSubject)
	}
	info := consumerInfo(t, b, s.Durable)
	if len(info.Config.PriorityGroups) != 1 || info.Config.PriorityPolicy != jetstream.PriorityPolicyPinned {
		t.Fatalf("consumer not upgraded in place: %+v", info.Config)
	}
	eventually(t, 30*time.Second, "the lease bucket to be deleted", func() bool {
		_, err := b.JS.KeyValue(ctx, bus.LegacyBucketLeases)
		return errors.Is(err, jetstream.ErrBucketNotFound)
	})
}
