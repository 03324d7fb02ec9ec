package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/test/harness"
)

// Scenario: the bridges scale 1 → 3 → 1 replicas while requests flow, and
// the replica that holds the pin is killed with -9 once. Order and
// exclusion come from the pinned priority group of each consumer: a
// graceful stop releases the pin at once, a killed holder loses it after
// the pinned TTL. Nothing may be lost, duplicated or applied out of order.
func TestScaleOneThreeOne(t *testing.T) {
	three := map[harness.Service]int{harness.TeleportBridge: 3, harness.JiraBridge: 3, harness.Ingress: 1}
	s := harness.Start(t, bin, harness.Options{Replicas: three})
	bridges := []harness.Service{harness.TeleportBridge, harness.JiraBridge}
	for _, svc := range bridges {
		for _, p := range s.Replicas(svc)[1:] {
			p.Stop() // start from one replica each
		}
	}
	steps := 0
	_, c := mixed(t, s, play{n: size(60, 1000), pace: 50 * time.Millisecond, chaos: func(ctx context.Context) {
		step := func(what string, fn func(svc harness.Service)) {
			pause(ctx, time.Duration(size(1500, 8000))*time.Millisecond)
			if ctx.Err() != nil {
				return
			}
			for _, svc := range bridges {
				fn(svc)
			}
			steps++
			t.Logf("%s: %s", time.Now().Format(time.TimeOnly), what)
		}
		step("1 → 3 replicas", func(svc harness.Service) {
			for i := 1; i < 3; i++ {
				if err := s.StartReplica(svc, i); err != nil {
					t.Errorf("start %s-%d: %v", svc, i, err)
				}
			}
		})
		step("the first replica (the pinned one) killed with -9", func(svc harness.Service) {
			s.Replicas(svc)[0].Kill()
		})
		step("3 → 1: replica 1 stopped gracefully, replica 2 goes on alone", func(svc harness.Service) {
			s.Replicas(svc)[1].Stop()
		})
	}})
	if steps < 3 {
		t.Fatalf("the run ended after %d of the 3 scaling steps: the test proves nothing", steps)
	}
	mustCheck(t, c)
}
