package bus

import (
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// subjectQueues holds the messages a process has received and not yet
// finished, one queue per subject, each in stream order. A subject has a
// queue exactly while one drainer goroutine works on it: push starts the
// drainer with the first message, head ends it under the same lock when
// the queue is empty, so a subject never has two.
//
// A subject handed back to JetStream (takeAll) stays handed back for the
// pin its messages were delivered under: a later message of it delivered
// under that pin, already on its way here, must not be handled before the
// earlier one it follows, which the next holder now has. A message under
// another pin — the pin this process got since, whose window checks order
// against the stream — is not held by it; a new pin ends every hand-back.
type subjectQueues struct {
	mu       sync.Mutex
	q        map[string][]queued
	returned map[string]string // subject → pin id it was handed back under
}

type queued struct {
	seq uint64
	msg jetstream.Msg
}

func newSubjectQueues() *subjectQueues {
	return &subjectQueues{q: map[string][]queued{}, returned: map[string]string{}}
}

// push queues msg under its subject by stream sequence and reports whether
// the subject had no drainer (the caller then starts one). A
// redelivery of a queued message replaces it: its ack must answer the
// newest delivery. A redelivered earlier message goes before later ones,
// so it is handled first.
func (s *subjectQueues) push(msg jetstream.Msg) (subject string, first bool) {
	subject, seq := msg.Subject(), streamSeq(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	q, draining := s.q[subject]
	i, found := slices.BinarySearchFunc(q, seq, func(e queued, seq uint64) int {
		switch {
		case e.seq < seq:
			return -1
		case e.seq > seq:
			return 1
		}
		return 0
	})
	switch {
	case found:
		q[i].msg = msg
	default:
		q = slices.Insert(q, i, queued{seq, msg})
	}
	s.q[subject] = q
	return subject, !draining
}

// head returns the first message of subject's queue, nil when it is empty:
// the queue is then removed and the drainer must end; a later push starts
// a new one.
func (s *subjectQueues) head(subject string) jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.q[subject]
	if len(q) == 0 {
		delete(s.q, subject)
		return nil
	}
	return q[0].msg
}

// pop removes the message with msg's stream sequence, which the drainer
// has finished (in whichever delivery), from subject's queue.
func (s *subjectQueues) pop(subject string, msg jetstream.Msg) {
	seq := streamSeq(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.q[subject]
	for i, e := range q {
		if e.seq == seq {
			s.q[subject] = slices.Delete(q, i, i+1)
			return
		}
	}
}

// takeAll removes subject's queue and returns its messages to be handed
// back: the drainer ends, a later push starts a new one, and the subject
// is returned for pin (the pin the hand-back is for) until forgetReturned.
func (s *subjectQueues) takeAll(subject, pin string) []jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []jetstream.Msg
	for _, e := range s.q[subject] {
		out = append(out, e.msg)
	}
	delete(s.q, subject)
	s.returned[subject] = pin
	return out
}

// isReturned reports whether subject was handed back for pin: its messages
// delivered under pin must be handed back too, not handled.
func (s *subjectQueues) isReturned(subject, pin string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.returned[subject]
	return ok && p == pin
}

// forgetReturned ends every hand-back; called when a new pin opens a
// takeover window.
func (s *subjectQueues) forgetReturned() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.returned)
}

// all returns every queued message.
func (s *subjectQueues) all() []jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []jetstream.Msg
	for _, q := range s.q {
		for _, e := range q {
			out = append(out, e.msg)
		}
	}
	return out
}

func streamSeq(msg jetstream.Msg) uint64 {
	if meta, err := msg.Metadata(); err == nil {
		return meta.Sequence.Stream
	}
	return 0
}

// recentSeqs remembers the stream sequences this process finished lately.
// A message is redelivered after it was acked when the ack is lost — a
// plain ack is not confirmed, and a consumer leader that dies before it
// replicated an ack forgets it — and the redelivery can come after later
// messages of its subject. A sequence found here is acked again without
// calling the handler.
type recentSeqs struct {
	mu   sync.Mutex
	set  map[uint64]struct{}
	ring []uint64
	next int
}

func newRecentSeqs(n int) *recentSeqs {
	return &recentSeqs{set: make(map[uint64]struct{}, n), ring: make([]uint64, n)}
}

func (r *recentSeqs) add(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[seq]; ok {
		return
	}
	if old := r.ring[r.next]; old != 0 {
		delete(r.set, old)
	}
	r.ring[r.next] = seq
	r.next = (r.next + 1) % len(r.ring)
	r.set[seq] = struct{}{}
}

func (r *recentSeqs) has(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[seq]
	return ok
}
