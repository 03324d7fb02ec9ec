package bus_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/bus/embedded"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/rs/zerolog"
)

// A service that declares its streams while the cluster has lost its
// quorum waits for the cluster instead of failing its start-up.
func TestDeclareWaitsForClusterQuorum(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	var logs bustest.LogBuffer
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
		for _, i := range []int{1, 2} {
			if err := c.Start(i); err != nil {
				t.Error(err)
			}
		}
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
	var logs bustest.LogBuffer
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

// Two replicas consuming from a 3-node cluster while its nodes are killed
// and restarted one at a time: every event is handled, per-subject order
// holds, and the consumer drains once the cluster is whole again. A lease
// update or an ack lost in a leader election must not hold a subject back.
func TestConsumeThroughClusterNodeRestarts(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	ctx := context.Background()
	var logs bustest.LogBuffer
	if path := os.Getenv("BUS_TEST_LOGS"); path != "" {
		t.Cleanup(func() { _ = os.WriteFile(path, []byte(logs.String()), 0o600) })
	}
	connect := func(name string) *bus.Bus {
		b, err := bus.Connect(ctx, c.Config(), name, zerolog.New(&logs).With().Timestamp().Str("bus", name).Logger().Level(zerolog.DebugLevel))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	pub := connect("publisher")
	if _, err := pub.EnsureStream(ctx, events.TeleportStream()); err != nil {
		t.Fatal(err)
	}
	const subjects, perSubject = 30, 8
	var mu sync.Mutex
	handled := map[string][]int{}
	lateDuplicates := 0
	handler := func(_ context.Context, d bus.Delivery) error {
		ev := d.Event.Payload.(*events.RequestEvent)
		mu.Lock()
		defer mu.Unlock()
		h := handled[ev.Request.ID]
		if slices.Contains(h, ev.Review) {
			// Handled already: a redelivery after a lost ack, or a late
			// duplicate from a replica that had not yet learned that a
			// consumer leader elected meanwhile pinned the other one.
			// Handlers are idempotent (the jira-bridge's: an older event
			// arriving late changes nothing); what must hold is that no
			// event is handled for the first time before an earlier one
			// of its request.
			lateDuplicates++
			return nil
		}
		handled[ev.Request.ID] = append(h, ev.Review)
		return nil
	}
	s := spec("clustered")
	s.MaxAttempts = 50
	s.AckWait = 3 * time.Second
	run(t, connect("replica-1"), s, handler)
	run(t, connect("replica-2"), s, handler)

	chaosCtx, stopChaos := context.WithCancel(ctx)
	chaosDone := make(chan int)
	go func() {
		kills := 0
		defer func() { chaosDone <- kills }()
		for i := 0; chaosCtx.Err() == nil; i++ {
			node := i % 3
			c.Stop(node)
			kills++
			select {
			case <-chaosCtx.Done():
			case <-time.After(700 * time.Millisecond):
			}
			// One node down at a time: the restarted one catches up first.
			if err := c.Start(node); err != nil {
				t.Error(err)
				return
			}
			if err := c.WaitForNode(node, 30*time.Second); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-chaosCtx.Done():
			case <-time.After(700 * time.Millisecond):
			}
		}
	}()
	for n := 1; n <= perSubject; n++ {
		for i := 0; i < subjects; i++ {
			p := reviewed(fmt.Sprintf("r%d", i), n)
			// A busy machine can take long to elect a stream leader after
			// a kill; the publish waits for it.
			deadline := time.Now().Add(90 * time.Second)
			for {
				_, err := pub.PublishEvent(ctx, "test", p)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					stopChaos() // the chaos goroutine must end before the cluster's cleanup
					<-chaosDone
					t.Fatalf("publish during the node restarts: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	stopChaos()
	kills := <-chaosDone
	c.WaitForLeader(30 * time.Second)
	drained := time.Now()
	defer func() {
		if !t.Failed() {
			return
		}
		// What the consumer looked like at the failure, for the log.
		if cons, err := pub.JS.Consumer(context.Background(), events.StreamTeleport, "clustered"); err == nil {
			if info, err := cons.Info(context.Background()); err == nil {
				t.Logf("consumer: delivered %+v, ack floor %+v, %d pending, %d unacked, %d waiting pulls, groups %+v",
					info.Delivered, info.AckFloor, info.NumPending, info.NumAckPending, info.NumWaiting, info.PriorityGroups)
			}
		}
		mu.Lock()
		t.Logf("handled: %v", handled)
		mu.Unlock()
	}()
	eventually(t, 90*time.Second, "every event handled after the node restarts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < subjects; i++ {
			if len(handled[fmt.Sprintf("r%d", i)]) < perSubject {
				return false
			}
		}
		return true
	})
	mu.Lock()
	t.Logf("%d node kills; every event handled %s after the cluster was whole; %d handled again", kills, time.Since(drained).Round(time.Millisecond), lateDuplicates)
	mu.Unlock()

	mu.Lock()
	for id, h := range handled {
		for i, n := range h {
			if n != i+1 {
				t.Errorf("%s handled in order %v, want 1..%d", id, h, perSubject)
				break
			}
		}
	}
	mu.Unlock()
}

// A user the server does not let manage streams gets a clear error at
// once, not a minute of retried timeouts (the server drops the request and
// reports the violation asynchronously).
func TestDeclareWithoutPermissionFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(`authorization { users: [
  { user: "ingress", password: "pw", permissions: { publish: { allow: ["jira.webhooks.>", "$JS.API.INFO"] }, subscribe: { allow: ["_INBOX.>"] } } }
] }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ns, err := embedded.Run(embedded.Options{Dir: filepath.Join(dir, "js"), ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	var logs bustest.LogBuffer
	cfg := bus.Config{URL: ns.ClientURL(), User: "ingress", Password: "pw", APITimeout: 2 * time.Second, DeclareTimeout: time.Minute}
	b, err := bus.Connect(context.Background(), cfg, "test", zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.EnsureStream(context.Background(), events.JiraStream())
	if err == nil || !strings.Contains(err.Error(), "permissions violation") || !strings.Contains(err.Error(), "declare stream JIRA") {
		t.Fatalf("err = %v, want a permissions violation naming the stream", err)
	}
	if strings.Contains(logs.String(), "retrying the declaration") {
		t.Fatalf("a refused declaration was retried:\n%s", logs.String())
	}
}
