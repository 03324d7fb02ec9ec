package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func write(o options, res *Results) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	host := strings.NewReplacer("/", "-", " ", "-").Replace(res.Host)
	base := filepath.Join(o.out, res.Date+"-"+host)
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	md := markdown(res, filepath.Base(base)+".json")
	if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "LATEST.md"), []byte(md), 0o644); err != nil {
		return err
	}
	logf("wrote %s.json, %s.md and %s (%.0fs)", base, base, filepath.Join(o.out, "LATEST.md"), res.WallSeconds)
	return nil
}

// f1 formats a figure with its spread: "12.3 (11.0–14.2)".
func f1(a Agg, prec int) string {
	if len(a.Reps) == 0 {
		return "–"
	}
	if len(a.Reps) == 1 {
		return fmt.Sprintf("%.*f", prec, a.Median)
	}
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, a.Median, prec, a.Min, prec, a.Max)
}

func markdown(res *Results, jsonName string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := res.Machine
	p("# AccessBridge benchmarks — %s, %s\n\n", res.Date, res.Host)
	p("Machine: %d cores (%s), %s GiB RAM, Linux %s, %s. Load average %s before the run, %s after it.\n", m.Cores, m.CPU, m.MemoryGiB, m.Kernel, m.GoVersion, m.LoadStart, m.LoadEnd)
	p("Command: `%s` (%.0f s wall). Raw data: [`%s`](%s).\n\n", res.Command, res.WallSeconds, jsonName, jsonName)
	p("Every figure is the **median of %v repetitions, with the spread (min–max) across them** in parentheses; latencies in milliseconds.\n\n", res.Settings["reps"])
	for _, n := range res.Notes {
		p("- %s\n", n)
	}
	p("\n")
	layouts := sortedKeys(res.Layouts)
	lat := func(title string, get func(*LayoutResult) *LatencyResult, extra string) {
		any := false
		for _, l := range layouts {
			if get(res.Layouts[l]) != nil {
				any = true
			}
		}
		if !any {
			return
		}
		p("%s\n\n", title)
		p("| layout | what | samples/rep | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|\n")
		for _, l := range layouts {
			r := get(res.Layouts[l])
			if r == nil {
				continue
			}
			row := func(what string, d DistAgg) {
				p("| %s | %s | %d | %s | %s | %s | %s |\n", l, what, d.N, f1(d.P50, 1), f1(d.P90, 1), f1(d.P99, 1), f1(d.Max, 1))
			}
			row("**end to end**", r.Latency)
			row("Jira emulator service time", r.JiraService)
			row("pipeline overhead (difference)", r.Overhead)
			if r.Settled != nil {
				row("until the issue is in Pending (last Jira call)", *r.Settled)
			}
			if r.WebhookDispatch != nil {
				row("of which: emulator webhook dispatch (move → POST)", *r.WebhookDispatch)
			}
		}
		p("\n")
		for _, l := range layouts {
			if r := get(res.Layouts[l]); r != nil {
				p("`%s`\n", r.Command)
			}
		}
		if extra != "" {
			p("\n%s\n", extra)
		}
		p("\n")
	}
	lat("## P1 — request created in Teleport → issue created in Jira", func(l *LayoutResult) *LatencyResult { return l.P1 },
		"Timed from `CreateRequest` on the Teleport emulator to the Jira emulator's 201 for the issue, one request at a time. The Jira service time is the emulator's handler time of the calls made for the request in that window.")
	lat("## P2 — card moved on the board → decision applied in Teleport (signed webhooks, HMAC)", func(l *LayoutResult) *LatencyResult { return l.P2Signed },
		"Timed from `Move` on the Jira emulator (changelog + webhook queued) to Teleport's `access_request.update` audit event with the `jira:` delegator. Path: emulator webhook → webhook-ingress → JetStream → jira-bridge → JetStream → teleport-bridge → SetAccessRequestState.")
	lat("## P2 — unsigned deliveries (URL token; the jira-bridge confirms the status through the Jira API)", func(l *LayoutResult) *LatencyResult { return l.P2Unsigned }, "")

	p3 := func(title string, get func(*LayoutResult) *P3Result, limited bool) {
		any := false
		for _, l := range layouts {
			if get(res.Layouts[l]) != nil {
				any = true
			}
		}
		if !any {
			return
		}
		p("%s\n\n", title)
		if limited {
			p("| layout | requests | requests/s | seconds to all issues | seconds to all in Pending | share of the 10 req/s used (to all issues) | (to all in Pending) | 429s/rep | lost | duplicates |\n|---|---|---|---|---|---|---|---|---|---|\n")
		} else {
			p("*Steal*: the share of the machine's CPU time the hypervisor gave to other VMs during a burst (`/proc/stat`); a burst with much steal measures the neighbours.\n\n")
			p("| layout | requests | requests/s | seconds to all issues | to 99 %% of them | seconds to all in Pending | creating them in the emulator (s) | lost | duplicates | per burst: requests/s (steal) |\n|---|---|---|---|---|---|---|---|---|---|\n")
		}
		for _, l := range layouts {
			r := get(res.Layouts[l])
			if r == nil || len(r.Reps) == 0 {
				continue
			}
			if limited {
				var n429 []float64
				for _, rep := range r.Reps {
					n429 = append(n429, float64(rep.JiraCalls429))
				}
				pct := func(a *Agg) string {
					if a == nil {
						return "–"
					}
					return fmt.Sprintf("%.0f%% (%.0f–%.0f%%)", 100*a.Median, 100*a.Min, 100*a.Max)
				}
				p("| %s | %d | %s | %s | %s | %s | %s | %s | %d | %d |\n", l, r.Reps[0].Requests, f1(r.RequestsPerSec, 2), f1(r.Seconds, 1), f1(r.SettledSeconds, 1), pct(r.ShareOfLimit), pct(r.SettledShare), f1(agg(n429), 0), r.Lost, r.Duplicates)
			} else {
				var cs []float64
				var each []string
				for _, rep := range r.Reps {
					cs = append(cs, rep.CreateSeconds)
					each = append(each, fmt.Sprintf("%.0f (%.0f %%)", rep.RequestsPerSec, rep.StealPercent))
				}
				p("| %s | %d | **%s** | %s | %s | %s | %s | %d | %d | %s |\n", l, r.Reps[0].Requests, f1(r.RequestsPerSec, 0), f1(r.Seconds, 2), f1(r.Seconds99, 2), f1(r.SettledSeconds, 2), f1(agg(cs), 2), r.Lost, r.Duplicates, strings.Join(each, " · "))
			}
		}
		p("\n")
		for _, l := range layouts {
			if r := get(res.Layouts[l]); r != nil {
				p("`%s`\n", r.Command)
			}
		}
		p("\n")
	}
	p3("## P3 — burst of pending requests → all issues exist (instant Jira)", func(l *LayoutResult) *P3Result { return l.P3Instant }, false)
	p3("## P3 — the same with Jira limited to 10 requests/s (429 + Retry-After above it)", func(l *LayoutResult) *P3Result { return l.P3Limited }, true)
	for _, l := range layouts {
		vs := res.Layouts[l].P3Variants
		if len(vs) == 0 {
			continue
		}
		p("Diagnostics (%s, instant Jira, same burst, one change each, fresh product):\n\n| variant | requests/s | seconds to all issues |\n|---|---|---|\n", l)
		if r := res.Layouts[l].P3Instant; r != nil {
			p("| as above (default settings, Jira sends webhooks) | %s | %s |\n", f1(r.RequestsPerSec, 0), f1(r.Seconds, 2))
		}
		for _, v := range vs {
			p("| %s | %s | %s |\n", v.Name, f1(v.Result.RequestsPerSec, 0), f1(v.Result.Seconds, 2))
		}
		p("\n")
	}
	p("### NATS traffic and CPU per access request (P3 burst, instant Jira)\n\n| layout | CPU ms per request (product processes) | NATS messages in per request | out per request |\n|---|---|---|---|\n")
	for _, l := range layouts {
		r := res.Layouts[l].P3Instant
		if r == nil || r.CPUMs == nil {
			continue
		}
		in, out := "–", "–"
		if r.NATSIn != nil {
			in, out = f1(*r.NATSIn, 1), f1(*r.NATSOut, 1)
		}
		p("| %s | %s | %s | %s |\n", l, f1(*r.CPUMs, 2), in, out)
	}
	p("\nCPU: utime+stime of the product's processes (all-in-one: one process with its embedded NATS; split: nats-server and the three services) during the burst, divided by the requests. NATS messages: the nats-server's own /varz counters (split layout only; the all-in-one runs the same clients against an embedded server), in_msgs = everything the services sent the server (publishes, JetStream API calls, pull requests, acks), out_msgs = everything it sent them; a round trip is one of each.\n\n")
	if res.P3LimitedNote() != "" {
		p("%s\n\n", res.P3LimitedNote())
	}

	if pr := res.Profile; pr != nil {
		p("### CPU profile of a P3 burst (all-in-one)\n\n")
		if pr.Skipped != "" {
			p("Skipped: %s.\n\n", pr.Skipped)
		} else {
			p("`%s` — process %s (embedded NATS included). The emulators run in the harness process and are not in this profile.\n\n", pr.Command, pr.Process)
			p("| self, by Go package | %% of samples |\n|---|---|\n")
			for _, e := range pr.Packages {
				p("| `%s` | %.1f |\n", e.Name, e.Percent)
			}
			p("\n| self, top symbols | %% |\n|---|---|\n")
			for _, e := range pr.Self {
				p("| `%s` | %.1f |\n", e.Name, e.Percent)
			}
			if len(pr.Inclusive) > 0 {
				p("\n| inclusive (with callees): AccessBridge, JSON, NATS, HTTP, GC frames | %% |\n|---|---|\n")
				for _, e := range pr.Inclusive {
					p("| `%s` | %.1f |\n", e.Name, e.Percent)
				}
			}
			p("\n")
		}
	}

	if r := res.P4; r != nil {
		p("## P4 — Jira API calls per request lifecycle, by endpoint\n\n`%s` (%d lifecycles of each kind, averaged; exact counts, no spread)\n\n", r.Command, res.Settings["p4_n"])
		for _, lc := range r.Lifecycles {
			p("**%s** — %.1f calls per request", lc.Name, lc.Total)
			if lc.Before > 0 {
				p(" (before issue 16: %.0f)", lc.Before)
			}
			var ph []string
			for _, k := range sortedKeys(lc.Phases) {
				ph = append(ph, fmt.Sprintf("%s: %.1f", k, lc.Phases[k]))
			}
			p(" (%s)\n\n| endpoint | calls |\n|---|---|\n", strings.Join(ph, "; "))
			for _, k := range sortedKeys(lc.PerRequest) {
				p("| `%s` | %.1f |\n", k, lc.PerRequest[k])
			}
			p("\n")
		}
	}

	if r := res.P5; r != nil {
		p("## P5 — webhook-ingress: signed deliveries/s and latency (open-loop generator)\n\n")
		if r.Skipped != "" {
			p("Skipped: %s.\n\n", r.Skipped)
		} else {
			p("The webhook-ingress binary and a separate nats-server (file store), driven by the harness's own generator over keep-alive HTTP/1.1: each delivery signed (HMAC-SHA256) with a new `X-Atlassian-Webhook-Identifier`, so each is a new JetStream message; 200 means JetStream acknowledged it. Body: %s. The open-loop levels send at a constant rate and measure each delivery's latency from its *intended* send time, so the generator never paces itself into the figure; flat out is closed loop (connections sending back to back). Generator, ingress and nats-server share the machine's CPUs. Each repetition starts nats-server and the ingress afresh, on an empty store: the stream's duplicate window (2 h) keeps every delivery's id, and nats-server's cost per delivery grows with that table, so on one server each repetition would measure what the earlier ones left (hundreds of thousands of ids; an endpoint sent only its access-request project's issue events holds a few thousand).\n\n", r.Body)
			p("*Steal* is the share of the machine's CPU time the hypervisor gave to other VMs during each repetition (`/proc/stat`): a repetition with much steal measures the neighbours. Deliveries/s per repetition are given beside it.\n\n")
			p("| load | connections | deliveries/s | p50 | p90 | p99 (ms) | non-2xx | sent late | generator CPU | per repetition: deliveries/s (steal) |\n|---|---|---|---|---|---|---|---|---|---|\n")
			for _, run := range r.Runs {
				late, gen := 0, 0.0
				var each []string
				for _, rep := range run.Reps {
					late += rep.Late
					gen = max(gen, rep.GeneratorCPU)
					each = append(each, fmt.Sprintf("%.0f (%.0f %%)", rep.DeliveriesPerSec, rep.StealPercent))
				}
				p("| %s | %d | %s | %s | %s | %s | %d | %d | %.0f %% | %s |\n", run.Name, run.Connections, f1(run.DeliveriesPerSec, 0), f1(run.P50, 2), f1(run.P90, 2), f1(run.P99, 2), run.Non2xx, late, gen, strings.Join(each, " · "))
			}
			p("\n`%s`\n\n", r.Command)
			for _, run := range r.Runs {
				if len(run.Usage) == 0 {
					continue
				}
				var parts []string
				perRep := max(1, len(run.Usage)/max(1, len(run.Reps)))
				for i, u := range run.Usage {
					part := fmt.Sprintf("%s %.0f%% CPU, %.0f MiB peak", u.Process, u.CPUPercent, u.PeakRSSMiB)
					if rep := i / perRep; rep < len(run.Reps) && run.Reps[rep].DeliveriesPerSec > 0 {
						part += fmt.Sprintf(", %.0f µs CPU per delivery", u.CPUPercent/100/run.Reps[rep].DeliveriesPerSec*1e6)
					}
					parts = append(parts, part)
				}
				p("%s, %d connections, per repetition: %s.\n\n", run.Name, run.Connections, strings.Join(parts, "; "))
			}
		}
	}

	anyP6 := false
	for _, l := range layouts {
		if len(res.Layouts[l].P6Idle) > 0 || len(res.Layouts[l].P6Burst) > 0 {
			anyP6 = true
		}
	}
	if anyP6 {
		p("## P6 — RSS and CPU of each process, idle and under P3\n\n")
		p("From `/proc/<pid>/stat` (utime+stime) and `/proc/<pid>/status` (VmRSS), sampled every 250–500 ms. CPU in %% of one core. Idle: 5 s after the warm-up. Under P3: during each instant burst (RSS: the peak sampled).\n\n")
		p("| layout | process | idle CPU %% | idle RSS MiB | P3 CPU %% | P3 peak RSS MiB |\n|---|---|---|---|---|---|\n")
		for _, l := range layouts {
			lr := res.Layouts[l]
			for _, name := range lr.Processes {
				idleCPU, idleRSS := "–", "–"
				for _, u := range lr.P6Idle {
					if u.Process == name {
						idleCPU, idleRSS = fmt.Sprintf("%.1f", u.CPUPercent), fmt.Sprintf("%.1f", u.RSSMiB)
					}
				}
				var cpu, rss []float64
				for _, burst := range lr.P6Burst {
					for _, u := range burst {
						if u.Process == name {
							cpu, rss = append(cpu, u.CPUPercent), append(rss, u.PeakRSSMiB)
						}
					}
				}
				p("| %s | %s | %s | %s | %s | %s |\n", l, name, idleCPU, idleRSS, f1(agg(cpu), 0), f1(agg(rss), 1))
			}
		}
		p("\n")
	}

	if r := res.P7; r != nil {
		p("## P7 — projection rebuild (`request-issues` from `jira.issues.>`)\n\n")
		if r.Error != "" {
			p("Failed: %s\n\n", r.Error)
		} else {
			p("%d issue events (%d requests × linked, transitioned, commented) in the JIRA stream on a %s; loading them took %.1f s (async publish, not part of the figure). A rebuild reads them with an ordered consumer, decodes each (`events.Decode`), folds them by request id, and writes one KV entry per request (16 writers). The product has no rebuild command; this is the procedure the README describes.\n\n", r.Events, r.Requests, r.NATS, r.PublishSeconds)
			p("| events | total s | read + decode + fold s | KV write s | events/s |\n|---|---|---|---|---|\n")
			p("| %d | **%s** | %s | %s | %s |\n\n`%s`\n\n", r.Events, f1(r.TotalSeconds, 2), f1(r.ReadFold, 2), f1(r.Write, 2), f1(r.EventsPerSec, 0), r.Command)
		}
	}
	for _, l := range layouts {
		for _, e := range res.Layouts[l].Errors {
			p("**Error (%s):** %s\n\n", l, e)
		}
	}
	return b.String()
}

// P3LimitedNote explains how the share of the allowed rate is computed.
func (res *Results) P3LimitedNote() string {
	for _, l := range res.Layouts {
		if l.P3Limited != nil {
			return "Share of the allowed rate: Jira calls answered without 429 per second, from the first request to the last issue, divided by 10 (the emulator's token bucket starts full, 10 calls, so a short run can exceed 100%); the second column counts every call until the last one (issues moved to Pending). Lost: requests without an issue after the run; duplicates: extra issues for one request."
		}
	}
	return ""
}
