package teleportbridge

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the service, all prefixed accessbridge_teleport_bridge_.
type metrics struct {
	published  *prometheus.CounterVec
	decisions  *prometheus.CounterVec
	reconnects prometheus.Counter
	connected  prometheus.Gauge
	watchAge   prometheus.GaugeFunc
	lastEvent  atomic.Int64 // unix nanos of the last watch event
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbridge_teleport_bridge_events_published_total",
			Help: "Request events published (duplicates collapsed by JetStream included), by event type.",
		}, []string{"type"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbridge_teleport_bridge_decisions_total",
			Help: "Jira decisions handled, by outcome (applied, rejected) and rejection code.",
		}, []string{"outcome", "code"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accessbridge_teleport_bridge_watch_reconnects_total",
			Help: "Times the Teleport watch stream was re-established after it ended.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "accessbridge_teleport_bridge_watch_connected",
			Help: "1 while the Teleport watch stream is up.",
		}),
	}
	m.watchAge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "accessbridge_teleport_bridge_last_event_age_seconds",
		Help: "Seconds since the last Teleport watch event (init included); -1 before the first.",
	}, func() float64 {
		n := m.lastEvent.Load()
		if n == 0 {
			return -1
		}
		return time.Since(time.Unix(0, n)).Seconds()
	})
	if reg != nil {
		for _, c := range []prometheus.Collector{m.published, m.decisions, m.reconnects, m.connected, m.watchAge} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register teleport-bridge metrics: %w (one registry per service instance)", err)
			}
		}
	}
	return m, nil
}

// busMetrics registers the consume-loop metrics, turning the registry's
// panic on a duplicate into an error.
func busMetrics(reg prometheus.Registerer) (m *bus.Metrics, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("register consumer metrics: %v", r)
		}
	}()
	return bus.NewMetrics(reg), nil
}

func (m *metrics) outcome(o *events.DecisionOutcome) {
	outcome := "applied"
	if o.Kind == events.DecisionRejected {
		outcome = "rejected"
	}
	m.decisions.WithLabelValues(outcome, string(o.Code)).Inc()
}

func (m *metrics) publishedEvent(t events.Type) { m.published.WithLabelValues(string(t)).Inc() }

func (m *metrics) setConnected(v bool) {
	if v {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}

func (m *metrics) watchEvent() { m.lastEvent.Store(time.Now().UnixNano()) }
