package bus_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/rs/zerolog"
)

// ledger records, per subject, the review numbers in the order a handler
// saw them, and catches two handlers of one subject at once.
type ledger struct {
	mu       sync.Mutex
	seen     map[string][]int
	inFlight map[string]int
	overlaps int
	calls    map[string]int // event id → handler calls
	// trace holds, per subject, every handler call: which handler (in the
	// order they were made, one per replica), the event, its stream
	// sequence, delivery and attempt — printed when the order is wrong.
	trace    map[string][]string
	handlers int
}

func newLedger() *ledger {
	return &ledger{seen: map[string][]int{}, inFlight: map[string]int{}, calls: map[string]int{}, trace: map[string][]string{}}
}

// handler returns a handler for one replica; alive reports whether the
// replica still runs (a killed replica's handlers record nothing and hang
// until released is closed).
func (l *ledger) handler(alive func() bool, failEvery int, released <-chan struct{}) func(context.Context, bus.Delivery) error {
	l.mu.Lock()
	l.handlers++
	name := fmt.Sprintf("h%d", l.handlers)
	l.mu.Unlock()
	return func(_ context.Context, d bus.Delivery) error {
		ev := d.Event.Payload.(*events.RequestEvent)
		id := ev.Request.ID
		start := time.Now()
		l.mu.Lock()
		l.inFlight[id]++
		if l.inFlight[id] > 1 {
			l.overlaps++
		}
		l.mu.Unlock()
		leave := func() { l.mu.Lock(); l.inFlight[id]--; l.mu.Unlock() }
		time.Sleep(time.Duration(rand.IntN(2)) * time.Millisecond) // a Jira call
		if !alive() {
			leave()    // a killed process's handlers are gone...
			<-released // ...and never finish
			return errors.New("killed")
		}
		defer leave()
		note := func(outcome string) {
			l.trace[id] = append(l.trace[id], fmt.Sprintf("%s %s #%d seq %d delivery %d attempt %d %s",
				start.Format("15:04:05.000"), name, ev.Review, d.Seq, d.Delivered, d.Attempt, outcome))
		}
		if failEvery > 0 && rand.IntN(failEvery) == 0 {
			l.mu.Lock()
			note("failed")
			l.mu.Unlock()
			return errors.New("injected transient failure")
		}
		l.mu.Lock()
		note("handled")
		l.seen[id] = append(l.seen[id], ev.Review)
		l.calls[d.Event.ID]++
		l.mu.Unlock()
		return nil
	}
}

func (l *ledger) complete(subjects, perSubject int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < subjects; i++ {
		s := l.seen[fmt.Sprintf("r%d", i)]
		if len(s) == 0 || s[len(s)-1] != perSubject {
			return false
		}
	}
	return true
}

// check asserts per-subject order: the review numbers a subject's handler
// saw never go back, and each of 1..perSubject was seen. With exactlyOnce,
// none was seen twice.
func (l *ledger) check(t *testing.T, subjects, perSubject int, exactlyOnce bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.overlaps != 0 {
		t.Fatalf("two events of one subject were handled at once, %d times", l.overlaps)
	}
	for i := 0; i < subjects; i++ {
		id := fmt.Sprintf("r%d", i)
		s := l.seen[id]
		want := 1
		for j, n := range s {
			switch {
			case n == want:
				want++
			case j > 0 && n == s[j-1] && !exactlyOnce:
				// the event in flight when its holder died, handled again
			default:
				t.Fatalf("%s handled in order %v, want 1..%d in order; its handler calls:\n%s", id, s, perSubject, strings.Join(l.trace[id], "\n"))
			}
		}
		if want != perSubject+1 {
			t.Fatalf("%s handled %v, want 1..%d", id, s, perSubject)
		}
	}
}

// replicaLogs returns a logger per replica, all into one buffer that is
// printed when the test fails.
func replicaLogs(t *testing.T) func(replica string) zerolog.Logger {
	t.Helper()
	var logs bustest.LogBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	return func(replica string) zerolog.Logger {
		return zerolog.New(&logs).With().Timestamp().Str("replica", replica).Logger().Level(zerolog.DebugLevel)
	}
}

