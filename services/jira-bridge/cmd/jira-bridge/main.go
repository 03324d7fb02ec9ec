// Command jira-bridge is the AccessBridge service that holds the Jira
// credentials:
//
//	jira-bridge [start]   run (configuration from the environment)
//	jira-bridge configure print a commented example environment
//	jira-bridge version   print the version
package main

import (
	"context"
	"io"
	"os"

	"github.com/accessbridge/accessbridge/pkg/app"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
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
	var cfg jirabridge.Config
	cmd := &app.Command{
		Name:      "jira-bridge",
		Version:   version,
		NATSTitle: "NATS: this identity publishes on jira.issues.> and jira.decisions.>, consumes teleport.requests.>, teleport.decisions.> and jira.webhooks.>, and owns the request-issues bucket",
		Sections: []app.Section{
			{Prefix: jirabridge.EnvPrefix, Title: "jira-bridge: the service that holds the Jira credentials", Spec: &cfg, Required: jirabridge.RequiredSettings()},
		},
		Check:      cfg.CheckAndSetDefaults,
		OpsAddr:    func() string { return cfg.HTTPAddr },
		OpsAddrVar: "JIRA_BRIDGE_HTTP_ADDR",
		Start: func(ctx context.Context, env app.Env) (app.Service, error) {
			return jirabridge.New(ctx, cfg, jirabridge.Deps{Bus: env.Bus, Log: env.Log, Registry: env.Ops.Registry, Ops: env.Ops})
		},
		Stdout: m.Stdout, Stderr: m.Stderr,
	}
	return cmd.Main(ctx, args)
}
