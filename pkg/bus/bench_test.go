package bus_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkConsumeOrdered is the consume loop with a no-op handler that
// verifies per-subject order: b.N review events spread over b.N/4 requests
// (four events a subject) are published first, then the loop runs
// until all are handled and acked. The figure that matters is msgs/s.
func BenchmarkConsumeOrdered(b *testing.B) {
	for _, conc := range []int{16, 64} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) {
			ns := bustest.Start(b)
			bs := ns.Connect(b, "bench")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := bs.EnsureStream(ctx, events.TeleportStream()); err != nil {
				b.Fatal(err)
			}
			n := b.N
			subjects := max(n/4, 1) // four events a request
			for i := range n {
				id := fmt.Sprintf("r%d", i%subjects)
				env, err := events.New("bench", time.Now(), reviewed(id, i/subjects+1))
				if err != nil {
					b.Fatal(err)
				}
				data, err := events.Encode(env)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bs.JS.PublishAsync(env.Subject, data, jetstream.WithMsgID(env.ID), jetstream.WithStallWait(30*time.Second)); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-bs.JS.PublishAsyncComplete():
			case <-time.After(2 * time.Minute):
				b.Fatal("async publish did not complete")
			}
			var (
				mu       sync.Mutex
				last     = map[string]int{}
				disorder atomic.Int64
				handled  atomic.Int64
				done     = make(chan struct{})
			)
			c, err := bs.NewConsumer(ctx, bus.ConsumerSpec{Stream: events.StreamTeleport, Durable: "bench",
				FilterSubjects: []string{events.SubjectRequests + ".>"}, Concurrency: conc},
				bus.Func(func(_ context.Context, d bus.Delivery) error {
					ev := d.Event.Payload.(*events.RequestEvent)
					mu.Lock()
					if ev.Review != last[ev.Request.ID]+1 {
						disorder.Add(1)
					}
					last[ev.Request.ID] = ev.Review
					mu.Unlock()
					if handled.Add(1) == int64(n) {
						close(done)
					}
					return nil
				}), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			errc := make(chan error, 1)
			go func() { errc <- c.Run(ctx) }()
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("handled %d of %d in 5 minutes", handled.Load(), n)
			}
			b.StopTimer()
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
			if d := disorder.Load(); d != 0 {
				b.Fatalf("%d events handled out of order", d)
			}
			cancel()
			<-errc
		})
	}
}
