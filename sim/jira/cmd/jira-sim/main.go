// Command jira-sim runs the AccessBridge Jira emulator: Jira REST v2 (Cloud or
// Data Center flavour), a workflow board at /, signed webhooks, injectable
// faults, and /_sim admin endpoints for tests. It is a test and demo tool,
// never the product.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stderr: os.Stderr, Getenv: os.Getenv}
	err := m.ParseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err == nil {
		err = m.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jira-sim:", err)
		os.Exit(1)
	}
}

// Main wires the emulator from flags, environment and files.
type Main struct {
	Stderr io.Writer
	Getenv func(string) string
	// Ready, if set, is called with the base URL once the server listens.
	Ready func(url string)

	opts   jirasim.Options
	server *jirasim.Server
}

const usageHeader = `jira-sim: a Jira REST v2 emulator for AccessBridge tests and demos.

Serves the REST API under /rest/api/2 (Basic auth with email + API token on
Cloud, username + token/password or "Bearer <PAT>" on Server), a board page at
/ (move cards and comment as any configured user: each move sends webhooks),
and admin endpoints under /_sim (issues, move, comment, properties, faults,
requests, webhooks, webhook-urls, users, version, health).

Usage: jira-sim [flags]

Flags:
`

const usageFooter = `
Environment:
  JIRA_SIM_WEBHOOK_SECRET   webhook HMAC secret (instead of --webhook-secret-file)
  JIRA_SIM_BOT_TOKEN        API token of the bot user (instead of --bot-token-file)
  JIRA_SIM_BOT_PAT          personal access token of the bot (instead of --bot-pat-file)

--users-file holds a JSON list of users:
  [{"accountId": "...", "name": "alice", "displayName": "Alice", "email": "alice@example.com",
    "hideEmail": false, "token": "...", "pat": "...", "timeZone": "UTC",
    "deniedPermissions": ["TRANSITION_ISSUES"]}]
Default users (demo only): accessbridge@example.com (bot, token accessbridge-token,
PAT accessbridge-pat), alice@example.com (alice-token), bob@example.com (bob-token,
hidden email).

--transitions-file holds a JSON list of transitions; without it every status can
move to every other (transition named like its target status):
  [{"id": "11", "name": "Approve", "from": ["Pending"], "to": "Approved"}]

Secrets are read from files or the environment and never logged.
`

// listFlag is a repeatable flag; the first use replaces the default.
type listFlag struct {
	values []string
	set    bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }
func (l *listFlag) Set(v string) error {
	if !l.set {
		l.values, l.set = nil, true
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l.values = append(l.values, p)
		}
	}
	return nil
}

