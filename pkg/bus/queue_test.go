package bus

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeMsg is a received message with its metadata, enough for the queue.
type fakeMsg struct {
	jetstream.Msg
	subject string
	seq     uint64
}

func (m fakeMsg) Subject() string { return m.subject }
func (m fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, Timestamp: time.Now()}, nil
}
func (m fakeMsg) Headers() nats.Header { return nil }

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
	if got := q.takeAll("s"); len(got) != 2 || got[0] != m1 || got[1] != m2 {
		t.Fatalf("takeAll = %v, want m1 m2 in order", got)
	}
	if _, first := q.push(m1); !first {
		t.Fatal("a redelivery after the hand-back must start a new drainer")
	}
}
