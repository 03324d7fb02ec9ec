// Command webhook-ingress is AccessBridge's endpoint for Jira webhooks:
//
//	webhook-ingress [start]   serve (configuration from the environment)
//	webhook-ingress configure print a commented example environment
//	webhook-ingress version   print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/accessbridge/accessbridge/pkg/service/logging"
	webhookingress "github.com/accessbridge/accessbridge/services/webhook-ingress"
	"github.com/nats-io/nats.go/jetstream"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

const name = "webhook-ingress"

func main() {
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(m.Run(context.Background(), os.Args[1:]))
}

// Main wires the service from the environment; Run returns the exit code.
type Main struct {
	Stdout, Stderr io.Writer
}

// settings is everything the binary reads from the environment.
type settings struct {
	Log     logging.Config
	NATS    bus.Config
	Ingress webhookingress.Config
}

func (m *Main) Run(ctx context.Context, args []string) int {
	cmd := "start"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "start":
		if err := m.start(ctx); err != nil {
			fmt.Fprintf(m.Stderr, "%s: %v\n", name, err)
			return 1
		}
		return 0
	case "configure":
		out, err := example()
		if err != nil {
			fmt.Fprintf(m.Stderr, "%s: %v\n", name, err)
			return 1
		}
		fmt.Fprint(m.Stdout, out)
		return 0
	case "version":
		fmt.Fprintf(m.Stdout, "%s %s\n", name, version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprintf(m.Stdout, "usage: %s [start|configure|version]\n", name)
		return 0
	}
	fmt.Fprintf(m.Stderr, "%s: unknown command %q (start, configure, version)\n", name, cmd)
	return 2
}

func load() (settings, error) {
	var s settings
	if err := config.Load("LOG", &s.Log); err != nil {
		return s, err
	}
	if err := config.Load("NATS", &s.NATS); err != nil {
		return s, err
	}
	if err := config.Load(webhookingress.EnvPrefix, &s.Ingress); err != nil {
		return s, err
	}
	if err := s.Ingress.CheckAndSetDefaults(); err != nil {
		return s, fmt.Errorf("configuration: %w", err)
	}
	return s, nil
}

func example() (string, error) {
	var out string
	for _, sec := range []struct {
		title, prefix string
		spec          any
	}{
		{"Logging", "LOG", &logging.Config{}},
		{"NATS: this identity needs to publish only on jira.webhooks.> (plus $JS.API.> for acks)", "NATS", &bus.Config{}},
		{"webhook-ingress: the endpoint Jira POSTs webhooks to", webhookingress.EnvPrefix, &webhookingress.Config{}},
	} {
		vars, err := config.Vars(sec.prefix, sec.spec)
		if err != nil {
			return "", err
		}
		out += config.Example(sec.title, vars) + "\n"
	}
	return out, nil
}

func (m *Main) start(parent context.Context) error {
	s, err := load()
	if err != nil {
		return err
	}
	log, err := logging.New(s.Log, name, m.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := service.SignalContext(parent)
	defer stop()

	b, err := bus.Connect(ctx, s.NATS, name, log)
	if err != nil {
		return err
	}
	defer b.Close()
	// The ingress may be allowed to publish only: then the stream is the
	// jira-bridge's or the operator's to declare.
	if _, err := b.EnsureStream(ctx, events.JiraStream()); err != nil {
		ev := log.Warn().Err(err)
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			ev = log.Error().Err(err)
		}
		ev.Msg("could not declare stream JIRA (jira.>); continuing: it must exist before deliveries can be recorded")
	}
	svc, err := webhookingress.New(ctx, s.Ingress, webhookingress.Deps{Bus: b, Log: log})
	if err != nil {
		return err
	}
	log.Info().Str("version", version).Msg("webhook-ingress starting")
	return svc.Run(ctx)
}
