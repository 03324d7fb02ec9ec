package bus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus/embedded"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// gapFixture is a consumer of a real JetStream whose deliveries the test
// fetches itself and hands to the consume path (the order guard, then the
// subject's drainer) one by one, so that it can lose one on its way, as a
// server that dies with a delivery in its buffers does.
type gapFixture struct {
	t   *testing.T
	b   *Bus
	sem chan struct{}
	wg  sync.WaitGroup

	mu      sync.Mutex
	handled []string // event ids in the order handled

	// While failing, r1's first review fails (transiently) and counts
	// its attempts.
	failing  atomic.Bool
	attempts atomic.Int32
}

func newGapFixture(t *testing.T) *gapFixture {
	t.Helper()
	ns, err := embedded.Run(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	ctx := context.Background()
	b, err := Connect(ctx, Config{URL: ns.ClientURL(), APITimeout: 5 * time.Second, Replicas: 1,
		DuplicateWindow: time.Minute, MaxAge: time.Hour, DeclareTimeout: 10 * time.Second}, "test", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if _, err := b.EnsureStream(ctx, events.TeleportStream()); err != nil {
		t.Fatal(err)
	}
	return &gapFixture{t: t, b: b, sem: make(chan struct{}, 4)}
}

// consumer declares a durable consumer and returns a fresh process's
// consume state for it (each call is another replica).
func (f *gapFixture) consumer() *Consumer {
	f.t.Helper()
	spec := ConsumerSpec{Stream: events.StreamTeleport, Durable: "gap", FilterSubjects: []string{"teleport.requests.>"},
		AckWait: time.Second, MaxAttempts: 4, Concurrency: 4, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	c, err := f.b.NewConsumer(context.Background(), spec, Func(func(_ context.Context, d Delivery) error {
		if f.failing.Load() && d.Event.ID == "r1:review:1" {
			f.attempts.Add(1)
			return fmt.Errorf("jira answered 503")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.handled = append(f.handled, d.Event.ID)
		return nil
	}), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *gapFixture) publish(id string, review int) {
	f.t.Helper()
	r := events.AccessRequest{ID: id, User: "alice", Roles: []string{"editor"}, State: events.StatePending,
		Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := 0; i < review; i++ {
		r.Reviews = append(r.Reviews, events.Review{Author: fmt.Sprintf("bob%d", i), State: events.StateApproved, Created: r.Created})
	}
	if _, err := f.b.PublishEvent(context.Background(), "test", events.NewRequestReviewed(r, review)); err != nil {
		f.t.Fatal(err)
	}
}

// fetch pulls n deliveries of the consumer, under its priority group, as
// Consume does.
func (f *gapFixture) fetch(c *Consumer, n int) []jetstream.Msg {
	f.t.Helper()
	var out []jetstream.Msg
	f.poll(fmt.Sprintf("%d deliveries", n), func() bool {
		out = append(out, f.fetchUpTo(c, n-len(out))...)
		return len(out) >= n
	})
	return out
}

// fetchUpTo pulls up to n deliveries, waiting at most a second.
func (f *gapFixture) fetchUpTo(c *Consumer, n int) []jetstream.Msg {
	f.t.Helper()
	batch, err := c.cons.Fetch(n, jetstream.FetchPriorityGroup(PriorityGroup), jetstream.FetchMaxWait(time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	return out
}

// arrive hands msg to c as the consume callback does.
func (f *gapFixture) arrive(c *Consumer, msg jetstream.Msg) {
	f.arriveIn(context.Background(), c, msg)
}

// arriveIn is arrive with run as the consumer's Run context (done: the
// replica was asked to stop).
func (f *gapFixture) arriveIn(run context.Context, c *Consumer, msg jetstream.Msg) {
	c.guard.observe(context.Background(), msg)
	subject, first := c.queues.push(msg)
	if first {
		f.wg.Go(func() { c.drainSubject(run, context.Background(), subject, f.sem) })
	}
}

func (f *gapFixture) handledIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.handled...)
}

// poll calls cond until it holds, failing the test after 10 s.
func (f *gapFixture) poll(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s; handled %v", what, f.handledIDs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *gapFixture) waitHandled(n int) []string {
	f.t.Helper()
	f.poll(fmt.Sprintf("%d events handled", n), func() bool { return len(f.handledIDs()) >= n })
	return f.handledIDs()
}

// heldBack counts the times c's drainers waited for an earlier message.
func (f *gapFixture) heldBack(c *Consumer) float64 {
	return testutil.ToFloat64(c.metrics.outcomes.WithLabelValues("gap", outcomeWaiting))
}

// pin has c pinned and past its takeover window: r0's review handled.
func (f *gapFixture) pin(c *Consumer) {
	f.t.Helper()
	f.publish("r0", 1)
	f.arrive(c, f.fetch(c, 1)[0]) // pinned: the takeover window opens and closes
	f.waitHandled(1)
}

// loseFirstOfTwo has c pinned, then delivers r1's two reviews of which only
// the second arrives: the first is lost on its way.
func (f *gapFixture) loseFirstOfTwo(c *Consumer) {
	f.t.Helper()
	f.pin(c)
	f.publish("r1", 1)
	f.publish("r1", 2)
	f.arrive(c, f.fetch(c, 2)[1])
}

// secondWaits checks that r1's second review, whose first was lost, waits
// for it instead of overtaking it.
func (f *gapFixture) secondWaits(c *Consumer, why string) {
	f.t.Helper()
	f.poll("the later review held back", func() bool { return f.heldBack(c) > 0 })
	if h := f.handledIDs(); len(h) != 1 {
		f.t.Fatalf("handled %v: %s", h, why)
	}
}

// redeliverInOrder hands c JetStream's redeliveries after AckWait — of the
// lost review, and of the waiting one, as nothing sends it progress acks
// here (its redelivery replaces it in the queue) — until both are handled,
// and checks they were handled in order.
func (f *gapFixture) redeliverInOrder(c *Consumer) {
	f.t.Helper()
	f.poll("r1's reviews handled after the redelivery", func() bool {
		for _, m := range f.fetchUpTo(c, 2) {
			f.arrive(c, m)
		}
		return len(f.handledIDs()) >= 3
	})
	f.wg.Wait()
	if h := f.handledIDs(); h[1] != "r1:review:1" || h[2] != "r1:review:2" {
		f.t.Fatalf("handled %v, want r1's reviews in order", h)
	}
}

// A delivery lost on its way to the pinned replica (the server it was
// connected to died with it in its buffers) is redelivered only after
// AckWait; a later event of the same request delivered meanwhile waits for
// it instead of overtaking it. The replica sees the loss as a gap in the
// consumer sequence.
func TestLostDeliveryIsNotOvertaken(t *testing.T) {
	f := newGapFixture(t)
	c := f.consumer()
	f.loseFirstOfTwo(c)
	f.secondWaits(c, "the second review overtook the first, which was lost")
	f.redeliverInOrder(c)
}

// A delivery of a message the consumer's ack floor has passed — a
// straggler from a consumer leader deposed since, arriving under its old
// pin at a replica that never handled it — is acked without calling the
// handler: the event was handled, and handling it again would repeat it
// after later events of its request.
func TestStragglerBelowTheAckFloorIsNotHandledAgain(t *testing.T) {
	f := newGapFixture(t)
	one := f.consumer()
	f.publish("r1", 1)
	f.publish("r1", 2)
	for _, m := range f.fetch(one, 2) {
		f.arrive(one, m)
	}
	f.waitHandled(2)
	f.wg.Wait()
	f.poll("the acks to reach the consumer: its ack floor passes both", func() bool {
		info, err := one.cons.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.AckFloor.Stream >= 2
	})

	// Another replica receives, under a pin new to it, the first review
	// again (delivery 2).
	other := f.consumer()
	var acks, naks atomic.Int32
	straggler := fakeMsg{subject: "teleport.requests.r1", seq: 1, deliv: 2, pin: "deposed-leaders-pin",
		data: string(f.fetchData(1)), acks: &acks, naks: &naks}
	f.arrive(other, straggler)
	f.wg.Wait()
	if h := f.handledIDs(); len(h) != 2 {
		t.Fatalf("handled %v: the straggler was handled again", h)
	}
	if acks.Load() != 1 {
		t.Fatalf("%d acks of the straggler, want 1 (acked without handling)", acks.Load())
	}
	if n := testutil.ToFloat64(other.metrics.outcomes.WithLabelValues("gap", outcomeDuplicate)); n != 1 {
		t.Fatalf("%v duplicates counted, want 1", n)
	}
}

// fetchData returns the stored payload of stream sequence seq.
func (f *gapFixture) fetchData(seq uint64) []byte {
	f.t.Helper()
	s, err := f.b.JS.Stream(context.Background(), events.StreamTeleport)
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		f.t.Fatal(err)
	}
	return m.Data
}

// A consumer leader change reported while a window is open keeps it open
// for another window's bound: the lost delivery comes back only a fresh
// AckWait after the new leader took over, and the later event of its
// request must still wait for it when the window's first bound has passed.
func TestDisruptionKeepsTheWindowOpen(t *testing.T) {
	f := newGapFixture(t)
	c := f.consumer()
	f.loseFirstOfTwo(c) // a window opens
	f.secondWaits(c, "the second review overtook the first, which was lost")

	// The window's bound is reached just as JetStream reports a new
	// consumer leader.
	c.guard.mu.Lock()
	c.guard.until = time.Now()
	c.guard.mu.Unlock()
	c.consumeError(jetstream.ErrConsumerLeadershipChanged)
	held := f.heldBack(c)
	f.poll("three more polls of the drainer", func() bool { return f.heldBack(c) >= held+3 })
	if h := f.handledIDs(); len(h) != 1 {
		t.Fatalf("handled %v: the window closed at its first bound despite the leader change", h)
	}
	f.redeliverInOrder(c)
}

// A replica asked to stop while an event waits for a retry hands it back;
// a later event of the same request that reaches it after that — the
// subject's drainer ended with the hand-back, the consume path is still
// draining what the server sent — is handed back too, not handled ahead of
// the event it follows (seen as 22 24 23 in the scale test: the later event
// handled by the stopping replica, the earlier one by the next).
func TestStopDuringRetryHandsBackWhatArrivesAfter(t *testing.T) {
	f := newGapFixture(t)
	c := f.consumer()
	f.pin(c)
	f.failing.Store(true)
	f.publish("r1", 1)
	f.publish("r1", 2)
	msgs := f.fetch(c, 2)
	run, stop := context.WithCancel(context.Background())
	f.arriveIn(run, c, msgs[0])
	f.poll("r1's first review failing", func() bool { return f.attempts.Load() > 0 })
	stop()
	f.wg.Wait() // handed back; the subject's drainer ended
	f.arriveIn(run, c, msgs[1])
	f.wg.Wait()
	if h := f.handledIDs(); len(h) != 1 {
		t.Fatalf("handled %v: r1's second review overtook the first, which the stopping replica handed back", h)
	}
	// Both went back to JetStream, which delivers them again in order.
	again := f.fetch(c, 2)
	for i, m := range again {
		meta, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if want := streamSeq(msgs[i]); meta.Sequence.Stream != want || meta.NumDelivered != 2 {
			t.Fatalf("redelivery %d: stream seq %d delivery %d, want seq %d delivery 2", i, meta.Sequence.Stream, meta.NumDelivered, want)
		}
	}
}
