package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/embedded"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// P7Rep is one rebuild.
type P7Rep struct {
	ReadFoldSeconds float64 `json:"read_fold_seconds"` // ordered consumer over jira.issues.>, decode, fold
	WriteSeconds    float64 `json:"write_seconds"`     // one KV put per request (16 writers)
	TotalSeconds    float64 `json:"total_seconds"`
	EventsPerSec    float64 `json:"events_per_sec"`
	Keys            int     `json:"keys"`
}

// P7Result is the projection rebuild.
type P7Result struct {
	Command        string  `json:"command"`
	Events         int     `json:"events"`
	Requests       int     `json:"requests"`
	NATS           string  `json:"nats"`
	PublishSeconds float64 `json:"publish_seconds"` // loading the log (async publish), not part of the rebuild
	Reps           []P7Rep `json:"reps"`
	TotalSeconds   Agg     `json:"total_seconds"`
	ReadFold       Agg     `json:"read_fold_seconds"`
	Write          Agg     `json:"write_seconds"`
	EventsPerSec   Agg     `json:"events_per_sec"`
	Error          string  `json:"error,omitempty"`
}

// p7 loads n issue.* events (linked, transitioned, commented per request)
// into the JIRA stream and rebuilds the request-issues projection from
// them, reps times. The product has no rebuild command: this is the
// procedure the README describes (read jira.issues.> from the start, fold by
// request id, write the bucket).
func p7(natsServer, dir string, n, reps int, logf func(string, ...any)) *P7Result {
	res := &P7Result{Events: n}
	fail := func(err error) *P7Result { res.Error = err.Error(); return res }
	var url string
	if natsServer != "" {
		p := &product{pids: map[string]int{}}
		defer p.Stop()
		addr, _ := freeAddr()
		host, port, _ := splitHostPort(addr)
		if err := p.start(dir, "nats-server-p7", natsServer, os.Environ(), "-js", "-sd", filepath.Join(dir, "nats-p7"), "-a", host, "-p", port); err != nil {
			return fail(err)
		}
		if err := waitTCP(addr, 20*time.Second); err != nil {
			return fail(err)
		}
		url = "nats://" + addr
		res.NATS = "nats-server process (file store)"
	} else {
		ns, err := embedded.Run(embedded.Options{Dir: filepath.Join(dir, "nats-p7")})
		if err != nil {
			return fail(err)
		}
		defer ns.Shutdown()
		url = ns.ClientURL()
		res.NATS = "embedded in the harness (file store)"
	}
	ctx := context.Background()
	b, err := bus.Connect(ctx, bus.Config{URL: url, APITimeout: 30 * time.Second}, "bench-p7", zerolog.Nop())
	if err != nil {
		return fail(err)
	}
	defer b.Close()
	if _, err := b.EnsureStream(ctx, events.JiraStream()); err != nil {
		return fail(err)
	}
	// Load the log.
	nReq := (n + 2) / 3
	res.Requests = nReq
	t0 := time.Now()
	published := 0
	for i := 0; published < n; i++ {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ref := events.IssueRef{ID: strconv.Itoa(10000 + i), Key: "TAR-" + strconv.Itoa(i+1)}
		for _, p := range []events.Payload{
			events.NewIssueLinked(id, ref, "Pending", false),
			events.NewIssueTransitioned(id, ref, "Pending", "Approved", "resolved:APPROVED"),
			events.NewIssueCommented(id, ref, strconv.Itoa(500000+i), "resolved:APPROVED"),
		} {
			if published >= n {
				break
			}
			env, err := events.New("bench/p7", time.Now(), p)
			if err != nil {
				return fail(err)
			}
			data, err := events.Encode(env)
			if err != nil {
				return fail(err)
			}
			msg := &nats.Msg{Subject: env.Subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{env.ID}}}
			if _, err := b.JS.PublishMsgAsync(msg, jetstream.WithStallWait(30*time.Second)); err != nil {
				return fail(err)
			}
			published++
		}
	}
	select {
	case <-b.JS.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		return fail(fmt.Errorf("publishing %d events did not complete in 5 minutes", n))
	}
	res.PublishSeconds = time.Since(t0).Seconds()
	logf("P7 loaded %d events in %.1fs", n, res.PublishSeconds)

	var total, rf, wr, eps []float64
	for r := range reps {
		rep, err := rebuild(ctx, b, n, "request-issues-rebuild-"+strconv.Itoa(r))
		if err != nil {
			return fail(err)
		}
		res.Reps = append(res.Reps, rep)
		total, rf, wr, eps = append(total, rep.TotalSeconds), append(rf, rep.ReadFoldSeconds), append(wr, rep.WriteSeconds), append(eps, rep.EventsPerSec)
		logf("P7 rebuild %d: %.2fs (read+fold %.2fs, write %.2fs)", r+1, rep.TotalSeconds, rep.ReadFoldSeconds, rep.WriteSeconds)
	}
	res.TotalSeconds, res.ReadFold, res.Write, res.EventsPerSec = agg(total), agg(rf), agg(wr), agg(eps)
	return res
}

