package harness

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LabelPrefix is the label of every issue, followed by the request id.
const LabelPrefix = "teleport-access-request-"

// Outcome is how a request ended.
type Outcome string

// Outcomes a scenario expects.
const (
	Pending  Outcome = "PENDING"
	Approved Outcome = "APPROVED"
	Denied   Outcome = "DENIED"
	Expired  Outcome = "EXPIRED"
)

// Status is the Jira status of the outcome.
func (o Outcome) Status() string {
	return map[Outcome]string{Pending: "Pending", Approved: "Approved", Denied: "Denied", Expired: "Expired"}[o]
}

// Expect is what a scenario did to one request.
type Expect struct {
	Outcome Outcome
	// ByBoard: the outcome was decided by a move on the board, so exactly
	// one decision must have been applied in Teleport.
	ByBoard bool
}

// DeadLetter is one message of the DEADLETTER stream.
type DeadLetter struct {
	Subject, Reason, OriginalSubject string
}

// Problem is one broken invariant.
type Problem struct {
	Kind   string // lost, duplicate-issue, review-comment, resolution-comment, duplicate-comment, resolution-transition, status, teleport-state, double-decision, duplicate-decision, unacked, dead-letter, secret-in-log
	Detail string
}

func (p Problem) String() string { return p.Kind + ": " + p.Detail }

// Report is the result of a check.
type Report struct {
	Problems                                        []Problem
	Requests, Issues, Comments, Transitions         int
	Decisions, DecisionsApplied, DeadLetters, Moves int
	// JiraReads and JiraWrites count the API calls the emulator received
	// (searches count as reads), over the whole run.
	JiraReads, JiraWrites int
	// JiraByRoute counts them by "METHOD route".
	JiraByRoute map[string]int
}

// Kinds lists the kinds of problems found, sorted and unique.
func (r Report) Kinds() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range r.Problems {
		if !seen[p.Kind] {
			seen[p.Kind] = true
			out = append(out, p.Kind)
		}
	}
	sort.Strings(out)
	return out
}

// Has reports whether a problem of kind was found.
func (r Report) Has(kind string) bool {
	for _, p := range r.Problems {
		if p.Kind == kind {
			return true
		}
	}
	return false
}

// Err is nil when no problem was found.
func (r Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d invariant violations:", len(r.Problems))
	for i, p := range r.Problems {
		if i == 30 {
			fmt.Fprintf(&b, "\n  … and %d more", len(r.Problems)-i)
			break
		}
		b.WriteString("\n  " + p.String())
	}
	return errors.New(b.String())
}

func (r Report) String() string {
	dup, lost := 0, 0
	for _, p := range r.Problems {
		switch {
		case strings.HasPrefix(p.Kind, "duplicate-") || p.Kind == "double-decision":
			dup++
		case p.Kind == "lost":
			lost++
		}
	}
	perRequest := 0.0
	if r.Requests > 0 {
		perRequest = float64(r.JiraReads+r.JiraWrites) / float64(r.Requests)
	}
	return fmt.Sprintf("%d requests, %d issues, %d comments, %d transitions, %d board moves, %d decisions (%d applied), %d dead letters; Jira calls %d (%d writes, %d reads; %.1f per request); duplicates found %d, lost %d, %d problems in all",
		r.Requests, r.Issues, r.Comments, r.Transitions, r.Moves, r.Decisions, r.DecisionsApplied, r.DeadLetters,
		r.JiraReads+r.JiraWrites, r.JiraWrites, r.JiraReads, perRequest, dup, lost, len(r.Problems))
}

// JiraTraffic lists the Jira calls by route, most frequent first.
func (r Report) JiraTraffic() string {
	routes := sortedKeys(r.JiraByRoute)
	sort.SliceStable(routes, func(i, j int) bool { return r.JiraByRoute[routes[i]] > r.JiraByRoute[routes[j]] })
	var b strings.Builder
	for _, k := range routes {
		fmt.Fprintf(&b, "%6d  %s\n", r.JiraByRoute[k], k)
	}
	return b.String()
}

// Checker checks DESIGN.md §5 over the final state of Jira, Teleport and
// the streams.
type Checker struct {
	Jira     *jirasim.Server
	Teleport *teleportsim.Server
	JS       jetstream.JetStream
	LogDir   string
	Secrets  []string

	// Requests the scenario created, and what it did to each.
	Requests map[string]Expect
	// ForgedIssues are keys of issues a test created on purpose (outside
	// the bridge); they are not counted as the requests' issues.
	ForgedIssues map[string]bool
	// DeadLetterExpected says whether a dead letter was caused by an
	// injected permanent error; nil means none is expected.
	DeadLetterExpected func(DeadLetter) bool
}

