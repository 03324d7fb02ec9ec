package webhook

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of one delivery, the "result" label of the metrics and log lines.
const (
	ResultPublished        = "published"
	ResultDuplicate        = "duplicate" // JetStream already held this delivery id
	ResultIgnored          = "ignored"   // authenticated, not about an issue: not published
	ResultUnauthorized     = "unauthorized"
	ResultBadRequest       = "bad_request"
	ResultTooLarge         = "too_large"
	ResultUnsupportedMedia = "unsupported_media_type"
	ResultMethodNotAllowed = "method_not_allowed"
	ResultRateLimited      = "rate_limited"
	ResultBusy             = "busy"          // over the concurrency limit
	ResultUnavailable      = "unavailable"   // NATS did not ack
	ResultClientClosed     = "client_closed" // the client hung up before the ack (499)
	ResultPanic            = "internal_error"
)

// Metrics of the webhook endpoint, prefixed accessbridge_webhook_ingress_.
type Metrics struct {
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	bodyBytes  prometheus.Histogram
	inFlight   prometheus.Gauge
	// published and publishedLatency are the series of nearly every
	// delivery, looked up once instead of by label values each time.
	published        prometheus.Counter
	publishedLatency prometheus.Observer
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbridge_webhook_ingress_deliveries_total",
			Help: "Webhook deliveries answered, by result (published, duplicate, ignored, unauthorized, bad_request, too_large, unsupported_media_type, method_not_allowed, rate_limited, busy, unavailable, client_closed, internal_error) and HTTP status code.",
		}, []string{"result", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "accessbridge_webhook_ingress_delivery_seconds",
			Help:    "Time from the request headers to the answer, JetStream ack included, by result.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		bodyBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "accessbridge_webhook_ingress_body_bytes",
			Help:    "Size of the bodies read (authenticated or not).",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 8),
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "accessbridge_webhook_ingress_in_flight",
			Help: "Deliveries being handled now.",
		}),
	}
	m.published = m.deliveries.WithLabelValues(ResultPublished, strconv.Itoa(200))
	m.publishedLatency = m.latency.WithLabelValues(ResultPublished)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.deliveries, m.latency, m.bodyBytes, m.inFlight} {
			if err := reg.Register(c); err != nil {
				var already prometheus.AlreadyRegisteredError
				if errors.As(err, &already) {
					return nil, errors.New("webhook-ingress metrics are already registered: one ingress per registry")
				}
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) observe(result string, code int, d time.Duration) {
	if result == ResultPublished && code == 200 {
		m.published.Inc()
		m.publishedLatency.Observe(d.Seconds())
		return
	}
	m.deliveries.WithLabelValues(result, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(result).Observe(d.Seconds())
}
