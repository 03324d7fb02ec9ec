// Command bench is the AccessBridge benchmark harness: it runs the real
// binaries (the all-in-one, and the split services with a separate
// nats-server) against the Jira and Teleport emulators, run in this process,
// and writes results/<date>-<host>.json and .md (and results/LATEST.md).
//
//	make bench                                  # = make build; cd bench && go run ./cmd/bench -bin ../bin -out results
//	go run ./cmd/bench -bin ../bin -only p1,p2  # some figures
//	go run ./cmd/bench -bin ../bin -full        # P3 with 10,000 requests, P7 with 1M events
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

type options struct {
	bin, out, repo, natsServer string
	reps, p1n, p2n, p3n, p3ln  int
	p4n, p7n                   int
	p5dur                      time.Duration
	full, keep, perf, variants bool
	only                       map[string]bool
	layouts                    []string
}

func main() {
	var o options
	var only, layouts string
	flag.StringVar(&o.bin, "bin", "../bin", "directory of the built binaries (make build)")
	flag.StringVar(&o.out, "out", "results", "directory of the results")
	flag.StringVar(&o.repo, "repo", "..", "repository root")
	flag.StringVar(&o.natsServer, "nats-server", "", "nats-server binary for the split layout, P5 and P7 (default BIN/tools/nats-server, else PATH)")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of every figure")
	flag.IntVar(&o.p1n, "p1-n", 20, "P1: requests per repetition")
	flag.IntVar(&o.p2n, "p2-n", 15, "P2: moves per repetition (signed and unsigned)")
	flag.IntVar(&o.p3n, "p3-n", 2000, "P3: requests per burst, instant Jira (-full: 10000)")
	flag.IntVar(&o.p3ln, "p3-limited-n", 100, "P3: requests per burst with Jira limited to 10 req/s (-full: 200)")
	flag.IntVar(&o.p4n, "p4-n", 3, "P4: lifecycles of each kind")
	flag.IntVar(&o.p7n, "p7-events", 100000, "P7: events in the log (-full: 1000000)")
	flag.DurationVar(&o.p5dur, "p5-duration", 5*time.Second, "P5: length of one run of one load level")
	flag.BoolVar(&o.full, "full", false, "the long run: P3 10,000 requests (limited: 200), P7 1M events")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, data, perf.data)")
	flag.BoolVar(&o.perf, "perf", true, "profile one P3 burst of the all-in-one with perf (when installed)")
	flag.BoolVar(&o.variants, "p3-variants", true, "P3 diagnostics on the all-in-one: without Jira's webhooks, and with higher concurrency")
	flag.StringVar(&only, "only", "", "comma-separated figures to run (p1..p7); default all")
	flag.StringVar(&layouts, "layouts", layoutAllInOne+","+layoutSplit, "layouts for P1, P2, P3 and P6")
	flag.Parse()
	if o.full {
		setIfDefault := func(name string, p *int, v int) {
			if f := flag.Lookup(name); f.Value.String() == f.DefValue {
				*p = v
			}
		}
		setIfDefault("p3-n", &o.p3n, 10000)
		setIfDefault("p3-limited-n", &o.p3ln, 200)
		setIfDefault("p7-events", &o.p7n, 1000000)
	}
	o.only = map[string]bool{}
	for _, f := range strings.Split(only, ",") {
		if f = strings.TrimSpace(strings.ToLower(f)); f != "" {
			o.only[f] = true
		}
	}
	o.layouts = strings.Split(layouts, ",")
	if o.natsServer == "" {
		if p := filepath.Join(o.bin, "tools", "nats-server"); fileExists(p) {
			o.natsServer = p
		} else if p, err := exec.LookPath("nats-server"); err == nil {
			o.natsServer = p
		}
	}
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		fatal(err)
	}
	needsProduct := o.want("p1") || o.want("p2") || o.want("p3") || o.want("p4") || o.want("p6") || o.want("p7")
	if needsProduct && !fileExists(filepath.Join(o.bin, "accessbridge")) {
		fatal(fmt.Errorf("%s/accessbridge not found: run make build (or pass -bin)", o.bin))
	}
	res, err := run(o)
	if err != nil {
		fatal(err)
	}
	if err := write(o, res); err != nil {
		fatal(err)
	}
}