// Check examines everything and reports every violation.
func (c *Checker) Check(ctx context.Context) Report {
	var r Report
	add := func(kind, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	bot := c.Jira.Bot().AccountID
	r.JiraByRoute = map[string]int{}
	for _, call := range c.Jira.Calls() {
		r.JiraByRoute[call]++
	}
	for _, rq := range c.Jira.Requests() {
		if rq.Method == "GET" || strings.Contains(rq.Path, "/search") {
			r.JiraReads++
		} else {
			r.JiraWrites++
		}
	}

	// One issue per request.
	byRequest := map[string][]jirasim.Issue{}
	for _, is := range c.Jira.Issues() {
		if c.ForgedIssues[is.Key] {
			continue
		}
		for _, l := range is.Labels {
			if id, ok := strings.CutPrefix(l, LabelPrefix); ok {
				byRequest[id] = append(byRequest[id], is)
				r.Issues++
			}
		}
	}
	r.Requests = len(c.Requests)
	for id := range byRequest {
		if _, ok := c.Requests[id]; !ok {
			add("duplicate-issue", "issue %s for request %s, which the scenario never created", byRequest[id][0].Key, id)
		}
	}

	// Audit: per request, state changes in Teleport.
	updates := map[string]int{}
	for _, a := range c.Teleport.Audit() {
		if a.Type == teleportsim.EventAccessRequestUpdate {
			updates[a.RequestID]++
		}
	}

	for _, id := range sortedKeys(c.Requests) {
		want := c.Requests[id]
		issues := byRequest[id]
		switch {
		case len(issues) == 0:
			add("lost", "request %s has no issue", id)
			continue
		case len(issues) > 1:
			keys := make([]string, len(issues))
			for i, is := range issues {
				keys[i] = is.Key
			}
			add("duplicate-issue", "request %s has %d issues: %s", id, len(issues), strings.Join(keys, ", "))
		}
		is := issues[0]
		comments := c.Jira.Comments(is.Key)
		transitions := c.Jira.Transitions(is.Key)
		r.Comments += len(comments)
		r.Transitions += len(transitions)
		seen := map[string]int{}
		for _, cm := range comments {
			if cm.Author == bot {
				seen[withoutMarker(cm.Body)]++
			}
		}
		for body, n := range seen {
			if n > 1 {
				add("duplicate-comment", "%s has %d identical comments %q", is.Key, n, firstLine(body))
			}
		}
		for _, t := range transitions {
			if t.Author != bot {
				r.Moves++
			}
		}
		countComments := func(prefix string) int {
			n := 0
			for _, cm := range comments {
				if cm.Author == bot && strings.HasPrefix(cm.Body, prefix) {
					n++
				}
			}
			return n
		}

		// Teleport's side and the reviews.
		req, err := c.Teleport.Request(id)
		switch {
		case want.Outcome == Expired:
			if err == nil {
				add("teleport-state", "request %s should be gone (expired) but is %s", id, req.GetState())
			}
		case err != nil:
			add("teleport-state", "request %s: %v", id, err)
		default:
			if got := req.GetState().String(); got != string(want.Outcome) {
				add("teleport-state", "request %s is %s in Teleport, want %s", id, got, want.Outcome)
			}
			for _, rv := range req.GetReviews() {
				prefix := fmt.Sprintf("*%s* reviewed the request at %s:", rv.Author, rv.Created.UTC().Format(time.RFC3339))
				if n := countComments(prefix); n != 1 {
					add("review-comment", "%s: review by %s has %d comments, want 1", is.Key, rv.Author, n)
				}
			}
		}
		if n := updates[id]; n > 1 {
			add("double-decision", "request %s changed state %d times in Teleport", id, n)
		}

		// The resolution: one comment, one transition, the right status.
		if !strings.EqualFold(is.Status, want.Outcome.Status()) {
			add("status", "%s (request %s) is in %s, want %s", is.Key, id, is.Status, want.Outcome.Status())
		}
		if want.Outcome != Pending {
			prefix := "Access request has been *" + strings.ToLower(string(want.Outcome)) + "* in Teleport."
			if want.Outcome == Expired {
				prefix = "Access request has *expired* in Teleport."
			}
			if n := countComments(prefix); n != 1 {
				add("resolution-comment", "%s (request %s, %s) has %d resolution comments, want 1", is.Key, id, want.Outcome, n)
			}
			n := 0
			for _, t := range transitions {
				if strings.EqualFold(t.To, want.Outcome.Status()) {
					n++
				}
			}
			if n != 1 {
				add("resolution-transition", "%s (request %s) moved to %s %d times, want 1", is.Key, id, want.Outcome.Status(), n)
			}
		}
	}

	// Decisions: each Jira move at most one decision, each decision applied
	// at most once, board decisions applied exactly once.
	applied := map[string]int{}
	if msgs, err := ReadStream(ctx, c.JS, events.StreamTeleport, events.SubjectTeleportDecisions+".>"); err != nil {
		add("stream", "read %s: %v", events.StreamTeleport, err)
	} else {
		for _, m := range msgs {
			ev, err := events.Decode(m.Data)
			if err != nil {
				add("stream", "undecodable event on %s: %v", m.Subject, err)
				continue
			}
			if o, ok := ev.Payload.(*events.DecisionOutcome); ok && o.Kind == events.DecisionApplied {
				applied[o.Decision.RequestID]++
				r.DecisionsApplied++
			}
		}
	}
	for id, n := range applied {
		if n > 1 {
			add("double-decision", "request %s has %d decision.applied events", id, n)
		}
	}
	for id, want := range c.Requests {
		if want.ByBoard && applied[id] != 1 && updates[id] != 1 {
			add("lost", "request %s was decided on the board but %d decisions were applied", id, applied[id])
		}
	}
	if msgs, err := ReadStream(ctx, c.JS, events.StreamJira, events.SubjectJiraDecisions+".>"); err != nil {
		add("stream", "read %s: %v", events.StreamJira, err)
	} else {
		perMove := map[string]int{}
		for _, m := range msgs {
			ev, err := events.Decode(m.Data)
			if err != nil {
				add("stream", "undecodable event on %s: %v", m.Subject, err)
				continue
			}
			if d, ok := ev.Payload.(*events.Decision); ok {
				r.Decisions++
				perMove[d.RequestID+" "+d.IssueKey+" changelog "+d.ChangelogID]++
			}
		}
		for k, n := range perMove {
			if n > 1 {
				add("duplicate-decision", "%d decisions for one Jira move (%s)", n, k)
			}
		}
	}

	// Nothing left unacked.
	for _, stream := range []string{events.StreamTeleport, events.StreamJira} {
		var infos []*jetstream.ConsumerInfo
		err := Eventually(ctx, time.Minute, func() (err error) {
			infos, err = consumerInfos(ctx, c.JS, stream)
			return err
		})
		if err != nil {
			add("unacked", "list consumers of %s: %v", stream, err)
			continue
		}
		for _, ci := range infos {
			if ci.NumAckPending != 0 || ci.NumPending != 0 {
				add("unacked", "consumer %s/%s: %d unacked, %d not delivered", stream, ci.Name, ci.NumAckPending, ci.NumPending)
			}
		}
	}

	// Dead letters only where expected, each with its reason.
	if msgs, err := ReadStream(ctx, c.JS, events.StreamDeadLetter, ">"); err != nil {
		add("stream", "read %s: %v", events.StreamDeadLetter, err)
	} else {
		for _, m := range msgs {
			r.DeadLetters++
			dl := DeadLetter{Subject: m.Subject, Reason: m.Header.Get("Dlq-Error"), OriginalSubject: m.Header.Get("Dlq-Subject")}
			if dl.Reason == "" {
				add("dead-letter", "dead letter on %s (from %s) carries no reason", dl.Subject, dl.OriginalSubject)
			}
			if c.DeadLetterExpected == nil || !c.DeadLetterExpected(dl) {
				add("dead-letter", "unexpected dead letter on %s (from %s): %s", dl.Subject, dl.OriginalSubject, dl.Reason)
			}
		}
	}

	// No configured secret in any log.
	for _, p := range SecretsInLogs(c.LogDir, c.Secrets) {
		add("secret-in-log", "%s", p)
	}
	return r
}

// SecretsInLogs lists "file: secret #n" for every secret found in a file
// under dir.
func SecretsInLogs(dir string, secrets []string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, s := range secrets {
			if len(s) >= 8 && strings.Contains(string(b), s) {
				out = append(out, fmt.Sprintf("%s holds configured secret #%d", filepath.Base(path), i))
			}
		}
		return nil
	})
	return out
}

