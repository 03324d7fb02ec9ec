package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func request(id string, n int) events.AccessRequest {
	r := events.AccessRequest{ID: id, User: "alice", Roles: []string{"editor"}, State: events.StatePending,
		Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := 0; i < n; i++ {
		r.Reviews = append(r.Reviews, events.Review{Author: "bob" + strconv.Itoa(i), State: events.StateApproved, Created: r.Created})
	}
	return r
}

// reviewed returns the n-th review event of request id (n >= 1); each has its
// own dedup id, so a sequence of them is a sequence of distinct events.
func reviewed(id string, n int) events.Payload { return events.NewRequestReviewed(request(id, n), n) }

func publish(t *testing.T, b *bus.Bus, p events.Payload) *jetstream.PubAck {
	t.Helper()
	ack, err := b.PublishEvent(context.Background(), "test", p)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return ack
}

func setup(t *testing.T) (*bustest.Server, *bus.Bus) {
	t.Helper()
	srv := bustest.Start(t)
	b := srv.Connect(t, "test")
	if _, err := b.EnsureStream(context.Background(), events.TeleportStream()); err != nil {
		t.Fatal(err)
	}
	return srv, b
}

func spec(name string) bus.ConsumerSpec {
	return bus.ConsumerSpec{Stream: events.StreamTeleport, Durable: name, FilterSubjects: []string{"teleport.requests.>"},
		AckWait: 5 * time.Second, MaxAttempts: 4, Concurrency: 16, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
}

// run starts a consumer loop and returns a function that stops it and waits.
func run(t *testing.T, b *bus.Bus, s bus.ConsumerSpec, h func(context.Context, bus.Delivery) error) (stop func()) {
	t.Helper()
	c, err := b.NewConsumer(context.Background(), s, bus.Func(h), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func streamMsgs(t *testing.T, b *bus.Bus, stream string) uint64 {
	t.Helper()
	s, err := b.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestPublishDedupsByEventID(t *testing.T) {
	_, b := setup(t)
	p := events.NewRequestCreated(request("r1", 0))
	first := publish(t, b, p)
	second := publish(t, b, p)
	if first.Duplicate || !second.Duplicate || first.Sequence != second.Sequence {
		t.Fatalf("first %+v second %+v: want the second flagged duplicate of the first", first, second)
	}
	publish(t, b, events.NewRequestExpired(request("r1", 0)))
	if n := streamMsgs(t, b, events.StreamTeleport); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
}

func TestTransientErrorIsRetriedAfterDelay(t *testing.T) {
	_, b := setup(t)
	s := spec("transient")
	s.RetryMin, s.RetryMax = 400*time.Millisecond, 400*time.Millisecond
	var mu sync.Mutex
	var calls []time.Time
	var delivered []uint64
	run(t, b, s, func(_ context.Context, d bus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		delivered = append(delivered, uint64(d.Attempt))
		if len(calls) == 1 {
			return bus.Transient(errors.New("jira answered 503"))
		}
		return nil
	})
	publish(t, b, events.NewRequestCreated(request("r1", 0)))
	eventually(t, 10*time.Second, "a second attempt", func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) >= 2 })
	mu.Lock()
	defer mu.Unlock()
	if gap := calls[1].Sub(calls[0]); gap < 190*time.Millisecond {
		t.Fatalf("retried after %s; the back-off (200–400ms with jitter) was not applied", gap)
	}
	if delivered[0] != 1 || delivered[1] != 2 {
		t.Fatalf("attempts %v, want [1 2]", delivered)
	}
}

func deadLetters(t *testing.T, b *bus.Bus, consumer string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := b.JS.Stream(context.Background(), events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(context.Background(), seq, jetstream.WithGetMsgSubject(events.DeadLetterSubject(events.StreamTeleport, consumer)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence
	}
}

func consumerInfo(t *testing.T, b *bus.Bus, name string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := b.JS.Consumer(context.Background(), events.StreamTeleport, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestPermanentErrorIsDeadLetteredOnce(t *testing.T) {
	_, b := setup(t)
	var calls atomic.Int32
	run(t, b, spec("permanent"), func(_ context.Context, d bus.Delivery) error {
		calls.Add(1)
		return bus.Permanent(errors.New(`jira 400: {"errors":{"customfield_10050":"Field cannot be set"}}`))
	})
	ack := publish(t, b, events.NewRequestCreated(request("r1", 0)))
	eventually(t, 10*time.Second, "a dead letter", func() bool { return len(deadLetters(t, b, "permanent")) == 1 })
	dl := deadLetters(t, b, "permanent")[0]
	if got := dl.Header.Get(bus.HeaderDLQError); got != `jira 400: {"errors":{"customfield_10050":"Field cannot be set"}}` {
		t.Errorf("dead letter error header %q", got)
	}
	if dl.Header.Get(bus.HeaderDLQSubject) != "teleport.requests.r1" || dl.Header.Get(bus.HeaderDLQSequence) != strconv.FormatUint(ack.Sequence, 10) {
		t.Errorf("dead letter headers %v", dl.Header)
	}
	if ev, err := events.Decode(dl.Data); err != nil || ev.ID != "r1:created" {
		t.Errorf("dead letter body is not the original event: %v", err)
	}
	// Terminated: nothing pending, nothing redelivered.
	eventually(t, 5*time.Second, "the message to be terminated", func() bool {
		info := consumerInfo(t, b, "permanent")
		return info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream == ack.Sequence
	})
	if info := consumerInfo(t, b, "permanent"); info.NumRedelivered != 0 || calls.Load() != 1 {
		t.Fatalf("handler called %d times, %d redelivered; want 1 and 0", calls.Load(), info.NumRedelivered)
	}
}

func TestRepeatedTransientErrorsEndInDeadLetter(t *testing.T) {
	_, b := setup(t)
	s := spec("exhausted")
	s.RetryWindow = 1500 * time.Millisecond
	var calls atomic.Int32
	run(t, b, s, func(context.Context, bus.Delivery) error {
		calls.Add(1)
		return errors.New("timeout talking to jira")
	})
	ack := publish(t, b, events.NewRequestCreated(request("r1", 0)))
	eventually(t, 15*time.Second, "a dead letter after the retry window", func() bool { return len(deadLetters(t, b, "exhausted")) == 1 })
	dl := deadLetters(t, b, "exhausted")[0]
	st, err := b.JS.Stream(context.Background(), events.StreamTeleport)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := st.GetMsg(context.Background(), ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	// MaxAttempts (4) alone would have dead-lettered it after ~200ms.
	if after := dl.Time.Sub(orig.Time); after < s.RetryWindow {
		t.Fatalf("dead-lettered %s after the publish, before the %s retry window", after, s.RetryWindow)
	}
	n := calls.Load()
	if n <= int32(s.MaxAttempts) {
		t.Fatalf("handler called %d times; the window should have allowed more than MaxAttempts=%d", n, s.MaxAttempts)
	}
	if got := dl.Header.Get(bus.HeaderDLQDelivery); got != "1" {
		t.Fatalf("delivery header %q, want 1: retries happen in process, not by redelivery", got)
	}
	if e := dl.Header.Get(bus.HeaderDLQError); !strings.Contains(e, "timeout talking to jira") || !strings.Contains(e, fmt.Sprintf("after %d attempts", n)) {
		t.Fatalf("Dlq-Error %q does not name the attempts and the last error", e)
	}
}

// An outage that outlasts MaxAttempts but not the retry window costs
// attempts, not events: the failing event and the one queued behind it on
// the same subject are both handled, in order, once it ends.
func TestTransientOutageWithinWindowLosesNothing(t *testing.T) {
	_, b := setup(t)
	s := spec("outage")
	s.MaxAttempts = 2
	s.RetryMin, s.RetryMax = 10*time.Millisecond, 40*time.Millisecond
	var mu sync.Mutex
	var handled []int
	failures := 0
	run(t, b, s, func(_ context.Context, d bus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		ev := d.Event.Payload.(*events.RequestEvent)
		if ev.Review == 1 && failures < 4*s.MaxAttempts {
			failures++
			return bus.Transient(errors.New("jira answered 503"))
		}
		handled = append(handled, ev.Review)
		return nil
	})
	publish(t, b, reviewed("r1", 1))
	publish(t, b, reviewed("r1", 2))
	eventually(t, 15*time.Second, "both events handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(handled, []int{1, 2}) || failures != 4*s.MaxAttempts {
		t.Fatalf("handled %v after %d failures, want [1 2] after %d", handled, failures, 4*s.MaxAttempts)
	}
	if dl := deadLetters(t, b, "outage"); len(dl) != 0 {
		t.Fatalf("%d dead letters for a transient outage within the retry window: %s", len(dl), dl[0].Header.Get(bus.HeaderDLQError))
	}
}

func TestUndecodableMessageIsDeadLettered(t *testing.T) {
	_, b := setup(t)
	var calls atomic.Int32
	run(t, b, spec("garbage"), func(context.Context, bus.Delivery) error { calls.Add(1); return nil })
	if _, err := b.JS.Publish(context.Background(), "teleport.requests.r9", []byte(`{"specversion":"1.0","id":"r9:created","source":"x","type":"request.created.v7","subject":"teleport.requests.r9","time":"2026-01-01T00:00:00Z","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a dead letter", func() bool { return len(deadLetters(t, b, "garbage")) == 1 })
	if msg := deadLetters(t, b, "garbage")[0].Header.Get(bus.HeaderDLQError); !strings.Contains(msg, "undecodable") || !strings.Contains(msg, "v1") {
		t.Fatalf("reason %q does not say what is wrong", msg)
	}
	if calls.Load() != 0 {
		t.Fatal("the handler saw an undecodable event")
	}
}

func TestRestartedConsumerResumesWithoutLoss(t *testing.T) {
	srv, b := setup(t)
	var mu sync.Mutex
	seen := map[string]int{}
	h := func(_ context.Context, d bus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		seen[d.Event.ID]++
		return nil
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	stop := run(t, b, spec("resume"), h)
	for i := 0; i < 20; i++ {
		publish(t, b, events.NewRequestCreated(request(fmt.Sprintf("a%d", i), 0)))
	}
	eventually(t, 10*time.Second, "the first batch", func() bool { return count() == 20 })
	stop()

	// While the consumer is down, more events arrive and NATS restarts.
	for i := 0; i < 20; i++ {
		publish(t, b, events.NewRequestCreated(request(fmt.Sprintf("b%d", i), 0)))
	}
	srv.Restart()
	b2 := srv.Connect(t, "test-after-restart")
	run(t, b2, spec("resume"), h)
	for i := 0; i < 20; i++ {
		publish(t, b2, events.NewRequestCreated(request(fmt.Sprintf("c%d", i), 0)))
	}
	eventually(t, 20*time.Second, "all 60 events", func() bool { return count() == 60 })
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
}

func TestConsumerSurvivesNATSRestart(t *testing.T) {
	srv, b := setup(t)
	var handled atomic.Int32
	run(t, b, spec("survivor"), func(context.Context, bus.Delivery) error { handled.Add(1); return nil })
	publish(t, b, events.NewRequestCreated(request("x1", 0)))
	eventually(t, 10*time.Second, "the first event", func() bool { return handled.Load() == 1 })
	srv.Restart()
	eventually(t, 20*time.Second, "reconnect", func() bool { return b.Connected(context.Background()) == nil })
	var err error
	eventually(t, 20*time.Second, "a publish after restart", func() bool {
		_, err = b.PublishEvent(context.Background(), "test", events.NewRequestCreated(request("x2", 0)))
		return err == nil
	})
	eventually(t, 30*time.Second, "the event published after the restart", func() bool { return handled.Load() == 2 })
}

func TestDeclarationIsIdempotent(t *testing.T) {
	_, b := setup(t)
	ctx := context.Background()
	var handled atomic.Int32
	stop := run(t, b, spec("idem"), func(context.Context, bus.Delivery) error { handled.Add(1); return nil })
	for i := 0; i < 5; i++ {
		publish(t, b, events.NewRequestCreated(request(fmt.Sprintf("i%d", i), 0)))
	}
	eventually(t, 10*time.Second, "5 handled", func() bool { return handled.Load() == 5 })
	stop()
	before := consumerInfo(t, b, "idem")
	for i := 0; i < 2; i++ {
		if _, err := b.EnsureStream(ctx, events.TeleportStream()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.EnsureConsumer(ctx, spec("idem")); err != nil {
			t.Fatal(err)
		}
	}
	after := consumerInfo(t, b, "idem")
	if streamMsgs(t, b, events.StreamTeleport) != 5 {
		t.Fatal("re-declaring the stream lost messages")
	}
	if after.AckFloor.Stream != before.AckFloor.Stream || after.Delivered.Stream != before.Delivered.Stream || after.NumPending != 0 {
		t.Fatalf("re-declaring the consumer changed its state: before %+v after %+v", before.AckFloor, after.AckFloor)
	}
	run(t, b, spec("idem"), func(context.Context, bus.Delivery) error { handled.Add(1); return nil })
	publish(t, b, events.NewRequestCreated(request("i9", 0)))
	eventually(t, 10*time.Second, "the new event only", func() bool { return handled.Load() == 6 })
}

// Declaring a stream or a bucket whose settings already hold sends no
// update to the server: nats-server updating a stream while a consumer of
// it is being created is a data race in the server (seen in CI when two
// replicas started at once). A changed setting is still applied.
func TestEnsureLeavesMatchingSettingsAlone(t *testing.T) {
	srv, b := setup(t)
	ctx := context.Background()
	if _, err := b.EnsureKV(ctx, "test-bucket", "test", time.Hour); err != nil {
		t.Fatal(err)
	}
	updates := make(chan string, 16)
	sub, err := b.NC.Subscribe("$JS.EVENT.ADVISORY.STREAM.UPDATED.>", func(m *nats.Msg) { updates <- m.Subject })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := b.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureStream(ctx, events.TeleportStream()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureKV(ctx, "test-bucket", "test", time.Hour); err != nil {
		t.Fatal(err)
	}
	// A changed setting: the bucket's TTL, then the stream's max age.
	if _, err := b.EnsureKV(ctx, "test-bucket", "test", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config()
	cfg.MaxAge = 2 * time.Hour
	other, err := bus.Connect(ctx, cfg, "other", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.EnsureStream(ctx, events.TeleportStream()); err != nil {
		t.Fatal(err)
	}
	got := receive(t, updates, 2, "update advisories (the two changed settings')")
	// Advisories of one connection arrive in order: the unchanged
	// declarations, had they sent updates, would have come first.
	want := []string{"$JS.EVENT.ADVISORY.STREAM.UPDATED.KV_test-bucket", "$JS.EVENT.ADVISORY.STREAM.UPDATED." + events.StreamTeleport}
	if !slices.Equal(got, want) {
		t.Fatalf("update advisories %v, want only %v", got, want)
	}
}

func TestEnsureConsumerLeavesMatchingSettingsAlone(t *testing.T) {
	_, b := setup(t)
	ctx := context.Background()
	creates := make(chan string, 16)
	// JetStream's API requests are subjects like any other: a subscriber
	// sees each consumer create or update ($JS.API.CONSUMER.CREATE.<stream>.<name>[.<filter>]).
	sub, err := b.NC.Subscribe("$JS.API.CONSUMER.CREATE.>", func(m *nats.Msg) {
		creates <- strings.Split(m.Subject, ".")[5]
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := b.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	one := spec("one-filter")
	two := spec("two-filters")
	two.FilterSubjects = []string{"teleport.requests.a.>", "teleport.requests.b.>"}
	changed := one
	changed.AckWait = 7 * time.Second
	for _, s := range []bus.ConsumerSpec{one, one, two, two, changed} {
		if _, err := b.EnsureConsumer(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, creates, 3, "consumer creates (the two new consumers' and the changed setting's)")
	// Requests of one connection arrive in order: a repeated declaration,
	// had it sent an update, would come before the next one.
	if want := []string{"one-filter", "two-filters", "one-filter"}; !slices.Equal(got, want) {
		t.Fatalf("consumer creates %v, want only %v", got, want)
	}
	c, err := b.JS.Consumer(ctx, events.StreamTeleport, "one-filter")
	if err != nil {
		t.Fatal(err)
	}
	if w := c.CachedInfo().Config.AckWait; w != 7*time.Second {
		t.Fatalf("ack wait %s after the changed declaration, want 7s", w)
	}
}

// receive takes n values from ch, failing with what it got when they take
// longer than 10 s.
func receive(t *testing.T, ch <-chan string, n int, what string) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case s := <-ch:
			got = append(got, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: got %v, want %d", what, got, n)
		}
	}
	return got
}
