package logging

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// maxPending bounds the lines waiting for a write in progress; above it a
// logger waits for the output, as it would without batching.
const maxPending = 1 << 20

// leaderRounds bounds the writes a logging goroutine makes for others'
// lines: under a flood, what keeps arriving is left to a background
// drainer, so no request waits on the log for longer than a few writes.
const leaderRounds = 4

// batchWriter writes log lines with as few write calls as the load allows
// (group commit): a line logged while no write is in progress is written at
// once by its own goroutine, together with what others queued meanwhile (at
// most leaderRounds writes); lines logged while a write is in progress wait
// in memory for it. At a thousand lines a second that is one system call for
// many lines, where a write per line cost a system call each (a webhook
// delivery or an issue created is one info line).
//
// A line at warn or above is written before its log call returns (an exit
// after a fatal line loses nothing), and so is every line when maxPending
// is reached.
type batchWriter struct {
	out io.Writer

	// writing is held by the goroutine that writes to out.
	writing sync.Mutex
	// draining is set while a background goroutine writes what a logging
	// goroutine left.
	draining atomic.Bool

	mu      sync.Mutex // guards pending and spare
	pending []byte
	spare   []byte
}

func newBatchWriter(out io.Writer) *batchWriter { return &batchWriter{out: out} }

// Write queues p and writes what is queued unless a write is in progress.
func (b *batchWriter) Write(p []byte) (int, error) {
	return b.WriteLevel(zerolog.InfoLevel, p)
}

// WriteLevel is Write; a line at warn or above is written before it
// returns.
func (b *batchWriter) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	b.mu.Lock()
	b.pending = append(b.pending, p...)
	full := len(b.pending) >= maxPending
	b.mu.Unlock()
	mustLand := full || (level >= zerolog.WarnLevel && level != zerolog.NoLevel)
	if mustLand {
		b.writing.Lock() // wait for the write in progress, then write ours
	} else if !b.writing.TryLock() {
		return len(p), nil // the goroutine writing now writes p next
	}
	err := b.flush(leaderRounds) // p is in the first round
	b.writing.Unlock()
	// Lines left by the bound, or queued between the last round and the
	// unlock by goroutines that found the write in progress, have no writer.
	if b.queued() {
		b.drainInBackground()
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// drainInBackground writes what is queued from a goroutine of its own,
// unless one is already at it.
func (b *batchWriter) drainInBackground() {
	if !b.draining.CompareAndSwap(false, true) {
		return
	}
	go func() {
		for {
			b.writing.Lock()
			_ = b.flush(-1) // a write error is the log callers' to see
			b.writing.Unlock()
			b.draining.Store(false)
			// A line queued after the last round whose goroutine saw
			// draining set: take it, unless someone else does.
			if !b.queued() || !b.draining.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// flush writes what is queued, in at most rounds writes (< 0: until
// nothing is); the caller holds writing.
func (b *batchWriter) flush(rounds int) error {
	for ; rounds != 0; rounds-- {
		b.mu.Lock()
		buf := b.pending
		b.pending, b.spare = b.spare[:0], nil
		b.mu.Unlock()
		if len(buf) == 0 {
			b.mu.Lock()
			b.spare = buf
			b.mu.Unlock()
			return nil
		}
		_, err := b.out.Write(buf)
		b.mu.Lock()
		if b.spare == nil && cap(buf) <= maxPending {
			b.spare = buf[:0]
		}
		b.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *batchWriter) queued() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending) > 0
}
