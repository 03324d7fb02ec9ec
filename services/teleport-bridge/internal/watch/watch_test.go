package watch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/teleport"
	"github.com/gravitational/teleport/api/types"
	"github.com/rs/zerolog"
)

// fakeWatcher is a types.Watcher fed by the test.
type fakeWatcher struct {
	events chan types.Event
	done   chan struct{}
	once   sync.Once
	err    error // Error's answer once done (default "closed")
}

func (w *fakeWatcher) Events() <-chan types.Event { return w.events }
func (w *fakeWatcher) Done() <-chan struct{}      { return w.done }
func (w *fakeWatcher) Error() error {
	if w.err != nil {
		return w.err
	}
	return errors.New("closed")
}
func (w *fakeWatcher) Close() error {
	w.once.Do(func() { close(w.done) })
	return nil
}

// laggingTeleport lists what the test says, however stale; a lookup by id
// answers from existing when the test sets it.
type laggingTeleport struct {
	teleport.Client
	mu       sync.Mutex
	listed   []types.AccessRequest
	existing map[string]types.AccessRequest
	watchers chan *fakeWatcher
}

func (f *laggingTeleport) NewWatcher(context.Context, types.Watch) (types.Watcher, error) {
	w := &fakeWatcher{events: make(chan types.Event, 16), done: make(chan struct{})}
	w.events <- types.Event{Type: types.OpInit}
	f.watchers <- w
	return w, nil
}

// list sets what the next listings show.
func (f *laggingTeleport) list(reqs ...types.AccessRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed = reqs
}

func (f *laggingTeleport) GetAccessRequests(_ context.Context, filter types.AccessRequestFilter) ([]types.AccessRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if filter.ID != "" && f.existing != nil {
		if r, ok := f.existing[filter.ID]; ok {
			return []types.AccessRequest{r}, nil
		}
		return nil, nil
	}
	return slices.Clone(f.listed), nil
}

type flakyPublisher struct {
	mu    sync.Mutex
	fail  int // fail this many publishes
	store []string
}

func (p *flakyPublisher) Publish(_ context.Context, pl events.Payload) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("nats: no responders")
	}
	if !slices.Contains(p.store, pl.DedupID()) {
		p.store = append(p.store, pl.DedupID())
	}
	return nil
}

// failNext makes the next n publishes fail.
func (p *flakyPublisher) failNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = n
}

func (p *flakyPublisher) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.store)
}

func request(t *testing.T, id string, state types.RequestState) types.AccessRequest {
	t.Helper()
	r, err := types.NewAccessRequest(id, "alice", "editor")
	if err != nil {
		t.Fatal(err)
	}
	r.SetCreationTime(time.Now())
	if state != types.RequestState_PENDING {
		if err := r.SetState(state); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// startWatching runs a watcher of tp until the test ends and returns it
// with its publisher, a context for its calls, and its first watch stream,
// once it is ready.
func startWatching(t *testing.T, tp *laggingTeleport, listGrace time.Duration) (*Watcher, *flakyPublisher, context.Context, *fakeWatcher) {
	t.Helper()
	pub := &flakyPublisher{}
	w := New(Config{Client: tp, Publisher: pub, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		ListGrace: listGrace, Log: zerolog.Nop()})
	ctx := run(t, w)
	return w, pub, ctx, <-tp.watchers
}

// run runs w until the test ends and returns a context for its calls once
// it is ready.
func run(t *testing.T, w *Watcher) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, "ready", func() bool { return w.Ready(ctx) == nil })
	return ctx
}

