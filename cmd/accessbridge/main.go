// Command accessbridge runs the three AccessBridge services — the
// teleport-bridge, the jira-bridge and the webhook-ingress — in one process,
// with an embedded NATS server (JetStream, file store under the data
// directory, listening on 127.0.0.1 so the nats CLI can inspect it). When
// NATS_URL is set it uses that server instead (ACCESSBRIDGE_NATS makes the
// choice explicit).
//
// Usage:
//
//	accessbridge [start]    run (default)
//	accessbridge configure  print a commented example environment file
//	accessbridge version    print the version
//	accessbridge import F   translate a teleport-jira TOML file into an env file
//	accessbridge docs       print the configuration reference (Markdown)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/accessbridge/accessbridge/pkg/app"
	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/embedded"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
	mattermostbridge "github.com/accessbridge/accessbridge/services/mattermost-bridge"
	teleportbridge "github.com/accessbridge/accessbridge/services/teleport-bridge"
	webhookingress "github.com/accessbridge/accessbridge/services/webhook-ingress"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// version is set with -ldflags "-X main.version=…".
var version = "dev"

// EnvPrefix is the prefix of the all-in-one's own settings.
const EnvPrefix = "ACCESSBRIDGE"

// Config is the all-in-one's own section.
type Config struct {
	DataDir    string `split_words:"true" default:"./data" desc:"Directory of the embedded NATS server's JetStream store."`
	NatsListen string `split_words:"true" default:"127.0.0.1:4222" desc:"Listen address of the embedded NATS server (ignored when NATS_URL is set). Keep it on loopback unless you add NATS authentication."`
	HTTPAddr   string `split_words:"true" default:":8090" desc:"Address of the operations endpoints (/status, /healthz, /readyz, /metrics) of the three services."`
	Nats       string `split_words:"true" default:"auto" desc:"Which NATS server to use: embedded (run one in this process), external (connect to NATS_URL), or auto (external when NATS_URL is set, embedded otherwise). Start-up prints which one it chose."`
}

// natsMode decides between the embedded server and NATS_URL, and says why.
func natsMode(mode, natsURL string) (embedded bool, why string, err error) {
	switch strings.ToLower(mode) {
	case "", "auto":
		if natsURL == "" {
			return true, "NATS_URL is not set", nil
		}
		return false, "NATS_URL is set; unset it (or set ACCESSBRIDGE_NATS=embedded) to run the embedded server", nil
	case "embedded":
		if natsURL != "" {
			return false, "", fmt.Errorf("ACCESSBRIDGE_NATS=embedded but NATS_URL=%s is set: unset NATS_URL, or set ACCESSBRIDGE_NATS=external to use that server", natsURL)
		}
		return true, "ACCESSBRIDGE_NATS=embedded", nil
	case "external":
		if natsURL == "" {
			return false, "", errors.New("ACCESSBRIDGE_NATS=external but NATS_URL is not set: set NATS_URL to your NATS server, e.g. nats://nats.example.com:4222")
		}
		return false, "ACCESSBRIDGE_NATS=external", nil
	}
	return false, "", fmt.Errorf("ACCESSBRIDGE_NATS=%q: write embedded, external or auto", mode)
}

// settings is everything the all-in-one reads besides LOG_* and NATS_*.
type settings struct {
	Main     Config
	Teleport teleportbridge.Config
	Jira     jirabridge.Config
	Ingress  webhookingress.Config
	// Mattermost runs only when MATTERMOST_BRIDGE_URL is set.
	Mattermost mattermostbridge.Config
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := command(&settings{}, stdout, stderr)
	if len(args) > 0 && args[0] == "docs" {
		fmt.Fprint(stdout, ConfigReference(cmd))
		return 0
	}
	if len(args) > 0 && args[0] == "import" {
		return runImport(args[1:], stdout, stderr)
	}
	if len(args) == 2 && args[0] == "docs-readme" {
		if err := UpdateReadme(cmd, args[1]); err != nil {
			fmt.Fprintf(stderr, "accessbridge: %v\n", err)
			return 1
		}
		return 0
	}
	return cmd.Main(ctx, args)
}

