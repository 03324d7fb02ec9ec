package watch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"
	"github.com/rs/zerolog"
)

// gatedPublisher holds the publish of one event until another was
// published, and records what each published snapshot carried.
type gatedPublisher struct {
	hold, until string
	released    chan struct{}
	once        sync.Once

	mu     sync.Mutex
	store  []string
	legacy map[string]*events.IssueRef
}

func (p *gatedPublisher) Publish(ctx context.Context, pl events.Payload) error {
	if pl.DedupID() == p.hold {
		select {
		case <-p.released:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%s waited 5s for %s: the watch stream handles one request at a time", p.hold, p.until)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.store = append(p.store, pl.DedupID())
	if ev, ok := pl.(*events.RequestEvent); ok {
		if p.legacy == nil {
			p.legacy = map[string]*events.IssueRef{}
		}
		p.legacy[ev.Request.ID] = ev.Request.LegacyIssue
	}
	if pl.DedupID() == p.until {
		p.once.Do(func() { close(p.released) })
	}
	return nil
}

func (p *gatedPublisher) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.store)
}

// pluginDataTeleport is a laggingTeleport that also answers plugin data
// reads, counting them.
type pluginDataTeleport struct {
	*laggingTeleport
	data  map[string]map[string]string // request id → teleport-jira's entry
	reads []types.PluginDataFilter
}

func (f *pluginDataTeleport) GetPluginData(_ context.Context, filter types.PluginDataFilter) ([]types.PluginData, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, filter)
	var out []types.PluginData
	for id, entry := range f.data {
		if filter.Resource != "" && filter.Resource != id {
			continue
		}
		d, err := types.NewPluginData(id, types.KindAccessRequest)
		if err != nil {
			return nil, err
		}
		if err := d.Update(types.PluginDataUpdateParams{Kind: types.KindAccessRequest, Resource: id, Plugin: filter.Plugin, Set: entry}); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (f *pluginDataTeleport) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reads)
}

// gatedPair is a watcher of tp whose publisher holds request slow's
// created event until request fast's, of another lane, was published.
func gatedPair(t *testing.T, tp *laggingTeleport) (w *Watcher, pub *gatedPublisher, slow, fast string) {
	t.Helper()
	pub = &gatedPublisher{released: make(chan struct{})}
	w = New(Config{Client: tp, Publisher: pub, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Log: zerolog.Nop()})
	slow = "slow"
	for i := range 100 {
		if id := fmt.Sprintf("fast-%d", i); w.laneOf(id) != w.laneOf(slow) {
			fast = id
			break
		}
	}
	if fast == "" {
		t.Fatalf("no request id found on another lane than %q", slow)
	}
	pub.hold, pub.until = slow+":created", fast+":created"
	return w, pub, slow, fast
}

// A request whose publish waits (a slow stream ack) does not hold up the
// publish of another request's events; each request's own events stay in
// order.
func TestRequestsDoNotWaitForEachOther(t *testing.T) {
	tp := &laggingTeleport{watchers: make(chan *fakeWatcher, 8)}
	w, pub, slow, fast := gatedPair(t, tp)
	run(t, w)
	watcher := <-tp.watchers

	watcher.events <- types.Event{Type: types.OpPut, Resource: request(t, slow, types.RequestState_PENDING)}
	watcher.events <- types.Event{Type: types.OpPut, Resource: request(t, slow, types.RequestState_APPROVED)}
	watcher.events <- types.Event{Type: types.OpPut, Resource: request(t, fast, types.RequestState_PENDING)}
	waitFor(t, "both published", func() bool { return len(pub.ids()) == 3 })
	want := []string{fast + ":created", slow + ":created", slow + ":resolved:APPROVED"}
	if got := pub.ids(); !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
}