// ReadStream returns every message of stream on filter (none when the
// stream does not exist). A read that fails (a cluster electing a stream
// leader after a node restart) is retried from the start for a minute.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream, filter string) ([]*jetstream.RawStreamMsg, error) {
	var out []*jetstream.RawStreamMsg
	err := Eventually(ctx, time.Minute, func() error {
		var err error
		out, err = readStreamOnce(ctx, js, stream, filter)
		return err
	})
	return out, err
}

// apiTimeout bounds one JetStream API call of a read. A request that
// reaches a stream without a leader (elected after a node restart) is
// never answered, so a short bound lets ReadStream ask again.
const apiTimeout = 10 * time.Second

func readStreamOnce(ctx context.Context, js jetstream.JetStream, stream, filter string) ([]*jetstream.RawStreamMsg, error) {
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	st, err := js.Stream(actx, stream)
	cancel()
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	actx, cancel = context.WithTimeout(ctx, apiTimeout)
	cons, err := st.OrderedConsumer(actx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	cancel()
	if err != nil {
		return nil, err
	}
	defer func() {
		// Leave no consumer behind, even after a failed read.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = st.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	actx, cancel = context.WithTimeout(ctx, apiTimeout)
	info, err := cons.Info(actx)
	cancel()
	if err != nil {
		return nil, err
	}
	remaining := info.NumPending
	var out []*jetstream.RawStreamMsg
	for remaining > 0 {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return out, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return out, err
			}
			out = append(out, &jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: meta.Sequence.Stream,
				Header: m.Headers(), Data: m.Data(), Time: meta.Timestamp})
			remaining = meta.NumPending
			if remaining == 0 {
				break
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return out, err
		}
		if got == 0 {
			return out, fmt.Errorf("%s: %d messages announced but none fetched", stream, remaining)
		}
	}
	return out, nil
}