// ParseFlags reads the options from args, the environment and files.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("jira-sim", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprint(m.Stderr, usageHeader)
		fs.PrintDefaults()
		fmt.Fprint(m.Stderr, usageFooter)
	}
	o := &m.opts
	var (
		statuses                                                         = &listFlag{values: statusNames(jirasim.DefaultStatuses())}
		issueTypes                                                       = &listFlag{values: []string{"Task"}}
		customFields                                                     = &listFlag{values: []string{"customfield_10050=teleportAccessRequestId"}}
		webhookURLs                                                      = &listFlag{}
		events                                                           = &listFlag{values: []string{jirasim.EventIssueCreated, jirasim.EventIssueUpdated, jirasim.EventIssueDeleted}}
		f                                                                jirasim.Faults
		usersFile, transitionsFile, secretFile, botTokenFile, botPATFile string
		logLevel, logFormat                                              string
	)
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "listen address (use 127.0.0.1:0 for a free port)")
	fs.StringVar(&o.BaseURL, "base-url", "", "URL used in self links and the board (default http://<addr>)")
	fs.StringVar(&o.Flavor, "flavor", "cloud", `Jira flavour: "cloud" or "server" (Data Center): auth, search endpoints, user and webhook shapes`)
	fs.StringVar(&o.ProjectKey, "project", "TAR", "project key")
	fs.StringVar(&o.ProjectName, "project-name", "Teleport Access Requests", "project name")
	fs.Var(issueTypes, "issue-types", "issue types, comma-separated or repeated")
	fs.Var(statuses, "statuses", "workflow statuses in board order, each Name or Name:category (category new, indeterminate or done; default: Backlog new, Pending indeterminate, the others done)")
	fs.StringVar(&o.InitialStatus, "initial-status", "", "status of new issues (default: the first status)")
	fs.StringVar(&transitionsFile, "transitions-file", "", "JSON file of workflow transitions (default: any status to any other)")
	fs.BoolVar(&o.TransitionScreensRefuseComments, "transition-screens-refuse-comments", false, "transitions refuse a comment in their update (400 on the comment field), as transitions without a screen carrying it")
	fs.Var(customFields, "custom-field", `custom field as customfield_NNNNN=Name[:string|number], repeatable; "none" for no custom field`)
	fs.StringVar(&usersFile, "users-file", "", "JSON file of users (default: the demo users below)")
	fs.StringVar(&o.Bot, "bot", "", "accountId, name or email of the bridge's user (default: the first user)")
	fs.StringVar(&botTokenFile, "bot-token-file", "", "file holding the bot's API token or password (or env JIRA_SIM_BOT_TOKEN)")
	fs.StringVar(&botPATFile, "bot-pat-file", "", "file holding the bot's personal access token (or env JIRA_SIM_BOT_PAT)")
	fs.Var(webhookURLs, "webhook-url", "webhook receiver URL, repeatable")
	fs.StringVar(&secretFile, "webhook-secret-file", "", "file holding the webhook secret; bodies are signed X-Hub-Signature: sha256=<hex> (or env JIRA_SIM_WEBHOOK_SECRET)")
	fs.Var(events, "webhook-events", "webhook events sent, comma-separated")
	fs.DurationVar(&o.WebhookTimeout, "webhook-timeout", 10*time.Second, "timeout of one webhook delivery attempt")
	fs.IntVar(&o.WebhookMaxRetries, "webhook-max-retries", 5, "retries after a failed delivery (408/409/425/429/5xx/no answer); 0 for none")
	fs.DurationVar(&o.WebhookBackoff, "webhook-backoff", 200*time.Millisecond, "first retry delay, doubled per retry with jitter (max 30s)")
	fs.IntVar(&o.WebhookWorkers, "webhook-workers", 4, "parallel webhook senders (one issue's events stay in order)")
	fs.Float64Var(&f.WebhookDuplicateRate, "webhook-duplicate-rate", 0, "fault: probability a delivery is sent twice (same identifier)")
	fs.Float64Var(&f.WebhookReorderRate, "webhook-reorder-rate", 0, "fault: probability a delivery is held back so later ones overtake it")
	fs.DurationVar(&f.WebhookReorderDelay, "webhook-reorder-delay", 500*time.Millisecond, "fault: how long a reordered delivery is held back")
	fs.Float64Var(&f.WebhookDropRate, "webhook-drop-rate", 0, "fault: probability a delivery is never sent")
	fs.DurationVar(&f.Latency, "latency", 0, "fault: latency added to every API request")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "fault: probability an API request is answered 500/502/503")
	fs.Float64Var(&f.RateLimit, "rate-limit", 0, "fault: API requests/s above which Jira answers 429 with Retry-After (0: none)")
	fs.Float64Var(&f.IssueWriteLimit, "issue-write-limit", 0, "fault: writes/s to one issue above which Jira answers 429 (0: none)")
	fs.DurationVar(&f.RetryAfter, "retry-after", 0, "fault: Retry-After of a 429 (default: until a request is allowed, at least 1s)")
	fs.Float64Var(&f.DropConnectionRate, "drop-connection-rate", 0, "fault: probability an API connection is closed before the request is handled")
	fs.Float64Var(&f.DropResponseRate, "drop-response-rate", 0, "fault: probability an API request is handled but its response lost")
	fs.DurationVar(&f.ReadLag, "read-lag", 0, "fault: how long reads return the previous status after a transition")
	fs.Uint64Var(&o.Seed, "seed", 0, "random seed of faults (default: time based)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "json", `log format: "json" or "console"`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	if o.WebhookMaxRetries <= 0 {
		o.WebhookMaxRetries = -1 // Options reads 0 as "default"
	}
	o.IssueTypes = issueTypes.values
	o.WebhookURLs = webhookURLs.values
	o.WebhookEvents = events.values
	o.Faults = f
	var err error
	if o.Statuses, err = parseStatuses(statuses.values); err != nil {
		return err
	}
	if o.CustomFields, err = parseCustomFields(customFields.values); err != nil {
		return err
	}
	if transitionsFile != "" {
		if err := readJSONFile(transitionsFile, &o.Transitions); err != nil {
			return fmt.Errorf("--transitions-file: %w", err)
		}
	}
	o.Users = jirasim.DefaultUsers()
	if usersFile != "" {
		o.Users = nil
		if err := readJSONFile(usersFile, &o.Users); err != nil {
			return fmt.Errorf("--users-file: %w", err)
		}
	}
	if o.WebhookSecret, err = secret(secretFile, m.Getenv("JIRA_SIM_WEBHOOK_SECRET")); err != nil {
		return fmt.Errorf("--webhook-secret-file: %w", err)
	}
	if err := m.setBotSecrets(botTokenFile, botPATFile); err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(logLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	var w io.Writer = m.Stderr
	if logFormat == "console" {
		w = zerolog.ConsoleWriter{Out: m.Stderr, TimeFormat: time.RFC3339}
	} else if logFormat != "json" {
		return fmt.Errorf("--log-format %q: want json or console", logFormat)
	}
	o.Logger = zerolog.New(w).Level(level).With().Timestamp().Logger()
	return nil
}