func (o options) want(fig string) bool { return len(o.only) == 0 || o.only[fig] }

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	os.Exit(1)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// LayoutResult holds the figures of one layout.
type LayoutResult struct {
	Processes  []string       `json:"processes"`
	P1         *LatencyResult `json:"p1,omitempty"`
	P2Signed   *LatencyResult `json:"p2_signed,omitempty"`
	P2Unsigned *LatencyResult `json:"p2_unsigned,omitempty"`
	P3Instant  *P3Result      `json:"p3_instant,omitempty"`
	P3Limited  *P3Result      `json:"p3_limited,omitempty"`
	P6Idle     []ProcUsage    `json:"p6_idle,omitempty"`
	P6Burst    [][]ProcUsage  `json:"p6_under_p3,omitempty"` // one list per burst
	// P3Variants are diagnostic bursts (instant Jira) with one thing changed,
	// to attribute P3's cost.
	P3Variants []P3Variant `json:"p3_variants,omitempty"`
	Errors     []string    `json:"errors,omitempty"`
}

// Results is the whole run.
type Results struct {
	Date        string                   `json:"date"`
	Host        string                   `json:"host"`
	Machine     Machine                  `json:"machine"`
	Command     string                   `json:"command"`
	Settings    map[string]any           `json:"settings"`
	Layouts     map[string]*LayoutResult `json:"layouts"`
	P4          *P4Result                `json:"p4,omitempty"`
	P5          *P5Result                `json:"p5,omitempty"`
	P7          *P7Result                `json:"p7,omitempty"`
	Profile     *Profile                 `json:"p3_profile,omitempty"`
	Notes       []string                 `json:"notes"`
	WallSeconds float64                  `json:"wall_seconds"`
}

func run(o options) (*Results, error) {
	start := time.Now()
	host, _ := os.Hostname()
	res := &Results{
		Date: start.UTC().Format("2006-01-02"), Host: host, Machine: machine(),
		Command: "cd bench && go run ./cmd/bench " + strings.Join(os.Args[1:], " "),
		Settings: map[string]any{"reps": o.reps, "p1_n": o.p1n, "p2_n": o.p2n, "p3_n": o.p3n, "p3_limited_n": o.p3ln,
			"p4_n": o.p4n, "p5_duration": o.p5dur.String(), "p7_events": o.p7n, "full": o.full},
		Layouts: map[string]*LayoutResult{},
	}
	work, err := os.MkdirTemp("", "accessbridge-bench-")
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	} else {
		logf("work directory %s", work)
	}
	logf("machine: %d cores (%s), %s, load %s", res.Machine.Cores, res.Machine.CPU, res.Machine.GoVersion, res.Machine.LoadStart)
	figCmd := func(fig, layout string) string {
		c := "cd bench && go run ./cmd/bench -bin ../bin -only " + fig
		if layout != "" {
			c += " -layouts " + layout
		}
		return c
	}
	needLayouts := o.want("p1") || o.want("p2") || o.want("p3") || o.want("p4") || o.want("p6")
	for i, layout := range o.layouts {
		if !needLayouts {
			break
		}
		lr := &LayoutResult{}
		res.Layouts[layout] = lr
		dir := filepath.Join(work, layout)
		if err := runLayout(o, layout, i == 0, dir, lr, res, figCmd); err != nil {
			lr.Errors = append(lr.Errors, err.Error())
			logf("%s: %v", layout, err)
		}
	}
	if o.want("p5") {
		logf("P5: webhook-ingress under an open-loop generator")
		res.P5 = p5(o.bin, o.natsServer, filepath.Join(work, "p5"), o.reps, o.p5dur, logf)
		if res.P5.Skipped != "" {
			logf("P5 skipped: %s", res.P5.Skipped)
		}
	}
	if o.want("p7") {
		logf("P7: projection rebuild from %d events", o.p7n)
		_ = os.MkdirAll(filepath.Join(work, "p7"), 0o700)
		res.P7 = p7(o.natsServer, filepath.Join(work, "p7"), o.p7n, o.reps, logf)
		res.P7.Command = figCmd("p7", "") + fmt.Sprintf(" -p7-events %d", o.p7n)
		if res.P7.Error != "" {
			logf("P7: %s", res.P7.Error)
		}
	}
	res.Machine.LoadEnd = loadavg()
	res.WallSeconds = time.Since(start).Seconds()
	res.Notes = append(res.Notes,
		"The emulators (Jira, Teleport) and the P5 load generator run on the same machine as the product and share its cores; the harness process also polls them.",
		"Periodic work is off during the run (JIRA_BRIDGE_RECONCILE_INTERVAL=0, TELEPORT_BRIDGE_RESYNC_INTERVAL=0); every other setting is the default, except WEBHOOK_INGRESS_RATE_LIMIT=0 (the emulator sends every webhook from one address); logs at info level (JSON) to a file.",
		"The Jira emulator is Jira Cloud: issues start in Backlog and the create carries the transition to Pending (one call); its webhook sends issue updated events only, as the jira-bridge README recommends.",
	)
	if busy(res.Machine) {
		res.Notes = append(res.Notes, fmt.Sprintf("The machine was busy with other work (1-minute load average %s before the run, on %d cores; %s at the end, the run included): absolute figures are pessimistic; compare runs taken under similar load.", res.Machine.LoadStart, res.Machine.Cores, res.Machine.LoadEnd))
	}
	return res, nil
}

