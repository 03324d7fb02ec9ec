package jirasim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"  // retries exhausted or a non-retryable answer
	DeliveryDropped   = "dropped" // by the WebhookDropRate fault
)

// Delivery is one webhook sent (or to be sent) to one URL.
type Delivery struct {
	// ID is the X-Atlassian-Webhook-Identifier, stable across retries (and
	// shared by a duplicate).
	ID        string          `json:"id"`
	URL       string          `json:"url"`
	Event     string          `json:"event"`               // webhookEvent
	EventType string          `json:"eventType,omitempty"` // issue_event_type_name
	IssueID   string          `json:"issueId"`
	IssueKey  string          `json:"issueKey"`
	Body      json.RawMessage `json:"body"`
	State     string          `json:"state"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Attempts  []Attempt       `json:"attempts"`
	Created   time.Time       `json:"created"`
}

// Attempt is one HTTP POST of a delivery.
type Attempt struct {
	At     time.Time `json:"at"`
	Retry  int       `json:"retry"`            // 0 for the first attempt
	Status int       `json:"status,omitempty"` // 0 when no response
	Error  string    `json:"error,omitempty"`
}

// Signature returns the X-Hub-Signature value for body and secret:
// "sha256=" + hex(HMAC-SHA256(secret, body)).
func Signature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Webhooks returns every delivery so far, in the order they were queued.
func (s *Server) Webhooks() []Delivery {
	return s.hooks.snapshot()
}

// SetWebhookURLs replaces the webhook receivers for events from now on.
func (s *Server) SetWebhookURLs(urls []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.WebhookURLs = append([]string(nil), urls...)
}

// WaitWebhooks blocks until no delivery is pending (all delivered, failed or
// dropped), or ctx ends.
func (s *Server) WaitWebhooks(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if s.hooks.pendingCount() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// emitLocked builds a webhook payload from the state at the event and queues
// it for every receiver. Caller holds s.mu.
func (s *Server) emitLocked(event, eventType string, iss *issue, actor *User, h *history, c *comment) {
	if !s.wantsEventLocked(event) {
		return
	}
	now := s.opts.Now()
	p := map[string]any{
		"timestamp":    now.UnixMilli(),
		"webhookEvent": event,
		"user":         s.userJSON(actor, nil),
		"issue": map[string]any{
			"id":     iss.id,
			"self":   s.base() + "/rest/api/2/issue/" + iss.id,
			"key":    iss.key,
			"fields": s.fieldsJSON(iss, fieldSel{all: true}, renderView{status: iss.status, webhook: true}),
		},
	}
	if eventType != "" {
		p["issue_event_type_name"] = eventType
	}
	if h != nil {
		items := []any{}
		for _, it := range h.items {
			items = append(items, s.changeItemJSON(it))
		}
		p["changelog"] = map[string]any{"id": h.id, "items": items}
	}
	if c != nil {
		p["comment"] = s.commentJSON(iss, c, nil)
	}
	body, err := marshalJSON(p)
	if err != nil {
		s.opts.Logger.Error().Err(err).Msg("jira-sim: encode webhook")
		return
	}
	f := s.Faults()
	for _, u := range s.opts.WebhookURLs {
		d := &Delivery{
			ID: s.hooks.nextID(), URL: u, Event: event, EventType: eventType,
			IssueID: iss.id, IssueKey: iss.key, Body: body, State: DeliveryPending, Created: now,
		}
		// Decide the faults and copy the duplicate before queueing: once
		// queued, the delivery belongs to the dispatcher.
		due, dup := now, (*Delivery)(nil)
		switch {
		case f.WebhookDropRate > 0 && s.chance(f.WebhookDropRate):
			d.State = DeliveryDropped
		case f.WebhookReorderRate > 0 && s.chance(f.WebhookReorderRate):
			due = now.Add(f.WebhookReorderDelay)
		}
		if d.State != DeliveryDropped && f.WebhookDuplicateRate > 0 && s.chance(f.WebhookDuplicateRate) {
			c := *d
			c.Duplicate = true
			dup = &c
		}
		s.hooks.add(d, iss.id, due)
		if dup != nil {
			s.hooks.add(dup, iss.id, now)
		}
	}
}

// wantsEventLocked reports whether anyone receives event.
func (s *Server) wantsEventLocked(event string) bool {
	return len(s.opts.WebhookURLs) > 0 && slices.Contains(s.opts.WebhookEvents, event)
}

// dispatcher delivers webhooks asynchronously: one queue per worker, issues
// hashed to workers so that one issue's events keep their order.
type dispatcher struct {
	s      *Server
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu         sync.Mutex
	deliveries []*Delivery
	queues     []*workQueue
	pending    int
	seq        uint64
	lastID     uint64
}

type workItem struct {
	d     *Delivery
	due   time.Time
	retry int
	seq   uint64
}

type workQueue struct {
	items []*workItem // guarded by dispatcher.mu
	wake  chan struct{}
}

func newDispatcher(s *Server) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{
		s:      s,
		client: &http.Client{Timeout: s.opts.WebhookTimeout},
		ctx:    ctx, cancel: cancel,
		lastID: 1000000,
	}
	for range s.opts.WebhookWorkers {
		d.queues = append(d.queues, &workQueue{wake: make(chan struct{}, 1)})
	}
	return d
}

func (d *dispatcher) start() {
	d.once.Do(func() {
		for _, q := range d.queues {
			d.wg.Add(1)
			go d.work(q)
		}
	})
}

func (d *dispatcher) stop() {
	d.cancel()
	d.wg.Wait()
	d.client.CloseIdleConnections()
}

// add records a delivery and, unless dropped, queues it for due.
func (d *dispatcher) add(del *Delivery, issueID string, due time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deliveries = append(d.deliveries, del)
	if del.State != DeliveryPending {
		return
	}
	d.pending++
	h := fnv.New32a()
	h.Write([]byte(issueID))
	q := d.queues[int(h.Sum32())%len(d.queues)]
	d.seq++
	q.items = append(q.items, &workItem{d: del, due: due, seq: d.seq})
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) nextID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastID++
	return strconv.FormatUint(d.lastID, 10)
}

func (d *dispatcher) pendingCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending
}

func (d *dispatcher) snapshot() []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Delivery, 0, len(d.deliveries))
	for _, del := range d.deliveries {
		c := *del
		c.Attempts = append([]Attempt(nil), del.Attempts...)
		out = append(out, c)
	}
	return out
}

// next removes and returns the earliest due item, or says how long to wait.
func (d *dispatcher) next(q *workQueue, now time.Time) (*workItem, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	best := -1
	for i, it := range q.items {
		if best < 0 || it.due.Before(q.items[best].due) || (it.due.Equal(q.items[best].due) && it.seq < q.items[best].seq) {
			best = i
		}
	}
	if best < 0 {
		return nil, time.Hour
	}
	it := q.items[best]
	if wait := it.due.Sub(now); wait > 0 {
		return nil, wait
	}
	q.items = slices.Delete(q.items, best, best+1)
	return it, 0
}

func (d *dispatcher) work(q *workQueue) {
	defer d.wg.Done()
	for {
		it, wait := d.next(q, time.Now())
		if it == nil {
			t := time.NewTimer(wait)
			select {
			case <-d.ctx.Done():
				t.Stop()
				return
			case <-q.wake:
				t.Stop()
			case <-t.C:
			}
			continue
		}
		d.attempt(q, it)
	}
}

// attempt POSTs one delivery and decides whether to retry.
func (d *dispatcher) attempt(q *workQueue, it *workItem) {
	s := d.s
	del := it.d
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, del.URL, bytes.NewReader(del.Body))
	if err != nil {
		d.finish(del, Attempt{At: time.Now(), Error: err.Error()}, DeliveryFailed)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if s.opts.Flavor == FlavorCloud {
		req.Header.Set("User-Agent", "Atlassian Webhook HTTP Client")
		req.Header.Set("X-Atlassian-Webhook-Identifier", del.ID)
		req.Header.Set("X-Atlassian-Webhook-Flow", "Primary")
		if it.retry > 0 {
			req.Header.Set("X-Atlassian-Webhook-Retry", strconv.Itoa(it.retry))
		}
	} else {
		req.Header.Set("User-Agent", "Atlassian HttpClient 3.0.4")
	}
	if s.opts.WebhookSecret != "" {
		req.Header.Set("X-Hub-Signature", Signature(s.opts.WebhookSecret, del.Body))
	}
	at := time.Now()
	resp, err := d.client.Do(req)
	a := Attempt{At: at, Retry: it.retry}
	var retryAfter time.Duration
	if err != nil {
		if d.ctx.Err() != nil {
			return // shutting down; the delivery stays pending
		}
		a.Error = err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			a.Error = ue.Err.Error() // without the URL, which may hold a secret token
		}
	} else {
		a.Status = resp.StatusCode
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			retryAfter = time.Duration(secs) * time.Second
		}
		_ = resp.Body.Close()
	}
	log := s.opts.Logger.Debug().Str("delivery", del.ID).Str("event", del.Event).Str("issue_key", del.IssueKey).Int("retry", it.retry).Int("status", a.Status)
	if a.Error != "" {
		log = log.Str("error", a.Error)
	}
	log.Msg("jira-sim: webhook attempt")

	if a.Status >= 200 && a.Status < 300 {
		d.finish(del, a, DeliveryDelivered)
		return
	}
	if !retryable(a.Status) || it.retry >= s.opts.WebhookMaxRetries {
		d.finish(del, a, DeliveryFailed)
		return
	}
	delay := min(30*time.Second, s.opts.WebhookBackoff<<it.retry)
	delay = s.jitter(delay)
	if retryAfter > 0 {
		delay = min(max(delay, retryAfter), 30*time.Second)
	}
	d.mu.Lock()
	del.Attempts = append(del.Attempts, a)
	d.seq++
	q.items = append(q.items, &workItem{d: del, due: time.Now().Add(delay), retry: it.retry + 1, seq: d.seq})
	d.mu.Unlock()
}

func (d *dispatcher) finish(del *Delivery, a Attempt, state string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	del.Attempts = append(del.Attempts, a)
	del.State = state
	d.pending--
}

// retryable says whether Jira retries after this answer (0: no response).
func retryable(status int) bool {
	switch {
	case status == 0, status == 408, status == 409, status == 425, status == 429:
		return true
	default:
		return status >= 500
	}
}
