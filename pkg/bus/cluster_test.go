package bus_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/rs/zerolog"
)

// syncBuffer is a log sink safe for the bus's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A service that declares its streams while the cluster has lost its
// quorum waits for the cluster instead of failing its start-up.
func TestDeclareWaitsForClusterQuorum(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	var logs syncBuffer
	ctx := context.Background()
	b, err := bus.Connect(ctx, c.Config(), "test", zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	c.Stop(1)
	c.Stop(2) // no quorum: no meta leader, declarations cannot be answered
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		// Bring the quorum back once the declaration has been refused.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(logs.String(), "retrying the declaration") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		c.Start(1)
		c.Start(2)
	}()
	_, err = b.EnsureStream(ctx, events.TeleportStream())
	<-restarted
	if err != nil {
		t.Fatalf("declaration during the outage: %v\nlogs:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "retrying the declaration") {
		t.Fatalf("the declaration was never refused, so the retry was not exercised; logs:\n%s", logs.String())
	}
	if _, err := b.EnsureKV(ctx, "test-bucket", "test", time.Hour); err != nil {
		t.Fatal(err)
	}
}

// Settings the server refuses fail at once, naming the stream.
func TestDeclareFailsFastOnBadSettings(t *testing.T) {
	srv := bustest.Start(t)
	cfg := srv.Config()
	cfg.Replicas = 3 // a single server cannot hold three replicas
	var logs syncBuffer
	b, err := bus.Connect(context.Background(), cfg, "test", zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.EnsureStream(context.Background(), events.TeleportStream())
	if err == nil || !strings.Contains(err.Error(), "declare stream TELEPORT") || !strings.Contains(err.Error(), "replicas") {
		t.Fatalf("err = %v, want the server's refusal naming the stream", err)
	}
	if strings.Contains(logs.String(), "retrying the declaration") {
		t.Fatalf("a refused declaration was retried:\n%s", logs.String())
	}
}

// On a replicated stream, replicas publishing the same event at the same
// moment all succeed and the event is stored once; none sees JetStream's
// "duplicate message id is in process" answer.
func TestConcurrentDuplicatePublishOnCluster(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	ctx := context.Background()
	var buses []*bus.Bus
	for i := 0; i < 3; i++ {
		b, err := bus.Connect(ctx, c.Config(), "test", zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		buses = append(buses, b)
	}
	stream, err := buses[0].EnsureStream(ctx, events.TeleportStream())
	if err != nil {
		t.Fatal(err)
	}
	const rounds, publishers = 50, 12
	for r := 0; r < rounds; r++ {
		env, err := events.New("test", time.Now(), reviewed("req-"+strconv.Itoa(r), 1))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, publishers)
		for p := 0; p < publishers; p++ {
			wg.Add(1)
			go func(b *bus.Bus) {
				defer wg.Done()
				if _, err := b.Publish(ctx, env); err != nil {
					errs <- err
				}
			}(buses[p%len(buses)])
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: concurrent publish of one event failed: %v", r, err)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != rounds {
		t.Fatalf("stream holds %d messages, want %d (one per event)", info.State.Msgs, rounds)
	}
}
