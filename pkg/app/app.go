// Package app is the main of every AccessBridge binary: the start, configure
// and version commands; loading and checking the settings; logging; signal
// handling; the NATS connection; the operations endpoint; and running the
// service until SIGINT or SIGTERM. A binary describes itself with a Command
// and calls Main.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/service"
	"github.com/accessbridge/accessbridge/pkg/service/buildinfo"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/accessbridge/accessbridge/pkg/service/logging"
	"github.com/accessbridge/accessbridge/pkg/service/ops"
	"github.com/accessbridge/accessbridge/pkg/service/startup"
	"github.com/rs/zerolog"
)

// Section is one group of settings read with one environment prefix.
type Section struct {
	Prefix, Title string
	// Spec points to the config struct the section is loaded into.
	Spec any
	// Required are the settings a user must fill in, shown first by
	// `configure` with placeholders.
	Required []config.Hint
}

// Service is what a binary runs until its context ends.
type Service interface {
	Run(ctx context.Context) error
}

// Env is what a binary's Start receives.
type Env struct {
	Bus *bus.Bus
	Log zerolog.Logger
	Ops *ops.Server
}

// Command describes one binary.
type Command struct {
	Name    string
	Version string
	// NATSTitle heads the NATS section in `configure`: say which subjects
	// this binary's NATS identity needs.
	NATSTitle string
	// Sections are the binary's own settings (LOG_* and NATS_* are added).
	Sections []Section
	// Notes add a line to a setting's description in `configure`.
	Notes map[string]string
	// Check validates the loaded sections and fills defaults.
	Check func() error
	// BeforeConnect may change the NATS settings before the connection (the
	// all-in-one starts its embedded server there); the returned function,
	// if any, runs when the binary stops.
	BeforeConnect func(ctx context.Context, log zerolog.Logger, nats *bus.Config) (func(), error)
	// OpsAddr returns the address of the operations endpoints; empty serves
	// none (a binary that serves them on its own listener).
	OpsAddr func() string
	// OpsAddrVar names the OpsAddr setting in error messages.
	OpsAddrVar string
	// Start builds the service once settings, logger, NATS and the
	// operations server are ready.
	Start func(ctx context.Context, env Env) (Service, error)

	// ExtraCommands lists commands the binary handles itself before Main,
	// as {name, description}, for the help text.
	ExtraCommands [][2]string

	Stdout, Stderr io.Writer

	log  logging.Config
	nats bus.Config
}

// AllSections lists every section the binary reads, LOG and NATS first.
func (c *Command) AllSections() []Section {
	natsTitle := c.NATSTitle
	if natsTitle == "" {
		natsTitle = "NATS connection"
	}
	return append([]Section{
		{Prefix: "LOG", Title: "Logging", Spec: &c.log},
		{Prefix: "NATS", Title: natsTitle, Spec: &c.nats},
	}, c.Sections...)
}

// Main runs the command named by args[0] (start by default) and returns the
// process exit code: 0, 1 on an error, 2 on misuse. `-h`/`--help` after any
// command prints help and runs nothing.
func (c *Command) Main(ctx context.Context, args []string) int {
	cmd := "start"
	if len(args) > 0 {
		cmd = args[0]
	}
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			cmd = "help"
		}
	}
	if cmd != "help" && len(args) > 1 {
		hint := ""
		if strings.HasPrefix(args[1], "--config") || args[1] == "-c" {
			hint = fmt.Sprintf("; to carry over a teleport-jira TOML file, run `accessbridge import %s`", strings.TrimPrefix(strings.TrimPrefix(args[len(args)-1], "--config="), "--config"))
		}
		fmt.Fprintf(c.Stderr, "%s %s: unexpected argument %q: settings come from the environment (`%s configure` lists them)%s\n", c.Name, cmd, args[1], c.Name, hint)
		return 2
	}
	switch cmd {
	case "start":
		if err := c.start(ctx); err != nil {
			c.fail(err)
			return 1
		}
		return 0
	case "configure":
		out, err := c.Example()
		if err != nil {
			c.fail(err)
			return 1
		}
		fmt.Fprint(c.Stdout, out)
		return 0
	case "version", "--version", "-version", "-v":
		fmt.Fprintf(c.Stdout, "%s %s\n", c.Name, c.VersionString())
		return 0
	case "help":
		fmt.Fprintf(c.Stdout, `usage: %[1]s [command]

commands:
  start       run (the default)
  configure   print an example environment file: the required settings first, then every other one
  version     print the version (also --version)
%[2]s
Settings come from environment variables; a secret X can be given as X_FILE.
`, c.Name, c.extraHelp())
		return 0
	}
	fmt.Fprintf(c.Stderr, "%s: unknown command %q (start, configure, version, help)\n", c.Name, cmd)
	return 2
}

