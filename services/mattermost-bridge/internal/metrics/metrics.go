// Package metrics holds the mattermost-bridge's Prometheus metrics.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the mattermost-bridge.
type Metrics struct {
	Posts       prometheus.Counter
	Replies     prometheus.Counter
	Updates     prometheus.Counter
	Found       prometheus.Counter
	Skipped     prometheus.Counter
	Calls       *prometheus.CounterVec // method, route, code
	CallSeconds *prometheus.HistogramVec
	DeadLetters prometheus.Counter
	// Actions counts button clicks by outcome: decided, unmapped_user,
	// unknown_post.
	Actions *prometheus.CounterVec
}

// New creates the metrics and registers them with reg (nil: unregistered).
func New(reg prometheus.Registerer) *Metrics {
	const ns = "accessbridge_mattermost_bridge_"
	m := &Metrics{
		Posts:       prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "posts_total", Help: "Request posts created in Mattermost."}),
		Replies:     prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "replies_total", Help: "Review replies created in Mattermost threads."}),
		Updates:     prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "updates_total", Help: "Posts updated with a new request status."}),
		Found:       prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "posts_found_total", Help: "Posts or replies found by their request-id prop after an intent without an outcome (crash recovery), instead of posted again."}),
		Skipped:     prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "requests_skipped_total", Help: "Requests not posted: no recipient, or already resolved when first seen."}),
		Calls:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "mattermost_requests_total", Help: "HTTP requests to Mattermost, by method, route and status code (0: no response)."}, []string{"method", "route", "code"}),
		CallSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "mattermost_request_seconds", Help: "Latency of Mattermost HTTP requests.", Buckets: prometheus.DefBuckets}, []string{"method", "route"}),
		DeadLetters: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "dead_letters_total", Help: "Events dead-lettered by the mattermost-bridge's handler (permanent errors)."}),
		Actions:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "button_actions_total", Help: "Approve / Deny clicks handled, by outcome (decided, unmapped_user, unknown_post)."}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.Posts, m.Replies, m.Updates, m.Found, m.Skipped, m.Calls, m.CallSeconds, m.DeadLetters, m.Actions)
	}
	return m
}

// ObserveCall records one Mattermost HTTP attempt.
func (m *Metrics) ObserveCall(method, route string, status int, took time.Duration) {
	m.Calls.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.CallSeconds.WithLabelValues(method, route).Observe(took.Seconds())
}
