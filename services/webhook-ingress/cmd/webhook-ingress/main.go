// Command webhook-ingress is AccessBridge's endpoint for Jira webhooks:
//
//	webhook-ingress [start]   serve (configuration from the environment)
//	webhook-ingress configure print a commented example environment
//	webhook-ingress version   print the version
package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/accessbridge/accessbridge/pkg/app"
	"github.com/accessbridge/accessbridge/pkg/events"
	webhookingress "github.com/accessbridge/accessbridge/services/webhook-ingress"
	"github.com/nats-io/nats.go/jetstream"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(m.Run(context.Background(), os.Args[1:]))
}

// Main wires the service from the environment; Run returns the exit code.
type Main struct {
	Stdout, Stderr io.Writer
}

// Run runs one command (start, configure, version) and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	var cfg webhookingress.Config
	cmd := &app.Command{
		Name:      "webhook-ingress",
		Version:   version,
		NATSTitle: "NATS: this identity needs to publish only on jira.webhooks.> (plus $JS.API.> for acks)",
		Sections: []app.Section{
			{Prefix: webhookingress.EnvPrefix, Title: "webhook-ingress: the endpoint Jira POSTs webhooks to", Spec: &cfg, Required: webhookingress.RequiredSettings()},
		},
		Check: cfg.CheckAndSetDefaults,
		// The operations endpoints are served on the webhook listener.
		Start: func(ctx context.Context, env app.Env) (app.Service, error) {
			// The ingress may be allowed to publish only: then the stream is
			// the jira-bridge's or the operator's to declare.
			if _, err := env.Bus.EnsureStream(ctx, events.JiraStream()); err != nil {
				ev := env.Log.Warn().Err(err)
				if errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
					ev = env.Log.Error().Err(err)
				}
				ev.Msg("could not declare stream JIRA (jira.>); continuing: it must exist before deliveries can be recorded")
			}
			return webhookingress.New(ctx, cfg, webhookingress.Deps{Bus: env.Bus, Log: env.Log, Ops: env.Ops})
		},
		Stdout: m.Stdout, Stderr: m.Stderr,
	}
	return cmd.Main(ctx, args)
}
