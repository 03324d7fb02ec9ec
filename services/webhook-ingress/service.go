// Package webhookingress is AccessBridge's internet-facing endpoint for Jira
// webhooks. It authenticates each delivery (HMAC signature, URL token, basic
// auth, mutual TLS), limits it, and records it as webhook.received.v1 on
// jira.webhooks.<issue-id>, answering 200 only once JetStream acknowledged
// it (503 otherwise, so Jira retries). It decides nothing and holds no Jira
// or Teleport credential: the jira-bridge reads the recorded deliveries.
//
// Non-issue events (project, user, sprint… events, which carry no issue)
// are authenticated, answered 200, counted as "ignored" and not published.
// Any event with an issue (comments included) is published with its
// webhookEvent.
package webhookingress

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	"github.com/accessbridge/accessbridge/services/webhook-ingress/internal/tlsreload"
	"github.com/accessbridge/accessbridge/services/webhook-ingress/internal/webhook"
	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Deps are what the service is given by its main (or the all-in-one binary).
type Deps struct {
	// Bus is the NATS connection; its identity needs only publish rights on
	// jira.webhooks.> (and $JS.API for the acks).
	Bus *bus.Bus
	Log zerolog.Logger
	// Registry receives the metrics; Ops.Registry when nil.
	Registry prometheus.Registerer
	// Ops serves /status /healthz /readyz /metrics on the webhook listener;
	// a new one when nil.
	Ops *ops.Server
}

// Service is the webhook endpoint.
type Service struct {
	cfg     Config
	log     zerolog.Logger
	ops     *ops.Server
	handler *webhook.Handler
	actions http.Handler // the Mattermost button endpoint; nil when off
	router  chi.Router
	tls     *tlsreload.Reloader
}

// New validates cfg, registers the metrics and readiness check, and builds
// the routes. It does not listen; Run does.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if deps.Bus == nil {
		return nil, errors.New("webhook-ingress: no NATS connection (Deps.Bus)")
	}
	log := deps.Log // its main or the all-in-one names the service in every line
	if deps.Ops == nil {
		deps.Ops = ops.New(log)
	}
	reg := deps.Registry
	if reg == nil {
		reg = deps.Ops.Registry
	}
	deps.Ops.AddCheck("webhook-ingress nats", deps.Bus.Connected)

	metrics, err := webhook.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	insecure := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "accessbridge_webhook_ingress_insecure",
		Help: "1 when the endpoint runs in an insecure mode: no_tls (plain HTTP) or no_auth (unauthenticated deliveries accepted).",
	}, []string{"mode"})
	if err := reg.Register(insecure); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	insecure.WithLabelValues("no_tls").Set(b2f(cfg.InsecureNoTls))
	insecure.WithLabelValues("no_auth").Set(b2f(cfg.InsecureNoAuth))
	if cfg.InsecureNoAuth {
		log.Warn().Msg("INSECURE: WEBHOOK_INGRESS_INSECURE_NO_AUTH=true — anyone who can reach this endpoint can record webhooks; the jira-bridge confirms every decision through the Jira API, but configure WEBHOOK_INGRESS_HMAC_SECRETS")
	}
	if cfg.InsecureNoTls {
		log.Warn().Msg("INSECURE: WEBHOOK_INGRESS_INSECURE_NO_TLS=true — plain HTTP; only run this behind a TLS-terminating proxy")
	}

	secrets, _ := cfg.hmacSecrets()
	tokens, _ := cfg.tokens()
	basic, _ := cfg.basicAuth()
	auth := &webhook.Auth{HMACSecrets: secrets, Tokens: tokens, TokenParam: cfg.TokenParam, Basic: basic, MTLS: cfg.TlsClientCa != ""}
	if !auth.Configured() && !cfg.InsecureNoAuth {
		return nil, errors.New("webhook-ingress: no authentication configured")
	}
	if len(tokens) > 0 && len(secrets) == 0 {
		log.Warn().Msg("deliveries are authenticated by a URL token only: Jira and proxies may log URLs; prefer WEBHOOK_INGRESS_HMAC_SECRETS")
	}

	// A body near the NATS max_payload cannot be published; say so now
	// rather than at the first large delivery.
	const envelopeOverhead = 2 << 10
	if mp := deps.Bus.NC.MaxPayload(); mp > 0 && cfg.MaxBodyBytes+envelopeOverhead > mp {
		log.Warn().Int64("max_body_bytes", cfg.MaxBodyBytes).Int64("nats_max_payload", mp).
			Msg("WEBHOOK_INGRESS_MAX_BODY_BYTES is close to or over the NATS max_payload: larger deliveries will be refused with 413; raise max_payload on the server or lower the limit")
	}

	var limiter *webhook.RateLimiter
	if cfg.RateLimit > 0 {
		limiter = webhook.NewRateLimiter(cfg.RateLimit, cfg.RateBurst, nil)
	}
	proxies, _ := cfg.trustedProxies() // checked by CheckAndSetDefaults
	h, err := webhook.NewHandler(webhook.Options{
		Auth:               auth,
		Publisher:          busPublisher{b: deps.Bus},
		Metrics:            metrics,
		Log:                log,
		MaxBody:            cfg.MaxBodyBytes,
		PublishTimeout:     cfg.PublishTimeout,
		RetryAfter:         cfg.RetryAfter,
		MaxConcurrent:      cfg.MaxConcurrent,
		MaxConcurrentPerIP: cfg.MaxConcurrentPerIp,
		Limiter:            limiter,
		ClientIPHeader:     cfg.ClientIpHeader,
		TrustedProxies:     proxies,
	})
	if err != nil {
		return nil, err
	}

	s := &Service{cfg: cfg, log: log, ops: deps.Ops, handler: h}
	if cfg.mattermostButtons() {
		if s.actions, err = newActions(cfg, deps.Bus, log, reg, h, limiter); err != nil {
			return nil, err
		}
	}
	if !cfg.InsecureNoTls {
		s.tls, err = tlsreload.New(tlsreload.Files{Cert: cfg.TlsCert, Key: cfg.TlsKey, ClientCA: cfg.TlsClientCa}, log)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_INGRESS_TLS_CERT/TLS_KEY/TLS_CLIENT_CA: %w", err)
		}
	}
	s.router = s.routes()
	return s, nil
}

