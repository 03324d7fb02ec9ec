package teleportsim

import (
	"sync"

	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"
)

// watcherBuffer is how many events a slow watcher may lag behind before the
// emulator closes its stream, as Teleport does on buffer overflow.
const watcherBuffer = 1024

// watcher is one WatchEvents stream.
type watcher struct {
	filters map[string]types.AccessRequestFilter // by kind; only access_request today
	events  chan types.Event
	done    chan struct{}
	once    sync.Once
	err     error // set before done is closed
}

func (w *watcher) close(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.done)
	})
}

// wants reports whether ev passes the watch's kinds and filters. Deletes
// carry only a header, so, as in Teleport, they pass any filter.
func (w *watcher) wants(ev types.Event) bool {
	filter, ok := w.filters[ev.Resource.GetKind()]
	if !ok {
		return false
	}
	if ev.Type != types.OpPut {
		return true
	}
	req, ok := ev.Resource.(types.AccessRequest)
	return ok && filter.Match(req)
}

// watch registers a watcher and queues OpInit, confirming the supported
// kinds. Unsupported kinds fail the watch unless partial success is allowed.
func (s *store) watch(caller User, kinds []types.WatchKind, allowPartial bool) (*watcher, error) {
	w := &watcher{
		filters: make(map[string]types.AccessRequestFilter),
		events:  make(chan types.Event, watcherBuffer),
		done:    make(chan struct{}),
	}
	var confirmed []types.WatchKind
	for _, k := range kinds {
		if k.Kind != types.KindAccessRequest {
			if allowPartial {
				continue
			}
			return nil, trace.BadParameter("the Teleport emulator cannot watch %q (only %q)", k.Kind, types.KindAccessRequest)
		}
		if err := s.rbac.checkAction(caller, types.KindAccessRequest, types.VerbRead); err != nil {
			return nil, trace.Wrap(err)
		}
		var f types.AccessRequestFilter
		if err := f.FromMap(k.Filter); err != nil {
			return nil, trace.Wrap(err)
		}
		w.filters[k.Kind] = f
		confirmed = append(confirmed, k)
	}
	if len(confirmed) == 0 {
		return nil, trace.BadParameter("none of the requested kinds are supported")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w.events <- types.Event{Type: types.OpInit, Resource: types.NewWatchStatus(confirmed)}
	s.watchers[w] = struct{}{}
	return w, nil
}

func (s *store) unwatch(w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watchers, w)
}

// emit fans an event out to the watchers; callers hold mu.
func (s *store) emit(ev types.Event) {
	for w := range s.watchers {
		if !w.wants(ev) {
			continue
		}
		select {
		case w.events <- ev:
		default:
			w.close(trace.LimitExceeded("watcher buffer overflow"))
			delete(s.watchers, w)
		}
	}
}

// dropWatchers ends every watch stream with a connection problem.
func (s *store) dropWatchers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.watchers)
	for w := range s.watchers {
		w.close(trace.ConnectionProblem(nil, "watch stream dropped by the Teleport emulator"))
		delete(s.watchers, w)
	}
	return n
}

func (s *store) closeWatchers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		w.close(trace.ConnectionProblem(nil, "the Teleport emulator is shutting down"))
		delete(s.watchers, w)
	}
}
