package teleportbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	"github.com/accessbridge/accessbridge/pkg/service/startup"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/decide"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/teleport"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/watch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Deps are what the caller provides. Registry defaults to Ops.Registry when
// Ops is set; with neither, metrics are not registered.
type Deps struct {
	Bus      *bus.Bus
	Log      zerolog.Logger
	Registry prometheus.Registerer
	Ops      *ops.Server
}

// Service is a running teleport-bridge.
type Service struct {
	cfg      Config
	deps     Deps
	log      zerolog.Logger
	conn     *teleport.Conn
	watcher  *watch.Watcher
	consumer *bus.Consumer
	// mmConsumer applies mattermost.decisions.>; nil unless enabled.
	mmConsumer *bus.Consumer
	metrics    *metrics
}

// New checks the configuration, connects to Teleport (Ping, version,
// features, permissions), declares the TELEPORT and JIRA streams and the
// decisions consumer. Every failure says what to fix.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if deps.Bus == nil {
		return nil, errors.New("teleport-bridge: Deps.Bus is required")
	}
	if deps.Registry == nil && deps.Ops != nil {
		deps.Registry = deps.Ops.Registry
	}
	log := deps.Log
	var conn *teleport.Conn
	err := startup.Check(ctx, log, startup.Target{
		Name: "Teleport", Addr: cfg.Addr, Setting: EnvPrefix + "_ADDR", Timeout: cfg.DialTimeout, TimeoutSetting: EnvPrefix + "_DIAL_TIMEOUT",
		Fix: "check " + EnvPrefix + "_ADDR: the Auth Service (host:3025) or Proxy (host:443) address",
	}, func(ctx context.Context) (err error) {
		conn, err = teleport.Dial(ctx, teleport.Options{
			Addr: cfg.Addr, IdentityFile: cfg.IdentityFile,
			CertFile: cfg.ClientCert, KeyFile: cfg.ClientKey, CAsFile: cfg.RootCas,
			DialTimeout: cfg.DialTimeout,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Service, error) {
		_ = conn.Close()
		return nil, err
	}
	if cfg.DecisionMode == events.ModeReview && !conn.Cluster.AdvancedWorkflows {
		return fail(fmt.Errorf("TELEPORT_BRIDGE_DECISION_MODE: review mode needs Teleport Enterprise (cluster %s, Teleport %s, has no advanced access workflows: Community Edition refuses review roles); use state mode", conn.Cluster.Name, conn.ServerVersion))
	}
	if err := conn.CheckPermissions(ctx); err != nil {
		return fail(err)
	}
	log.Info().Str("cluster", conn.Cluster.Name).Str("version", conn.ServerVersion).
		Str("proxy", conn.Cluster.ProxyAddr).Bool("advanced_workflows", conn.Cluster.AdvancedWorkflows).
		Str("decision_mode", cfg.DecisionMode).Msg("connected to Teleport")

	b := deps.Bus
	tstream, err := b.EnsureStream(ctx, events.TeleportStream())
	if err != nil {
		return fail(err)
	}
	if _, err := b.EnsureStream(ctx, events.JiraStream()); err != nil {
		return fail(err)
	}

	s := &Service{cfg: cfg, deps: deps, log: log, conn: conn}
	if s.metrics, err = newMetrics(deps.Registry); err != nil {
		return fail(err)
	}
	consumerMetrics, err := busMetrics(deps.Registry)
	if err != nil {
		return fail(err)
	}
	pub := publisher{bus: b}
	legacy := ""
	if cfg.MigrateTeleportJira {
		legacy = cfg.LegacyPluginName
	}
	s.watcher = watch.New(watch.Config{
		Client: conn, Publisher: pub, History: history{bus: b, stream: tstream},
		Cluster: conn.Cluster, LegacyPlugin: legacy, Resync: cfg.ResyncInterval,
		BackoffMin: cfg.ReconnectBackoffMin, BackoffMax: cfg.ReconnectBackoffMax, ListGrace: cfg.ListLag,
		Metrics: watch.Metrics{
			Published: s.metrics.publishedEvent, Reconnect: s.metrics.reconnects.Inc,
			Connected: s.metrics.setConnected, WatchEvent: s.metrics.watchEvent,
		},
		Log: log.With().Str("component", "watch").Logger(),
	})
	decider := decide.New(decide.Config{
		Client: conn, Links: &links{bus: b}, Mode: cfg.DecisionMode,
		Reviewers:  decide.Reviewers{ByActor: cfg.reviewers, MatchEmail: cfg.ReviewerMatchEmail, EmailIsUser: cfg.ReviewerEmailIsUser},
		Mattermost: decide.Mattermost{Enabled: cfg.MattermostDecisions, StateReviewers: cfg.mattermostStateReviewers()},
		LinkWait:   cfg.LinkWait, Outcome: s.metrics.outcome,
		Log: log.With().Str("component", "decide").Logger(),
	})
	s.consumer, err = b.NewConsumer(ctx, bus.ConsumerSpec{
		Stream: events.StreamJira, Durable: DecisionsConsumer,
		FilterSubjects: []string{events.SubjectJiraDecisions + ".>"},
		MaxAttempts:    cfg.DecisionMaxAttempts, RetryWindow: cfg.DecisionRetryWindow, Concurrency: cfg.DecisionConcurrency,
		RetryMin: 500 * time.Millisecond, RetryMax: time.Minute, HandlerTimeout: time.Minute,
		Source: Source, Classify: classify,
	}, decider.Handle, consumerMetrics)
	if err != nil {
		return fail(err)
	}
	if s.mmConsumer, err = mattermostConsumer(ctx, cfg, b, decider, consumerMetrics, log); err != nil {
		return fail(err)
	}
	if deps.Ops != nil {
		deps.Ops.AddCheck("teleport-watch", s.watcher.Ready)
		deps.Ops.AddCheck("nats", b.Connected)
	}
	return s, nil
}

// Cluster is what Ping reported about the Teleport cluster.
func (s *Service) Cluster() events.Cluster { return s.conn.Cluster }

// Ready reports whether the watch stream is up.
func (s *Service) Ready(ctx context.Context) error { return s.watcher.Ready(ctx) }

// Run watches and applies decisions until ctx is done, then stops: the
// consumer finishes the decisions in flight, and the Teleport connection is
// closed. It returns nil after a graceful stop.
func (s *Service) Run(ctx context.Context) error {
	defer s.conn.Close()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		errc <- s.watcher.Run(runCtx)
	}()
	go func() {
		defer wg.Done()
		if err := s.consumer.Run(runCtx); err != nil {
			errc <- err
			cancel()
		}
	}()
	if s.mmConsumer != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.mmConsumer.Run(runCtx); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	if s.cfg.IdentityFile != "" && s.cfg.RefreshIdentity {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.refreshIdentity(runCtx)
		}()
	}
	<-runCtx.Done()
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	s.log.Info().Msg("teleport-bridge stopped")
	return nil
}

// refreshIdentity re-reads the identity file so that certificates renewed
// by Machine ID are used for the next connection.
func (s *Service) refreshIdentity(ctx context.Context) {
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.conn.ReloadIdentity(); err != nil {
				s.log.Warn().Err(err).Msg("identity file reload failed; keeping the previous credentials")
			} else {
				s.log.Debug().Msg("identity file reloaded")
			}
		}
	}
}

// classify is the teleport-bridge's error policy for the consume loop: a
// message that is no decision, or a refusal Teleport will repeat, is
// dead-lettered; a missing link waits as asked; everything else (Teleport
// or NATS unreachable, a timeout) is retried with back-off.
func classify(err error) bus.Verdict {
	var wait *decide.WaitError
	switch {
	case errors.Is(err, decide.ErrNotDecision), errors.Is(err, decide.ErrRefused):
		return bus.Verdict{Kind: bus.KindPermanent}
	case errors.As(err, &wait):
		return bus.Verdict{Kind: bus.KindTransient, After: wait.After}
	}
	return bus.Verdict{Kind: bus.KindTransient}
}
