package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

// Driver plays requests and decisions against a stack and remembers what
// it did, for the checker.
type Driver struct {
	S *Stack
	// Reviewer is the Jira account that moves cards (default alice).
	Reviewer string
	// Progress, when set, is told every 30s what a wait is still waiting for.
	Progress func(string)

	mu     sync.Mutex
	expect map[string]Expect
	order  []string
}

// NewDriver returns a driver for s.
func NewDriver(s *Stack) *Driver {
	return &Driver{S: s, Reviewer: s.Jira.Users()[1].AccountID, expect: map[string]Expect{}}
}

// Expectations is what the driver did to each request.
func (d *Driver) Expectations() map[string]Expect {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]Expect, len(d.expect))
	for k, v := range d.expect {
		out[k] = v
	}
	return out
}

// Set records the expected outcome of a request.
func (d *Driver) Set(id string, e Expect) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.expect[id]; !ok {
		d.order = append(d.order, id)
	}
	d.expect[id] = e
}

// CreateRequests creates n pending requests in Teleport (tsh request create).
func (d *Driver) CreateRequests(n int) ([]string, error) {
	ids := make([]string, 0, n)
	for i := range n {
		id, err := d.S.Teleport.CreateRequest(teleportsim.UserRequester, []string{"editor"}, fmt.Sprintf("e2e request %d", i),
			teleportsim.WithSuggestedReviewers(teleportsim.UserReviewer))
		if err != nil {
			return ids, err
		}
		d.Set(id, Expect{Outcome: Pending})
		ids = append(ids, id)
	}
	return ids, nil
}

// IssueOf returns the issue labelled for request id (the first if several).
func (d *Driver) IssueOf(id string) (jirasim.Issue, bool) {
	for _, is := range d.S.Jira.Issues() {
		for _, l := range is.Labels {
			if l == LabelPrefix+id {
				return is, true
			}
		}
	}
	return jirasim.Issue{}, false
}

// issuesByRequest indexes every labelled issue by request id.
func (d *Driver) issuesByRequest() map[string]jirasim.Issue {
	out := map[string]jirasim.Issue{}
	for _, is := range d.S.Jira.Issues() {
		for _, l := range is.Labels {
			if id, ok := strings.CutPrefix(l, LabelPrefix); ok {
				if _, dup := out[id]; !dup {
					out[id] = is
				}
			}
		}
	}
	return out
}

// WaitPending waits until every request in ids has an issue in Pending.
func (d *Driver) WaitPending(ctx context.Context, ids []string, timeout time.Duration) error {
	return Eventually(ctx, timeout, func() error {
		byReq := d.issuesByRequest()
		missing, notPending := 0, 0
		var example string
		for _, id := range ids {
			is, ok := byReq[id]
			switch {
			case !ok:
				missing++
				example = "no issue for " + id
			case !strings.EqualFold(is.Status, "Pending"):
				notPending++
				example = is.Key + " is in " + is.Status
			}
		}
		if missing+notPending > 0 {
			return fmt.Errorf("%d requests without an issue, %d issues not in Pending (e.g. %s)", missing, notPending, example)
		}
		return nil
	})
}

// Decide ends request i of ids one of five ways, by i mod 5: approved on
// the board, denied on the board, approved by a review in Teleport, denied
// by an admin in Teleport, expired.
func (d *Driver) Decide(i int, id string) error {
	switch i % 5 {
	case 0, 1:
		is, ok := d.IssueOf(id)
		if !ok {
			return fmt.Errorf("no issue for %s", id)
		}
		status, out := "Approved", Approved
		if i%5 == 1 {
			status, out = "Denied", Denied
		}
		if err := d.S.Jira.Move(is.Key, status, d.Reviewer, fmt.Sprintf("Reason: e2e decision %d", i)); err != nil {
			return fmt.Errorf("move %s to %s: %w", is.Key, status, err)
		}
		d.Set(id, Expect{Outcome: out, ByBoard: true})
	case 2:
		if err := d.S.Teleport.Review(id, teleportsim.UserReviewer, true, fmt.Sprintf("looks fine %d", i)); err != nil {
			return fmt.Errorf("review %s: %w", id, err)
		}
		d.Set(id, Expect{Outcome: Approved})
	case 3:
		if err := d.S.Teleport.Deny(id, fmt.Sprintf("denied with tctl %d", i)); err != nil {
			return fmt.Errorf("deny %s: %w", id, err)
		}
		d.Set(id, Expect{Outcome: Denied})
	case 4:
		if err := d.S.Teleport.Expire(id); err != nil {
			return fmt.Errorf("expire %s: %w", id, err)
		}
		d.Set(id, Expect{Outcome: Expired})
	}
	return nil
}

// WaitOutcomes waits until every request reached its expected end in
// Teleport and in Jira (status and resolution comment).
func (d *Driver) WaitOutcomes(ctx context.Context, timeout time.Duration) error {
	bot := d.S.Jira.Bot().AccountID
	lastReport := time.Now()
	return Eventually(ctx, timeout, func() error {
		err := d.behind(bot)
		if err != nil && d.Progress != nil && time.Since(lastReport) > 30*time.Second {
			lastReport = time.Now()
			d.Progress("still waiting: " + err.Error())
		}
		return err
	})
}

func (d *Driver) behind(bot string) error {
	byReq := d.issuesByRequest()
	behind := 0
	var example string
	for id, want := range d.Expectations() {
		if err := d.reached(id, want, byReq, bot); err != nil {
			behind++
			example = err.Error()
		}
	}
	if behind > 0 {
		return fmt.Errorf("%d requests not at their end yet (e.g. %s)", behind, example)
	}
	return nil
}

func (d *Driver) reached(id string, want Expect, byReq map[string]jirasim.Issue, bot string) error {
	is, ok := byReq[id]
	if !ok {
		return fmt.Errorf("no issue for %s", id)
	}
	if !strings.EqualFold(is.Status, want.Outcome.Status()) {
		return fmt.Errorf("%s is in %s, want %s", is.Key, is.Status, want.Outcome.Status())
	}
	req, err := d.S.Teleport.Request(id)
	switch {
	case want.Outcome == Expired:
		if err == nil {
			return fmt.Errorf("%s still exists in Teleport", id)
		}
	case err != nil:
		return err
	case req.GetState().String() != string(want.Outcome):
		return fmt.Errorf("%s is %s in Teleport, want %s", id, req.GetState(), want.Outcome)
	}
	if want.Outcome == Pending {
		return nil
	}
	for _, c := range d.S.Jira.Comments(is.Key) {
		if c.Author == bot && strings.HasPrefix(c.Body, "Access request has") {
			return nil
		}
	}
	return fmt.Errorf("%s has no resolution comment yet", is.Key)
}
