package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/test/harness"
	"github.com/gravitational/teleport/api/types"
	"github.com/nats-io/nats.go/jetstream"
)

// Lost state duplicates nothing: the whole stack restarts on an empty NATS
// data dir (a new data dir, a lost store, a new cluster) against the same
// Jira and Teleport. No issue is created a second time — neither for the
// pending requests, which keep their issues and are still decided on the
// board and in Teleport, nor for the resolved ones — and no comment or
// transition is repeated.
func TestEmptyDataDirDuplicatesNothing(t *testing.T) {
	ctx := t.Context()
	s := harness.Start(t, bin, harness.Options{})
	drv := harness.NewDriver(s)
	ids, err := drv.CreateRequests(6)
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.WaitPending(ctx, ids, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Two end before the loss: one approved in Teleport, one with a review.
	if err := s.Teleport.Approve(ids[0], "approved before the loss"); err != nil {
		t.Fatal(err)
	}
	if err := s.Teleport.Review(ids[1], "reviewer", true, "reviewed before the loss"); err != nil {
		t.Fatal(err)
	}
	if err := harness.Eventually(ctx, time.Minute, func() error {
		for _, id := range ids[:2] {
			if is, _ := drv.IssueOf(id); is.Status != "Approved" {
				return fmt.Errorf("%s is %s", is.Key, is.Status)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := harness.Quiet(ctx, s.JetStream(), time.Minute); err != nil {
		t.Fatal(err)
	}
	before := boardState(s)

	// The loss: every service stopped, nats-server stopped, its store
	// wiped, everything started again on the empty store.
	s.StopAll()
	for _, n := range s.NATS.Nodes {
		n.Stop()
	}
	if err := os.RemoveAll(filepath.Join(s.NATS.Dir, "js-0")); err != nil {
		t.Fatal(err)
	}
	s.Jira.ResetRequests()
	if err := s.NATS.StartNode(0); err != nil {
		t.Fatal(err)
	}
	if err := harness.Eventually(ctx, time.Minute, func() error {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := s.JetStream().AccountInfo(cctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, svc := range harness.Services {
		for i := range s.Replicas(svc) {
			if err := s.StartReplica(svc, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The teleport-bridge relists every request; the jira-bridge finds the
	// issues of those older than its new log by their labels.
	if err := harness.Eventually(ctx, 2*time.Minute, func() error {
		if n := s.Jira.CountRequests("POST", "/rest/api/2/issue"); n != 0 {
			t.Fatalf("%d issues created after the loss, want 0", n)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := s.JetStream().Stream(cctx, events.StreamJira)
		if err != nil {
			return err
		}
		// One issue.linked per request Teleport still holds.
		info, err := st.Info(cctx, jetstream.WithSubjectFilter(events.SubjectIssues+".>"))
		if err != nil {
			return err
		}
		if n := len(info.State.Subjects); n < len(ids) {
			return fmt.Errorf("%d requests linked again", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := harness.Quiet(ctx, s.JetStream(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := s.Jira.CountRequests("POST", "/rest/api/2/issue"); n != 0 {
		t.Fatalf("%d issues created after the loss, want 0", n)
	}
	if after := boardState(s); after != before {
		t.Fatalf("Jira changed by the restart alone:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// The pending requests still decide: on the board, and in Teleport.
	board, tctl := ids[2], ids[3]
	is, _ := drv.IssueOf(board)
	if err := s.Jira.Move(is.Key, "Approved", drv.Reviewer, "Reason: after the loss"); err != nil {
		t.Fatal(err)
	}
	if err := s.Teleport.Deny(tctl, "denied after the loss"); err != nil {
		t.Fatal(err)
	}
	if err := harness.Eventually(ctx, 2*time.Minute, func() error {
		r, err := s.Teleport.Request(board)
		if err != nil {
			return err
		}
		if r.GetState() != types.RequestState_APPROVED {
			return fmt.Errorf("%s is %s in Teleport", board, r.GetState())
		}
		if is, _ := drv.IssueOf(tctl); is.Status != "Denied" {
			return fmt.Errorf("%s is %s", is.Key, is.Status)
		}
		for _, id := range []string{board, tctl} {
			if !hasResolutionComment(s, drv, id) {
				return fmt.Errorf("no resolution comment on %s's issue yet", id)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := harness.Quiet(ctx, s.JetStream(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := s.Jira.CountRequests("POST", "/rest/api/2/issue"); n != 0 {
		t.Fatalf("%d issues created after the loss, want 0", n)
	}
	perRequest := map[string]int{}
	for _, is := range s.Jira.Issues() {
		for _, l := range is.Labels {
			if id, ok := strings.CutPrefix(l, harness.LabelPrefix); ok {
				perRequest[id]++
			}
		}
	}
	for _, id := range ids {
		if perRequest[id] != 1 {
			t.Fatalf("request %s has %d issues, want 1", id, perRequest[id])
		}
	}
	// Each bot comment once (the bridge's marker names its cause).
	for _, is := range s.Jira.Issues() {
		seen := map[string]bool{}
		for _, c := range s.Jira.Comments(is.Key) {
			if c.Author != s.Jira.Bot().AccountID {
				continue
			}
			if seen[c.Body] {
				t.Fatalf("%s: comment %q written twice", is.Key, c.Body)
			}
			seen[c.Body] = true
		}
	}
}

// boardState is every issue with its status, comments and transitions.
func boardState(s *harness.Stack) string {
	var b strings.Builder
	for _, is := range s.Jira.Issues() {
		fmt.Fprintf(&b, "%s %s comments=%d transitions=%d\n", is.Key, is.Status, len(s.Jira.Comments(is.Key)), len(s.Jira.Transitions(is.Key)))
	}
	return b.String()
}

func hasResolutionComment(s *harness.Stack, drv *harness.Driver, id string) bool {
	is, ok := drv.IssueOf(id)
	if !ok {
		return false
	}
	for _, c := range s.Jira.Comments(is.Key) {
		if c.Author == s.Jira.Bot().AccountID && strings.Contains(c.Body, "in Teleport") {
			return true
		}
	}
	return false
}