const harnessName = "(harness: emulators)"

func runLayout(o options, layout string, first bool, dir string, lr *LayoutResult, res *Results, figCmd func(string, string) string) error {
	logf("== %s: signed webhooks, instant Jira", layout)
	w, err := newWorld(filepath.Join(dir, "emulators"), true)
	if err != nil {
		return err
	}
	defer w.Close()
	p, err := startProduct(layout, o.bin, o.natsServer, w, dir)
	if err != nil {
		return err
	}
	defer p.Stop()
	// The harness runs the emulators: its use is shown for context.
	sampled := map[string]int{harnessName: os.Getpid()}
	for k, v := range p.pids {
		sampled[k] = v
	}
	lr.Processes = append(append([]string(nil), p.names...), harnessName)
	if err := w.warmup(3); err != nil {
		return err
	}
	if o.want("p6") {
		w.tap.waitQuiet(time.Second, 20*time.Second)
		debug.FreeOSMemory() // the harness's RSS left by an earlier layout
		s := startSampler(sampled, 500*time.Millisecond)
		time.Sleep(5 * time.Second)
		lr.P6Idle = s.Stop()
		for _, u := range lr.P6Idle {
			logf("P6 idle %-16s cpu %5.1f%%  rss %6.1f MiB", u.Process, u.CPUPercent, u.RSSMiB)
		}
	}
	if o.want("p1") {
		var reps []LatencyRep
		for r := range o.reps {
			rep := w.p1(o.p1n)
			reps = append(reps, rep)
			logf("P1 rep %d: p50 %.1f ms  p99 %.1f ms  (jira %.1f ms)  failures %d", r+1, rep.Latency.P50, rep.Latency.P99, rep.JiraService.P50, rep.Failures)
		}
		lr.P1 = aggLatency(figCmd("p1", layout), reps)
	}
	if o.want("p2") {
		var reps []LatencyRep
		for r := range o.reps {
			rep := w.p2(o.p2n)
			reps = append(reps, rep)
			logf("P2 signed rep %d: p50 %.1f ms  p99 %.1f ms  (jira %.1f ms)  failures %d", r+1, rep.Latency.P50, rep.Latency.P99, rep.JiraService.P50, rep.Failures)
		}
		lr.P2Signed = aggLatency(figCmd("p2", layout), reps)
	}
	if o.want("p4") && first {
		res.P4 = w.p4(o.p4n)
		res.P4.Command = figCmd("p4", layout)
		for _, lc := range res.P4.Lifecycles {
			logf("P4 %.1f calls: %s", lc.Total, lc.Name)
		}
	}
	if o.want("p3") || o.want("p6") {
		var reps []P3Rep
		for r := range o.reps {
			var usage []ProcUsage
			before, varzErr := readVarz(p.natsMonitor)
			rep := w.p3(o.p3n, 0, 10*time.Minute, func(stop <-chan struct{}) {
				s := startSampler(sampled, 250*time.Millisecond)
				<-stop
				usage = s.Stop()
			})
			if after, err := readVarz(p.natsMonitor); err == nil && varzErr == nil && rep.Requests > 0 {
				rep.NATSInPerRequest = float64(after.InMsgs-before.InMsgs) / float64(rep.Requests)
				rep.NATSOutPerRequest = float64(after.OutMsgs-before.OutMsgs) / float64(rep.Requests)
			}
			cpu := 0.0
			for _, u := range usage {
				if _, product := p.pids[u.Process]; product { // not the harness and its emulators
					cpu += u.CPUSeconds
				}
			}
			if rep.Requests > 0 {
				rep.CPUMsPerRequest = 1000 * cpu / float64(rep.Requests)
			}
			reps = append(reps, rep)
			lr.P6Burst = append(lr.P6Burst, usage)
			logf("P3 instant rep %d: %d requests in %.2fs = %.0f req/s (50%% at %.2fs, 99%% at %.2fs, settled %.2fs), missing %d, duplicates %d, %.2f ms CPU/request, NATS msgs/request in %.1f out %.1f, steal %.0f%%", r+1, rep.Requests, rep.Seconds, rep.RequestsPerSec, rep.Seconds50, rep.Seconds99, rep.SettledSeconds, rep.Missing, rep.Duplicates, rep.CPUMsPerRequest, rep.NATSInPerRequest, rep.NATSOutPerRequest, rep.StealPercent)
			for _, u := range usage {
				logf("P6 burst %-16s cpu %5.1f%%  peak rss %6.1f MiB", u.Process, u.CPUPercent, u.PeakRSSMiB)
			}
		}
		lr.P3Instant = aggP3(figCmd("p3", layout)+fmt.Sprintf(" -p3-n %d", o.p3n), reps)
	}
	if o.want("p3") && first && o.perf {
		res.Profile = profileP3(o, w, p, dir)
	}
	if o.want("p3") && first {
		var reps []P3Rep
		for r := range o.reps {
			rep := w.p3(o.p3ln, 10, 10*time.Minute, nil)
			reps = append(reps, rep)
			logf("P3 limited rep %d: %d requests in %.1fs = %.1f req/s, %d calls (%d × 429), %.0f%% of the allowed rate, missing %d, duplicates %d",
				r+1, rep.Requests, rep.Seconds, rep.RequestsPerSec, rep.JiraCalls, rep.JiraCalls429, 100*rep.ShareOfLimit, rep.Missing, rep.Duplicates)
		}
		lr.P3Limited = aggP3(figCmd("p3", layout)+fmt.Sprintf(" -p3-limited-n %d", o.p3ln), reps)
	}
	p.Stop()
	w.Close()
	if o.want("p3") && first && o.variants {
		lr.P3Variants = p3Variants(o, layout, dir)
	}
	if o.want("p2") {
		logf("== %s: unsigned webhooks (URL token), decisions confirmed through the Jira API", layout)
		w2, err := newWorld(filepath.Join(dir, "emulators-unsigned"), false)
		if err != nil {
			return err
		}
		defer w2.Close()
		d2 := filepath.Join(dir, "unsigned")
		_ = os.MkdirAll(d2, 0o700)
		p2, err := startProduct(layout, o.bin, o.natsServer, w2, d2)
		if err != nil {
			return err
		}
		defer p2.Stop()
		if err := w2.warmup(3); err != nil {
			return err
		}
		var reps []LatencyRep
		for r := range o.reps {
			rep := w2.p2(o.p2n)
			reps = append(reps, rep)
			logf("P2 unsigned rep %d: p50 %.1f ms  p99 %.1f ms  (jira %.1f ms)  failures %d", r+1, rep.Latency.P50, rep.Latency.P99, rep.JiraService.P50, rep.Failures)
		}
		lr.P2Unsigned = aggLatency(figCmd("p2", layout), reps)
	}
	return nil
}

