package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/gravitational/teleport/api/types"
)

const labelPrefix = "teleport-access-request-"

// createRequest creates one pending request as the emulator's requester.
func (w *world) createRequest(reason string) (string, error) {
	return w.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, reason,
		teleportsim.WithSuggestedReviewers(teleportsim.UserReviewer))
}

// jiraTime sums the emulator's service time of the calls that started and
// ended within [from, to].
func (w *world) jiraTime(from, to time.Time) time.Duration {
	var sum time.Duration
	for _, c := range w.tap.Calls() {
		if !c.Start.Before(from) && !c.End.After(to) {
			sum += c.took()
		}
	}
	return sum
}

// waitActivity waits for a Jira call that started after t0, then for quiet.
func (w *world) waitActivity(t0 time.Time, quiet, timeout time.Duration) time.Time {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		calls := w.tap.Calls()
		if len(calls) > 0 && calls[len(calls)-1].Start.After(t0) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return w.tap.waitQuiet(quiet, time.Until(deadline))
}

// warmup runs requests through the loop until one gets its issue, so the
// product is known to be up.
func (w *world) warmup(n int) error {
	for i := range n {
		id, err := w.createRequest(fmt.Sprintf("warm-up %d", i))
		if err != nil {
			return err
		}
		if _, ok := w.tap.waitCreated(id, 90*time.Second); !ok {
			return fmt.Errorf("warm-up request %s got no issue in 90s", id)
		}
	}
	w.tap.waitQuiet(300*time.Millisecond, 20*time.Second)
	return nil
}

// LatencyRep is one repetition of P1 or P2.
type LatencyRep struct {
	Latency     Dist `json:"latency"`
	JiraService Dist `json:"jira_service"`
	Overhead    Dist `json:"pipeline_overhead"`
	// Settled (P1): until the last Jira call of the request (issue in Pending).
	Settled *Dist `json:"settled,omitempty"`
	// WebhookDispatch (P2): from the move to the emulator's first POST of the webhook.
	WebhookDispatch *Dist `json:"webhook_dispatch,omitempty"`
	Failures        int   `json:"failures"`
}

// LatencyResult aggregates repetitions.
type LatencyResult struct {
	Command         string       `json:"command"`
	Reps            []LatencyRep `json:"reps"`
	Latency         DistAgg      `json:"latency"`
	JiraService     DistAgg      `json:"jira_service"`
	Overhead        DistAgg      `json:"pipeline_overhead"`
	Settled         *DistAgg     `json:"settled,omitempty"`
	WebhookDispatch *DistAgg     `json:"webhook_dispatch,omitempty"`
}

func aggLatency(cmd string, reps []LatencyRep) *LatencyResult {
	r := &LatencyResult{Command: cmd, Reps: reps}
	var l, j, o, s, d []Dist
	for _, rep := range reps {
		l, j, o = append(l, rep.Latency), append(j, rep.JiraService), append(o, rep.Overhead)
		if rep.Settled != nil {
			s = append(s, *rep.Settled)
		}
		if rep.WebhookDispatch != nil {
			d = append(d, *rep.WebhookDispatch)
		}
	}
	r.Latency, r.JiraService, r.Overhead = aggDists(l), aggDists(j), aggDists(o)
	if len(s) > 0 {
		a := aggDists(s)
		r.Settled = &a
	}
	if len(d) > 0 {
		a := aggDists(d)
		r.WebhookDispatch = &a
	}
	return r
}

