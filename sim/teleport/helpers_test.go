package teleportsim_test

import (
	"context"
	"testing"
	"time"

	"github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/types"

	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

const waitFor = 15 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connect builds a client exactly as an access plugin does: the auth
// address and an identity file.
func connect(t testing.TB, srv *teleportsim.Server, user string) *client.Client {
	t.Helper()
	return connectWith(t, srv, client.LoadIdentityFile(srv.IdentityFile(user)))
}

func connectWith(t testing.TB, srv *teleportsim.Server, creds client.Credentials) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	clt, err := client.New(ctx, client.Config{
		Addrs:       []string{srv.Addr()},
		Credentials: []client.Credentials{creds},
	})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { _ = clt.Close() })
	return clt
}

func watchRequests(t *testing.T, ctx context.Context, clt *client.Client, kinds ...types.WatchKind) types.Watcher {
	t.Helper()
	if len(kinds) == 0 {
		kinds = []types.WatchKind{{Kind: types.KindAccessRequest}}
	}
	w, err := clt.NewWatcher(ctx, types.Watch{Kinds: kinds})
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	ev := nextEvent(t, w)
	if ev.Type != types.OpInit {
		t.Fatalf("first event = %v, want OpInit", ev.Type)
	}
	return w
}

func nextEvent(t *testing.T, w types.Watcher) types.Event {
	t.Helper()
	select {
	case ev := <-w.Events():
		return ev
	case <-w.Done():
		t.Fatalf("watcher closed: %v", w.Error())
	case <-time.After(waitFor):
		t.Fatal("no watch event within deadline")
	}
	return types.Event{}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	eventuallyEvery(t, what, 20*time.Millisecond, cond)
}

// eventuallyEvery polls at the given interval. Poll RPCs slowly: the api
// client's circuit breaker trips for a minute after 10 calls with 90% failures.
func eventuallyEvery(t *testing.T, what string, interval time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(interval) // poll interval, not synchronization
	}
	t.Fatalf("%s: still failing after %v: %v", what, waitFor, err)
}

func mustCreate(t testing.TB, srv *teleportsim.Server, user string, opts ...teleportsim.RequestOption) string {
	t.Helper()
	id, err := srv.CreateRequest(user, []string{"editor"}, "need to edit", opts...)
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	return id
}

func mustState(t *testing.T, srv *teleportsim.Server, id string, want types.RequestState) *types.AccessRequestV3 {
	t.Helper()
	req, err := srv.Request(id)
	if err != nil {
		t.Fatalf("Request(%s): %v", id, err)
	}
	if req.GetState() != want {
		t.Fatalf("state of %s = %v, want %v", id, req.GetState(), want)
	}
	return req
}
