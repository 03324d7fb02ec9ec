// Package e2e holds the end-to-end, fault and security scenarios of
// DESIGN.md §5 over the real binaries (test/harness). Each scenario has a
// short variant (make test) and a long one (make soak: SOAK=1).
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/test/harness"
)

var bin harness.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "accessbridge-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = harness.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// soak reports whether the long variants run (make soak).
func soak() bool { return os.Getenv("SOAK") == "1" }

// size picks the short or the long figure.
func size(short, long int) int {
	if soak() {
		return long
	}
	return short
}

// play describes a mixed run.
type play struct {
	n int
	// pace spreads the requests and the decisions over time, so that
	// chaos has a run to hit (0: as fast as possible).
	pace time.Duration
	// chaos runs from the first request until every outcome is reached.
	chaos func(ctx context.Context)
	// beforeDecide runs once every issue is in Pending.
	beforeDecide func(ids []string)
	// wait bounds each phase (default max(n/10 s, 2 min)).
	wait time.Duration
}

// mixed plays n requests ended five ways (harness.Driver.Decide) while
// chaos (if any) runs, then waits for every outcome and for the consumers
// to drain, and returns the checker with the driver's expectations.
func mixed(t *testing.T, s *harness.Stack, p play) (*harness.Driver, *harness.Checker) {
	t.Helper()
	ctx := t.Context()
	drv := harness.NewDriver(s)
	drv.Progress = func(m string) { t.Logf("%s: %s", time.Now().Format(time.TimeOnly), m) }
	chaosCtx, stopChaos := context.WithCancel(ctx)
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		if p.chaos != nil {
			p.chaos(chaosCtx)
		}
	}()
	stop := func() {
		stopChaos()
		<-chaosDone
	}
	defer stop()

	start := time.Now()
	n := p.n
	var ids []string
	for len(ids) < n {
		more, err := drv.CreateRequests(1)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, more...)
		pause(ctx, p.pace)
	}
	wait := p.wait
	if wait == 0 {
		wait = time.Duration(max(n/10, 120)) * time.Second
	}
	if err := drv.WaitPending(ctx, ids, wait); err != nil {
		t.Fatalf("issues: %v", err)
	}
	t.Logf("%d issues in Pending after %s", n, time.Since(start).Round(time.Millisecond))
	if p.beforeDecide != nil {
		p.beforeDecide(ids)
	}
	for i, id := range ids {
		if err := drv.Decide(i, id); err != nil {
			t.Fatal(err)
		}
		pause(ctx, p.pace)
	}
	if err := drv.WaitOutcomes(ctx, wait); err != nil {
		t.Fatalf("outcomes: %v", err)
	}
	stop()
	t.Logf("%d requests at their end after %s", n, time.Since(start).Round(time.Millisecond))
	for _, svc := range harness.Services {
		for i, p := range s.Replicas(svc) {
			if !p.Running() {
				if err := s.StartReplica(svc, i); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	drain := time.Now()
	if err := harness.Quiet(ctx, s.JetStream(), 2*time.Minute); err != nil {
		t.Fatalf("consumers never drained: %v", err)
	}
	t.Logf("consumers drained %s after the last outcome", time.Since(drain).Round(time.Millisecond))
	c := s.Checker()
	c.Requests = drv.Expectations()
	return drv, c
}

// mustCheck runs the checker and fails the test on any violation.
func mustCheck(t *testing.T, c *harness.Checker) harness.Report {
	t.Helper()
	start := time.Now()
	r := c.Check(t.Context())
	t.Logf("final state (checked in %s): %s", time.Since(start).Round(time.Millisecond), r)
	t.Logf("Jira calls by route:\n%s", r.JiraTraffic())
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

// pause spreads load over time; it is never used to wait for a result.
func pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
