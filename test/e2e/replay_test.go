package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/test/harness"
	"github.com/nats-io/nats.go/jetstream"
)

// jiraState is what a replay must leave unchanged in Jira.
type jiraState map[string]string // issue key → status, comments and transitions

func snapshotJira(s *harness.Stack) jiraState {
	out := jiraState{}
	for _, is := range s.Jira.Issues() {
		var b strings.Builder
		fmt.Fprintf(&b, "%s labels=%v", is.Status, is.Labels)
		for _, c := range s.Jira.Comments(is.Key) {
			fmt.Fprintf(&b, " | comment %s by %s: %q", c.ID, c.Author, c.Body)
		}
		for _, t := range s.Jira.Transitions(is.Key) {
			fmt.Fprintf(&b, " | %s→%s by %s", t.From, t.To, t.Author)
		}
		out[is.Key] = b.String()
	}
	return out
}

// requestIssues is the jira-bridge's projection bucket.
const requestIssues = "request-issues"

// projection reads request-issues: request id → phase, issue, status.
func projection(ctx context.Context, js jetstream.JetStream) (map[string]string, error) {
	kv, err := js.KeyValue(ctx, requestIssues)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		// The bucket's schema is the jira-bridge's own; these fields are
		// what a replay must bring back.
		var v struct {
			IssueID  string `json:"issue_id"`
			IssueKey string `json:"issue_key"`
			Status   string `json:"status"`
		}
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return nil, err
		}
		out[k] = fmt.Sprintf("%s %s %s", v.IssueID, v.IssueKey, v.Status)
	}
	return out, nil
}

// jiraWrites counts the API calls that change something in Jira.
func jiraWrites(s *harness.Stack) (int, []string) {
	var out []string
	for _, r := range s.Jira.Requests() {
		if r.Method != "GET" && !strings.Contains(r.Path, "/search") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return len(out), out
}

// Scenario 6: stop the jira-bridge, wipe its projection and replay its
// consumers from the start of the log: the projection comes back the same,
// Jira is not written to, and the rebuilt projection keeps working.
func TestReplayRebuildsProjection(t *testing.T) {
	ctx := t.Context()
	s := harness.Start(t, bin, harness.Options{Replicas: map[harness.Service]int{harness.JiraBridge: 2}})
	drv, c := mixed(t, s, play{n: size(50, 1000)})
	open, err := drv.CreateRequests(5)
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.WaitPending(ctx, open, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	js := s.JetStream()
	if err := harness.Quiet(ctx, js, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Requests = drv.Expectations()
	mustCheck(t, c)

	for _, p := range s.Replicas(harness.JiraBridge) {
		p.Stop()
	}
	before, err := projection(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	jiraBefore := snapshotJira(s)
	s.Jira.ResetRequests()

	// Wipe: the projection and the jira-bridge's consumers (so they replay
	// the log from the start).
	if err := js.DeleteKeyValue(ctx, requestIssues); err != nil {
		t.Fatal(err)
	}
	for _, cons := range []struct{ stream, name string }{
		{events.StreamTeleport, "jira-bridge-requests"}, {events.StreamTeleport, "jira-bridge-outcomes"}, {events.StreamJira, "jira-bridge-webhooks"},
	} {
		if err := js.DeleteConsumer(ctx, cons.stream, cons.name); err != nil {
			t.Fatalf("delete consumer %s: %v", cons.name, err)
		}
	}
	t.Logf("wiped %d projection entries", len(before))

	for i := range s.Replicas(harness.JiraBridge) {
		if err := s.StartReplica(harness.JiraBridge, i); err != nil {
			t.Fatal(err)
		}
	}
	var after map[string]string
	if err := harness.Eventually(ctx, 3*time.Minute, func() error {
		if err := harness.Quiet(ctx, js, 5*time.Second); err != nil {
			return err
		}
		after, err = projection(ctx, js)
		if err != nil {
			return err
		}
		if len(after) != len(before) {
			return fmt.Errorf("projection has %d entries, had %d", len(after), len(before))
		}
		return nil
	}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	for id, v := range before {
		if after[id] != v {
			t.Errorf("projection of %s: %q after the replay, %q before", id, after[id], v)
		}
	}
	if n, writes := jiraWrites(s); n > 0 {
		t.Errorf("the replay repeated %d Jira writes: %v", n, writes[:min(n, 10)])
	}
	jiraAfter := snapshotJira(s)
	for k, v := range jiraBefore {
		if jiraAfter[k] != v {
			t.Errorf("%s changed during the replay:\n before %s\n after  %s", k, v, jiraAfter[k])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("replay: %d requests re-read, 0 Jira writes, %d Jira reads", len(after), len(s.Jira.Requests()))

	// The rebuilt projection still guards the open requests.
	for i, id := range open {
		if err := drv.Decide(i%2, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := drv.WaitOutcomes(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := harness.Quiet(ctx, js, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Requests = drv.Expectations()
	mustCheck(t, c)
}
