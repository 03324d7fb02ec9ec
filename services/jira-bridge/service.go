package jirabridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	"github.com/accessbridge/accessbridge/pkg/service/startup"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/decisions"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/issues"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/reconcile"
)

// Source is the CloudEvents source of the events the jira-bridge publishes.
const Source = "accessbridge/jira-bridge"

// Durable consumer names.
const (
	ConsumerRequests = "jira-bridge-requests"
	ConsumerOutcomes = "jira-bridge-outcomes"
	ConsumerWebhooks = "jira-bridge-webhooks"
)

// Deps are what the caller provides.
type Deps struct {
	Bus      *bus.Bus
	Log      zerolog.Logger
	Registry prometheus.Registerer // nil: metrics are not registered
	Ops      *ops.Server           // nil: no readiness checks are added
}

// Service is a running jira-bridge.
type Service struct {
	cfg        Config
	log        zerolog.Logger
	jira       *jira.Client
	consumers  []*bus.Consumer
	reconciler *reconcile.Reconciler
	linker     *issues.Linker
	decider    *decisions.Decider
}

// New checks the configuration and Jira (fail fast, one line naming the
// fix), declares the streams, the bucket and the consumers, and returns a
// service ready to Run.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if deps.Bus == nil {
		return nil, errors.New("jira-bridge: Deps.Bus is required")
	}
	log := deps.Log
	m := metrics.New(deps.Registry)
	// The consume-loop metrics go to the same registerer: the all-in-one
	// binary hands each service one wrapped with its service label.
	bm := bus.NewMetrics(deps.Registry)

	jc, err := jira.New(jira.Options{
		URL: cfg.URL, User: cfg.User, Token: cfg.APIToken.Value(), PAT: cfg.PAT.Value(),
		Timeout: cfg.JiraTimeout, Concurrency: cfg.JiraConcurrency, Metrics: m,
		Retry: jira.RetryPolicy{MaxRetries: cfg.JiraMaxRetries, Min: cfg.JiraRetryMin, Max: cfg.JiraRetryMax, MaxWait: cfg.JiraRetryMax},
	})
	if err != nil {
		return nil, fmt.Errorf("JIRA_BRIDGE_URL: %w", err)
	}
	var facts jiraFacts
	err = startup.Check(ctx, log, startup.Target{
		Name: "Jira", Addr: cfg.URL, Setting: EnvPrefix + "_URL", Timeout: cfg.CheckTimeout, TimeoutSetting: EnvPrefix + "_CHECK_TIMEOUT",
	}, func(ctx context.Context) (err error) { facts, err = checkJira(ctx, &cfg, jc); return err })
	if err != nil {
		return nil, err
	}
	log.Info().Str("deployment", facts.deployment).Str("jira_user", who(facts.bot)).Strs("projects", cfg.Projects()).
		Str("request_id_field", facts.requestIDField).Msg("jira checks passed")

	for _, s := range []events.StreamSpec{events.TeleportStream(), events.JiraStream()} {
		if _, err := deps.Bus.EnsureStream(ctx, s); err != nil {
			return nil, err
		}
	}
	kv, err := deps.Bus.EnsureKV(ctx, projection.Bucket, "request id → Jira issue, owned by the jira-bridge", 0)
	if err != nil {
		return nil, err
	}
	store := &projection.KV{KV: kv, Timeout: deps.Bus.Config().APITimeout}
	// The bucket is a projection of the JIRA stream: rebuild it when it was
	// lost (or when asked), so that nothing the bridge did is done again.
	empty, err := store.Empty(ctx)
	if err != nil {
		return nil, fmt.Errorf("request-issues: %w", err)
	}
	if empty || cfg.RebuildProjection {
		start := time.Now()
		read, written, err := projection.Rebuild(ctx, deps.Bus.JS, store)
		if err != nil {
			return nil, err
		}
		log.Info().Int("events", read).Int("entries", written).Dur("took", time.Since(start)).Bool("bucket_was_empty", empty).
			Msg("request-issues projection rebuilt from the JIRA stream")
	}
	logStart, err := logBegan(ctx, deps.Bus)
	if err != nil {
		return nil, err
	}
	statuses := domain.Statuses{Pending: cfg.StatusPending, Approved: cfg.StatusApproved, Denied: cfg.StatusDenied, Expired: cfg.StatusExpired, Promoted: cfg.StatusPromoted}
	labels := domain.Labels{Prefix: cfg.LabelPrefix}
	s := &Service{cfg: cfg, log: log, jira: jc}
	w := &issues.Writer{Jira: jc, Store: store, Metrics: m, Owner: instanceID(), IssueType: cfg.IssueType, Bot: facts.bot, ClaimTTL: cfg.AckWait}
	s.linker = issues.New(issues.Config{
		DefaultProject: cfg.Project, ProjectByRole: cfg.ProjectMap, IssueType: cfg.IssueType,
		Statuses: statuses, Labels: labels, ExtraLabels: cfg.Labels, RequestIDField: facts.requestIDField,
		SetReporter: cfg.SetReporter, ClaimTTL: cfg.AckWait, LogStart: logStart,
	}, w)
	s.decider = decisions.New(decisions.Config{
		Statuses: statuses, Labels: labels, RequestIDField: facts.requestIDField,
		Bot: facts.bot, ConfirmWindow: cfg.ConfirmWindow, ConfirmRetry: confirmRetry(cfg),
	}, jc, w)
	s.reconciler = reconcile.New(reconcile.Config{
		Source: Source, Projects: cfg.Projects(), Labels: labels, Statuses: statuses,
		Interval: cfg.ReconcileInterval, Window: cfg.ReconcileWindow, Grace: cfg.ReconcileGrace, Bot: facts.bot,
	}, jc, store, s.decider, publisher{deps.Bus}, log)

	spec := func(stream, durable, filter string) bus.ConsumerSpec {
		return bus.ConsumerSpec{Stream: stream, Durable: durable, FilterSubjects: []string{filter}, Source: Source, Classify: classify,
			MaxAttempts: cfg.MaxAttempts, RetryWindow: cfg.RetryWindow, Concurrency: cfg.Concurrency, RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax, AckWait: cfg.AckWait}
	}
	for _, c := range []struct {
		spec bus.ConsumerSpec
		h    bus.Handler
	}{
		{spec(events.StreamTeleport, ConsumerRequests, events.SubjectRequests+".>"), s.handleRequest},
		{spec(events.StreamTeleport, ConsumerOutcomes, events.SubjectTeleportDecisions+".>"), s.handleOutcome},
		{spec(events.StreamJira, ConsumerWebhooks, events.SubjectWebhooks+".>"), s.handleWebhook},
	} {
		cons, err := deps.Bus.NewConsumer(ctx, c.spec, countDeadLetters(c.spec.Durable, m, c.h), bm)
		if err != nil {
			return nil, err
		}
		s.consumers = append(s.consumers, cons)
	}
	if deps.Ops != nil {
		deps.Ops.AddCheck("nats", deps.Bus.Connected)
		deps.Ops.AddCheck("jira", jc.Ready)
	}
	return s, nil
}