// P3Variant is P3 (instant) with one change.
type P3Variant struct {
	Name   string    `json:"name"`
	Env    []string  `json:"env,omitempty"`
	Result *P3Result `json:"result"`
}

// p3Variants runs the diagnostic bursts, each on a fresh product.
func p3Variants(o options, layout, dir string) []P3Variant {
	variants := []struct {
		name  string
		hooks hookMode
		env   []string
	}{
		{"no webhooks from Jira (the issue_updated echo of the bridge's own move is not delivered)", hooksNone, nil},
		{"Jira sends every issue event (created, updated, deleted: not the recommended settings), the ingress with its default per-IP limit", hooksAll, nil},
		{"higher concurrency (JIRA_BRIDGE_CONCURRENCY=64, JIRA_BRIDGE_JIRA_CONCURRENCY=32)", hooksRecommended,
			[]string{"JIRA_BRIDGE_CONCURRENCY=64", "JIRA_BRIDGE_JIRA_CONCURRENCY=32"}},
	}
	var out []P3Variant
	for i, v := range variants {
		logf("== %s: P3 variant: %s", layout, v.name)
		d := filepath.Join(dir, fmt.Sprintf("variant-%d", i))
		w, err := newWorldOpts(filepath.Join(d, "emulators"), true, v.hooks)
		if err != nil {
			logf("variant: %v", err)
			continue
		}
		w.env = append(w.env, v.env...)
		p, err := startProduct(layout, o.bin, o.natsServer, w, d)
		if err != nil {
			w.Close()
			logf("variant: %v", err)
			continue
		}
		var reps []P3Rep
		if err := w.warmup(3); err == nil {
			for r := range o.reps {
				rep := w.p3(o.p3n, 0, 10*time.Minute, nil)
				reps = append(reps, rep)
				logf("P3 variant rep %d: %d requests in %.2fs = %.0f req/s", r+1, rep.Requests, rep.Seconds, rep.RequestsPerSec)
			}
		} else {
			logf("variant: %v", err)
		}
		p.Stop()
		w.Close()
		out = append(out, P3Variant{Name: v.name, Env: v.env, Result: aggP3("", reps)})
	}
	return out
}