// p1 is one repetition: n requests one after the other; each is timed from
// CreateRequest to the emulator's 201 for its issue.
func (w *world) p1(n int) LatencyRep {
	var lat, svc, ovh, settled []time.Duration
	fails := 0
	for i := range n {
		t0 := time.Now()
		id, err := w.createRequest(fmt.Sprintf("p1 %d", i))
		if err != nil {
			fails++
			continue
		}
		ci, ok := w.tap.waitCreated(id, 30*time.Second)
		if !ok {
			fails++
			continue
		}
		last := w.tap.waitQuiet(150*time.Millisecond, 10*time.Second)
		l := ci.At.Sub(t0)
		s := w.jiraTime(t0, ci.At)
		lat, svc, ovh, settled = append(lat, l), append(svc, s), append(ovh, l-s), append(settled, last.Sub(t0))
	}
	sd := distOf(settled)
	return LatencyRep{Latency: distOf(lat), JiraService: distOf(svc), Overhead: distOf(ovh), Settled: &sd, Failures: fails}
}

// p2 is one repetition: n issues moved to Approved on the board, each timed
// from the move to Teleport's audit event of the state change.
func (w *world) p2(n int) LatencyRep {
	var lat, svc, ovh, disp []time.Duration
	fails := 0
	for i := range n {
		id, err := w.createRequest(fmt.Sprintf("p2 %d", i))
		if err != nil {
			fails++
			continue
		}
		ci, ok := w.tap.waitCreated(id, 30*time.Second)
		if !ok {
			fails++
			continue
		}
		w.tap.waitQuiet(150*time.Millisecond, 10*time.Second)
		t0 := time.Now()
		if err := w.js.Move(ci.Key, "Approved", w.reviewer, "Reason: benchmark"); err != nil {
			fails++
			continue
		}
		at, ok := w.waitApplied(id, 30*time.Second)
		if !ok {
			fails++
			continue
		}
		l := at.Sub(t0)
		s := w.jiraTime(t0, at)
		lat, svc, ovh = append(lat, l), append(svc, s), append(ovh, l-s)
		for _, d := range w.js.Webhooks() {
			if d.IssueKey == ci.Key && !d.Created.Before(t0) && len(d.Attempts) > 0 {
				disp = append(disp, d.Attempts[0].At.Sub(t0))
				break
			}
		}
		w.tap.waitQuiet(150*time.Millisecond, 10*time.Second)
	}
	dd := distOf(disp)
	return LatencyRep{Latency: distOf(lat), JiraService: distOf(svc), Overhead: distOf(ovh), WebhookDispatch: &dd, Failures: fails}
}