// teleport-jira's issues are read in one call for the whole listing, not
// one call per request; a request the watch shows first (created while
// AccessBridge runs) costs no call.
func TestLegacyIssuesAreReadOnceForTheListing(t *testing.T) {
	tp := &pluginDataTeleport{laggingTeleport: &laggingTeleport{watchers: make(chan *fakeWatcher, 8)},
		data: map[string]map[string]string{
			"old-1": {"issue_id": "10001", "issue_key": "TAR-1"},
			"old-2": {"issue_id": "10002", "issue_key": "TAR-2"},
		}}
	var listed []types.AccessRequest
	for i := range 50 {
		listed = append(listed, request(t, fmt.Sprintf("old-%d", i), types.RequestState_PENDING))
	}
	tp.list(listed...)
	pub := &gatedPublisher{released: make(chan struct{})}
	w := New(Config{Client: tp, Publisher: pub, LegacyPlugin: "jira", BackoffMin: time.Millisecond,
		BackoffMax: 5 * time.Millisecond, Log: zerolog.Nop()})
	run(t, w)
	watcher := <-tp.watchers
	waitFor(t, "the listing published", func() bool { return len(pub.ids()) == 50 })
	watcher.events <- types.Event{Type: types.OpPut, Resource: request(t, "new", types.RequestState_PENDING)}
	waitFor(t, "the watched request published", func() bool { return len(pub.ids()) == 51 })

	if n := tp.readCount(); n != 1 || tp.reads[0].Resource != "" {
		t.Fatalf("plugin data read %d times (first for request %q), want once for every request", n, tp.reads[0].Resource)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	for id, want := range map[string]string{"old-1": "TAR-1", "old-2": "TAR-2", "old-3": "", "new": ""} {
		got := ""
		if ref := pub.legacy[id]; ref != nil {
			got = ref.Key
		}
		if got != want {
			t.Errorf("%s published with legacy issue %q, want %q", id, got, want)
		}
	}
}

// A stream Teleport closed because the bridge fell behind (buffer
// overflow) is watched again at once, not after the back-off; a second
// overflow right after that backs off.
func TestOverflowReconnectsAtOnce(t *testing.T) {
	tp := &laggingTeleport{watchers: make(chan *fakeWatcher, 8)}
	w := New(Config{Client: tp, Publisher: &flakyPublisher{}, BackoffMin: time.Hour, BackoffMax: 2 * time.Hour, Log: zerolog.Nop()})
	run(t, w)
	first := <-tp.watchers
	first.err = trace.LimitExceeded("watcher buffer overflow")
	_ = first.Close()
	select {
	case second := <-tp.watchers:
		second.err = trace.LimitExceeded("watcher buffer overflow")
		_ = second.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no new watch within 10s of an overflow (the back-off is an hour)")
	}
	select {
	case <-tp.watchers:
		t.Fatal("a second overflow in a row was watched again at once: a flood would loop")
	case <-time.After(100 * time.Millisecond): // it must be backing off
	}
}

// A deletion the lanes received but did not handle before their session
// ended (another lane's publish failed) is published by the next listing,
// although the listing cannot show a deletion.
func TestSkippedDeletionIsPublishedByTheNextListing(t *testing.T) {
	tp := &laggingTeleport{watchers: make(chan *fakeWatcher, 8)}
	pub := &flakyPublisher{}
	w := New(Config{Client: tp, Publisher: pub, ListGrace: time.Hour, Log: zerolog.Nop()})
	ctx := context.Background()
	r6 := request(t, "r6", types.RequestState_PENDING)
	tp.list(r6)
	if err := w.Relist(ctx); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel() // the session is ending
	ls := w.startLanes(ended)
	if err := ls.dispatch(types.Event{Type: types.OpDelete, Resource: r6}, w.laneOf("r6")); err != nil {
		t.Fatal(err)
	}
	ls.stop()

	tp.list() // Teleport no longer lists r6; the listing lag (an hour) does not let its absence count
	if err := w.Relist(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pub.ids(); !slices.Equal(got, []string{"r6:created", "r6:expired"}) {
		t.Fatalf("published %v, want r6 created then expired", got)
	}
}

// A pending request deleted while the watch was down, which the listing
// after the reconnect misses but is too young to count as deleted, is
// looked at again once it is old enough — not only at the next resync.
func TestYoungUnlistedRequestIsLookedAtAgain(t *testing.T) {
	tp := &laggingTeleport{watchers: make(chan *fakeWatcher, 8), existing: map[string]types.AccessRequest{}}
	pub := &flakyPublisher{}
	w := New(Config{Client: tp, Publisher: pub, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		ListGrace: 300 * time.Millisecond, Log: zerolog.Nop()}) // no resync
	run(t, w)
	first := <-tp.watchers
	first.events <- types.Event{Type: types.OpPut, Resource: request(t, "r7", types.RequestState_PENDING)}
	waitFor(t, "r7 created", func() bool { return slices.Contains(pub.ids(), "r7:created") })

	_ = first.Close() // the watch drops; Teleport deletes r7 meanwhile
	<-tp.watchers
	waitFor(t, "r7 expired", func() bool { return slices.Contains(pub.ids(), "r7:expired") })
}

// A listing publishes several requests at once: a request whose publish
// waits (a slow stream ack) does not hold up the publish of the requests
// listed after it — after a stream closed on a burst, the listing holds
// every request the stream had not delivered.
func TestListingDoesNotPublishOneRequestAtATime(t *testing.T) {
	tp := &laggingTeleport{watchers: make(chan *fakeWatcher, 8)}
	w, pub, slow, fast := gatedPair(t, tp)
	tp.list(request(t, slow, types.RequestState_PENDING), request(t, fast, types.RequestState_PENDING))
	if err := w.Relist(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{fast + ":created", slow + ":created"}
	if got := pub.ids(); !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
}
