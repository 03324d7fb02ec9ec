package bus

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// orderGuard keeps per-subject order across a takeover of the pin.
//
// When a process gets the pin (its first message, or a new pin id), the
// previous holder may have left messages delivered and unacked; JetStream
// redelivers them after AckWait, while later messages of the same subjects
// may already arrive. From that moment until the consumer's ack floor
// reaches what had been delivered (the window), a message is handled only
// when the stream holds no earlier message of its subject above the ack
// floor that this process has not finished itself. Outside the window —
// the steady state — the guard costs nothing.
//
// The window also ends after 1.5 × AckWait: by then every message the
// previous holder had not acked has been redelivered (its progress acks
// stopped with its pulls), so an earlier message of a subject that has not
// come back was acked. Without that bound one message retrying for hours
// at the ack floor would hold back every subject that had messages after
// it.
type orderGuard struct {
	c         *Consumer
	pollEvery time.Duration

	mu      sync.Mutex
	pinID   string
	active  bool
	end     uint64              // stream sequence delivered when the window opened
	floor   uint64              // the consumer's ack floor, as last read
	floorAt time.Time           // when it was read
	until   time.Time           // when the window ends at the latest
	done    map[uint64]struct{} // sequences finished here within the window
	// lost holds the pin ids this process held and lost: a message
	// delivered under one of them, still on its way or queued here, now
	// belongs to the replica pinned since (lostPins bounds it).
	lost map[string]struct{}
	// handedBack holds the delivery count of each message handed back
	// under a lost pin, by stream sequence: JetStream redelivering one to
	// this process under that pin shows the pin is this process's again.
	handedBack map[uint64]uint64
}

// lostPins bounds the lost pin ids remembered.
const lostPins = 64

func newOrderGuard(c *Consumer) *orderGuard {
	return &orderGuard{c: c, pollEvery: 100 * time.Millisecond, done: map[uint64]struct{}{}, lost: map[string]struct{}{},
		handedBack: map[uint64]uint64{}}
}

// observe is called for every message received; a new pin id opens a
// window.
func (g *orderGuard) observe(ctx context.Context, msg jetstream.Msg) {
	pin := msg.Headers().Get("Nats-Pin-Id")
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.opensPinLocked(msg, pin) {
		return
	}
	g.until = time.Now().Add(g.c.spec.AckWait * 3 / 2)
	info, err := g.consumerInfo(ctx)
	if err != nil {
		// Without the consumer's state, assume the worst: everything up
		// to this message may have been delivered elsewhere.
		g.active, g.end, g.floor, g.floorAt = true, streamSeq(msg), 0, time.Time{}
		g.c.log.Warn().Err(err).Msg("pinned: consumer info unavailable; checking order against the stream until it is")
		return
	}
	g.end, g.floor, g.floorAt = info.Delivered.Stream, info.AckFloor.Stream, time.Now()
	g.active = g.floor < g.end
	clear(g.done)
	g.c.log.Info().Uint64("ack_floor", g.floor).Uint64("delivered", g.end).Bool("takeover_window", g.active).
		Msg("pinned: this replica now receives the consumer's messages")
}

// opensPinLocked reports whether msg, delivered under pin, opens a pin
// here — a new pin id, or a lost one that JetStream gave back (it
// redelivered here, under it, a message this process handed back: a
// consumer leader that kept the pin) — and records it; a straggler of a
// lost pin opens nothing (it is handed back). Whatever this process handed
// back under an earlier pin is then ordered by the window the caller opens.
func (g *orderGuard) opensPinLocked(msg jetstream.Msg, pin string) bool {
	if _, lost := g.lost[pin]; lost {
		meta, err := msg.Metadata()
		if err != nil {
			return false
		}
		if d, ok := g.handedBack[meta.Sequence.Stream]; !ok || meta.NumDelivered <= d {
			return false
		}
		delete(g.lost, pin)
		clear(g.handedBack)
		g.c.log.Info().Uint64("stream_seq", meta.Sequence.Stream).
			Msg("pin given back: JetStream redelivered a message handed back under the lost pin to this replica")
	} else if pin == g.pinID && g.pinID != "" {
		return false
	}
	g.pinID = pin
	g.c.queues.forgetReturned()
	return true
}

// noteHandBack records a message handed back under a lost pin (see
// handedBack).
func (g *orderGuard) noteHandBack(msg jetstream.Msg) {
	pin := msg.Headers().Get("Nats-Pin-Id")
	meta, err := msg.Metadata()
	if pin == "" || err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, lost := g.lost[pin]; !lost {
		return
	}
	if len(g.handedBack) >= 4096 {
		clear(g.handedBack)
	}
	g.handedBack[meta.Sequence.Stream] = meta.NumDelivered
}

// markLost records that the pin this process last received messages
// under now belongs to another replica.
func (g *orderGuard) markLost() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pinID == "" {
		return
	}
	if len(g.lost) >= lostPins {
		clear(g.lost)
	}
	g.lost[g.pinID] = struct{}{}
}

// stale reports whether msg was delivered under a pin this process has
// lost: it must be handed back, not handled, since JetStream now gives it
// to the replica pinned since — handling it here as well would be two
// handlers of one event at once.
func (g *orderGuard) stale(msg jetstream.Msg) bool {
	pin := msg.Headers().Get("Nats-Pin-Id")
	if pin == "" {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_, lost := g.lost[pin]
	return lost
}

// blocked reports whether msg must wait for an earlier message of its
// subject that is not finished yet.
func (g *orderGuard) blocked(ctx context.Context, msg jetstream.Msg) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.active {
		return false
	}
	if time.Since(g.floorAt) >= g.pollEvery {
		if info, err := g.consumerInfo(ctx); err == nil {
			g.floor, g.floorAt = info.AckFloor.Stream, time.Now()
			for s := range g.done {
				if s <= g.floor {
					delete(g.done, s)
				}
			}
		}
	}
	if g.floor >= g.end || time.Now().After(g.until) {
		g.active = false
		clear(g.done)
		g.c.log.Info().Uint64("ack_floor", g.floor).Uint64("delivered_at_takeover", g.end).
			Msg("takeover window closed: every message of the previous holder is finished or was acked")
		return false
	}
	seq := streamSeq(msg)
	for from := g.floor + 1; from < seq; {
		gctx, cancel := context.WithTimeout(ctx, g.c.bus.cfg.APITimeout)
		m, err := g.c.stream.GetMsg(gctx, from, jetstream.WithGetMsgSubject(msg.Subject()))
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return false
		case err != nil:
			return true // look again shortly
		case m.Sequence >= seq:
			return false
		}
		if _, ok := g.done[m.Sequence]; !ok {
			return true
		}
		from = m.Sequence + 1
	}
	return false
}

// handled records that seq is finished here (acked or dead-lettered).
func (g *orderGuard) handled(seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active && seq > g.floor {
		g.done[seq] = struct{}{}
	}
}

// pin returns the pin id this process last received messages under.
func (g *orderGuard) pin() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pinID
}

func (g *orderGuard) consumerInfo(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, g.c.bus.cfg.APITimeout)
	defer cancel()
	return g.c.cons.Info(ctx)
}
