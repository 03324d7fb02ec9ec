package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/gravitational/teleport/api/types"
)

// Step is one checked step of the scenario.
type Step struct {
	Name string
	Took time.Duration
	Err  error
}

// Scenario plays the demo: four requests, each ending a different way, and
// checks each outcome in Jira and in Teleport.
type Scenario struct {
	Stack *Stack
	Out   io.Writer
	// StepTimeout bounds each wait (default 30s).
	StepTimeout time.Duration
	// Reviewer is the Jira user who moves cards (default the second
	// emulator user, alice).
	Reviewer string
}

// LabelPrefix is the label the jira-bridge puts on every issue, followed by
// the request id.
const LabelPrefix = "teleport-access-request-"

// Run plays every step and returns them; the error is the first failure.
func (sc *Scenario) Run(ctx context.Context) ([]Step, error) {
	if sc.StepTimeout == 0 {
		sc.StepTimeout = 30 * time.Second
	}
	if sc.Reviewer == "" {
		users := sc.Stack.Jira.Users()
		sc.Reviewer = users[1].AccountID
		if sc.Stack.Jira.Flavor() == jirasim.FlavorServer {
			sc.Reviewer = users[1].Name
		}
	}
	tp, jira := sc.Stack.Teleport, sc.Stack.Jira
	var steps []Step
	var ids [4]string
	issues := map[string]jirasim.Issue{}

	step := func(name string, fn func() error) error {
		start := time.Now()
		err := fn()
		s := Step{Name: name, Took: time.Since(start), Err: err}
		steps = append(steps, s)
		mark := "ok  "
		if err != nil {
			mark = "FAIL"
		}
		fmt.Fprintf(sc.Out, "  [%s] %-68s %7.3fs\n", mark, name, s.Took.Seconds())
		if err != nil {
			fmt.Fprintf(sc.Out, "         %v\n", err)
		}
		return err
	}
	wait := func(what string, cond func() (bool, error)) error {
		ctx, cancel := context.WithTimeout(ctx, sc.StepTimeout)
		defer cancel()
		var last error
		for {
			ok, err := cond()
			if ok {
				return nil
			}
			if err != nil {
				last = err
			}
			select {
			case <-ctx.Done():
				if last != nil {
					return fmt.Errorf("timed out waiting for %s: %w", what, last)
				}
				return fmt.Errorf("timed out waiting for %s", what)
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
	issueOf := func(id string) (jirasim.Issue, bool) {
		for _, is := range jira.Issues() {
			for _, l := range is.Labels {
				if l == LabelPrefix+id {
					return is, true
				}
			}
		}
		return jirasim.Issue{}, false
	}
	waitStatus := func(id, status string) error {
		return wait(fmt.Sprintf("the issue of %s to reach %s", id, status), func() (bool, error) {
			is, ok := issueOf(id)
			if !ok {
				return false, fmt.Errorf("no issue yet")
			}
			issues[id] = is
			return strings.EqualFold(is.Status, status), fmt.Errorf("issue %s is in %s", is.Key, is.Status)
		})
	}
	waitState := func(id string, want types.RequestState) error {
		return wait(fmt.Sprintf("request %s to be %s in Teleport", id, want), func() (bool, error) {
			r, err := tp.Request(id)
			if err != nil {
				return false, err
			}
			return r.GetState() == want, fmt.Errorf("request is %s", r.GetState())
		})
	}
	waitComment := func(id, contains string) error {
		return wait(fmt.Sprintf("a comment containing %q on the issue of %s", contains, id), func() (bool, error) {
			is, ok := issueOf(id)
			if !ok {
				return false, nil
			}
			for _, c := range jira.Comments(is.Key) {
				if strings.Contains(strings.ToLower(c.Body), strings.ToLower(contains)) {
					return true, nil
				}
			}
			return false, nil
		})
	}

	// Mattermost (when the stack runs its emulator): the bridge's request
	// posts of a request, by channel.
	mmPosts := func(id string) map[string][]mmsim.Post {
		out := map[string][]mmsim.Post{}
		for _, p := range sc.Stack.Mattermost.AllPosts() {
			if p.RootID == "" && p.Props["teleport_request_id"] == id {
				out[p.ChannelID] = append(out[p.ChannelID], p)
			}
		}
		return out
	}
	mmWait := func(id, status string) error {
		mm := sc.Stack.Mattermost
		channels := []string{mm.ChannelID("myteam", "town-square"), mm.DirectChannelID(mm.Bot().Email, MattermostReviewer)}
		return wait(fmt.Sprintf("the Mattermost posts of %s to show %s", id, status), func() (bool, error) {
			ps := mmPosts(id)
			for _, ch := range channels {
				if len(ps[ch]) > 1 {
					return false, fmt.Errorf("%d posts of %s in one channel", len(ps[ch]), id)
				}
				if len(ps[ch]) == 0 || !strings.Contains(ps[ch][0].Message, status) {
					return false, fmt.Errorf("no post of %s showing %s in channel %s yet", id, status, ch)
				}
			}
			return len(ps) == len(channels), fmt.Errorf("posts of %s in %d channels", id, len(ps))
		})
	}
	showPost := func(id string) {
		ps := mmPosts(id)[sc.Stack.Mattermost.ChannelID("myteam", "town-square")]
		if len(ps) == 0 {
			return
		}
		for _, l := range strings.Split(ps[0].Message, "\n") {
			fmt.Fprintf(sc.Out, "         | %s\n", l)
		}
	}

	fmt.Fprintln(sc.Out, "AccessBridge demo scenario")
	if err := step("Teleport: myuser requests editor four times (tsh request create)", func() error {
		reasons := []string{"deploy hotfix INC-101", "read prod logs", "rotate certificates", "one-off migration"}
		for i := range ids {
			id, err := tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, reasons[i],
				teleportsim.WithSuggestedReviewers(teleportsim.UserReviewer))
			if err != nil {
				return err
			}
			ids[i] = id
		}
		return nil
	}); err != nil {
		return steps, err
	}
	if err := step("Jira: four issues appear in Pending", func() error {
		for _, id := range ids {
			if err := waitStatus(id, "Pending"); err != nil {
				return err
			}
			is := issues[id]
			if !strings.Contains(is.Summary, teleportsim.UserRequester) || !strings.Contains(is.Description, id) {
				return fmt.Errorf("issue %s lacks the requester or request id: %q", is.Key, is.Summary)
			}
			var prop string
			_ = json.Unmarshal(is.Properties["teleportAccessRequestId"], &prop)
			if prop != id {
				return fmt.Errorf("issue %s has no teleportAccessRequestId property for %s", is.Key, id)
			}
		}
		return nil
	}); err != nil {
		return steps, err
	}
	if sc.Stack.Mattermost != nil {
		if err := step("Mattermost: each request posted to Town Square and to alice by DM", func() error {
			for _, id := range ids {
				if err := mmWait(id, "PENDING"); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return steps, err
		}
		showPost(ids[0])
	}
	if err := step(fmt.Sprintf("Jira: a reviewer drags %s to Approved", issues[ids[0]].Key), func() error {
		if err := jira.Move(issues[ids[0]].Key, "Approved", sc.Reviewer, "Reason: on call for INC-101"); err != nil {
			return err
		}
		return waitState(ids[0], types.RequestState_APPROVED)
	}); err != nil {
		return steps, err
	}
	if err := step(fmt.Sprintf("Jira: a reviewer drags %s to Denied", issues[ids[1]].Key), func() error {
		if err := jira.Move(issues[ids[1]].Key, "Denied", sc.Reviewer, "Reason: use the read-only role"); err != nil {
			return err
		}
		return waitState(ids[1], types.RequestState_DENIED)
	}); err != nil {
		return steps, err
	}
	if err := step(fmt.Sprintf("Teleport: an admin approves the third request; %s follows", issues[ids[2]].Key), func() error {
		if err := tp.Approve(ids[2], "approved with tctl"); err != nil {
			return err
		}
		if err := waitStatus(ids[2], "Approved"); err != nil {
			return err
		}
		return waitComment(ids[2], "approved with tctl")
	}); err != nil {
		return steps, err
	}
	if err := step(fmt.Sprintf("Teleport: the fourth request expires; %s moves to Expired", issues[ids[3]].Key), func() error {
		if err := tp.Expire(ids[3]); err != nil {
			return err
		}
		return waitStatus(ids[3], "Expired")
	}); err != nil {
		return steps, err
	}
	if err := step("Check: Teleport's audit names the Jira reviewer as delegator", func() error {
		for _, id := range ids[:2] {
			found := false
			for _, a := range tp.Audit() {
				if a.RequestID == id && strings.HasPrefix(a.Delegator, "jira:") {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("no audit event with a jira: delegator for %s", id)
			}
		}
		return nil
	}); err != nil {
		return steps, err
	}
	if sc.Stack.Mattermost != nil {
		if err := step("Mattermost: every post updated (approved, denied, approved, expired)", func() error {
			for i, status := range []string{"APPROVED", "DENIED", "APPROVED", "EXPIRED"} {
				if err := mmWait(ids[i], status); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return steps, err
		}
		showPost(ids[0])
	}
	if err := step("Check: one issue per request, no duplicates", func() error {
		n := 0
		for _, is := range jira.Issues() {
			for _, l := range is.Labels {
				if strings.HasPrefix(l, LabelPrefix) {
					n++
				}
			}
		}
		if n != len(ids) {
			return fmt.Errorf("%d issues for %d requests", n, len(ids))
		}
		return nil
	}); err != nil {
		return steps, err
	}
	return steps, nil
}
