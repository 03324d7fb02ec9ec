package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// P5Rep is one run of one load level.
type P5Rep struct {
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	P50ms            float64 `json:"p50_ms"`
	P90ms            float64 `json:"p90_ms"`
	P99ms            float64 `json:"p99_ms"`
	Maxms            float64 `json:"max_ms"`
	Non2xx           int     `json:"non_2xx"`
	Errors           int     `json:"errors"`
	// GeneratorCPU is the load generator's own CPU use (% of one core):
	// it shares the machine with the ingress and nats-server.
	GeneratorCPU float64 `json:"generator_cpu_percent"`
	// Late counts sends that left more than a millisecond after their
	// intended time (open loop: the generator or the client pool lagged;
	// their latency still counts from the intended time).
	Late int `json:"late"`
	// StealPercent and IdlePercent are the shares of the machine's CPU
	// time during the repetition that the hypervisor gave to other VMs
	// (steal) and that nothing here used (idle), from /proc/stat.
	StealPercent float64 `json:"steal_percent"`
	IdlePercent  float64 `json:"idle_percent"`
}

// P5Run is one load level, repeated.
type P5Run struct {
	Name             string  `json:"name"`
	Rate             int     `json:"rate"` // 0: flat out (closed loop)
	Connections      int     `json:"connections"`
	Reps             []P5Rep `json:"reps"`
	DeliveriesPerSec Agg     `json:"deliveries_per_sec"`
	P50              Agg     `json:"p50_ms"`
	P90              Agg     `json:"p90_ms"`
	P99              Agg     `json:"p99_ms"`
	Non2xx           int     `json:"non_2xx"`
	// Usage is the ingress's and nats-server's, per repetition (flat out).
	Usage []ProcUsage `json:"usage,omitempty"`
}

// P5Result is the ingress load test.
type P5Result struct {
	Skipped string  `json:"skipped,omitempty"`
	Command string  `json:"command"`
	Body    string  `json:"body"`
	Runs    []P5Run `json:"runs"`
}

// p5 drives the webhook-ingress binary (and a separate nats-server, file
// store) with signed deliveries from an open-loop generator: at a constant
// rate, each delivery has an intended send time and its latency is measured
// from it, so a stalled server shows as latency rather than as a generator
// that slowed down with it (coordinated omission). Flat out is closed loop:
// many connections sending back to back, counting deliveries/s.
//
// Each repetition starts nats-server and the ingress afresh on an empty
// store: the stream's duplicate window (2 h) keeps the id of every delivery,
// and nats-server's cost per delivery grows with that table (its collector
// marks it), so on one server a repetition measured what the earlier ones
// left behind — hundreds of thousands of ids after a few flat-out seconds,
// where a real endpoint, sent only its access-request project's issue events,
// holds a few thousand.
func p5(binDir, natsServer, dir string, reps int, dur time.Duration, logf func(string, ...any)) *P5Result {
	res := &P5Result{}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.Skipped = err.Error()
		return res
	}
	if natsServer == "" {
		res.Skipped = "no nats-server binary (make tools)"
		return res
	}
	bodyPath, err := filepath.Abs("cmd/bench/testdata/webhook-cloud-status-to-done.json")
	if err != nil {
		res.Skipped = err.Error()
		return res
	}
	body, err := os.ReadFile(bodyPath)
	if err != nil {
		res.Skipped = "the webhook body (cmd/bench/testdata) is missing: run from bench/"
		return res
	}
	res.Body = fmt.Sprintf("Jira Cloud issue_updated (status → Done), %.1f KiB", float64(len(body))/1024)
	res.Command = fmt.Sprintf("cd bench && go run ./cmd/bench -only p5 -p5-duration %s -reps %d (built-in open-loop generator; "+
		"nats-server and the ingress started afresh, on an empty store, for each repetition)", dur, reps)
	levels := []struct {
		name        string
		rate, conns int
	}{{"open loop 1,000/s", 1000, 256}, {"open loop 5,000/s", 5000, 512},
		// Flat out at three concurrencies: the more deliveries in flight,
		// the more of them share a write to nats-server and its ack.
		{"flat out", 0, 64}, {"flat out", 0, 256}, {"flat out", 0, 1024}}
	n := 0
	for _, lv := range levels {
		run := P5Run{Name: lv.name, Rate: lv.rate, Connections: lv.conns}
		var dps, p50, p90, p99 []float64
		for range reps {
			n++
			st, err := startP5Stack(binDir, natsServer, filepath.Join(dir, fmt.Sprintf("rep-%02d", n)), body)
			if err != nil {
				res.Skipped = err.Error()
				return res
			}
			r, usage := st.measure(lv.rate, lv.conns, dur)
			st.stop()
			run.Usage = append(run.Usage, usage...)
			run.Reps = append(run.Reps, r)
			run.Non2xx += r.Non2xx + r.Errors
			dps, p50, p90, p99 = append(dps, r.DeliveriesPerSec), append(p50, r.P50ms), append(p90, r.P90ms), append(p99, r.P99ms)
			logf("P5 %-18s %4d conns %7.0f deliveries/s  p50 %.2f ms  p99 %.2f ms  max %.1f ms  non-2xx %d  errors %d  late %d  generator %.0f%% CPU  steal %.0f%%  idle %.0f%%",
				lv.name, lv.conns, r.DeliveriesPerSec, r.P50ms, r.P99ms, r.Maxms, r.Non2xx, r.Errors, r.Late, r.GeneratorCPU, r.StealPercent, r.IdlePercent)
		}
		run.DeliveriesPerSec, run.P50, run.P90, run.P99 = agg(dps), agg(p50), agg(p90), agg(p99)
		res.Runs = append(res.Runs, run)
	}
	return res
}

