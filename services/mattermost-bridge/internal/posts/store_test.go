package posts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/posts"
)

func TestStreamStoreIsACompareAndSwapPerRequest(t *testing.T) {
	ns := bustest.Start(t)
	b := ns.Connect(t, "store")
	ctx := context.Background()
	stream, err := b.EnsureStream(ctx, events.MattermostStream())
	if err != nil {
		t.Fatal(err)
	}
	store := &posts.StreamStore{JS: b.JS, Stream: stream, Source: "test"}

	rec, seq, err := store.Load(ctx, "req-1")
	if err != nil || seq != 0 || len(rec.Posts) != 0 || rec.RequestID != "req-1" {
		t.Fatalf("empty load: %+v %d %v", rec, seq, err)
	}
	rec.Version, rec.Cause = 1, "intent:post"
	rec.Posts = []events.MattermostPost{{Recipient: "alice@example.com", ChannelID: "c1", IntentAt: time.Now()}}
	seq1, err := store.Save(ctx, &rec, 0)
	if err != nil {
		t.Fatal(err)
	}

	// A writer that read before seq1 loses.
	stale := rec
	stale.Version, stale.Cause = 2, "posted"
	if _, err := store.Save(ctx, &stale, 0); !errors.Is(err, posts.ErrConflict) {
		t.Fatalf("stale write: %v", err)
	}
	// The same version again (a retry whose ack was lost) is a conflict too.
	if _, err := store.Save(ctx, &rec, seq1); !errors.Is(err, posts.ErrConflict) {
		t.Fatalf("duplicate version: %v", err)
	}
	rec.Version, rec.Cause = 2, "posted"
	rec.Posts[0].PostID = "p1"
	seq2, err := store.Save(ctx, &rec, seq1)
	if err != nil || seq2 <= seq1 {
		t.Fatalf("save v2: %d %v", seq2, err)
	}
	got, seq, err := store.Load(ctx, "req-1")
	if err != nil || seq != seq2 || got.Version != 2 || got.Posts[0].PostID != "p1" {
		t.Fatalf("load: %+v %d %v", got, seq, err)
	}
	// Other requests are independent.
	if _, seq, _ := store.Load(ctx, "req-2"); seq != 0 {
		t.Fatalf("req-2 seq %d", seq)
	}
}