// profileP3 records one extra instant burst of the all-in-one with perf.
func profileP3(o options, w *world, p *product, dir string) *Profile {
	n := min(o.p3n, 2000)
	prof := &Profile{Process: strings.Join(p.names, ", "),
		Command: fmt.Sprintf("perf record -F 499 -g -p <pid> during a burst of %d requests; perf report --no-children --sort symbol", n)}
	var pids []int
	for _, name := range p.names {
		pids = append(pids, p.pids[name])
	}
	file := filepath.Join(dir, "perf.data")
	rec, err := startPerf(pids, file)
	if err != nil {
		prof.Skipped = err.Error()
		logf("P3 profile skipped: %v", err)
		return prof
	}
	rep := w.p3(n, 0, 10*time.Minute, nil)
	if err := rec.Stop(); err != nil {
		prof.Skipped = err.Error()
		return prof
	}
	logf("P3 profiled burst: %d requests in %.2fs (%.0f req/s under perf)", rep.Requests, rep.Seconds, rep.RequestsPerSec)
	self, incl, pkgs, err := rec.report(15)
	if err != nil {
		prof.Skipped = "perf report: " + err.Error()
		return prof
	}
	prof.Self, prof.Inclusive, prof.Packages = self, incl, pkgs
	if o.keep {
		prof.File = file
	}
	return prof
}

// Machine describes where the figures were taken.
type Machine struct {
	Cores     int    `json:"cores"`
	CPU       string `json:"cpu"`
	MemoryGiB string `json:"memory_gib"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
	Wrk       string `json:"wrk,omitempty"`
	Perf      string `json:"perf,omitempty"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%f", &kb)
		m.MemoryGiB = fmt.Sprintf("%.1f", kb/1024/1024)
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("wrk", "-v").CombinedOutput(); len(out) > 0 || err == nil {
		m.Wrk = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if out, err := exec.Command("perf", "--version").Output(); err == nil {
		m.Perf = strings.TrimSpace(string(out))
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// busy reports a 1-minute load average above half the cores before the
// run (at the end it includes the run itself).
func busy(m Machine) bool {
	var v float64
	_, err := fmt.Sscanf(m.LoadStart, "%f", &v)
	return err == nil && v > float64(m.Cores)/2
}
