package bus

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// fakeMsg is a received message with its metadata, enough for the queue
// and for a drainer that acks or naks it.
type fakeMsg struct {
	jetstream.Msg
	subject string
	seq     uint64
	data    string
	pin     string // Nats-Pin-Id
	deliv   uint64 // delivery count (1 when 0)
	acks    *atomic.Int32
	naks    *atomic.Int32
}

func (m fakeMsg) Subject() string { return m.subject }
func (m fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, NumDelivered: max(m.deliv, 1), Timestamp: time.Now()}, nil
}
func (m fakeMsg) Headers() nats.Header {
	if m.pin == "" {
		return nil
	}
	return nats.Header{"Nats-Pin-Id": {m.pin}}
}
func (m fakeMsg) Data() []byte { return []byte(m.data) }
func (m fakeMsg) Ack() error   { m.acks.Add(1); return nil }
func (m fakeMsg) Nak() error   { m.naks.Add(1); return nil }

// A subject has one drainer at a time: a message pushed after the drainer
// popped the last one, but before it looked at the queue again, must not
// start a second drainer (two handlers of one request at once).
func TestSubjectQueueHasOneDrainer(t *testing.T) {
	q := newSubjectQueues()
	m1, m2, m3 := fakeMsg{subject: "s", seq: 1}, fakeMsg{subject: "s", seq: 2}, fakeMsg{subject: "s", seq: 3}
	if _, first := q.push(m1); !first {
		t.Fatal("the first message must start a drainer")
	}
	if h := q.head("s"); h != m1 {
		t.Fatalf("head %v, want m1", h)
	}
	q.pop("s", m1) // the drainer finished m1 ...
	if _, first := q.push(m2); first {
		t.Fatal("m2 arrived while the drainer still runs: it must not start another")
	}
	if h := q.head("s"); h != m2 { // ... and finds m2
		t.Fatalf("head %v, want m2", h)
	}
	q.pop("s", m2)
	if h := q.head("s"); h != nil {
		t.Fatalf("head %v, want none: the drainer ends", h)
	}
	if _, first := q.push(m3); !first {
		t.Fatal("after the drainer ended, a message must start a new one")
	}
	// A redelivery of a queued message replaces it and starts nothing; an
	// earlier message goes first.
	if _, first := q.push(fakeMsg{subject: "s", seq: 3}); first {
		t.Fatal("a redelivery started a drainer")
	}
	m0 := fakeMsg{subject: "s", seq: 0}
	q.push(m0)
	if h := q.head("s"); h != m0 {
		t.Fatalf("head %v, want the earlier message", h)
	}
}

// Handing a subject back ends its drainer: what comes back later starts a
// new one.
func TestTakeAllEndsTheDrainer(t *testing.T) {
	q := newSubjectQueues()
	m1, m2 := fakeMsg{subject: "s", seq: 1}, fakeMsg{subject: "s", seq: 2}
	q.push(m1)
	q.push(m2)
	if got := q.takeAll("s", ""); len(got) != 2 || got[0] != m1 || got[1] != m2 {
		t.Fatalf("takeAll = %v, want m1 m2 in order", got)
	}
	if _, first := q.push(m1); !first {
		t.Fatal("a redelivery after the hand-back must start a new drainer")
	}
}

// A subject handed back while the consumer stops (its head was waiting for
// a retry) stays handed back: a later message of it that arrives
// afterwards — it was already on its way from the server — is handed back
// too, never handled before the earlier one the next holder now has. Only
// a new pin (a takeover window, which orders against the stream) ends it.
func TestHandedBackSubjectIsNotOvertaken(t *testing.T) {
	data := encodedEvent(t)
	var handled []uint64
	c := drainOnly(func(d Delivery) { handled = append(handled, d.Seq) })
	var acks, naks atomic.Int32
	msg := func(seq uint64) fakeMsg {
		return fakeMsg{subject: "s", seq: seq, data: data, acks: &acks, naks: &naks}
	}
	sem := make(chan struct{}, 1)
	stopping, stop := context.WithCancel(context.Background())
	stop()
	work := context.Background()

	// Message 1 was handed back: the drainer ends with the queue.
	c.queues.push(msg(1))
	c.queues.takeAll("s", "")
	// Message 2 arrives after: it starts a drainer, which must hand it back.
	if _, first := c.queues.push(msg(2)); !first {
		t.Fatal("message 2 must start a drainer")
	}
	c.drainSubject(stopping, work, "s", sem)
	if len(handled) != 0 || naks.Load() != 1 || acks.Load() != 0 {
		t.Fatalf("handled %v with %d naks and %d acks; want nothing handled and message 2 handed back", handled, naks.Load(), acks.Load())
	}

	// A new pin: the subject's messages are handled again.
	c.queues.forgetReturned()
	c.queues.push(msg(1))
	c.drainSubject(context.Background(), work, "s", sem)
	if len(handled) != 1 || handled[0] != 1 || acks.Load() != 1 {
		t.Fatalf("after a new pin handled %v with %d acks, want message 1 handled and acked", handled, acks.Load())
	}
}