func publishLoad(t *testing.T, b *bus.Bus, subjects, from, to int) {
	t.Helper()
	for n := from; n <= to; n++ {
		for i := 0; i < subjects; i++ {
			publish(t, b, reviewed(fmt.Sprintf("r%d", i), n))
		}
	}
}

// TestScaleOneThreeOneKeepsOrderAndExactlyOnce grows a consumer from one
// replica to three and back to one (a different one) during a load, with
// transient failures. Each handover is graceful, so no event may be
// repeated, lost or reordered.
func TestScaleOneThreeOneKeepsOrderAndExactlyOnce(t *testing.T) {
	srv, b := setup(t)
	const subjects, perSubject = 20, 30
	l := newLedger()
	s := spec("scaled")
	s.MaxAttempts = 100
	s.RetryMin, s.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	s.PinnedTTL = 2 * time.Second
	alive := func() bool { return true }

	stop1 := run(t, b, s, l.handler(alive, 10, nil))
	publishLoad(t, b, subjects, 1, 10)
	stop2 := run(t, srv.Connect(t, "replica-2"), s, l.handler(alive, 10, nil))
	run(t, srv.Connect(t, "replica-3"), s, l.handler(alive, 10, nil))
	publishLoad(t, b, subjects, 11, 20)
	stop1() // the pinned replica leaves: another takes over
	publishLoad(t, b, subjects, 21, 25)
	stop2()
	publishLoad(t, b, subjects, 26, perSubject)
	eventually(t, 60*time.Second, "every event handled", func() bool { return l.complete(subjects, perSubject) })
	l.check(t, subjects, perSubject, true)
	for id, n := range l.calls {
		if n != 1 {
			t.Fatalf("%s handled %d times after graceful handovers", id, n)
		}
	}
}

// TestKilledPinnedReplicaIsTakenOver kills the pinned replica abruptly (its
// connection drops, its handlers never return) in the middle of a load. The
// standby takes the pin after PinnedTTL and the killed replica's unacked
// messages after AckWait, and every subject is still handled in order:
// only the events in flight at the kill are handled again.
func TestKilledPinnedReplicaIsTakenOver(t *testing.T) {
	srv, b := setup(t)
	const subjects, perSubject = 20, 20
	l := newLedger()
	s := spec("killed")
	s.PinnedTTL, s.AckWait = time.Second, 2*time.Second
	s.DrainTimeout = 100 * time.Millisecond

	var dead atomic.Bool
	released := make(chan struct{})
	logger := replicaLogs(t)
	first := srv.ConnectLogged(t, "replica-1", logger("replica-1"))
	run(t, first, s, l.handler(func() bool { return !dead.Load() }, 0, released))
	t.Cleanup(func() { close(released) }) // before the replica's stop
	publishLoad(t, b, subjects, 1, 5)
	eventually(t, 10*time.Second, "the first replica to handle events", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.calls) > 0
	})
	run(t, srv.ConnectLogged(t, "replica-2", logger("replica-2")), s, l.handler(func() bool { return true }, 0, nil))
	publishLoad(t, b, subjects, 6, 10)
	dead.Store(true)
	first.NC.Close() // kill -9: no ack, no unpin, no drain
	killedAt := time.Now()
	publishLoad(t, b, subjects, 11, perSubject)
	eventually(t, 30*time.Second, "every event handled", func() bool { return l.complete(subjects, perSubject) })
	t.Logf("the standby finished the load %s after the kill", time.Since(killedAt).Round(10*time.Millisecond))
	l.check(t, subjects, perSubject, false)
}

