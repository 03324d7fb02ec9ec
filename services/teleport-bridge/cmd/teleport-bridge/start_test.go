package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/nats-io/nats.go/jetstream"
)

// TestStartRunsUntilCancelled runs the binary's start path against the
// emulator and embedded NATS: it publishes a request, then exits 0 when
// its context ends (SIGTERM in production).
func TestStartRunsUntilCancelled(t *testing.T) {
	n := bustest.Start(t)
	tp := teleportsim.Start(t, teleportsim.Options{})
	t.Setenv("NATS_URL", n.URL())
	t.Setenv("TELEPORT_BRIDGE_ADDR", tp.Addr())
	t.Setenv("TELEPORT_BRIDGE_IDENTITY_FILE", tp.IdentityFile(teleportsim.UserAccessPlugin))
	t.Setenv("TELEPORT_BRIDGE_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("LOG_LEVEL", "warn")
	t.Setenv("LOG_FORMAT", "json")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	var stderr bustest.LogBuffer
	go func() { code <- (&Main{Stdout: &stderr, Stderr: &stderr}).Run(ctx, nil) }()

	id, err := tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "via main")
	if err != nil {
		t.Fatal(err)
	}
	b := n.Connect(t, "test")
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := published(b.JS, id)
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s not published: %v\n%s", id, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d\n%s", c, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("start did not return after cancel")
	}
}

func published(js jetstream.JetStream, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.StreamTeleport)
	if err != nil {
		return false, err
	}
	_, err = s.GetLastMsgForSubject(ctx, events.RequestSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, err
	}
	return err == nil, err
}