// confirmRetry spreads the re-checks of an unsigned webhook over the
// confirm window within the attempts the consume loop allows.
func confirmRetry(cfg Config) time.Duration {
	return max(cfg.ConfirmWindow/time.Duration(max(cfg.MaxAttempts-2, 1)), 100*time.Millisecond)
}

// Run consumes until ctx is done; it returns the first consumer error.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(s.consumers)+1)
	for _, c := range s.consumers {
		wg.Go(func() {
			if err := c.Run(ctx); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Go(func() { _ = s.reconciler.Run(ctx) })
	s.log.Info().Msg("jira-bridge running")
	wg.Wait()
	close(errs)
	return <-errs
}

// ReconcileOpenIssues runs one reconciliation pass now.
func (s *Service) ReconcileOpenIssues(ctx context.Context) (int, error) {
	return s.reconciler.ReconcileOpenIssues(ctx)
}

func (s *Service) handleRequest(ctx context.Context, d bus.Delivery) ([]events.Payload, error) {
	ev, ok := d.Event.Payload.(*events.RequestEvent)
	if !ok {
		return nil, domain.Invalid(fmt.Errorf("unexpected %s on %s", d.Event.Type, d.Subject))
	}
	return s.linker.ApplyRequest(ctx, ev, retried(d), d.Log.With().Str("request_id", ev.Request.ID).Logger())
}

func (s *Service) handleOutcome(ctx context.Context, d bus.Delivery) ([]events.Payload, error) {
	o, ok := d.Event.Payload.(*events.DecisionOutcome)
	if !ok {
		return nil, domain.Invalid(fmt.Errorf("unexpected %s on %s", d.Event.Type, d.Subject))
	}
	return s.decider.HandleOutcome(ctx, o, retried(d), d.Log)
}

func (s *Service) handleWebhook(ctx context.Context, d bus.Delivery) ([]events.Payload, error) {
	w, ok := d.Event.Payload.(*events.Webhook)
	if !ok {
		return nil, domain.Invalid(fmt.Errorf("unexpected %s on %s", d.Event.Type, d.Subject))
	}
	return s.decider.HandleWebhook(ctx, w, retried(d), d.Attempt >= s.cfg.MaxAttempts-1, d.Log)
}

// retried reports whether the event was handled before (an in-process
// retry or a redelivery): the events folded then may not have been
// published, so the handler produces them again.
func retried(d bus.Delivery) bool { return d.Attempt > 1 || d.Delivered > 1 }

// logBegan is when the bridge's own log began: the creation time of the
// JIRA stream. Requests created before it may have issues the bridge's
// store does not know (a lost or new NATS store).
func logBegan(ctx context.Context, b *bus.Bus) (time.Time, error) {
	st, err := b.JS.Stream(ctx, events.StreamJira)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the %s stream: %w", events.StreamJira, err)
	}
	return st.CachedInfo().Created, nil
}

// countDeadLetters logs and counts the permanent errors, which dead-letter
// the message at once (the bus counts exhausted retries itself).
func countDeadLetters(consumer string, m *metrics.Metrics, h bus.Handler) bus.Handler {
	return func(ctx context.Context, d bus.Delivery) ([]events.Payload, error) {
		out, err := h(ctx, d)
		for _, p := range out {
			if verr := p.Validate(); verr != nil {
				// It can never be published: a retry would hold the
				// subject's later events behind it for the retry window.
				out, err = nil, domain.Invalid(fmt.Errorf("%s produced an invalid %s: %w", consumer, p.EventType(), verr))
				break
			}
		}
		if err != nil && classify(err).Kind == bus.KindPermanent {
			m.DeadLetters.WithLabelValues(consumer).Inc()
			d.Log.Error().Err(err).Msg("event dead-lettered; see the error for the fix, then replay it from the DEADLETTER stream")
		}
		return out, err
	}
}

type publisher struct{ b *bus.Bus }

func (p publisher) PublishEvent(ctx context.Context, source string, pl events.Payload) error {
	_, err := p.b.PublishEvent(ctx, source, pl)
	return err
}

func instanceID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "jira-bridge-" + hex.EncodeToString(b)
}