// TestTakeoverIsNotHeldBackByARetryingMessage: a message that keeps
// failing sits at the consumer's ack floor; the replica holding it is
// killed. After the takeover, later events of other requests — whose
// earlier events the killed replica had acked above that floor — are
// handled within the takeover window's bound, not when the failing message
// finally succeeds.
func TestTakeoverIsNotHeldBackByARetryingMessage(t *testing.T) {
	srv, b := setup(t)
	s := spec("stuck")
	s.PinnedTTL, s.AckWait = time.Second, 2*time.Second
	s.MaxAttempts = 1000
	s.RetryMin, s.RetryMax = 50*time.Millisecond, 100*time.Millisecond
	s.DrainTimeout = 100 * time.Millisecond

	var mu sync.Mutex
	handled := map[string]int{}
	var dead atomic.Bool
	released := make(chan struct{})
	handler := func(replica int) func(context.Context, bus.Delivery) error {
		return func(_ context.Context, d bus.Delivery) error {
			ev := d.Event.Payload.(*events.RequestEvent)
			if replica == 1 && dead.Load() {
				<-released
				return errors.New("killed")
			}
			if ev.Request.ID == "stuck" {
				return errors.New("jira keeps failing for this project")
			}
			mu.Lock()
			handled[d.Event.ID]++
			mu.Unlock()
			return nil
		}
	}
	first := srv.Connect(t, "replica-1")
	run(t, first, s, handler(1))
	t.Cleanup(func() { close(released) })
	publish(t, b, reviewed("stuck", 1))
	for i := 1; i <= 3; i++ {
		publish(t, b, reviewed("other", i))
	}
	eventually(t, 10*time.Second, "the other request's events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled["other:review:3"] == 1
	})
	run(t, srv.Connect(t, "replica-2"), s, handler(2))
	dead.Store(true)
	first.NC.Close()
	killed := time.Now()
	publish(t, b, reviewed("other", 4))
	eventually(t, 20*time.Second, "the next event of the other request after the takeover", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled["other:review:4"] == 1
	})
	took := time.Since(killed)
	t.Logf("handled %s after the kill, while the stuck message still retries", took.Round(10*time.Millisecond))
	// The window's bound: AckWait, and 10 s for a consumer leader election.
	if limit := s.PinnedTTL + s.AckWait + 10*time.Second + 3*time.Second; took > limit {
		t.Fatalf("took %s, over the takeover bound %s", took, limit)
	}
}

// TestLostPinHandsBackARetryingMessage: the pin moves while the holder
// retries an event (here an operator unpins the consumer; on a cluster a
// new consumer leader pins anew). The old holder hands the event back at
// once instead of retrying it on its own while the new holder goes on with
// the request's later events: the request's events stay in order. The
// event comes back as a second delivery to whichever replica JetStream
// pins next — usually the one that waited, but the old holder when its
// pull reaches the server first.
func TestLostPinHandsBackARetryingMessage(t *testing.T) {
	srv, b := setup(t)
	s := spec("unpinned")
	s.PinnedTTL, s.AckWait = time.Second, 5*time.Second
	s.MaxAttempts = 1000
	s.RetryMin, s.RetryMax = 200*time.Millisecond, 200*time.Millisecond
	var (
		mu          sync.Mutex
		order       []int
		failing     atomic.Bool
		attempts    [2]atomic.Int32
		redelivered atomic.Bool
	)
	failing.Store(true)
	handler := func(replica int) func(context.Context, bus.Delivery) error {
		return func(_ context.Context, d bus.Delivery) error {
			ev := d.Event.Payload.(*events.RequestEvent)
			if ev.Review == 1 && failing.Load() {
				attempts[replica].Add(1)
				if d.Delivered > 1 {
					redelivered.Store(true)
				}
				return errors.New("jira answered 503")
			}
			mu.Lock()
			order = append(order, ev.Review)
			mu.Unlock()
			return nil
		}
	}
	logger := replicaLogs(t)
	run(t, srv.ConnectLogged(t, "replica-1", logger("replica-1")), s, handler(0))
	publish(t, b, reviewed("r1", 1))
	eventually(t, 10*time.Second, "the first replica retrying", func() bool { return attempts[0].Load() >= 2 })
	run(t, srv.ConnectLogged(t, "replica-2", logger("replica-2")), s, handler(1))
	st, err := b.JS.Stream(context.Background(), events.StreamTeleport)
	if err != nil {
		t.Fatal(err)
	}
	// The operator releases the pin; JetStream tells the old holder so when
	// it next delivers a message — the request's next event — and pins the
	// waiting replica.
	if err := st.UnpinConsumer(context.Background(), s.Durable, bus.PriorityGroup); err != nil {
		t.Fatal(err)
	}
	publish(t, b, reviewed("r1", 2))
	eventually(t, 20*time.Second, "the retrying event handed back and delivered again", redelivered.Load)
	failing.Store(false)
	eventually(t, 20*time.Second, "both events handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if order[0] != 1 || order[1] != 2 {
		t.Fatalf("handled in order %v, want [1 2]", order)
	}
}
