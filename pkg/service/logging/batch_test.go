package logging

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// slowOut records each write call; the first one waits for release.
type slowOut struct {
	release chan struct{}
	started chan struct{}
	once    sync.Once

	mu    sync.Mutex
	calls []string
}

func newSlowOut() *slowOut {
	return &slowOut{release: make(chan struct{}), started: make(chan struct{})}
}

func (o *slowOut) Write(p []byte) (int, error) {
	first := false
	o.once.Do(func() { first = true })
	if first {
		close(o.started)
		<-o.release
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, string(p))
	return len(p), nil
}

func (o *slowOut) written() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

// Lines logged while a write is in progress do not wait for it: they are
// written together, in one call, right after it.
func TestBatchWriterWritesWhatQueuedInOneCall(t *testing.T) {
	out := newSlowOut()
	b := newBatchWriter(out)
	done := make(chan struct{})
	go func() {
		_, _ = b.Write([]byte("first\n"))
		close(done)
	}()
	<-out.started
	for i := range 100 {
		if _, err := b.Write(fmt.Appendf(nil, "line %d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	close(out.release)
	<-done
	waitUntil(t, "all lines written", func() bool { return len(out.written()) == 2 })
	calls := out.written()
	if calls[0] != "first\n" {
		t.Fatalf("first call %q", calls[0])
	}
	var want strings.Builder
	for i := range 100 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if calls[1] != want.String() {
		t.Fatalf("second call %q, want the 100 queued lines in order", calls[1])
	}
}

// A warning is on the output when its log call returns, even when another
// goroutine's write was in progress.
func TestBatchWriterWarningLandsBeforeReturning(t *testing.T) {
	out := newSlowOut()
	b := newBatchWriter(out)
	go func() { _, _ = b.Write([]byte("info\n")) }()
	<-out.started
	returned := make(chan struct{})
	go func() {
		_, _ = b.WriteLevel(zerolog.ErrorLevel, []byte("error\n"))
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("the error line's log call returned while the write before it had not finished")
	case <-time.After(50 * time.Millisecond): // it must still be waiting
	}
	close(out.release)
	<-returned
	if got := strings.Join(out.written(), ""); got != "info\nerror\n" {
		t.Fatalf("written %q", got)
	}
}

// Many goroutines logging at once: every line is written whole, once, and
// each goroutine's lines in its order.
func TestBatchWriterLosesNothingUnderContention(t *testing.T) {
	var buf bytes.Buffer
	b := newBatchWriter(&buf)
	log := zerolog.New(b)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ev := log.Info()
				if i%50 == 0 {
					ev = log.Warn()
				}
				ev.Int("g", g).Int("i", i).Msg("x")
			}
		})
	}
	wg.Wait()
	waitUntil(t, "every line written", func() bool {
		b.writing.Lock()
		defer b.writing.Unlock()
		return strings.Count(buf.String(), "\n") == 8*500
	})
	next := make([]int, 8)
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var g, i int
		if _, err := fmt.Sscanf(line[strings.Index(line, `"g":`):], `"g":%d,"i":%d`, &g, &i); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if i != next[g] {
			t.Fatalf("goroutine %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
}

// floodOut queues one more line from another goroutine during each of its
// writes while flooding is on: the logging goroutine that writes must not
// be kept writing for others as long as the flood lasts.
type floodOut struct {
	b        *batchWriter
	flooding atomic.Bool
	sent     atomic.Int64

	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *floodOut) Write(p []byte) (int, error) {
	if o.flooding.Load() {
		done := make(chan struct{})
		go func() {
			_, _ = o.b.Write(fmt.Appendf(nil, "flood %d\n", o.sent.Add(1)))
			close(done)
		}()
		<-done // queued while this write is in progress
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *floodOut) lines() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Count(o.buf.String(), "\n")
}

func TestBatchWriterLeaderIsNotHeldByAFlood(t *testing.T) {
	out := &floodOut{}
	out.b = newBatchWriter(out)
	out.flooding.Store(true)
	returned := make(chan struct{})
	go func() {
		_, _ = out.b.Write([]byte("mine\n"))
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the logging goroutine kept writing others' lines for 10s")
	}
	out.flooding.Store(false)
	waitUntil(t, "every flooded line written by the background drainer", func() bool {
		return int64(out.lines()) == 1+out.sent.Load()
	})
}
