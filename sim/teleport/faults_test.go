package teleportsim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"

	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

func TestDynamicIdentityReload(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	path := srv.IdentityFile(teleportsim.UserAccessPlugin)
	dyn, err := client.NewDynamicIdentityFileCreds(path)
	if err != nil {
		t.Fatal(err)
	}
	reloading := connectWith(t, srv, dyn)
	static := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	for _, clt := range []*client.Client{reloading, static} {
		if _, err := clt.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := dyn.Expiry()

	// Rotation rejects the old certificate and cuts its connections: only a
	// client that reloads the file keeps working.
	if err := srv.RotateIdentity(teleportsim.UserAccessPlugin); err != nil {
		t.Fatal(err)
	}
	if err := dyn.Reload(); err != nil {
		t.Fatal(err)
	}
	after, _ := dyn.Expiry()
	if !after.After(before) && !after.Equal(before) {
		t.Fatalf("expiry went back: %v → %v", before, after)
	}
	eventuallyEvery(t, "reloaded client pings", 250*time.Millisecond, func() error {
		_, err := reloading.Ping(ctx)
		return err
	})
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := static.Ping(pingCtx); err == nil {
		t.Fatal("client without reload still works with the rotated-out certificate")
	}
	// A new client from the rewritten file works.
	if _, err := connect(t, srv, teleportsim.UserAccessPlugin).Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReissueKeepsOldCertificate(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	old := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	if err := srv.ReissueIdentity(teleportsim.UserAccessPlugin); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Ping(ctx); err != nil {
		t.Fatalf("old certificate after reissue: %v", err)
	}
	if _, err := connect(t, srv, teleportsim.UserAccessPlugin).Ping(ctx); err != nil {
		t.Fatalf("new certificate: %v", err)
	}
}

func TestDropWatchers(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	w := watchRequests(t, ctx, clt)
	eventually(t, "watcher registered", func() error {
		if srv.Watchers() != 1 {
			return errors.New("no watcher")
		}
		return nil
	})
	srv.DropWatchers()
	select {
	case <-w.Done():
		if !trace.IsConnectionProblem(w.Error()) {
			t.Errorf("watch error %v, want ConnectionProblem", w.Error())
		}
	case <-time.After(waitFor):
		t.Fatal("watcher not dropped")
	}
	w2 := watchRequests(t, ctx, clt)
	id := mustCreate(t, srv, teleportsim.UserRequester)
	if ev := nextEvent(t, w2); ev.Resource.GetName() != id {
		t.Fatalf("re-watch got %s", ev.Resource.GetName())
	}
}

func TestRefuseConnections(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	w := watchRequests(t, ctx, clt)

	srv.RefuseConnections(time.Second)
	select {
	case <-w.Done():
	case <-time.After(waitFor):
		t.Fatal("watch survived the outage")
	}
	pingCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := clt.Ping(pingCtx); err == nil {
		t.Fatal("Ping succeeded while refusing connections")
	}
	eventually(t, "outage over", func() error {
		if srv.Refusing() {
			return errors.New("still refusing")
		}
		return nil
	})
	eventuallyEvery(t, "ping after outage", 250*time.Millisecond, func() error {
		_, err := clt.Ping(ctx)
		return err
	})
}

func TestLatency(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	clt := connect(t, srv, teleportsim.UserAccessPlugin)
	ctx := testContext(t)
	srv.SetLatency(300 * time.Millisecond)
	start := time.Now()
	if _, err := clt.GetAccessRequests(ctx, types.AccessRequestFilter{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("call took %v with 300ms latency", took)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := clt.Ping(short); err == nil {
		t.Fatal("Ping beat a 50ms deadline under 300ms latency")
	}
	srv.SetLatency(0)
	if _, err := clt.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
