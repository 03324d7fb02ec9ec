// Package bus is AccessBridge's thin layer over NATS JetStream
// (nats.go/jetstream): connecting from configuration, declaring the streams,
// buckets and durable consumers idempotently, publishing events with their
// dedup id, and a consume loop that keeps per-subject order with one pinned
// replica per consumer and maps handler errors, through one classifier, to
// an ack, an in-process retry or the dead-letter stream.
//
// It deliberately exposes JetStream rather than hiding it: services use
// jetstream.KeyValue directly for their projections.
package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Config is the NATS section every service reads (prefix NATS).
type Config struct {
	URL             string        `split_words:"true" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma-separated."`
	CredsFile       string        `split_words:"true" desc:"Path to a NATS credentials (.creds) file (JWT + nkey)."`
	NkeySeedFile    string        `split_words:"true" desc:"Path to an nkey seed file."`
	User            string        `split_words:"true" desc:"User name for user/password authentication."`
	Password        config.Secret `split_words:"true" desc:"Password for user/password authentication."`
	Token           config.Secret `split_words:"true" desc:"Token for token authentication."`
	TlsCA           string        `split_words:"true" desc:"PEM file of the CA that signs the NATS server certificate."`
	TlsCert         string        `split_words:"true" desc:"PEM client certificate for mutual TLS."`
	TlsKey          string        `split_words:"true" desc:"PEM client key for mutual TLS."`
	APITimeout      time.Duration `split_words:"true" default:"5s" desc:"Timeout of every JetStream API call and publish."`
	DeclareTimeout  time.Duration `split_words:"true" default:"1m" desc:"How long start-up retries declaring streams, buckets and consumers while JetStream is unavailable (a cluster electing leaders)."`
	Replicas        int           `split_words:"true" default:"1" desc:"Replicas of the streams and buckets a service declares (3 on a cluster)."`
	DuplicateWindow time.Duration `split_words:"true" default:"2h" desc:"JetStream duplicate window: a republished event id within it is dropped. nats-server keeps every id of the window in memory and its collector scans them: at R messages/s a stream holds R × window ids."`
	MaxAge          time.Duration `split_words:"true" default:"720h" desc:"How long streams keep events (the log can be replayed within it)."`
	PinnedTTL       time.Duration `split_words:"true" default:"10s" desc:"How long a replica that stopped pulling (killed, cut off) keeps a consumer before JetStream pins another replica. A graceful stop hands over at once."`
}

// Bus is one connection to NATS with its JetStream context.
type Bus struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	cfg    Config
	log    zerolog.Logger
	closed chan struct{}
}

// Connect dials NATS and retries forever on disconnect, logging each
// disconnect and reconnect. name identifies the client in the server's
// monitoring (use the service name).
func Connect(ctx context.Context, cfg Config, name string, log zerolog.Logger) (*Bus, error) {
	if cfg.APITimeout <= 0 {
		cfg.APITimeout = 5 * time.Second
	}
	closed := make(chan struct{})
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.Timeout(cfg.APITimeout),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() || nc.IsDraining() {
				return // our own Close
			}
			log.Warn().Err(err).Msg("nats disconnected; reconnecting")
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Error().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("nats error")
		}),
	}
	auth, err := authOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts, auth...)

	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s (NATS_URL): %w", redactURL(cfg.URL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b := &Bus{NC: nc, JS: js, cfg: cfg, log: log, closed: closed}
	actx, cancel := b.apiContext(ctx)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, fmt.Errorf("NATS at %s has no JetStream for this account: start nats-server with -js (or enable JetStream for the account)", nc.ConnectedUrlRedacted())
		}
		return nil, fmt.Errorf("jetstream account info: %w", err)
	}
	log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("connected to NATS JetStream")
	return b, nil
}

func reconnectDelay(attempts int) time.Duration {
	d := 250 * time.Millisecond << min(attempts, 5)
	return min(d, 5*time.Second)
}

func authOptions(cfg Config) ([]nats.Option, error) {
	var opts []nats.Option
	if cfg.CredsFile != "" {
		if _, err := os.Stat(cfg.CredsFile); err != nil {
			return nil, fmt.Errorf("NATS_CREDS_FILE: %w", err)
		}
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NkeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY_SEED_FILE: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password.Value()))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token.Value()))
	}
	if cfg.TlsCA != "" || cfg.TlsCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TlsCA != "" {
			pem, err := os.ReadFile(cfg.TlsCA)
			if err != nil {
				return nil, fmt.Errorf("NATS_TLS_CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("NATS_TLS_CA: %s holds no PEM certificate", cfg.TlsCA)
			}
			tc.RootCAs = pool
		}
		if cfg.TlsCert != "" || cfg.TlsKey != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TlsCert, cfg.TlsKey)
			if err != nil {
				return nil, fmt.Errorf("NATS_TLS_CERT/NATS_TLS_KEY: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// Close drains the connection — pending publishes are flushed — and returns
// once it is closed, so that no callback runs after it.
func (b *Bus) Close() {
	if err := b.NC.Drain(); err != nil {
		b.NC.Close()
	}
	select {
	case <-b.closed:
	case <-time.After(b.cfg.APITimeout + 5*time.Second):
		b.NC.Close()
	}
}

// Connected reports whether the connection is up; it is a readiness check.
func (b *Bus) Connected(context.Context) error {
	if !b.NC.IsConnected() {
		return fmt.Errorf("not connected to NATS (%s)", b.NC.Status())
	}
	return nil
}

// Config returns the configuration the bus was opened with.
func (b *Bus) Config() Config { return b.cfg }

func (b *Bus) apiContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.APITimeout)
}

func redactURL(u string) string {
	// nats URLs may embed user:password@; keep only what follows '@'.
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == '@' {
			for j := 0; j < i; j++ {
				if u[j] == '/' && j+1 < len(u) && u[j+1] == '/' {
					return u[:j+2] + "[REDACTED]@" + u[i+1:]
				}
			}
		}
	}
	return u
}
