package watch

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/teleport"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"
	"github.com/rs/zerolog"
)

// Publisher publishes one event; a duplicate id is stored once.
type Publisher interface {
	Publish(ctx context.Context, p events.Payload) error
}

// History returns the last snapshot published for a request, so that a
// deletion seen after a restart can still be reported with the full state.
type History interface {
	LastSnapshot(ctx context.Context, requestID string) (events.AccessRequest, bool, error)
	// Unfinished lists the requests whose last published event left them
	// pending, so that those deleted while no bridge ran are reported.
	Unfinished(ctx context.Context) ([]events.AccessRequest, error)
}

// Metrics are the watcher's hooks into the service's metrics; nil fields are
// skipped.
type Metrics struct {
	Published  func(events.Type)
	Reconnect  func()
	WatchEvent func()
	Connected  func(bool)
}

// Config of a Watcher.
type Config struct {
	Client    teleport.Client
	Publisher Publisher
	History   History
	Cluster   events.Cluster
	// LegacyPlugin, when set, is the plugin data whose issue_id/issue_key
	// become the snapshot's legacy issue (teleport-jira's "jira").
	LegacyPlugin string
	// Resync relists every interval (0: only after a reconnect).
	Resync time.Duration
	// BackoffMin and BackoffMax bound the decorrelated reconnect back-off.
	BackoffMin, BackoffMax time.Duration
	// ListGrace is how long a request must have been known before its
	// absence from a listing counts as a deletion (listings may lag).
	ListGrace time.Duration
	Metrics   Metrics
	Log       zerolog.Logger
}

// lanes is how many requests the watch stream's events are handled for at
// once; the events of one request go through one lane, in order. A lane
// waits for its publish's stream ack (and, for a request of before the
// listing, a Teleport call): one at a time, a burst of new requests would
// be paced by those round trips.
const lanes = 16

// laneBuffer is how many events a lane holds before the stream waits. The
// stream must be read promptly: Teleport closes a watcher whose events back
// up ("watcher buffer overflow"), which costs a reconnect and a listing.
// 16 lanes hold 16,384 events (a burst of new requests is one each).
const laneBuffer = 1024

// Watcher publishes request events from Teleport's watch stream.
type Watcher struct {
	cfg       Config
	connected atomic.Bool
	// caughtUp is set once the stream's unfinished requests were compared
	// with a listing (under listing).
	caughtUp  bool
	lastEvent atomic.Int64 // unix nanos
	published atomic.Int64 // events published, for a listing's log line
	seed      maphash.Seed // of the lane hash

	// listing is held by Relist, and shared by a lane while it handles one
	// event: a listing never interleaves with a request's watched events.
	listing sync.RWMutex

	mu      sync.Mutex
	tracked map[string]*tracked
	// recheck is when the last listing's youngest pending request that it
	// did not show has been known for ListGrace (zero: none): a listing
	// then tells whether it was deleted while the watch was down.
	recheck time.Time
}

// legacyLookup says what teleport-jira recorded on a request: ok false
// means it is not known yet and is read from Teleport for this request.
type legacyLookup func(id string) (ref *events.IssueRef, ok bool)

// createdWhileWatching is the legacy lookup of a request the watch stream
// shows first: it was created after the listing, while AccessBridge ran,
// so teleport-jira (stopped before AccessBridge starts) has no issue on it.
func createdWhileWatching(string) (*events.IssueRef, bool) { return nil, true }

// tracked is what the watcher knows of one request.
type tracked struct {
	snap      events.AccessRequest
	legacy    *events.IssueRef
	legacyOK  bool // legacy lookup done
	published map[string]bool
	firstSeen time.Time
	// deleteSeen: Teleport reported the request deleted; deleted: that
	// was published. A deletion whose publish failed is published by the
	// next listing, whatever the listing shows.
	deleteSeen bool
	deleted    bool
}

// New returns a watcher; Run starts it.
func New(cfg Config) *Watcher {
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 500 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(30*time.Second, cfg.BackoffMin)
	}
	if cfg.ListGrace <= 0 {
		cfg.ListGrace = 30 * time.Second
	}
	return &Watcher{cfg: cfg, tracked: map[string]*tracked{}, seed: maphash.MakeSeed()}
}