// VersionString is the version printed by `version`: the binary's own when
// its main was stamped, else the build information of pkg/service/buildinfo.
func (c *Command) VersionString() string {
	info := buildinfo.Get()
	if c.Version != "" && c.Version != "dev" {
		info.Version = c.Version
	}
	return info.String()
}

func (c *Command) extraHelp() string {
	var b strings.Builder
	for _, e := range c.ExtraCommands {
		fmt.Fprintf(&b, "  %-11s %s\n", e[0], e[1])
	}
	return b.String()
}

// fail prints err: one problem on one line (an operator reads it in a
// terminal or a journal, where a wrapped message is easy to miss), several
// as a count and then one line each.
func (c *Command) fail(err error) {
	oneLine := func(e error) string { return strings.Join(strings.Fields(e.Error()), " ") }
	list := config.List(err)
	if len(list) <= 1 {
		fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, oneLine(err))
		return
	}
	fmt.Fprintf(c.Stderr, "%s: %d problems to fix:\n", c.Name, len(list))
	for _, e := range list {
		fmt.Fprintf(c.Stderr, "  - %s\n", oneLine(e))
	}
}

// Example renders every section as an environment file: the required
// settings first, uncommented with placeholders, then every other setting
// commented out with its default.
func (c *Command) Example() (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s configuration (environment variables)\n", c.Name)
	fmt.Fprintf(&b, "# A secret X can instead be given as X_FILE=/path/to/a/file holding it.\n\n")
	skip := map[string]bool{}
	var required []config.Hint
	for _, sec := range c.AllSections() {
		for _, h := range sec.Required {
			required = append(required, h)
			skip[h.Name] = true
		}
	}
	if len(required) > 0 {
		b.WriteString("# ===== Required: replace the placeholders =====\n\n")
		b.WriteString(config.RequiredExample(required))
	}
	b.WriteString("# ===== Optional: the defaults are shown; uncomment a line to change it =====\n\n")
	for _, sec := range c.AllSections() {
		vars, err := config.Vars(sec.Prefix, sec.Spec)
		if err != nil {
			return "", err
		}
		b.WriteString(config.Example(sec.Title, vars, skip, c.Notes) + "\n")
	}
	return b.String(), nil
}

// Load reads and checks every section and reports every problem at once
// (a config.Problems): values that do not parse or are out of range,
// missing settings, variables with one of the binary's prefixes that are
// not settings (typos), and what the binary's Check finds. Near-misses of
// the shared LOG_ and NATS_ prefixes, which other tools use too, are only
// warned about, on Stderr.
func (c *Command) Load() error {
	var p config.Problems
	known := map[string]bool{}
	var strict, lenient []string
	for _, sec := range c.AllSections() {
		p.Add(config.Load(sec.Prefix, sec.Spec))
		vars, err := config.Vars(sec.Prefix, sec.Spec)
		if err != nil {
			return err
		}
		for _, v := range vars {
			known[v.Name] = true
			if v.Secret {
				known[v.Name+"_FILE"] = true
			}
		}
		switch sec.Prefix {
		case "LOG", "NATS":
			lenient = append(lenient, sec.Prefix+"_")
		default:
			strict = append(strict, sec.Prefix+"_")
		}
	}
	environ := os.Environ()
	for _, u := range config.FindUnknown(environ, strict, known) {
		p.Add(errors.New(u.String()))
	}
	for _, u := range config.FindUnknown(environ, lenient, known) {
		if u.Closest != "" && c.Stderr != nil {
			fmt.Fprintf(c.Stderr, "%s: warning: %s\n", c.Name, u)
		}
	}
	if c.Check != nil {
		// A setting already reported (a bad value, an unreadable file) is
		// not reported again through the checks that depend on it.
		var reported []string
		for _, e := range p {
			if name := settingOf(e.Error()); name != "" {
				reported = append(reported, name)
			}
		}
		for _, e := range config.List(c.Check()) {
			if !mentionsAny(e.Error(), reported) {
				p.Add(e)
			}
		}
	}
	return p.Err()
}

