package bus

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the consume loops do. Create one per service and
// register it once; every consumer of the service shares it.
type Metrics struct {
	outcomes    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

// Outcomes of one delivery.
const (
	outcomeAck        = "ack"
	outcomeRetry      = "retry"
	outcomeDeadLetter = "dead_letter"
	outcomeWaiting    = "out_of_order"
	outcomeDuplicate  = "duplicate"
)

// NewMetrics registers the consume-loop metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbridge_messages_total",
			Help: "Deliveries handled by the consume loop, by consumer and outcome (ack, retry, dead_letter, duplicate: redelivered after a lost ack or below the ack floor, out_of_order: waited for an earlier message of its subject after a takeover or a lost delivery).",
		}, []string{"consumer", "outcome"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbridge_dead_letters_total",
			Help: "Messages copied to the DEADLETTER stream, by consumer.",
		}, []string{"consumer"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "accessbridge_handler_seconds",
			Help:    "Time spent in message handlers, by consumer.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"consumer"}),
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.deadLetters, m.duration)
	}
	return m
}