// Ready is a readiness check: the watch stream is up.
func (w *Watcher) Ready(context.Context) error {
	if !w.connected.Load() {
		return errors.New("not watching Teleport access requests (reconnecting)")
	}
	return nil
}

// LastEvent is when the last watch event arrived (zero before the first).
func (w *Watcher) LastEvent() time.Time {
	n := w.lastEvent.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Run watches until ctx is done, reconnecting with decorrelated jittered
// back-off, and returns nil then.
func (w *Watcher) Run(ctx context.Context) error {
	sleep := w.cfg.BackoffMin
	caughtUpAtOnce := false // the last reconnect was an immediate one after an overflow
	for {
		started := time.Now()
		err := w.session(ctx)
		w.setConnected(false)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > 2*w.cfg.BackoffMax {
			sleep = w.cfg.BackoffMin // a long healthy session resets the back-off
		}
		sleep = decorrelated(w.cfg.BackoffMin, w.cfg.BackoffMax, sleep)
		wait := sleep
		if trace.IsLimitExceeded(err) && !caughtUpAtOnce {
			// Teleport closed the stream because this process fell behind
			// ("watcher buffer overflow": a burst of requests). Teleport is
			// fine: watch again at once, and the listing publishes what the
			// closed stream held. Overflowing again right after that backs
			// off as usual, so a flood never turns into a reconnect loop.
			wait = 0
		}
		caughtUpAtOnce = wait == 0
		if w.cfg.Metrics.Reconnect != nil {
			w.cfg.Metrics.Reconnect()
		}
		w.cfg.Log.Warn().Err(err).Dur("retry_in", wait).Msg("teleport watch ended; reconnecting")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// decorrelated is "decorrelated jitter" back-off: uniform between min and
// three times the previous sleep, capped.
func decorrelated(lo, hi, prev time.Duration) time.Duration {
	upper := max(prev*3, lo+1)
	d := lo + time.Duration(rand.Int64N(int64(upper-lo)))
	return min(d, hi)
}

func (w *Watcher) setConnected(v bool) {
	w.connected.Store(v)
	if w.cfg.Metrics.Connected != nil {
		w.cfg.Metrics.Connected(v)
	}
}

func (w *Watcher) noteEvent() {
	w.lastEvent.Store(time.Now().UnixNano())
	if w.cfg.Metrics.WatchEvent != nil {
		w.cfg.Metrics.WatchEvent()
	}
}

// session is one watch stream: it waits for OpInit, relists (the watch is
// already up, so nothing that happens during the listing is missed), then
// follows the stream until it fails.
func (w *Watcher) session(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watcher, err := w.cfg.Client.NewWatcher(wctx, types.Watch{Kinds: []types.WatchKind{{Kind: types.KindAccessRequest}}})
	if err != nil {
		return fmt.Errorf("watch access requests: %w", err)
	}
	defer watcher.Close()

	initTimer := time.NewTimer(30 * time.Second)
	defer initTimer.Stop()
	select {
	case ev := <-watcher.Events():
		if ev.Type != types.OpInit {
			return fmt.Errorf("watch started with %v instead of OpInit", ev.Type)
		}
		w.noteEvent()
	case <-watcher.Done():
		return fmt.Errorf("watch closed before init: %w", watcher.Error())
	case <-initTimer.C:
		return errors.New("watch: no OpInit within 30s")
	case <-ctx.Done():
		return nil
	}
	w.setConnected(true)
	w.cfg.Log.Info().Msg("watching Teleport access requests")
	if err := w.Relist(ctx); err != nil {
		return err
	}
	ls := w.startLanes(wctx)
	defer ls.stop()

	var resync <-chan time.Time
	if w.cfg.Resync > 0 {
		t := time.NewTicker(w.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	// A pending request the listing did not show, too young to count as
	// deleted (listings lag), is looked at again once it is old enough,
	// not only at the next resync: its deletion may have happened while
	// the watch was down.
	recheck := time.NewTimer(time.Hour)
	defer recheck.Stop()
	armRecheck := func() {
		recheck.Stop()
		w.mu.Lock()
		at := w.recheck
		w.mu.Unlock()
		if !at.IsZero() {
			recheck.Reset(time.Until(at) + time.Millisecond)
		}
	}
	armRecheck()
	for {
		select {
		case ev := <-watcher.Events():
			w.noteEvent()
			if err := ls.dispatch(ev, w.laneOf(eventRequest(ev))); err != nil {
				return err
			}
		case err := <-ls.failed:
			return err
		case <-watcher.Done():
			return fmt.Errorf("watch stream closed: %w", watcher.Error())
		case <-resync:
			if err := w.Relist(ctx); err != nil {
				return err
			}
			armRecheck()
		case <-recheck.C:
			if err := w.Relist(ctx); err != nil {
				return err
			}
			armRecheck()
		case <-ctx.Done():
			return nil
		}
	}
}

// laneSet runs the lanes of one watch session.
type laneSet struct {
	in     []chan types.Event
	failed chan error // a lane's first error, which ends the session
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLanes starts the lanes; each handles its events in order until the
// session ends or one of them fails (the next session's listing publishes
// what was left).
func (w *Watcher) startLanes(ctx context.Context) *laneSet {
	ctx, cancel := context.WithCancel(ctx)
	ls := &laneSet{in: make([]chan types.Event, lanes), failed: make(chan error, 1), cancel: cancel}
	for i := range ls.in {
		in := make(chan types.Event, laneBuffer)
		ls.in[i] = in
		ls.wg.Go(func() {
			for ev := range in {
				if ctx.Err() != nil {
					// The session is ending: the next one's listing shows each
					// request's state, but not a deletion; note those.
					w.skipped(ev)
					continue
				}
				w.listing.RLock()
				err := w.handle(ctx, ev)
				w.listing.RUnlock()
				if err != nil {
					select {
					case ls.failed <- err:
					default:
					}
					cancel()
				}
			}
		})
	}
	return ls
}

// dispatch queues ev on lane i; it returns a lane's error when the lanes
// stopped before there was room.
func (ls *laneSet) dispatch(ev types.Event, i int) error {
	select {
	case ls.in[i] <- ev:
		return nil
	case err := <-ls.failed:
		return err
	}
}

// stop ends the lanes and waits for them.
func (ls *laneSet) stop() {
	ls.cancel()
	for _, in := range ls.in {
		close(in)
	}
	ls.wg.Wait()
}

// skipped records what a watch event the session ended before handling
// means for the next listing: a deletion of a request with a known state
// is published by it, whatever the listing shows (as one whose publish
// failed). Other events need nothing: the listing shows their state.
func (w *Watcher) skipped(ev types.Event) {
	if ev.Type != types.OpDelete || ev.Resource == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if t := w.tracked[ev.Resource.GetName()]; t != nil && t.snap.ID != "" {
		t.deleteSeen = true
	}
}

// eventRequest is the request a watch event is about ("" when none).
func eventRequest(ev types.Event) string {
	if ev.Resource == nil {
		return ""
	}
	return ev.Resource.GetName()
}

// laneOf is the lane of a request's events.
func (w *Watcher) laneOf(id string) int {
	return int(maphash.String(w.seed, id) % lanes)
}

func (w *Watcher) handle(ctx context.Context, ev types.Event) error {
	switch ev.Type {
	case types.OpPut:
		req, ok := ev.Resource.(types.AccessRequest)
		if !ok {
			return nil
		}
		return w.observe(ctx, req, createdWhileWatching)
	case types.OpDelete:
		if ev.Resource == nil {
			return nil
		}
		return w.deleted(ctx, ev.Resource.GetName())
	}
	return nil
}

// Relist lists every request and publishes what each one's state implies;
// it also publishes what earlier failures left unpublished, and treats a
// long-known pending request that is no longer listed as deleted.
func (w *Watcher) Relist(ctx context.Context) error {
	w.listing.Lock()
	defer w.listing.Unlock()
	started, published := time.Now(), w.published.Load()
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	reqs, err := w.cfg.Client.GetAccessRequests(lctx, types.AccessRequestFilter{})
	listing := time.Since(started)
	cancel()
	if err != nil {
		return fmt.Errorf("list access requests: %w", err)
	}
	legacy := w.legacyOfListing(ctx, reqs)
	var undelivered []string
	w.mu.Lock()
	for id, t := range w.tracked {
		if t.deleteSeen && !t.deleted {
			undelivered = append(undelivered, id)
		}
	}
	w.mu.Unlock()
	for _, id := range undelivered {
		if err := w.deleted(ctx, id); err != nil {
			return err
		}
	}
	listed := make(map[string]bool, len(reqs))
	for _, r := range reqs {
		listed[r.GetName()] = true
	}
	if err := w.observeListed(ctx, reqs, legacy); err != nil {
		return err
	}
	now := time.Now()
	w.mu.Lock()
	var gone []string
	var unlisted []*tracked
	var recheck time.Time
	for id, t := range w.tracked {
		if listed[id] {
			continue
		}
		if !t.deleted {
			unlisted = append(unlisted, t)
		}
		switch {
		case t.deleted || t.snap.State.Resolved():
			if now.Sub(t.firstSeen) > w.cfg.ListGrace {
				delete(w.tracked, id) // forget finished requests Teleport forgot
			}
		case now.Sub(t.firstSeen) > w.cfg.ListGrace:
			gone = append(gone, id)
		default:
			if at := t.firstSeen.Add(w.cfg.ListGrace); recheck.IsZero() || at.Before(recheck) {
				recheck = at
			}
		}
	}
	w.recheck = recheck
	w.mu.Unlock()
	// Known from the watch but not (yet) listed: publish what an earlier
	// failure left unpublished; the listing may simply lag.
	for _, t := range unlisted {
		if err := w.publishPending(ctx, t); err != nil {
			return err
		}
	}
	for _, id := range gone {
		// A listing is not a snapshot: ask for the request itself before
		// reporting a deletion that did not happen.
		exists, err := w.observeIfExists(ctx, id)
		if err != nil {
			return err
		}
		if exists {
			continue
		}
		w.cfg.Log.Info().Str("request_id", id).Msg("pending request no longer exists; treating it as deleted")
		if err := w.deleted(ctx, id); err != nil {
			return err
		}
	}
	if !w.caughtUp && w.cfg.History != nil {
		if err := w.expireMissed(ctx, listed); err != nil {
			return err
		}
		w.caughtUp = true
	}
	if n := w.published.Load() - published; n > 0 {
		// After a reconnect (a stream closed on a burst, Teleport
		// restarted) or at a resync that found what the watch missed.
		w.cfg.Log.Info().Int("requests", len(reqs)).Int64("published", n).Dur("listing", listing).Dur("took", time.Since(started)).
			Msg("listed access requests and published the events the watch stream had not delivered")
	} else {
		w.cfg.Log.Debug().Int("requests", len(reqs)).Dur("took", time.Since(started)).Msg("relisted access requests")
	}
	return nil
}

// observeListed observes the listed requests on as many workers as the
// watch has lanes: a listing after the stream closed on a burst holds every
// request the closed stream had not delivered, and one at a time each
// would wait for its publish's stream ack (a thousand requests, a second).
// A request goes to the worker of its lane, so its events are published in
// order even if the listing shows it twice. It stops at the first error.
func (w *Watcher) observeListed(ctx context.Context, reqs []types.AccessRequest, legacy legacyLookup) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := make([]chan types.AccessRequest, lanes)
	failed := make(chan error, lanes)
	var wg sync.WaitGroup
	for i := range in {
		in[i] = make(chan types.AccessRequest, 64)
		wg.Go(func() {
			for r := range in[i] {
				if wctx.Err() != nil {
					continue
				}
				if err := w.observe(wctx, r, legacy); err != nil {
					failed <- err
					cancel()
				}
			}
		})
	}
feed:
	for _, r := range reqs {
		select {
		case in[w.laneOf(r.GetName())] <- r:
		case <-wctx.Done():
			break feed
		}
	}
	for _, c := range in {
		close(c)
	}
	wg.Wait()
	select {
	case err := <-failed:
		return err
	default:
		return ctx.Err()
	}
}

// expireMissed reports request.expired for requests the stream left
// pending that Teleport no longer lists: deleted or expired while no
// bridge was watching. Requests younger than ListGrace are left alone, as
// the listing may lag.
func (w *Watcher) expireMissed(ctx context.Context, listed map[string]bool) error {
	unfinished, err := w.cfg.History.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("read unfinished requests from the stream: %w", err)
	}
	for _, snap := range unfinished {
		w.mu.Lock()
		_, known := w.tracked[snap.ID]
		w.mu.Unlock()
		if listed[snap.ID] || known || time.Since(snap.Created) < w.cfg.ListGrace {
			continue
		}
		exists, err := w.observeIfExists(ctx, snap.ID)
		if err != nil {
			return err
		}
		if exists {
			continue
		}
		w.cfg.Log.Info().Str("request_id", snap.ID).Msg("pending request deleted while no bridge was watching")
		if err := w.publish(ctx, events.NewRequestExpired(snap)); err != nil {
			return err
		}
		w.markDeleted(snap.ID, snap)
	}
	return nil
}

// observeIfExists asks Teleport for one request by id and observes it when
// it still exists.
func (w *Watcher) observeIfExists(ctx context.Context, id string) (bool, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	reqs, err := w.cfg.Client.GetAccessRequests(lctx, types.AccessRequestFilter{ID: id})
	cancel()
	if err != nil {
		return false, fmt.Errorf("look up access request %s: %w", id, err)
	}
	for _, r := range reqs {
		if r.GetName() == id {
			return true, w.observe(ctx, r, nil)
		}
	}
	return false, nil
}

// legacyOfListing reads, in one call, what teleport-jira recorded on the
// listed requests this process has not looked up yet (at start-up: all of
// them). When that call cannot be answered, each is looked up on its own.
func (w *Watcher) legacyOfListing(ctx context.Context, reqs []types.AccessRequest) legacyLookup {
	if w.cfg.LegacyPlugin == "" {
		return nil
	}
	w.mu.Lock()
	todo := 0
	for _, r := range reqs {
		if t := w.tracked[r.GetName()]; t == nil || !t.legacyOK {
			todo++
		}
	}
	w.mu.Unlock()
	if todo == 0 {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	refs, err := teleport.LegacyIssues(lctx, w.cfg.Client, w.cfg.LegacyPlugin)
	cancel()
	switch {
	case err == nil:
	case trace.IsAccessDenied(err) || trace.IsNotFound(err):
		w.cfg.Log.Warn().Err(err).Int("requests", todo).
			Msg("cannot read teleport-jira plugin data; publishing without the legacy issue (grant list/read on access_request or access_plugin_data, or set TELEPORT_BRIDGE_MIGRATE_TELEPORT_JIRA=false)")
		refs = nil
	default:
		w.cfg.Log.Warn().Err(err).Int("requests", todo).
			Msg("cannot read teleport-jira plugin data in one call; reading it request by request")
		return nil
	}
	return func(id string) (*events.IssueRef, bool) { return refs[id], true }
}

// observe merges a request's state into what is known and publishes the
// events not yet published. legacy says what teleport-jira recorded on the
// request; nil: read it from Teleport.
func (w *Watcher) observe(ctx context.Context, req types.AccessRequest, legacy legacyLookup) error {
	snap := teleport.Snapshot(req, w.cfg.Cluster)
	id := snap.ID
	if err := events.ValidToken(id); err != nil {
		w.cfg.Log.Error().Err(err).Str("request_id", id).Msg("request id cannot be a subject token; skipping it")
		return nil
	}
	w.mu.Lock()
	t := w.tracked[id]
	if t == nil {
		t = &tracked{published: map[string]bool{}, firstSeen: time.Now()}
		w.tracked[id] = t
	}
	if t.deleteSeen {
		w.mu.Unlock()
		return nil // a stale listing of a request already deleted
	}
	if t.snap.ID == "" || progress(snap) >= progress(t.snap) {
		t.snap = snap
	}
	needLegacy := w.cfg.LegacyPlugin != "" && !t.legacyOK
	if needLegacy && legacy != nil {
		if ref, ok := legacy(id); ok {
			t.legacy, t.legacyOK, needLegacy = ref, true, false
		}
	}
	w.mu.Unlock()

	if needLegacy {
		ref, err := teleport.LegacyIssue(ctx, w.cfg.Client, id, w.cfg.LegacyPlugin)
		switch {
		case err == nil:
		case trace.IsAccessDenied(err) || trace.IsNotFound(err):
			// Migration is best effort: without the right to read plugin
			// data the request is still published, without a legacy issue.
			w.cfg.Log.Warn().Err(err).Str("request_id", id).
				Msg("cannot read teleport-jira plugin data; publishing without the legacy issue (grant list/read on access_request or access_plugin_data, or set TELEPORT_BRIDGE_MIGRATE_TELEPORT_JIRA=false)")
		default:
			return fmt.Errorf("read %q plugin data of %s: %w", w.cfg.LegacyPlugin, id, err)
		}
		w.mu.Lock()
		t.legacy, t.legacyOK = ref, true
		w.mu.Unlock()
	}
	return w.publishPending(ctx, t)
}

// publishPending publishes, in order, the events of t's snapshot that this
// process has not published yet.
func (w *Watcher) publishPending(ctx context.Context, t *tracked) error {
	w.mu.Lock()
	snap := t.snap
	snap.LegacyIssue = t.legacy
	var todo []*events.RequestEvent
	for _, ev := range Derive(snap) {
		if !t.published[ev.DedupID()] {
			todo = append(todo, ev)
		}
	}
	w.mu.Unlock()
	for _, ev := range todo {
		if err := w.publish(ctx, ev); err != nil {
			return err
		}
		w.mu.Lock()
		t.published[ev.DedupID()] = true
		w.mu.Unlock()
	}
	return nil
}

func (w *Watcher) publish(ctx context.Context, ev *events.RequestEvent) error {
	if err := w.cfg.Publisher.Publish(ctx, ev); err != nil {
		return fmt.Errorf("publish %s: %w", ev.DedupID(), err)
	}
	w.published.Add(1)
	if w.cfg.Metrics.Published != nil {
		w.cfg.Metrics.Published(ev.Kind)
	}
	w.cfg.Log.Debug().Str("request_id", ev.Request.ID).Str("event_id", ev.DedupID()).Msg("published")
	return nil
}

// deleted reports a deletion: request.expired when the request was still
// pending (a resolved request that goes away is only cleaned up).
func (w *Watcher) deleted(ctx context.Context, id string) error {
	w.mu.Lock()
	t := w.tracked[id]
	var snap events.AccessRequest
	known := t != nil && t.snap.ID != ""
	if known {
		snap = t.snap
		snap.LegacyIssue = t.legacy
	}
	w.mu.Unlock()
	if !known && w.cfg.History != nil {
		var err error
		snap, known, err = w.cfg.History.LastSnapshot(ctx, id)
		if err != nil {
			return fmt.Errorf("last known state of %s: %w", id, err)
		}
	}
	if !known {
		w.cfg.Log.Info().Str("request_id", id).Msg("deleted request was never seen; nothing to report")
		return nil
	}
	if snap.State.Resolved() {
		w.markDeleted(id, snap)
		return nil
	}
	w.noteDeletion(id, snap)
	if err := w.publish(ctx, events.NewRequestExpired(snap)); err != nil {
		return err
	}
	w.markDeleted(id, snap)
	return nil
}

// noteDeletion records that Teleport deleted a pending request before its
// expiry is published, so that a failed publish is retried by the next
// listing instead of waiting for the request to be missed by listings.
func (w *Watcher) noteDeletion(id string, snap events.AccessRequest) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.tracked[id]
	if t == nil {
		t = &tracked{published: map[string]bool{}, firstSeen: time.Now()}
		w.tracked[id] = t
	}
	if t.snap.ID == "" {
		t.snap = snap
	}
	t.deleteSeen = true
}

func (w *Watcher) markDeleted(id string, snap events.AccessRequest) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.tracked[id]
	if t == nil {
		t = &tracked{published: map[string]bool{}, firstSeen: time.Now(), snap: snap}
		w.tracked[id] = t
	}
	t.deleteSeen, t.deleted = true, true
}
