// Command mattermost-bridge is the AccessBridge service that holds the Mattermost
// credentials:
//
//	mattermost-bridge [start]   run (configuration from the environment)
//	mattermost-bridge configure print a commented example environment
//	mattermost-bridge version   print the version
package main

import (
	"context"
	"io"
	"os"

	"github.com/accessbridge/accessbridge/pkg/app"
	mattermostbridge "github.com/accessbridge/accessbridge/services/mattermost-bridge"
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
	var cfg mattermostbridge.Config
	cmd := &app.Command{
		Name:      "mattermost-bridge",
		Version:   version,
		NATSTitle: "NATS: this identity consumes teleport.requests.> and publishes (and reads back) mattermost.posts.> in the MATTERMOST stream it declares",
		Sections: []app.Section{
			{Prefix: mattermostbridge.EnvPrefix, Title: "mattermost-bridge: the service that holds the Mattermost bot token", Spec: &cfg, Required: mattermostbridge.RequiredSettings()},
		},
		Check:      cfg.CheckAndSetDefaults,
		OpsAddr:    func() string { return cfg.HTTPAddr },
		OpsAddrVar: "MATTERMOST_BRIDGE_HTTP_ADDR",
		Start: func(ctx context.Context, env app.Env) (app.Service, error) {
			return mattermostbridge.New(ctx, cfg, mattermostbridge.Deps{Bus: env.Bus, Log: env.Log, Registry: env.Ops.Registry, Ops: env.Ops})
		},
		Stdout: m.Stdout, Stderr: m.Stderr,
	}
	return cmd.Main(ctx, args)
}
