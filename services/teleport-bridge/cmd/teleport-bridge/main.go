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
	"io"
	"os"

	"github.com/accessbridge/accessbridge/pkg/app"
	teleportbridge "github.com/accessbridge/accessbridge/services/teleport-bridge"
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
	var cfg teleportbridge.Config
	cmd := &app.Command{
		Name:      "teleport-bridge",
		Version:   version,
		NATSTitle: "NATS: this identity publishes on teleport.requests.> and teleport.decisions.>, consumes jira.decisions.> and reads the request-issues bucket",
		Sections: []app.Section{
			{Prefix: teleportbridge.EnvPrefix, Title: "teleport-bridge: the service that holds the Teleport identity", Spec: &cfg, Required: teleportbridge.RequiredSettings()},
		},
		Check:      cfg.CheckAndSetDefaults,
		OpsAddr:    func() string { return cfg.HTTPAddr },
		OpsAddrVar: "TELEPORT_BRIDGE_HTTP_ADDR",
		Start: func(ctx context.Context, env app.Env) (app.Service, error) {
			return teleportbridge.New(ctx, cfg, teleportbridge.Deps{Bus: env.Bus, Log: env.Log, Registry: env.Ops.Registry, Ops: env.Ops})
		},
		Stdout: m.Stdout, Stderr: m.Stderr,
	}
	return cmd.Main(ctx, args)
}