func consumerInfos(ctx context.Context, js jetstream.JetStream, stream string) ([]*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	l := st.ListConsumers(ctx)
	var out []*jetstream.ConsumerInfo
	for ci := range l.Info() {
		if ci.Config.Durable != "" { // the services' consumers, not a reader's
			out = append(out, ci)
		}
	}
	return out, l.Err()
}

// Quiet waits until every durable consumer of TELEPORT and JIRA has nothing
// pending nor unacked, and the streams have taken no new message for a
// second: a webhook echoing the last change can still be on its way when the
// consumers are momentarily idle.
func Quiet(ctx context.Context, js jetstream.JetStream, d time.Duration) error {
	var last string
	var since time.Time
	return Eventually(ctx, d, func() error {
		var seqs []string
		for _, stream := range []string{events.StreamTeleport, events.StreamJira} {
			infos, err := consumerInfos(ctx, js, stream)
			if err != nil {
				return err
			}
			for _, ci := range infos {
				if ci.NumAckPending != 0 || ci.NumPending != 0 {
					last = ""
					return fmt.Errorf("consumer %s/%s: %d unacked, %d pending", stream, ci.Name, ci.NumAckPending, ci.NumPending)
				}
			}
			actx, cancel := context.WithTimeout(ctx, apiTimeout)
			st, err := js.Stream(actx, stream)
			cancel()
			if err != nil {
				return err
			}
			seqs = append(seqs, fmt.Sprint(st.CachedInfo().State.LastSeq))
		}
		if now := strings.Join(seqs, "/"); now != last {
			last, since = now, time.Now()
		}
		if quiet := time.Since(since); quiet < time.Second {
			return fmt.Errorf("streams quiet for %s only", quiet.Round(time.Millisecond))
		}
		return nil
	})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// withoutMarker drops the line the jira-bridge ends its comments with
// (naming the request and the cause), so that a comment written twice is
// caught however it was written.
func withoutMarker(body string) string {
	rest, last, ok := cutLastLine(body)
	if ok && strings.HasPrefix(last, "{color:#97a0af}accessbridge ") {
		return rest
	}
	return body
}

func cutLastLine(s string) (string, string, bool) {
	i := strings.LastIndexByte(strings.TrimRight(s, "\n"), '\n')
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimSpace(s[i+1:]), true
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