func (s *Service) routes() chi.Router {
	r := chi.NewRouter()
	webhookPaths := map[string]bool{}
	for _, p := range s.cfg.Paths {
		r.Post(p, s.handler.ServeHTTP)
		webhookPaths[p] = true
	}
	if s.actions != nil {
		r.Post(s.cfg.MattermostActionsPath, s.actions.ServeHTTP)
	}
	opsHandler := s.ops.Handler()
	for _, p := range []string{"/status", "/healthz", "/readyz", "/metrics"} {
		r.Get(p, opsHandler.ServeHTTP)
		r.Head(p, opsHandler.ServeHTTP) // load balancer probes
	}
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		if webhookPaths[req.URL.Path] {
			s.handler.MethodNotAllowed(w, req)
			return
		}
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return r
}

// Handler is the router: the webhook paths and the operations endpoints.
func (s *Service) Handler() http.Handler { return s.router }

// Run listens on WEBHOOK_INGRESS_ADDR and serves until ctx is done, then
// shuts down gracefully.
func (s *Service) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("webhook-ingress: listen on %s (WEBHOOK_INGRESS_ADDR): %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener (tests listen on 127.0.0.1:0).
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.router,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		// TLS handshake failures and the like, at debug-free plain level.
		ErrorLog: stdlog.New(s.log.With().Str("from", "net/http").Logger(), "", 0),
	}
	scheme := "http"
	var serve func() error
	if s.tls != nil {
		scheme = "https"
		srv.TLSConfig = s.tls.TLSConfig()
		serve = func() error { return srv.ServeTLS(ln, "", "") }
	}
	s.log.Info().Str("addr", ln.Addr().String()).Str("scheme", scheme).Strs("paths", s.cfg.Paths).
		Bool("mtls", s.cfg.TlsClientCa != "").Msg("webhook endpoint listening (and /status /healthz /readyz /metrics)")
	err := ops.ServeGracefully(ctx, srv, ln, serve)
	s.log.Info().Msg("webhook endpoint stopped")
	return err
}

// busPublisher publishes on JetStream in the message form: the body as
// received, the delivery's attributes in headers (events.Webhook.Message).
type busPublisher struct{ b *bus.Bus }

// webhookMsg is the NATS message of a delivery.
func webhookMsg(w *events.Webhook, at time.Time) (*nats.Msg, error) {
	h, data, err := w.Message(Source, at)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", webhook.ErrInvalid, err)
	}
	return &nats.Msg{Subject: w.Subject(), Header: nats.Header(h), Data: data}, nil
}

// errCodeDuplicateInProcess is JetStream's JSStreamDuplicateMessageConflict:
// on a replicated stream, the same id is being stored by another publish.
const errCodeDuplicateInProcess = 10158

func (p busPublisher) PublishWebhook(ctx context.Context, w *events.Webhook) (bool, error) {
	msg, err := webhookMsg(w, time.Now())
	if err != nil {
		return false, err
	}
	wait := 20 * time.Millisecond
	for {
		ack, err := p.b.JS.PublishMsg(ctx, msg)
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
			return ack.Duplicate, nil
		case errors.Is(err, nats.ErrMaxPayload):
			return false, fmt.Errorf("%w: %v", webhook.ErrTooLarge, err)
		case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeDuplicateInProcess && ctx.Err() == nil:
			// Ask again once the other publish has been decided.
			select {
			case <-ctx.Done():
				return false, err
			case <-time.After(wait):
			}
			wait = min(2*wait, 500*time.Millisecond)
		default:
			return false, fmt.Errorf("publish %s to %s: %w", events.WebhookReceived, msg.Subject, err)
		}
	}
}

func (p busPublisher) Ready(ctx context.Context) error { return p.b.Connected(ctx) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
