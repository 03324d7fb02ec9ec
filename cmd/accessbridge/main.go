// Command accessbridge runs the three AccessBridge services — the
// teleport-bridge, the jira-bridge and the webhook-ingress — in one process,
// with an embedded NATS server (JetStream, file store under the data
// directory, listening on 127.0.0.1 so the nats CLI can inspect it). When
// NATS_URL is set it uses that server instead.
//
// Usage:
//
//	accessbridge [start]    run (default)
//	accessbridge configure  print a commented example environment file
//	accessbridge version    print the version
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
	"sync"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/embedded"
	"github.com/accessbridge/accessbridge/pkg/service"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/accessbridge/accessbridge/pkg/service/logging"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
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
}

// Settings is everything the all-in-one reads from the environment.
type Settings struct {
	Log      logging.Config
	NATS     bus.Config
	Main     Config
	Teleport teleportbridge.Config
	Jira     jirabridge.Config
	Ingress  webhookingress.Config
}

// sections lists each section with its prefix, for loading and docs.
func (s *Settings) sections() []section {
	return []section{
		{"LOG", "Logging", &s.Log},
		{"NATS", "NATS connection (all services)", &s.NATS},
		{EnvPrefix, "All-in-one binary", &s.Main},
		{teleportbridge.EnvPrefix, "teleport-bridge", &s.Teleport},
		{jirabridge.EnvPrefix, "jira-bridge", &s.Jira},
		{webhookingress.EnvPrefix, "webhook-ingress", &s.Ingress},
	}
}

type section struct {
	prefix, title string
	spec          any
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "start"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "start":
		if err := start(ctx, stderr); err != nil {
			fmt.Fprintf(stderr, "accessbridge: %v\n", err)
			return 1
		}
		return 0
	case "configure":
		var s Settings
		for _, sec := range s.sections() {
			vars, err := config.Vars(sec.prefix, sec.spec)
			if err != nil {
				fmt.Fprintf(stderr, "accessbridge: %v\n", err)
				return 1
			}
			fmt.Fprintln(stdout, config.Example(sec.title, vars))
		}
		return 0
	case "version":
		fmt.Fprintf(stdout, "accessbridge %s\n", version)
		return 0
	case "docs":
		md, err := ConfigReference()
		if err != nil {
			fmt.Fprintf(stderr, "accessbridge: %v\n", err)
			return 1
		}
		fmt.Fprint(stdout, md)
		return 0
	case "docs-readme":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: accessbridge docs-readme README.md")
			return 2
		}
		if err := UpdateReadme(args[1]); err != nil {
			fmt.Fprintf(stderr, "accessbridge: %v\n", err)
			return 1
		}
		return 0
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "usage: accessbridge [start|configure|version]\n\nAll settings come from the environment; `accessbridge configure` prints them with their defaults.")
		return 0
	}
	fmt.Fprintf(stderr, "accessbridge: unknown command %q (want start, configure or version)\n", cmd)
	return 2
}

// load reads and checks every section; the error names the variable.
func load() (*Settings, error) {
	var s Settings
	for _, sec := range s.sections() {
		if err := config.Load(sec.prefix, sec.spec); err != nil {
			return nil, err
		}
	}
	if err := s.Teleport.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if err := s.Jira.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if err := s.Ingress.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return &s, nil
}

func start(parent context.Context, stderr io.Writer) error {
	s, err := load()
	if err != nil {
		return err
	}
	log, err := logging.New(s.Log, "accessbridge", stderr)
	if err != nil {
		return err
	}
	ctx, cancel := service.SignalContext(parent)
	defer cancel()

	if _, external := os.LookupEnv("NATS_URL"); !external {
		ns, err := startEmbeddedNATS(s.Main)
		if err != nil {
			return err
		}
		defer func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		}()
		s.NATS.URL = ns.ClientURL()
		log.Info().Str("url", s.NATS.URL).Str("store", s.Main.DataDir).Msg("embedded NATS server with JetStream started")
	}
	b, err := bus.Connect(ctx, s.NATS, "accessbridge", log)
	if err != nil {
		return err
	}
	defer b.Close()

	opsSrv := ops.New(log)
	opsSrv.AddCheck("nats", b.Connected)
	deps := func(name string) (zerolog.Logger, prometheus.Registerer) {
		return log.With().Str("service", name).Logger(),
			prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, opsSrv.Registry)
	}

	tl, treg := deps("teleport-bridge")
	tb, err := teleportbridge.New(ctx, s.Teleport, teleportbridge.Deps{Bus: b, Log: tl, Registry: treg, Ops: opsSrv})
	if err != nil {
		return fmt.Errorf("teleport-bridge: %w", err)
	}
	jl, jreg := deps("jira-bridge")
	jb, err := jirabridge.New(ctx, s.Jira, jirabridge.Deps{Bus: b, Log: jl, Registry: jreg, Ops: opsSrv})
	if err != nil {
		return fmt.Errorf("jira-bridge: %w", err)
	}
	il, ireg := deps("webhook-ingress")
	wi, err := webhookingress.New(ctx, s.Ingress, webhookingress.Deps{Bus: b, Log: il, Registry: ireg, Ops: opsSrv})
	if err != nil {
		return fmt.Errorf("webhook-ingress: %w", err)
	}

	runners := map[string]func(context.Context) error{
		"teleport-bridge": tb.Run,
		"jira-bridge":     jb.Run,
		"webhook-ingress": wi.Run,
		"operations":      func(ctx context.Context) error { return opsSrv.ListenAndServe(ctx, s.Main.HTTPAddr) },
	}
	return runAll(ctx, log, runners)
}

// runAll runs every component until ctx is done or one of them fails, then
// stops the others and waits for them.
func runAll(ctx context.Context, log zerolog.Logger, runners map[string]func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for name, fn := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s: %w", name, err)
				}
				mu.Unlock()
				log.Error().Err(err).Str("component", name).Msg("stopped with an error; shutting down")
			}
			cancel()
		}()
	}
	wg.Wait()
	return first
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