func command(s *settings, stdout, stderr io.Writer) *app.Command {
	return &app.Command{
		Name:      "accessbridge",
		Version:   version,
		NATSTitle: "NATS connection (all services; unset NATS_URL embeds a server)",
		Sections: []app.Section{
			{Prefix: EnvPrefix, Title: "All-in-one binary", Spec: &s.Main},
			{Prefix: teleportbridge.EnvPrefix, Title: "teleport-bridge", Spec: &s.Teleport, Required: teleportbridge.RequiredSettings()},
			{Prefix: jirabridge.EnvPrefix, Title: "jira-bridge", Spec: &s.Jira, Required: jirabridge.RequiredSettings()},
			{Prefix: webhookingress.EnvPrefix, Title: "webhook-ingress", Spec: &s.Ingress, Required: webhookingress.RequiredSettings()},
			{Prefix: mattermostbridge.EnvPrefix, Title: "mattermost-bridge (runs when MATTERMOST_BRIDGE_URL is set)", Spec: &s.Mattermost},
		},
		Notes: map[string]string{
			"NATS_URL": "Leave it unset to run the embedded NATS server. Setting it connects to that server instead and runs none (see ACCESSBRIDGE_NATS).",
		},
		Check: func() error {
			_, _, natsErr := natsMode(s.Main.Nats, os.Getenv("NATS_URL"))
			// Every section is checked, so one run reports every problem.
			var mmErr error
			if s.Mattermost.URL != "" {
				mmErr = s.Mattermost.CheckAndSetDefaults()
			}
			return errors.Join(natsErr, s.Teleport.CheckAndSetDefaults(), s.Jira.CheckAndSetDefaults(), s.Ingress.CheckAndSetDefaults(), mmErr)
		},
		BeforeConnect: func(_ context.Context, log zerolog.Logger, nats *bus.Config) (func(), error) {
			embedded, why, err := natsMode(s.Main.Nats, os.Getenv("NATS_URL"))
			if err != nil {
				return nil, err
			}
			if !embedded {
				log.Info().Str("url", nats.URL).Msg("using the external NATS server at NATS_URL, no embedded server: " + why)
				return nil, nil
			}
			ns, err := startEmbeddedNATS(s.Main)
			if err != nil {
				return nil, err
			}
			nats.URL = ns.ClientURL()
			log.Info().Str("url", nats.URL).Str("store", s.Main.DataDir).Msg("embedded NATS server with JetStream started (" + why + ")")
			return func() { ns.Shutdown(); ns.WaitForShutdown() }, nil
		},
		ExtraCommands: [][2]string{
			{"import", "translate a teleport-jira (or teleport-mattermost) TOML file into an environment file"},
			{"docs", "print the configuration reference (Markdown)"},
		},
		OpsAddr:    func() string { return s.Main.HTTPAddr },
		OpsAddrVar: "ACCESSBRIDGE_HTTP_ADDR",
		Start:      func(ctx context.Context, env app.Env) (app.Service, error) { return startServices(ctx, s, env) },
		Stdout:     stdout, Stderr: stderr,
	}
}

// services runs the three services side by side.
type services struct {
	log     zerolog.Logger
	runners map[string]func(context.Context) error
}

func (s *services) Run(ctx context.Context) error { return app.RunAll(ctx, s.log, s.runners) }

// startServices builds the three services on one NATS connection and one
// operations server; each logs and labels its metrics with its name.
func startServices(ctx context.Context, s *settings, env app.Env) (*services, error) {
	deps := func(name string) (zerolog.Logger, prometheus.Registerer) {
		return env.Log.With().Str("component", name).Logger(),
			prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, env.Ops.Registry)
	}
	tl, treg := deps("teleport-bridge")
	tb, err := teleportbridge.New(ctx, s.Teleport, teleportbridge.Deps{Bus: env.Bus, Log: tl, Registry: treg, Ops: env.Ops})
	if err != nil {
		return nil, fmt.Errorf("teleport-bridge: %w", err)
	}
	jl, jreg := deps("jira-bridge")
	jb, err := jirabridge.New(ctx, s.Jira, jirabridge.Deps{Bus: env.Bus, Log: jl, Registry: jreg, Ops: env.Ops})
	if err != nil {
		return nil, fmt.Errorf("jira-bridge: %w", err)
	}
	il, ireg := deps("webhook-ingress")
	wi, err := webhookingress.New(ctx, s.Ingress, webhookingress.Deps{Bus: env.Bus, Log: il, Registry: ireg, Ops: env.Ops})
	if err != nil {
		return nil, fmt.Errorf("webhook-ingress: %w", err)
	}
	runners := map[string]func(context.Context) error{
		"teleport-bridge": tb.Run,
		"jira-bridge":     jb.Run,
		"webhook-ingress": wi.Run,
	}
	if s.Mattermost.URL != "" {
		ml, mreg := deps("mattermost-bridge")
		mb, err := mattermostbridge.New(ctx, s.Mattermost, mattermostbridge.Deps{Bus: env.Bus, Log: ml, Registry: mreg, Ops: env.Ops})
		if err != nil {
			return nil, fmt.Errorf("mattermost-bridge: %w", err)
		}
		runners["mattermost-bridge"] = mb.Run
	}
	return &services{log: env.Log, runners: runners}, nil
}

func startEmbeddedNATS(c Config) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(c.NatsListen)
	if err != nil {
		return nil, fmt.Errorf("ACCESSBRIDGE_NATS_LISTEN: %q is not host:port", c.NatsListen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("ACCESSBRIDGE_NATS_LISTEN: port %q is not a number", portStr)
	}
	dir, err := filepath.Abs(filepath.Join(c.DataDir, "nats"))
	if err != nil {
		return nil, fmt.Errorf("ACCESSBRIDGE_DATA_DIR: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ACCESSBRIDGE_DATA_DIR: %w", err)
	}
	ns, err := embedded.Run(embedded.Options{Dir: dir, Host: host, Port: port})
	if err != nil {
		return nil, fmt.Errorf("%w (ACCESSBRIDGE_NATS_LISTEN=%s, ACCESSBRIDGE_DATA_DIR=%s)", err, c.NatsListen, c.DataDir)
	}
	return ns, nil
}
