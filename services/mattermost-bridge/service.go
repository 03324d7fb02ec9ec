package mattermostbridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	"github.com/accessbridge/accessbridge/pkg/service/startup"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/mattermost"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/posts"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/recipients"
)

// Source is the CloudEvents source of the events the mattermost-bridge
// publishes.
const Source = "accessbridge/mattermost-bridge"

// ConsumerRequests is the durable consumer of teleport.requests.>.
const ConsumerRequests = "mattermost-bridge-requests"

// Deps are what the caller provides.
type Deps struct {
	Bus      *bus.Bus
	Log      zerolog.Logger
	Registry prometheus.Registerer // nil: metrics are not registered
	Ops      *ops.Server           // nil: no readiness checks are added
	// HTTPClient for Mattermost (nil: a default client with the timeout).
	HTTPClient *http.Client
}

// Service is a running mattermost-bridge.
type Service struct {
	log      zerolog.Logger
	consumer *bus.Consumer
	actions  *bus.Consumer // nil unless buttons are on
}

// New checks the configuration and Mattermost (fail fast, one line naming
// the fix), declares the MATTERMOST stream and the consumer, and returns a
// service ready to Run.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if deps.Bus == nil {
		return nil, errors.New("mattermost-bridge: Deps.Bus is required")
	}
	log := deps.Log
	m := metrics.New(deps.Registry)
	mc, err := mattermost.New(mattermost.Options{
		URL: cfg.URL, Token: cfg.Token.Value(), Timeout: cfg.Timeout, HTTPClient: deps.HTTPClient, Observe: m.ObserveCall,
		Retry: mattermost.RetryPolicy{MaxRetries: cfg.MaxRetries, Min: cfg.CallRetryMin, Max: cfg.CallRetryMax, MaxWait: cfg.CallRetryMax},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v("URL"), err)
	}
	var bot mattermost.User
	var resolver *recipients.Resolver
	err = startup.Check(ctx, log, startup.Target{
		Name: "Mattermost", Addr: cfg.URL, Setting: v("URL"), Timeout: cfg.CheckTimeout, TimeoutSetting: v("CHECK_TIMEOUT"),
	}, func(ctx context.Context) (err error) {
		bot, resolver, err = checkMattermost(ctx, &cfg, mc, log)
		return err
	})
	if err != nil {
		return nil, err
	}
	log.Info().Str("bot", bot.Username).Int("recipients", len(cfg.Routing().All())).Msg("mattermost checks passed")

	teleportStream, err := deps.Bus.EnsureStream(ctx, events.TeleportStream())
	if err != nil {
		return nil, err
	}
	stream, err := deps.Bus.EnsureStream(ctx, events.MattermostStream())
	if err != nil {
		return nil, err
	}
	// Requests older than the stream may have posts whose record is not in
	// it (a new or lost store): they are searched for before posting.
	recoverBefore := stream.CachedInfo().Created
	store := &posts.StreamStore{JS: deps.Bus.JS, Stream: stream, Source: Source}
	poster := posts.New(posts.Config{
		BotID: bot.ID, Routing: cfg.Routing(), ProxyAddr: cfg.TeleportProxyAddr, RecoverBefore: recoverBefore,
		Latest: func(ctx context.Context, id string) (*events.RequestEvent, time.Time, error) {
			return posts.LatestRequestEvent(ctx, teleportStream, id)
		},
		Buttons: cfg.buttonProps(),
	}, mc, resolver, store, posts.Metrics{
		Posted: m.Posts.Inc, Replied: m.Replies.Inc, Updated: m.Updates.Inc, Found: m.Found.Inc, Skipped: m.Skipped.Inc,
	})
	handle := func(ctx context.Context, d bus.Delivery) ([]events.Payload, error) {
		ev, ok := d.Event.Payload.(*events.RequestEvent)
		if !ok {
			return nil, fmt.Errorf("%w: unexpected %s on %s", errUnexpected, d.Event.Type, d.Subject)
		}
		return nil, poster.ApplyRequest(ctx, ev, d.Log.With().Str("request_id", ev.Request.ID).Logger())
	}
	spec := bus.ConsumerSpec{Stream: events.StreamTeleport, Durable: ConsumerRequests, FilterSubjects: []string{events.SubjectRequests + ".>"},
		Source: Source, Classify: classify, MaxAttempts: cfg.MaxAttempts, RetryWindow: cfg.RetryWindow, Concurrency: cfg.Concurrency,
		RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax, AckWait: cfg.AckWait}
	bm := bus.NewMetrics(deps.Registry)
	cons, err := deps.Bus.NewConsumer(ctx, spec, logged(handle, m), bm)
	if err != nil {
		return nil, err
	}
	svc := &Service{log: log, consumer: cons}
	if cfg.Buttons {
		a := &actions{users: cfg.buttons, store: store, m: m}
		aspec := spec
		aspec.Stream, aspec.Durable, aspec.FilterSubjects = events.StreamMattermost, ConsumerActions, []string{events.SubjectMattermostActions + ".>"}
		if svc.actions, err = deps.Bus.NewConsumer(ctx, aspec, logged(a.decide, m), bm); err != nil {
			return nil, err
		}
		log.Info().Str("url", cfg.ButtonURL).Int("allowed_users", len(cfg.buttons)).Msg("Approve / Deny buttons on")
	}
	if deps.Ops != nil {
		deps.Ops.AddCheck("nats", deps.Bus.Connected)
		deps.Ops.AddCheck("mattermost", mc.Ping)
	}
	return svc, nil
}

// Run consumes until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	s.log.Info().Msg("mattermost-bridge running")
	if s.actions == nil {
		return s.consumer.Run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	for _, c := range []*bus.Consumer{s.consumer, s.actions} {
		go func() { errs <- c.Run(ctx) }()
	}
	err := <-errs
	cancel() // one stopped: stop the other and report the first error
	return errors.Join(err, <-errs)
}
