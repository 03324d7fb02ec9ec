// Command jira-bridge is the AccessBridge service that holds the Jira
// credentials:
//
//	jira-bridge [start]   run (configuration from the environment)
//	jira-bridge configure print a commented example environment
//	jira-bridge version   print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/service"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/accessbridge/accessbridge/pkg/service/logging"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

const name = "jira-bridge"

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
	Log    logging.Config
	NATS   bus.Config
	Bridge jirabridge.Config
}

// Run runs one command and returns the exit code.
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
	if err := config.Load(jirabridge.EnvPrefix, &s.Bridge); err != nil {
		return s, err
	}
	if err := s.Bridge.CheckAndSetDefaults(); err != nil {
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
		{"NATS: this identity publishes on jira.issues.> and jira.decisions.>, consumes teleport.requests.>, teleport.decisions.> and jira.webhooks.>, and owns the request-issues bucket", "NATS", &bus.Config{}},
		{"jira-bridge: the service that holds the Jira credentials", jirabridge.EnvPrefix, &jirabridge.Config{}},
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
	srv := ops.New(log)
	svc, err := jirabridge.New(ctx, s.Bridge, jirabridge.Deps{Bus: b, Log: log, Registry: srv.Registry, Ops: srv})
	if err != nil {
		return err
	}
	log.Info().Str("version", version).Str("http_addr", s.Bridge.HTTPAddr).Msg("jira-bridge starting")
	var wg sync.WaitGroup
	opsErr := make(chan error, 1)
	wg.Go(func() {
		if err := srv.ListenAndServe(ctx, s.Bridge.HTTPAddr); err != nil {
			opsErr <- fmt.Errorf("JIRA_BRIDGE_HTTP_ADDR %s: %w", s.Bridge.HTTPAddr, err)
			stop()
		}
	})
	runErr := svc.Run(ctx)
	stop()
	wg.Wait()
	select {
	case err := <-opsErr:
		return errors.Join(runErr, err)
	default:
	}
	return runErr
}