// A failed publish of a watched event is not lost when the listing after
// the reconnect lags behind the watch, and a stale listing never rolls a
// request back.
func TestLaggingListingLosesNothing(t *testing.T) {
	tp := &laggingTeleport{watchers: make(chan *fakeWatcher, 8)}
	_, pub, _, first := startWatching(t, tp, 0)

	// Watched: r1 created then approved; the approval's publish fails once.
	first.events <- types.Event{Type: types.OpPut, Resource: request(t, "r1", types.RequestState_PENDING)}
	waitFor(t, "r1 created", func() bool { return slices.Contains(pub.ids(), "r1:created") })
	pub.failNext(1)
	first.events <- types.Event{Type: types.OpPut, Resource: request(t, "r1", types.RequestState_APPROVED)}

	// The session ends; the next listing is stale: it still shows r1 pending.
	tp.list(request(t, "r1", types.RequestState_PENDING))
	current := <-tp.watchers
	waitFor(t, "r1 resolved after reconnect", func() bool { return slices.Contains(pub.ids(), "r1:resolved:APPROVED") })

	// A brand-new watched request whose publish fails, and a listing that
	// does not show it yet: published after the reconnect all the same.
	pub.failNext(1)
	tp.list(request(t, "r1", types.RequestState_APPROVED))
	current.events <- types.Event{Type: types.OpPut, Resource: request(t, "r2", types.RequestState_PENDING)}
	<-tp.watchers
	waitFor(t, "r2 created after reconnect", func() bool { return slices.Contains(pub.ids(), "r2:created") })
	if got := pub.ids(); !slices.Equal(got, []string{"r1:created", "r1:resolved:APPROVED", "r2:created"}) {
		t.Fatalf("published %v", got)
	}
}

// A listing that misses a pending request which still exists (a listing is
// not a snapshot) does not make it expire; once Teleport no longer has it,
// the next relisting reports the expiry, once.
func TestUnlistedRequestIsLookedUpBeforeItExpires(t *testing.T) {
	tp := &laggingTeleport{watchers: make(chan *fakeWatcher, 8), existing: map[string]types.AccessRequest{}}
	w, pub, ctx, watcher := startWatching(t, tp, time.Nanosecond)

	r3 := request(t, "r3", types.RequestState_PENDING)
	tp.mu.Lock()
	tp.existing["r3"] = r3
	tp.mu.Unlock()
	watcher.events <- types.Event{Type: types.OpPut, Resource: r3}
	waitFor(t, "r3 created", func() bool { return slices.Contains(pub.ids(), "r3:created") })

	// The listing misses r3, which still exists.
	if err := w.Relist(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(pub.ids(), "r3:expired") {
		t.Fatalf("a request missing from one listing but still in Teleport was reported expired: %v", pub.ids())
	}

	// Teleport deletes r3 while the watch misses it.
	tp.mu.Lock()
	delete(tp.existing, "r3")
	tp.mu.Unlock()
	if err := w.Relist(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pub.ids(); !slices.Equal(got, []string{"r3:created", "r3:expired"}) {
		t.Fatalf("published %v, want r3 created then expired", got)
	}
}

// A deletion the watch reported but that could not be published (NATS
// unavailable) is published right after the reconnect, even though the
// request was first seen within ListGrace and a lagging listing still
// shows it: the watch's word is final.
func TestWatchedDeletionSurvivesFailedPublish(t *testing.T) {
	tp := &laggingTeleport{watchers: make(chan *fakeWatcher, 8)}
	w, pub, ctx, watcher := startWatching(t, tp, time.Hour)

	r4 := request(t, "r4", types.RequestState_PENDING)
	watcher.events <- types.Event{Type: types.OpPut, Resource: r4}
	waitFor(t, "r4 created", func() bool { return slices.Contains(pub.ids(), "r4:created") })

	tp.list(r4) // the listing lags behind the deletion
	pub.failNext(1)
	watcher.events <- types.Event{Type: types.OpDelete, Resource: r4}
	<-tp.watchers // the failed publish ended the session
	waitFor(t, "r4 expired after the reconnect", func() bool { return slices.Contains(pub.ids(), "r4:expired") })
	if err := w.Relist(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pub.ids(); !slices.Equal(got, []string{"r4:created", "r4:expired"}) {
		t.Fatalf("published %v, want r4 created then expired, once", got)
	}
}