// entry is a projection value of the size the jira-bridge writes (its
// schema is the jira-bridge's own; the benchmark measures the read, fold
// and write throughput, not the schema).
type entry struct {
	RequestID string    `json:"request_id"`
	IssueID   string    `json:"issue_id,omitempty"`
	IssueKey  string    `json:"issue_key,omitempty"`
	Status    string    `json:"status,omitempty"`
	Applied   []string  `json:"applied,omitempty"`
	Updated   time.Time `json:"updated,omitzero"`
}

func (e *entry) Encode() []byte {
	b, _ := json.Marshal(e)
	return b
}

// fold applies one issue event to the projection, as the jira-bridge
// records it.
func fold(m map[string]*entry, ev events.Event) {
	ie, ok := ev.Payload.(*events.IssueEvent)
	if !ok {
		return
	}
	r := m[ie.RequestID]
	if r == nil {
		r = &entry{RequestID: ie.RequestID}
		m[ie.RequestID] = r
	}
	r.IssueID, r.IssueKey = ie.IssueID, ie.IssueKey
	if ie.Status != "" {
		r.Status = ie.Status
	}
	if ie.Cause != "" && !slices.Contains(r.Applied, ie.Cause) {
		r.Applied = append(r.Applied, ie.Cause)
	}
	r.Updated = ev.Time
}

func rebuild(ctx context.Context, b *bus.Bus, n int, bucket string) (P7Rep, error) {
	var rep P7Rep
	t0 := time.Now()
	oc, err := b.JS.OrderedConsumer(ctx, events.StreamJira, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SubjectIssues + ".>"}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return rep, err
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(2000))
	if err != nil {
		return rep, err
	}
	m := map[string]*entry{}
	for got := 0; got < n; got++ {
		msg, err := it.Next()
		if err != nil {
			it.Stop()
			return rep, fmt.Errorf("after %d events: %w", got, err)
		}
		ev, err := events.Decode(msg.Data())
		if err != nil {
			it.Stop()
			return rep, err
		}
		fold(m, ev)
	}
	it.Stop()
	rep.ReadFoldSeconds = time.Since(t0).Seconds()
	kv, err := b.EnsureKV(ctx, bucket, "bench rebuild", 0)
	if err != nil {
		return rep, err
	}
	t1 := time.Now()
	keys := make(chan *entry, 1024)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for r := range keys {
				if _, err := kv.Put(ctx, r.RequestID, r.Encode()); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, r := range m {
		keys <- r
	}
	close(keys)
	wg.Wait()
	select {
	case err := <-errs:
		return rep, err
	default:
	}
	rep.WriteSeconds = time.Since(t1).Seconds()
	rep.TotalSeconds = time.Since(t0).Seconds()
	rep.EventsPerSec = float64(n) / rep.TotalSeconds
	rep.Keys = len(m)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = b.JS.DeleteKeyValue(actx, bucket)
	return rep, nil
}