// p5Stack is one repetition's nats-server and webhook-ingress, and the
// generator that sends to it.
type p5Stack struct {
	p     *product
	store string
	gen   *generator
}

func startP5Stack(binDir, natsServer, dir string, body []byte) (st *p5Stack, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	st = &p5Stack{p: &product{layout: "ingress", pids: map[string]int{}}, store: filepath.Join(dir, "nats")}
	defer func() {
		if err != nil {
			st.stop()
		}
	}()
	secret := "bench-secret-0123456789abcdef"
	natsAddr, _ := freeAddr()
	ingressAddr, _ := freeAddr()
	host, port, _ := splitHostPort(natsAddr)
	if err := st.p.start(dir, "nats-server", natsServer, os.Environ(), "-js", "-sd", st.store, "-a", host, "-p", port); err != nil {
		return st, err
	}
	if err := waitTCP(natsAddr, 20*time.Second); err != nil {
		return st, fmt.Errorf("nats-server: %w", err)
	}
	// One client address sends everything here: the per-IP limits are
	// lifted (their defaults protect a real endpoint, not this figure).
	env := append(os.Environ(), "NATS_URL=nats://"+natsAddr, "LOG_LEVEL=info", "LOG_FORMAT=json",
		"WEBHOOK_INGRESS_ADDR="+ingressAddr, "WEBHOOK_INGRESS_INSECURE_NO_TLS=true", "WEBHOOK_INGRESS_HMAC_SECRETS="+secret,
		"WEBHOOK_INGRESS_RATE_LIMIT=0", "WEBHOOK_INGRESS_MAX_CONCURRENT=1024", "WEBHOOK_INGRESS_MAX_CONCURRENT_PER_IP=1024")
	if err := st.p.start(dir, "webhook-ingress", filepath.Join(binDir, "webhook-ingress"), env); err != nil {
		return st, err
	}
	if err := waitTCP(ingressAddr, 20*time.Second); err != nil {
		return st, fmt.Errorf("webhook-ingress: %w", err)
	}
	st.gen = newGenerator("http://"+ingressAddr+"/webhook", secret, body)
	// Warm-up: connections, JetStream's stream, the ingress's pools.
	if w := st.gen.closedLoop(time.Second, 16); w.DeliveriesPerSec == 0 || w.Non2xx+w.Errors > 0 {
		return st, fmt.Errorf("warm-up: %d deliveries/s, %d refused, %d errors (see %s)", int(w.DeliveriesPerSec), w.Non2xx, w.Errors, dir)
	}
	return st, nil
}

// measure runs one load level for d: at rate deliveries/s (open loop), or
// flat out when rate is 0, when it also samples the processes' CPU.
func (st *p5Stack) measure(rate, conns int, d time.Duration) (P5Rep, []ProcUsage) {
	var smp *sampler
	if rate == 0 {
		smp = startSampler(st.p.pids, 250*time.Millisecond)
	}
	var r P5Rep
	machine := machineSince()
	cpu0, t0 := selfCPU(), time.Now()
	if rate > 0 {
		r = st.gen.openLoop(d, rate, conns)
	} else {
		r = st.gen.closedLoop(d, conns)
	}
	r.GeneratorCPU = 100 * (selfCPU() - cpu0).Seconds() / time.Since(t0).Seconds()
	r.StealPercent, r.IdlePercent = machine()
	if smp == nil {
		return r, nil
	}
	return r, smp.Stop()
}

// stop ends the processes and removes the store (logs stay with -keep).
func (st *p5Stack) stop() {
	st.p.Stop()
	_ = os.RemoveAll(st.store)
}