// setBotSecrets overrides the bot's token and PAT from files or env.
func (m *Main) setBotSecrets(tokenFile, patFile string) error {
	token, err := secret(tokenFile, m.Getenv("JIRA_SIM_BOT_TOKEN"))
	if err != nil {
		return fmt.Errorf("--bot-token-file: %w", err)
	}
	pat, err := secret(patFile, m.Getenv("JIRA_SIM_BOT_PAT"))
	if err != nil {
		return fmt.Errorf("--bot-pat-file: %w", err)
	}
	if token == "" && pat == "" {
		return nil
	}
	bot := m.opts.Bot
	for i := range m.opts.Users {
		u := &m.opts.Users[i]
		if (bot == "" && i == 0) || (bot != "" && (strings.EqualFold(bot, u.AccountID) || strings.EqualFold(bot, u.Name) || strings.EqualFold(bot, u.Email))) {
			if token != "" {
				u.Token = token
			}
			if pat != "" {
				u.PAT = pat
			}
			return nil
		}
	}
	return fmt.Errorf("--bot %q is not one of the users", bot)
}

// Run serves until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	s, err := jirasim.New(m.opts)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	m.server = s
	defer m.Close()
	hooks := make([]string, 0, len(m.opts.WebhookURLs))
	for _, u := range m.opts.WebhookURLs {
		hooks = append(hooks, redactURL(u))
	}
	m.opts.Logger.Info().Str("board", s.URL()+"/").Strs("webhook_urls", hooks).
		Bool("webhook_signed", m.opts.WebhookSecret != "").Msg("jira-sim: ready")
	if m.Ready != nil {
		m.Ready(s.URL())
	}
	<-ctx.Done()
	return nil
}

// Close stops the server.
func (m *Main) Close() {
	if m.server != nil {
		m.server.Close()
	}
}

// redactURL hides credentials a webhook URL may carry (userinfo, query).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.String()
}

func secret(file, env string) (string, error) {
	if file == "" {
		return strings.TrimSpace(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

func statusNames(sts []jirasim.Status) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.Name+":"+s.Category)
	}
	return out
}

func parseStatuses(values []string) ([]jirasim.Status, error) {
	var out []jirasim.Status
	for _, v := range values {
		name, cat, _ := strings.Cut(v, ":")
		if name == "" {
			return nil, fmt.Errorf("--statuses: empty status name in %q", v)
		}
		out = append(out, jirasim.Status{Name: name, Category: cat})
	}
	return out, nil
}

func parseCustomFields(values []string) ([]jirasim.CustomField, error) {
	var out []jirasim.CustomField
	for _, v := range values {
		if v == "none" {
			continue
		}
		id, rest, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("--custom-field %q: want customfield_NNNNN=Name[:type]", v)
		}
		name, typ, _ := strings.Cut(rest, ":")
		out = append(out, jirasim.CustomField{ID: id, Name: name, Type: typ})
	}
	return out, nil
}
