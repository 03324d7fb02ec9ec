package e2e

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	"github.com/accessbridge/accessbridge/test/harness"
)

var twoOfEach = map[harness.Service]int{harness.TeleportBridge: 2, harness.JiraBridge: 2, harness.Ingress: 2}

// every runs fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Scenario 2: kill -9 of a random service replica every few seconds while
// requests flow; the harness restarts each one.
func TestKillRandomReplicas(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{Replicas: twoOfEach})
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var kills atomic.Int64
	_, c := mixed(t, s, play{n: size(60, 1000), pace: 100 * time.Millisecond, chaos: func(ctx context.Context) {
		every(ctx, time.Duration(size(1000, 3000))*time.Millisecond, func() {
			svc, i := s.KillRandom(r)
			kills.Add(1)
			pause(ctx, time.Duration(r.IntN(500))*time.Millisecond)
			if err := s.StartReplica(svc, i); err != nil {
				t.Errorf("restart %s-%d: %v", svc, i, err)
			}
		})
	}})
	t.Logf("kill -9: %d replicas killed and restarted", kills.Load())
	if kills.Load() == 0 {
		t.Fatal("the run ended before any replica was killed")
	}
	mustCheck(t, c)
}

// Scenario 3: the nats-server process restarts mid-run.
func TestNATSRestart(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{Replicas: twoOfEach})
	restarts := 0
	_, c := mixed(t, s, play{n: size(60, 1000), pace: 40 * time.Millisecond, chaos: func(ctx context.Context) {
		for restarts < size(1, 3) {
			pause(ctx, 1500*time.Millisecond)
			if ctx.Err() != nil {
				return
			}
			if err := s.NATS.Restart(); err != nil {
				t.Errorf("restart nats-server: %v", err)
				return
			}
			restarts++
		}
	}})
	t.Logf("nats-server restarted %d times", restarts)
	mustCheck(t, c)
}

// Scenario 3, cluster: three nats-server nodes, R3 streams and buckets; one
// node at a time is killed and brought back.
func TestNATSClusterNodeKilled(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{NATSNodes: 3, Replicas: twoOfEach})
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	kills := 0
	// Each kill costs seconds of leader elections, during the outcomes
	// too: the soak's 20 kills get 5 minutes a phase (the run itself
	// took 1–2).
	_, c := mixed(t, s, play{n: size(60, 1000), pace: 40 * time.Millisecond, wait: time.Duration(size(2, 5)) * time.Minute, chaos: func(ctx context.Context) {
		for kills < size(2, 20) {
			pause(ctx, 1500*time.Millisecond)
			if ctx.Err() != nil {
				return
			}
			i := r.IntN(len(s.NATS.Nodes))
			s.NATS.KillNode(i)
			kills++
			pause(ctx, 2*time.Second)
			if err := s.NATS.StartNode(i); err != nil {
				t.Errorf("restart nats node %d: %v", i, err)
				return
			}
		}
	}})
	t.Logf("nats nodes killed and restarted: %d", kills)
	mustCheck(t, c)
}

// Scenario 4: Jira answers 5xx 30% of the time, rate-limits with
// Retry-After, is slow, lags on reads, and duplicates, reorders and drops
// webhooks; the reconciler catches the dropped moves.
func TestJiraFaults(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{Replicas: twoOfEach})
	// The per-issue write limit (Jira Cloud's jira-per-issue-on-write) is
	// set under the pace of one issue's consecutive writes, so that 429s
	// with Retry-After are certain at either latency. The bridge now writes
	// an issue two or three times in its whole life (the move to Pending,
	// the resolution, a comment per review), the first two within seconds
	// of each other in this run; the emulator's bucket holds one write, and
	// the limit allows one write per two seconds (per three latencies in
	// the soak).
	latency := 100 * time.Millisecond
	if soak() {
		latency = 2 * time.Second
	}
	perIssue := min(0.5, 1/(3*latency.Seconds()))
	faults := jirasim.Faults{
		Latency: latency, ErrorRate: 0.3, RateLimit: 40, IssueWriteLimit: perIssue, RetryAfter: time.Second,
		ReadLag: time.Second, WebhookDuplicateRate: 0.2, WebhookReorderRate: 0.2, WebhookDropRate: 0.1,
	}
	if err := s.Jira.SetFaults(faults); err != nil {
		t.Fatal(err)
	}
	_, c := mixed(t, s, play{n: size(60, 300), wait: time.Duration(size(10, 40)) * time.Minute})
	if err := s.Jira.SetFaults(jirasim.Faults{}); err != nil {
		t.Fatal(err)
	}
	var errs5xx, limited, dropped, dup int
	for _, rq := range s.Jira.Requests() {
		switch {
		case rq.Status >= 500:
			errs5xx++
		case rq.Status == 429:
			limited++
		}
	}
	for _, d := range s.Jira.Webhooks() {
		if d.State == jirasim.DeliveryDropped {
			dropped++
		}
		if d.Duplicate {
			dup++
		}
	}
	t.Logf("jira faults injected: %d 5xx, %d 429, %d webhooks dropped, %d duplicated", errs5xx, limited, dropped, dup)
	if errs5xx == 0 || limited == 0 {
		t.Errorf("faults not exercised: %d 5xx, %d 429", errs5xx, limited)
	}
	mustCheck(t, c)
}

// Scenario 5: Teleport drops the watch repeatedly, refuses connections for
// a while, and rotates the bridge's identity.
func TestTeleportFaults(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{Replicas: twoOfEach})
	var drops, refusals, rotations atomic.Int64
	refuse := time.Duration(size(5, 30)) * time.Second
	_, c := mixed(t, s, play{n: size(60, 1000), pace: 50 * time.Millisecond, wait: 5 * time.Minute, chaos: func(ctx context.Context) {
		step := 0
		every(ctx, 700*time.Millisecond, func() {
			step++
			switch {
			case step%9 == 3 && refusals.Load() < int64(size(1, 3)):
				s.Teleport.RefuseConnections(refuse)
				refusals.Add(1)
			case step%9 == 6:
				if err := s.Teleport.RotateIdentity(s.TeleportUser()); err != nil {
					t.Errorf("rotate identity: %v", err)
				}
				rotations.Add(1)
			default:
				s.Teleport.DropWatchers()
				drops.Add(1)
			}
		})
	}})
	t.Logf("teleport faults: %d watch drops, %d refusals of %s, %d identity rotations", drops.Load(), refusals.Load(), refuse, rotations.Load())
	mustCheck(t, c)
}

// Jira's read-after-write lag alone: a card approved on the board is read
// back as still Pending when Teleport's resolution comes back, for a few
// seconds. The resolution must still end with one transition and one
// comment, and nothing may be dead-lettered (no permanent error happened).
func TestJiraReadLagAfterBoardMove(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{})
	if err := s.Jira.SetFaults(jirasim.Faults{ReadLag: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	_, c := mixed(t, s, play{n: 10})
	mustCheck(t, c)
}
