// Command teleport-bridge runs the AccessBridge Teleport bridge: it watches
// Teleport access requests, publishes them to NATS JetStream, and applies the
// decisions taken in Jira.
//
//	teleport-bridge [start]   run (default)
//	teleport-bridge configure print a commented example environment
//	teleport-bridge version   print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/service"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/accessbridge/accessbridge/pkg/service/logging"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	teleportbridge "github.com/accessbridge/accessbridge/services/teleport-bridge"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

func main() {
	ctx, cancel := service.SignalContext(context.Background())
	code := (&Main{Stdout: os.Stdout, Stderr: os.Stderr}).Run(ctx, os.Args[1:])
	cancel()
	os.Exit(code)
}

// Main wires the service from the environment; Run returns the exit code.
type Main struct {
	Stdout, Stderr io.Writer
}

// Run executes a subcommand.
func (m *Main) Run(ctx context.Context, args []string) int {
	cmd := "start"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "start":
		if err := m.start(ctx); err != nil {
			fmt.Fprintln(m.Stderr, "teleport-bridge: "+oneLine(err))
			return 1
		}
		return 0
	case "configure":
		out, err := example()
		if err != nil {
			fmt.Fprintln(m.Stderr, "teleport-bridge: "+oneLine(err))
			return 1
		}
		fmt.Fprint(m.Stdout, out)
		return 0
	case "version":
		fmt.Fprintln(m.Stdout, "teleport-bridge "+Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprintln(m.Stdout, "usage: teleport-bridge [start|configure|version]")
		return 0
	}
	fmt.Fprintf(m.Stderr, "teleport-bridge: unknown command %q (start, configure, version)\n", cmd)
	return 2
}

func (m *Main) start(ctx context.Context) error {
	var logCfg logging.Config
	if err := config.Load("LOG", &logCfg); err != nil {
		return err
	}
	var busCfg bus.Config
	if err := config.Load("NATS", &busCfg); err != nil {
		return err
	}
	var cfg teleportbridge.Config
	if err := config.Load(teleportbridge.EnvPrefix, &cfg); err != nil {
		return err
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return err
	}
	log, err := logging.New(logCfg, "teleport-bridge", m.Stderr)
	if err != nil {
		return err
	}
	b, err := bus.Connect(ctx, busCfg, "teleport-bridge", log)
	if err != nil {
		return err
	}
	defer b.Close()
	srv := ops.New(log)
	svc, err := teleportbridge.New(ctx, cfg, teleportbridge.Deps{Bus: b, Log: log, Ops: srv})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var httpErr error
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if httpErr = srv.ListenAndServe(runCtx, cfg.HTTPAddr); httpErr != nil {
			cancel()
		}
	}()
	runErr := svc.Run(runCtx)
	cancel()
	wg.Wait()
	return errors.Join(runErr, httpErr)
}

func example() (string, error) {
	var parts []string
	for _, sec := range []struct {
		title, prefix string
		spec          any
	}{
		{"Logging", "LOG", &logging.Config{}},
		{"NATS JetStream", "NATS", &bus.Config{}},
		{"Teleport bridge", teleportbridge.EnvPrefix, &teleportbridge.Config{}},
	} {
		vars, err := config.Vars(sec.prefix, sec.spec)
		if err != nil {
			return "", err
		}
		parts = append(parts, config.Example(sec.title, vars))
	}
	return "# teleport-bridge configuration (environment variables)\n\n" + strings.Join(parts, "\n"), nil
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