// generator sends signed deliveries, each with a new delivery identifier
// (so each is a new JetStream message). It speaks HTTP/1.1 itself on
// keep-alive connections: a delivery is one write of prebuilt bytes and its
// answer is read with the least parsing that still checks it (status line,
// Content-Length, body). net/http's client cost ~90 µs of CPU per delivery
// here (two goroutines per connection, a request object, header maps),
// taken from the two cores the generator shares with the ingress and
// nats-server; this one costs a fraction of that, so that more of the
// machine measures the ingress.
type generator struct {
	addr string
	head []byte // the request up to the delivery id's value
	body []byte
	seq  atomic.Int64
}

func newGenerator(url, secret string, body []byte) *generator {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	hostPath := strings.TrimPrefix(url, "http://")
	addr, path, _ := strings.Cut(hostPath, "/")
	head := fmt.Appendf(nil, "POST /%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: accessbridge-bench\r\nContent-Type: application/json\r\n"+
		"X-Hub-Signature: sha256=%s\r\nContent-Length: %d\r\n%s: p5-",
		path, addr, hex.EncodeToString(m.Sum(nil)), len(body), "X-Atlassian-Webhook-Identifier")
	return &generator{addr: addr, head: head, body: body}
}

// client is one worker's connection.
type client struct {
	g    *generator
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

func (g *generator) client() *client { return &client{g: g} }

func (c *client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// send delivers once; ok is a 200.
func (c *client) send() (ok bool, err error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.g.addr, 5*time.Second)
		if err != nil {
			return false, err
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, 4096)
	}
	status, keep, err := c.roundTrip()
	if err != nil || !keep {
		c.close()
	}
	return status == http.StatusOK, err
}

func (c *client) roundTrip() (status int, keep bool, err error) {
	c.buf = append(c.buf[:0], c.g.head...)
	c.buf = strconv.AppendInt(c.buf, c.g.seq.Add(1), 10)
	c.buf = append(c.buf, "\r\n\r\n"...)
	c.buf = append(c.buf, c.g.body...)
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write(c.buf); err != nil {
		return 0, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("not an HTTP/1.1 status line: %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("status line %q: %w", line, err)
	}
	length, keep := -1, true
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return status, false, fmt.Errorf("Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return status, false, fmt.Errorf("answer with Transfer-Encoding %q: the generator reads Content-Length answers only", value)
		}
	}
	if length < 0 {
		return status, false, errors.New("answer without Content-Length")
	}
	if _, err := c.r.Discard(length); err != nil {
		return status, false, err
	}
	return status, keep, nil
}

// openLoop sends rate deliveries per second for d, each at its intended
// time t0 + i/rate whatever the answers to the earlier ones; conns workers
// carry them (a send waiting for a free worker is late, and its wait is
// part of its latency).
func (g *generator) openLoop(d time.Duration, rate, conns int) P5Rep {
	n := int(d.Seconds() * float64(rate))
	intended := make(chan time.Time, n)
	lat := make([]time.Duration, n)
	var idx atomic.Int64
	var non2xx, errs, late atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			c := g.client()
			defer c.close()
			for at := range intended {
				if time.Since(at) > time.Millisecond {
					late.Add(1)
				}
				ok, err := c.send()
				l := time.Since(at)
				switch {
				case err != nil:
					errs.Add(1)
				case !ok:
					non2xx.Add(1)
				}
				lat[idx.Add(1)-1] = l
			}
		})
	}
	start := time.Now().Add(10 * time.Millisecond)
	interval := time.Second / time.Duration(rate)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		intended <- at
	}
	close(intended)
	wg.Wait()
	elapsed := time.Since(start)
	r := summarize(lat[:idx.Load()], elapsed)
	r.Non2xx, r.Errors, r.Late = int(non2xx.Load()), int(errs.Load()), int(late.Load())
	r.DeliveriesPerSec = float64(int(idx.Load())-r.Non2xx-r.Errors) / elapsed.Seconds()
	return r
}

// closedLoop sends back to back on conns connections for d.
func (g *generator) closedLoop(d time.Duration, conns int) P5Rep {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	var non2xx, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			c := g.client()
			defer c.close()
			var mine []time.Duration
			for ctx.Err() == nil {
				t := time.Now()
				ok, err := c.send()
				mine = append(mine, time.Since(t))
				switch {
				case err != nil:
					errs.Add(1)
				case !ok:
					non2xx.Add(1)
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := summarize(all, elapsed)
	r.Non2xx, r.Errors = int(non2xx.Load()), int(errs.Load())
	r.DeliveriesPerSec = float64(len(all)-r.Non2xx-r.Errors) / elapsed.Seconds()
	return r
}

func summarize(lat []time.Duration, elapsed time.Duration) P5Rep {
	if len(lat) == 0 {
		return P5Rep{}
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	return P5Rep{DeliveriesPerSec: float64(len(lat)) / elapsed.Seconds(), P50ms: ms(0.50), P90ms: ms(0.90), P99ms: ms(0.99),
		Maxms: float64(lat[len(lat)-1]) / float64(time.Millisecond)}
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
