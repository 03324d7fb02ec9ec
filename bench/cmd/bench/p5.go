package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// P5Rep is one wrk run.
type P5Rep struct {
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	P50ms            float64 `json:"p50_ms"`
	P90ms            float64 `json:"p90_ms"`
	P99ms            float64 `json:"p99_ms"`
	Non2xx           int     `json:"non_2xx"`
	SocketErrors     int     `json:"socket_errors"`
}

// P5Run is one load level, repeated.
type P5Run struct {
	Name             string  `json:"name"`
	Rate             int     `json:"rate"` // 0: flat out
	Connections      int     `json:"connections"`
	Command          string  `json:"command"`
	Reps             []P5Rep `json:"reps"`
	DeliveriesPerSec Agg     `json:"deliveries_per_sec"`
	P50              Agg     `json:"p50_ms"`
	P90              Agg     `json:"p90_ms"`
	P99              Agg     `json:"p99_ms"`
	Non2xx           int     `json:"non_2xx"`
}

// P5Result is the ingress load test.
type P5Result struct {
	Skipped string      `json:"skipped,omitempty"`
	Command string      `json:"command"`
	Body    string      `json:"body"`
	Runs    []P5Run     `json:"runs"`
	Usage   []ProcUsage `json:"usage_flat_out,omitempty"` // of the ingress and nats-server in the flat-out runs
}

var wrkLine = regexp.MustCompile(`deliveries/s: ([\d.]+)\s+p50: ([\d.]+) ms\s+p90: ([\d.]+) ms\s+p99: ([\d.]+) ms\s+non-2xx: (\d+)\s+socket errors: (\d+)`)

// p5 runs wrk with the ingress's signed.lua against the webhook-ingress
// binary and a separate nats-server.
func p5(binDir, natsServer, repo, dir string, reps int, dur time.Duration, logf func(string, ...any)) *P5Result {
	res := &P5Result{}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.Skipped = err.Error()
		return res
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		res.Skipped = "wrk is not installed (apt-get install -y wrk)"
		return res
	}
	if natsServer == "" {
		res.Skipped = "no nats-server binary (make tools)"
		return res
	}
	script, err := filepath.Abs(filepath.Join(repo, "services/webhook-ingress/loadtest/signed.lua"))
	if err == nil {
		_, err = os.Stat(script)
	}
	if err != nil {
		res.Skipped = "services/webhook-ingress/loadtest/signed.lua not found"
		return res
	}
	body, err := filepath.Abs("cmd/bench/testdata/webhook-cloud-status-to-done.json")
	if err == nil {
		_, err = os.Stat(body)
	}
	if err != nil {
		res.Skipped = "the webhook body (cmd/bench/testdata) is missing: run from bench/"
		return res
	}
	st, _ := os.Stat(body)
	res.Body = fmt.Sprintf("Jira Cloud issue_updated (status → Done), %.1f KiB", float64(st.Size())/1024)
	secret := "bench-secret-0123456789abcdef"
	// The ingress and its NATS, as a product with only the ingress.
	p := &product{layout: "ingress", pids: map[string]int{}}
	defer p.Stop()
	natsAddr, _ := freeAddr()
	ingressAddr, _ := freeAddr()
	host, port, _ := splitHostPort(natsAddr)
	if err := p.start(dir, "nats-server", natsServer, os.Environ(), "-js", "-sd", filepath.Join(dir, "nats"), "-a", host, "-p", port); err != nil {
		res.Skipped = err.Error()
		return res
	}
	if err := waitTCP(natsAddr, 20*time.Second); err != nil {
		res.Skipped = "nats-server: " + err.Error()
		return res
	}
	env := append(os.Environ(), "NATS_URL=nats://"+natsAddr, "LOG_LEVEL=info", "LOG_FORMAT=json",
		"WEBHOOK_INGRESS_ADDR="+ingressAddr, "WEBHOOK_INGRESS_INSECURE_NO_TLS=true", "WEBHOOK_INGRESS_HMAC_SECRETS="+secret)
	if err := p.start(dir, "webhook-ingress", filepath.Join(binDir, "webhook-ingress"), env); err != nil {
		res.Skipped = err.Error()
		return res
	}
	if err := waitTCP(ingressAddr, 20*time.Second); err != nil {
		res.Skipped = "webhook-ingress: " + err.Error()
		return res
	}
	url := "http://" + ingressAddr + "/webhook"
	res.Command = fmt.Sprintf("WRK_CONNECTIONS=C wrk -t2 -cC -d%s -s ../services/webhook-ingress/loadtest/signed.lua %s -- cmd/bench/testdata/webhook-cloud-status-to-done.json %s [RATE]", dur, url, secret)
	levels := []struct {
		name        string
		rate, conns int
	}{{"paced 250/s", 250, 10}, {"paced 500/s", 500, 10}, {"paced 1000/s", 1000, 10}, {"flat out", 0, 16}}
	// warm-up
	_ = exec.Command(wrk, "-t1", "-c2", "-d1s", "-s", script, url, "--", body, secret, "200").Run()
	for _, lv := range levels {
		run := P5Run{Name: lv.name, Rate: lv.rate, Connections: lv.conns}
		args := []string{"-t2", "-c" + strconv.Itoa(lv.conns), "-d" + dur.String(), "-s", script, url, "--", body, secret}
		if lv.rate > 0 {
			args = append(args, strconv.Itoa(lv.rate))
		}
		run.Command = fmt.Sprintf("WRK_CONNECTIONS=%d wrk %s", lv.conns, strings.Join(args, " "))
		var dps, p50, p90, p99 []float64
		for range reps {
			var smp *sampler
			if lv.rate == 0 {
				smp = startSampler(p.pids, 250*time.Millisecond)
			}
			cmd := exec.Command(wrk, args...)
			cmd.Env = append(os.Environ(), "WRK_CONNECTIONS="+strconv.Itoa(lv.conns))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if smp != nil {
				res.Usage = append(res.Usage, smp.Stop()...)
			}
			m := wrkLine.FindStringSubmatch(out.String())
			if err != nil || m == nil {
				logf("P5 %s: wrk failed: %v\n%s", lv.name, err, out.String())
				continue
			}
			f := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
			r := P5Rep{DeliveriesPerSec: f(1), P50ms: f(2), P90ms: f(3), P99ms: f(4), Non2xx: int(f(5)), SocketErrors: int(f(6))}
			run.Reps = append(run.Reps, r)
			run.Non2xx += r.Non2xx
			dps, p50, p90, p99 = append(dps, r.DeliveriesPerSec), append(p50, r.P50ms), append(p90, r.P90ms), append(p99, r.P99ms)
		}
		run.DeliveriesPerSec, run.P50, run.P90, run.P99 = agg(dps), agg(p50), agg(p90), agg(p99)
		logf("P5 %-14s %7.0f deliveries/s  p50 %.2f ms  p99 %.2f ms", lv.name, run.DeliveriesPerSec.Median, run.P50.Median, run.P99.Median)
		res.Runs = append(res.Runs, run)
	}
	return res
}