// mentionsAny says whether msg names one of the variables (or its _FILE
// form) as a whole word.
func mentionsAny(msg string, names []string) bool {
	for _, n := range names {
		for i := strings.Index(msg, n); i >= 0; {
			end := i + len(n)
			if strings.HasPrefix(msg[end:], "_FILE") {
				end += len("_FILE")
			}
			before := i == 0 || !isNameByte(msg[i-1])
			after := end == len(msg) || !isNameByte(msg[end])
			if before && after {
				return true
			}
			next := strings.Index(msg[i+1:], n)
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
	return false
}

func isNameByte(b byte) bool { return b == '_' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' }

// settingOf returns the variable a problem starts with ("JIRA_BRIDGE_URL:
// …", "JIRA_BRIDGE_URL=\"x\": …", "JIRA_BRIDGE_URL is …"), or "".
func settingOf(msg string) string {
	end := strings.IndexAny(msg, ":= ")
	if end <= 0 {
		return ""
	}
	name := msg[:end]
	if strings.ToUpper(name) != name || !strings.Contains(name, "_") {
		return ""
	}
	return strings.TrimSuffix(name, "_FILE")
}

func (c *Command) start(parent context.Context) error {
	if err := c.Load(); err != nil {
		return err
	}
	log, err := logging.New(c.log, c.Name, c.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := service.SignalContext(parent)
	defer stop()

	if c.BeforeConnect != nil {
		cleanup, err := c.BeforeConnect(ctx, log, &c.nats)
		if err != nil {
			return err
		}
		if cleanup != nil {
			defer cleanup()
		}
	}
	var b *bus.Bus
	err = startup.Check(ctx, log, startup.Target{
		Name: "NATS", Addr: c.nats.URL, Setting: "NATS_URL",
		// A list of cluster URLs is not probed one by one: any of them will do.
		SkipProbe: strings.Contains(c.nats.URL, ","),
	}, func(ctx context.Context) (err error) {
		b, err = bus.Connect(ctx, c.nats, c.Name, log)
		return err
	})
	if err != nil {
		return err
	}
	defer b.Close()
	srv := ops.New(log)
	srv.AddCheck("nats", b.Connected)
	svc, err := c.Start(ctx, Env{Bus: b, Log: log, Ops: srv})
	if err != nil {
		return err
	}
	log.Info().Str("version", c.VersionString()).Msg(c.Name + " running")

	runners := map[string]func(context.Context) error{c.Name: svc.Run}
	if c.OpsAddr != nil && c.OpsAddr() != "" {
		addr := c.OpsAddr()
		runners["operations endpoint"] = func(ctx context.Context) error {
			if err := srv.ListenAndServe(ctx, addr); err != nil {
				return fmt.Errorf("%s=%s: %w", c.OpsAddrVar, addr, err)
			}
			return nil
		}
	}
	return RunAll(ctx, log, runners)
}

// RunAll runs every function until ctx is done or one of them fails, then
// cancels the others and waits for them. It returns the first failure.
func RunAll(ctx context.Context, log zerolog.Logger, runners map[string]func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(runners))
	for name, run := range runners {
		go func() {
			err := run(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error().Err(err).Str("component", name).Msg("stopped with an error; shutting down")
				err = fmt.Errorf("%s: %w", name, err)
			} else {
				err = nil
			}
			cancel()
			errs <- err
		}()
	}
	var first error
	for range runners {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
