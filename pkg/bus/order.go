package bus

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// orderGuard keeps per-subject order across a takeover of the pin and
// across a delivery that never arrived.
//
// When a process gets the pin (its first message, or a new pin id), the
// previous holder may have left messages delivered and unacked; JetStream
// redelivers them after AckWait, while later messages of the same subjects
// may already arrive. The same happens when a delivery to this process is
// lost on its way — the server it was connected to died with it in its
// buffers — which shows as a gap in the consumer sequence. From that moment
// until the consumer's ack floor reaches what had been delivered (the
// window), a message is handled only when the stream holds no earlier
// message of its subject above the ack floor that this process has not
// finished itself. Outside the window — the steady state — the guard costs
// nothing.
//
// The window also ends windowBound after it opened, or after the last
// disruption JetStream reported while it was open (a consumer leader
// change, a server shut down): AckWait, and time for a consumer leader to
// be elected and redeliver. By then every message the previous holder had
// not acked, and every delivery that was lost, has been redelivered (the
// progress acks stopped with the pulls), so an earlier message of a
// subject that has not come back was acked. Without that bound
// one message retrying for hours at the ack floor would hold back every
// subject that had messages after it.
type orderGuard struct {
	c         *Consumer
	pollEvery time.Duration

	mu      sync.Mutex
	pinID   string
	active  bool
	end     uint64    // stream sequence delivered when the window opened
	floor   uint64    // the consumer's ack floor, as last read
	floorAt time.Time // when it was read
	until   time.Time // when the window ends at the latest
	// cseq is the consumer sequence of the last message received under
	// pinID: the next one must follow it, or a delivery was lost.
	cseq uint64
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

// electionTime is what a window allows, beyond AckWait, for a consumer
// leader to be elected and redeliver: NATS's Raft groups elect within 4–9 s
// of losing their leader.
const electionTime = 10 * time.Second

// windowBound is how long a window lasts at most after it opened or after
// the last disruption.
func (g *orderGuard) windowBound() time.Duration {
	return g.c.spec.AckWait + max(g.c.spec.AckWait/2, electionTime)
}

func newOrderGuard(c *Consumer) *orderGuard {
	return &orderGuard{c: c, pollEvery: 100 * time.Millisecond, lost: map[string]struct{}{},
		handedBack: map[uint64]uint64{}}
}

// observe is called for every message received, in the order received; a
// new pin id or a gap in the consumer sequence opens a window.
func (g *orderGuard) observe(ctx context.Context, msg jetstream.Msg) {
	pin := pinOf(msg)
	var cseq uint64
	if meta, err := msg.Metadata(); err == nil {
		cseq = meta.Sequence.Consumer
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.opensPinLocked(msg, pin):
		g.cseq = cseq
		if g.openLocked(ctx, msg) {
			g.c.log.Info().Uint64("ack_floor", g.floor).Uint64("delivered", g.end).Bool("takeover_window", g.active).
				Msg("pinned: this replica now receives the consumer's messages")
		}
	case g.missedLocked(pin, cseq):
		if g.openLocked(ctx, msg) {
			g.c.log.Warn().Uint64("consumer_seq", cseq).Uint64("ack_floor", g.floor).Uint64("delivered", g.end).
				Msg("a delivery to this replica was lost on its way (a gap in the consumer sequence); " +
					"checking order against the stream until it is redelivered")
		}
	}
}

// missedLocked reports whether a message delivered under the current pin
// with consumer sequence cseq skipped one: a delivery lost on its way here,
// whose redelivery after AckWait later messages of its subject must wait
// for. A sequence going back (a consumer leader that lost its last
// deliveries in a failover) counts too: what it delivered again may come
// after later messages of the same subjects.
func (g *orderGuard) missedLocked(pin string, cseq uint64) bool {
	if _, lost := g.lost[pin]; lost || pin != g.pinID || cseq == 0 {
		return false
	}
	last := g.cseq
	g.cseq = cseq
	return last != 0 && cseq != last+1
}

// openLocked opens a window at msg and reports whether the consumer's state
// could be read (it is then logged by the caller).
func (g *orderGuard) openLocked(ctx context.Context, msg jetstream.Msg) bool {
	g.until = time.Now().Add(g.windowBound())
	info, err := g.consumerInfo(ctx)
	if err != nil {
		// Without the consumer's state, assume the worst: everything
		// above the ack floor last read, up to this message, may have
		// been delivered elsewhere.
		g.active, g.end, g.floorAt = true, streamSeq(msg), time.Time{}
		g.c.log.Warn().Err(err).Msg("consumer info unavailable; checking order against the stream until it is")
		return false
	}
	g.end, g.floor, g.floorAt = info.Delivered.Stream, info.AckFloor.Stream, time.Now()
	g.active = g.floor < g.end
	return true
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
	pin := pinOf(msg)
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
	pin := pinOf(msg)
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
		}
	}
	if g.floor >= g.end || time.Now().After(g.until) {
		g.active = false
		g.c.log.Info().Uint64("ack_floor", g.floor).Uint64("delivered_at_opening", g.end).
			Msg("order window closed: every message delivered before it opened is finished or was acked")
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
		if !g.c.recent.has(m.Sequence) { // not finished here
			return true
		}
		from = m.Sequence + 1
	}
	return false
}

// disrupted extends an open window to windowBound from now: JetStream
// reported a disruption (a consumer leader change, a server shut down)
// after which a message delivered before may come back only after a fresh
// AckWait, under this pin or a new one.
func (g *orderGuard) disrupted() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until := time.Now().Add(g.windowBound()); g.active && until.After(g.until) {
		g.until = until
	}
}

// belowFloor reports whether seq is at or below the consumer's ack floor as
// last read. Such a message was acked, by whichever replica; a delivery of
// it is a straggler — sent by a consumer leader deposed since, or held up
// in a reconnect — and handling it again would repeat an old event after
// later ones of its subject.
func (g *orderGuard) belowFloor(seq uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return seq <= g.floor
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
