// Package metrics holds the jira-bridge's Prometheus metrics, registered
// once per service on the registerer it is given.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the jira-bridge. The zero value is not usable; call New.
type Metrics struct {
	IssuesCreated  prometheus.Counter
	IssuesAdopted  prometheus.Counter
	Comments       *prometheus.CounterVec // cause kind: review, resolution, expiry, rejection
	Transitions    *prometheus.CounterVec // target status
	Decisions      *prometheus.CounterVec // verdict
	WebhooksIgnore *prometheus.CounterVec // reason
	JiraCalls      *prometheus.CounterVec // endpoint, code
	JiraRetries    *prometheus.CounterVec // endpoint, reason
	DeadLetters    *prometheus.CounterVec // consumer
}

// New creates the metrics and registers them with reg (nil: unregistered).
func New(reg prometheus.Registerer) *Metrics {
	const ns = "accessbridge_jira_bridge_"
	m := &Metrics{
		IssuesCreated:  prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "issues_created_total", Help: "Jira issues created for access requests."}),
		IssuesAdopted:  prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "issues_adopted_total", Help: "Existing issues linked instead of created (crash recovery or teleport-jira migration)."}),
		Comments:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "comments_total", Help: "Comments added to issues, by cause."}, []string{"cause"}),
		Transitions:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "transitions_total", Help: "Issue transitions made by the bridge, by target status."}, []string{"status"}),
		Decisions:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "decisions_total", Help: "decision.requested events published, by verdict and verification."}, []string{"verdict", "verification"}),
		WebhooksIgnore: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "webhooks_ignored_total", Help: "Webhook deliveries that produced no decision, by reason."}, []string{"reason"}),
		JiraCalls:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "jira_requests_total", Help: "HTTP requests to Jira, by endpoint and status code (0: no response)."}, []string{"endpoint", "code"}),
		JiraRetries:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "jira_retries_total", Help: "Jira requests retried, by endpoint and reason."}, []string{"endpoint", "reason"}),
		DeadLetters:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "dead_letters_total", Help: "Events dead-lettered by the jira-bridge's handlers (permanent errors), by consumer."}, []string{"consumer"}),
	}
	if reg != nil {
		reg.MustRegister(m.IssuesCreated, m.IssuesAdopted, m.Comments, m.Transitions, m.Decisions, m.WebhooksIgnore, m.JiraCalls, m.JiraRetries, m.DeadLetters)
	}
	return m
}