// waitApplied waits for the request to leave PENDING and returns the time
// of Teleport's audit event of the change made by a jira: delegator.
func (w *world) waitApplied(id string, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r, err := w.tp.Request(id)
		if err == nil && r.GetState() != types.RequestState_PENDING {
			for _, a := range w.tp.Audit() {
				if a.RequestID == id && a.Type == "access_request.update" && strings.HasPrefix(a.Delegator, "jira:") {
					return a.Time, true
				}
			}
			return time.Now(), true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, false
}

// P3Rep is one burst.
type P3Rep struct {
	Requests       int     `json:"requests"`
	CreateSeconds  float64 `json:"create_seconds"` // creating the requests in the emulator
	Seconds        float64 `json:"seconds"`        // first create → last issue
	Seconds50      float64 `json:"seconds_to_50pct"`
	Seconds99      float64 `json:"seconds_to_99pct"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	SettledSeconds float64 `json:"settled_seconds"` // until the last Jira call (all in Pending)
	Issues         int     `json:"issues"`          // issues for the burst's requests
	Duplicates     int     `json:"duplicates"`
	Missing        int     `json:"missing"`
	JiraCalls      int     `json:"jira_calls"`
	JiraCalls429   int     `json:"jira_calls_429"`
	AcceptedPerSec float64 `json:"accepted_calls_per_sec"`
	RateLimit      float64 `json:"rate_limit,omitempty"`
	ShareOfLimit   float64 `json:"share_of_limit,omitempty"`
	// SettledShare: accepted calls until the last one (issues in Pending)
	// over that time, divided by the limit.
	SettledShare    float64 `json:"settled_share_of_limit,omitempty"`
	TimedOut        bool    `json:"timed_out,omitempty"`
	ProfileRecorded bool    `json:"profile_recorded,omitempty"`
	// NATSInPerRequest and NATSOutPerRequest: messages the services sent
	// to nats-server (and it to them) during the burst, per request, from
	// the server's /varz (split layout). One round trip is one of each.
	NATSInPerRequest  float64 `json:"nats_in_msgs_per_request,omitempty"`
	NATSOutPerRequest float64 `json:"nats_out_msgs_per_request,omitempty"`
	// CPUMsPerRequest: CPU time of the product's processes during the
	// burst, per request.
	CPUMsPerRequest float64 `json:"cpu_ms_per_request,omitempty"`
	// StealPercent: the share of the machine's CPU time during the burst
	// that the hypervisor gave to other VMs (/proc/stat).
	StealPercent float64 `json:"steal_percent"`
}

// P3Result aggregates bursts.
type P3Result struct {
	Command        string  `json:"command"`
	Reps           []P3Rep `json:"reps"`
	RequestsPerSec Agg     `json:"requests_per_sec"`
	Seconds        Agg     `json:"seconds"`
	Seconds99      Agg     `json:"seconds_to_99pct"`
	SettledSeconds Agg     `json:"settled_seconds"`
	ShareOfLimit   *Agg    `json:"share_of_limit,omitempty"`
	SettledShare   *Agg    `json:"settled_share_of_limit,omitempty"`
	Lost           int     `json:"lost"`
	Duplicates     int     `json:"duplicates"`
	NATSIn         *Agg    `json:"nats_in_msgs_per_request,omitempty"`
	NATSOut        *Agg    `json:"nats_out_msgs_per_request,omitempty"`
	CPUMs          *Agg    `json:"cpu_ms_per_request,omitempty"`
}

func aggP3(cmd string, reps []P3Rep) *P3Result {
	r := &P3Result{Command: cmd, Reps: reps}
	var rps, secs, settled, share, sshare, s99 []float64
	for _, p := range reps {
		rps, secs, settled = append(rps, p.RequestsPerSec), append(secs, p.Seconds), append(settled, p.SettledSeconds)
		s99 = append(s99, p.Seconds99)
		if p.RateLimit > 0 {
			share, sshare = append(share, p.ShareOfLimit), append(sshare, p.SettledShare)
		}
		r.Lost += p.Missing
		r.Duplicates += p.Duplicates
	}
	r.RequestsPerSec, r.Seconds, r.SettledSeconds, r.Seconds99 = agg(rps), agg(secs), agg(settled), agg(s99)
	var in, out, cpu []float64
	for _, p := range reps {
		if p.NATSInPerRequest > 0 {
			in, out = append(in, p.NATSInPerRequest), append(out, p.NATSOutPerRequest)
		}
		if p.CPUMsPerRequest > 0 {
			cpu = append(cpu, p.CPUMsPerRequest)
		}
	}
	if len(in) > 0 {
		a, b := agg(in), agg(out)
		r.NATSIn, r.NATSOut = &a, &b
	}
	if len(cpu) > 0 {
		a := agg(cpu)
		r.CPUMs = &a
	}
	if len(share) > 0 {
		a := agg(share)
		r.ShareOfLimit = &a
		b := agg(sshare)
		r.SettledShare = &b
	}
	return r
}

// p3 creates n pending requests at once (4 creators) and waits until each
// has its issue. rateLimit > 0 makes the emulator answer 429 above it.
// during runs while the burst is processed (sampling, profiling).
func (w *world) p3(n int, rateLimit float64, timeout time.Duration, during func(stop <-chan struct{})) P3Rep {
	rep := P3Rep{Requests: n, RateLimit: rateLimit}
	w.tap.waitQuiet(200*time.Millisecond, 20*time.Second)
	if rateLimit > 0 {
		_ = w.js.SetFaults(jirasim.Faults{RateLimit: rateLimit})
		defer func() { _ = w.js.SetFaults(jirasim.Faults{}) }()
	}
	w.tap.Reset()
	stop := make(chan struct{})
	var bg sync.WaitGroup
	if during != nil {
		bg.Go(func() { during(stop) })
	}
	ids := make([]string, n)
	var next atomic.Int64
	var cw sync.WaitGroup
	machine := machineSince()
	t0 := time.Now()
	for range 4 {
		cw.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				id, err := w.createRequest(fmt.Sprintf("burst %d", i))
				if err == nil {
					ids[i] = id
				}
			}
		})
	}
	cw.Wait()
	rep.CreateSeconds = time.Since(t0).Seconds()
	deadline := time.After(timeout)
	var tDone time.Time
wait:
	for {
		c, ch := w.tap.CreatedCount()
		if c >= n {
			tDone = time.Now()
			break
		}
		select {
		case <-ch:
		case <-deadline:
			rep.TimedOut = true
			tDone = time.Now()
			break wait
		}
	}
	// The exact time of the last create, from the tap, and of the 50th
	// and 99th percentile (a straggler shows as a gap between p99 and all).
	var lastCreate time.Time
	var at []time.Duration
	for _, id := range ids {
		if ci, ok := w.tap.Created(id); ok {
			at = append(at, ci.At.Sub(t0))
			if ci.At.After(lastCreate) {
				lastCreate = ci.At
			}
		}
	}
	if d := distOf(at); d.N > 0 {
		rep.Seconds50, rep.Seconds99 = d.P50/1000, d.P99/1000
	}
	if !rep.TimedOut && !lastCreate.IsZero() {
		tDone = lastCreate
	}
	close(stop)
	bg.Wait()
	rep.Seconds = tDone.Sub(t0).Seconds()
	rep.StealPercent, _ = machine()
	rep.RequestsPerSec = float64(n) / rep.Seconds
	for _, c := range w.tap.Calls() {
		if c.Start.After(tDone) {
			continue
		}
		rep.JiraCalls++
		if c.Status == 429 {
			rep.JiraCalls429++
		}
	}
	rep.AcceptedPerSec = float64(rep.JiraCalls-rep.JiraCalls429) / rep.Seconds
	if rateLimit > 0 {
		rep.ShareOfLimit = rep.AcceptedPerSec / rateLimit
	}
	settleTimeout := 60 * time.Second
	if rateLimit > 0 {
		settleTimeout = time.Duration(float64(n)*4/rateLimit)*time.Second + 30*time.Second
	}
	last := w.tap.waitQuiet(time.Second, settleTimeout)
	rep.SettledSeconds = last.Sub(t0).Seconds()
	if rateLimit > 0 {
		accepted := 0
		for _, c := range w.tap.Calls() {
			if c.Status != 429 && !c.End.After(last) {
				accepted++
			}
		}
		rep.SettledShare = float64(accepted) / rep.SettledSeconds / rateLimit
	}
	// Zero loss and no duplicates, from the emulator's issues.
	want := map[string]bool{}
	for _, id := range ids {
		if id != "" {
			want[id] = true
		}
	}
	per := map[string]int{}
	for _, is := range w.js.Issues() {
		for _, l := range is.Labels {
			if id, ok := strings.CutPrefix(l, labelPrefix); ok && want[id] {
				per[id]++
			}
		}
	}
	for id := range want {
		switch c := per[id]; {
		case c == 0:
			rep.Missing++
		case c > 1:
			rep.Duplicates += c - 1
		}
		rep.Issues += min(per[id], 1)
	}
	rep.Missing += n - len(want) // requests the emulator failed to create
	return rep
}

// P4Lifecycle counts the Jira calls of one kind of request lifecycle.
type P4Lifecycle struct {
	Name       string             `json:"name"`
	Samples    int                `json:"samples"`
	PerRequest map[string]float64 `json:"calls_per_request_by_endpoint"`
	Total      float64            `json:"calls_per_request"`
	Phases     map[string]float64 `json:"calls_per_request_by_phase"`
	// Before is the count of the same lifecycle before the jira-bridge
	// trusted its own log (issue 16), for comparison; 0 when not measured.
	Before float64 `json:"calls_per_request_before,omitempty"`
}

// P4Result is the Jira API budget.
type P4Result struct {
	Command    string        `json:"command"`
	Lifecycles []P4Lifecycle `json:"lifecycles"`
}

// p4 plays n lifecycles of each kind and counts the calls by endpoint.
func (w *world) p4(n int) *P4Result {
	res := &P4Result{}
	type kind struct {
		name   string
		before float64
		decide func(id string, ci createdIssue) error
	}
	kinds := []kind{
		{"created → moved to Approved on the board (signed webhook) → applied in Teleport", 7, func(id string, ci createdIssue) error {
			if err := w.js.Move(ci.Key, "Approved", w.reviewer, "Reason: benchmark"); err != nil {
				return err
			}
			_, ok := w.waitApplied(id, 30*time.Second)
			if !ok {
				return fmt.Errorf("decision for %s not applied", id)
			}
			return nil
		}},
		{"created → approved in Teleport (tctl) → one transition carrying the comment", 9, func(id string, _ createdIssue) error {
			return w.tp.Approve(id, "approved with tctl")
		}},
		{"created → denied by a review in Teleport (tsh request review --deny) → review comment + transition", 11, func(id string, _ createdIssue) error {
			if err := w.tp.Review(id, teleportsim.UserReviewer, false, "not now"); err != nil {
				return err
			}
			return nil
		}},
		{"created → denied in Teleport (tctl) → one transition carrying the comment", 0, func(id string, _ createdIssue) error {
			return w.tp.Deny(id, "denied with tctl")
		}},
		{"created → expired in Teleport → transition to Expired carrying the comment", 10, func(id string, _ createdIssue) error {
			return w.tp.Expire(id)
		}},
	}
	// Warm-up, not counted: the jira-bridge learns the workflow once per
	// process (the first issue's initial status and transitions, the
	// transitions out of Pending, whether Jira Cloud honours the create's
	// transition, the requester's Jira account).
	for i := range 2 {
		w.tap.waitQuiet(300*time.Millisecond, 20*time.Second)
		id, err := w.createRequest(fmt.Sprintf("p4 warm-up %d", i))
		if err != nil {
			continue
		}
		if _, ok := w.tap.waitCreated(id, 30*time.Second); ok && i == 0 {
			w.tap.waitQuiet(400*time.Millisecond, 20*time.Second)
			_ = w.tp.Approve(id, "warm-up")
		}
	}
	for _, k := range kinds {
		lc := P4Lifecycle{Name: k.name, Before: k.before, PerRequest: map[string]float64{}, Phases: map[string]float64{}}
		for i := range n {
			w.tap.waitQuiet(300*time.Millisecond, 20*time.Second)
			w.tap.Reset()
			id, err := w.createRequest(fmt.Sprintf("p4 %d", i))
			if err != nil {
				continue
			}
			ci, ok := w.tap.waitCreated(id, 30*time.Second)
			if !ok {
				continue
			}
			w.tap.waitQuiet(400*time.Millisecond, 20*time.Second)
			created := len(w.tap.Calls())
			t1 := time.Now()
			if err := k.decide(id, ci); err != nil {
				continue
			}
			w.waitActivity(t1, 500*time.Millisecond, 30*time.Second)
			calls := w.tap.Calls()
			for _, c := range calls {
				lc.PerRequest[c.Route]++
			}
			lc.Phases["request → issue (Pending)"] += float64(created)
			lc.Phases["decision / resolution"] += float64(len(calls) - created)
			lc.Samples++
		}
		for r := range lc.PerRequest {
			lc.PerRequest[r] /= float64(max(lc.Samples, 1))
			lc.Total += lc.PerRequest[r]
		}
		for p := range lc.Phases {
			lc.Phases[p] /= float64(max(lc.Samples, 1))
		}
		res.Lifecycles = append(res.Lifecycles, lc)
	}
	return res
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