// drainOnly is a consumer with enough parts to run drainSubject without
// JetStream: its handler reports each delivery to seen.
func drainOnly(seen func(Delivery)) *Consumer {
	c := &Consumer{
		spec:    ConsumerSpec{Durable: "t", MaxAttempts: 10, RetryWindow: time.Hour}.withDefaults(),
		metrics: NewMetrics(nil),
		log:     zerolog.Nop(),
		queues:  newSubjectQueues(),
		recent:  newRecentSeqs(16),
		lost:    make(chan struct{}),
	}
	c.handler = func(_ context.Context, d Delivery) ([]events.Payload, error) {
		seen(d)
		return nil, nil
	}
	c.guard = newOrderGuard(c)
	return c
}

func encodedEvent(t *testing.T) string {
	t.Helper()
	env, err := events.New("test", time.Now(), events.NewRequestCreated(events.AccessRequest{
		ID: "r1", User: "alice", Roles: []string{"editor"}, State: events.StatePending, Created: time.Now()}))
	if err != nil {
		t.Fatal(err)
	}
	data, err := events.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// lostPin is a drainer of subject "s" that was pinned under pin-1 and has
// just been told by JetStream (423) that another replica is pinned now.
type lostPin struct {
	c          *Consumer
	data       string
	handled    []uint64
	acks, naks atomic.Int32
	sem        chan struct{}
}

func newLostPin(t *testing.T) *lostPin {
	l := &lostPin{data: encodedEvent(t), sem: make(chan struct{}, 1)}
	l.c = drainOnly(func(d Delivery) { l.handled = append(l.handled, d.Seq) })
	l.c.guard.pinID = "pin-1" // pinned: messages arrive under pin-1
	l.c.pinLost()             // JetStream answers 423
	return l
}

// arrive delivers seq (its delivery count deliv) under pin as the consume
// callback does — the order guard sees it, then its subject's drainer —
// and reports whether it opened a pin.
func (l *lostPin) arrive(seq, deliv uint64, pin string) (opened bool) {
	msg := fakeMsg{subject: "s", seq: seq, deliv: deliv, data: l.data, pin: pin, acks: &l.acks, naks: &l.naks}
	l.c.guard.mu.Lock()
	opened = l.c.guard.opensPinLocked(msg, pin)
	l.c.guard.mu.Unlock()
	l.c.queues.push(msg)
	ctx := context.Background()
	l.c.drainSubject(ctx, ctx, "s", l.sem)
	return opened
}

// A message delivered under a pin this process has lost (JetStream
// answered 423: another replica is pinned now) is handed back, not
// handled, even when it had not reached its drainer yet: the replica
// pinned since gets it, and two handlers of one event at once could
// each create a Jira issue. A message under the new pin is handled.
func TestMessageOfALostPinIsHandedBack(t *testing.T) {
	l := newLostPin(t)
	if l.arrive(7, 1, "pin-1") {
		t.Fatal("a straggler of the lost pin opened it again")
	}
	if len(l.handled) != 0 || l.naks.Load() != 1 {
		t.Fatalf("handled %v with %d naks; want the lost pin's message handed back", l.handled, l.naks.Load())
	}
	if !l.arrive(7, 1, "pin-2") { // pinned again, under a new id (the other replica went away)
		t.Fatal("a new pin id did not open a pin")
	}
	if len(l.handled) != 1 || l.acks.Load() != 1 {
		t.Fatalf("handled %v with %d acks; want the new pin's message handled", l.handled, l.acks.Load())
	}
}

// A pin reported lost that JetStream then gives back (a new consumer
// leader that kept it: the message handed back is redelivered here, under
// the same pin id) is this process's again: the message is handled, not
// handed back for ever.
func TestLostPinGivenBackIsTakenUpAgain(t *testing.T) {
	l := newLostPin(t)
	if l.arrive(7, 1, "pin-1") {
		t.Fatal("a straggler of the lost pin opened it again")
	}
	if len(l.handled) != 0 || l.naks.Load() != 1 {
		t.Fatalf("handled %v with %d naks; want the lost pin's message handed back", l.handled, l.naks.Load())
	}
	if !l.arrive(7, 2, "pin-1") {
		t.Fatal("the redelivery under the lost pin did not give the pin back")
	}
	if len(l.handled) != 1 || l.acks.Load() != 1 || l.naks.Load() != 1 {
		t.Fatalf("handled %v, %d acks, %d naks; want the redelivered message handled", l.handled, l.acks.Load(), l.naks.Load())
	}
}

// A subject handed back for a lost pin after the new pin's first message
// arrived (the lost pin's message was still at the head of the queue) is
// not handed back under the new pin: JetStream's redeliveries under the new
// pin are handled, in order. Before, the hand-back held the subject until
// the next pin, and every redelivery was handed back again until JetStream
// gave up on the messages.
func TestHandBackForALostPinSparesTheNewPin(t *testing.T) {
	l := newLostPin(t)
	l.c.queues.push(fakeMsg{subject: "s", seq: 1, data: l.data, pin: "pin-1", acks: &l.acks, naks: &l.naks})
	if !l.arrive(2, 1, "pin-2") {
		t.Fatal("the new pin's first message did not open it")
	}
	if len(l.handled) != 0 || l.naks.Load() != 2 {
		t.Fatalf("handled %v with %d naks; want the subject handed back behind the lost pin's message", l.handled, l.naks.Load())
	}
	l.arrive(1, 2, "pin-2")
	l.arrive(2, 2, "pin-2")
	if !slices.Equal(l.handled, []uint64{1, 2}) || l.naks.Load() != 2 {
		t.Fatalf("handled %v with %d naks; want the redeliveries under the new pin handled in order", l.handled, l.naks.Load())
	}
}
