// Package demo runs AccessBridge against the Jira and Teleport emulators:
// it starts both emulators in-process, tells the product how to reach them
// (an environment for the accessbridge binary or its services), and plays a
// scripted scenario whose every step is checked. `make demo`, the compose
// test and the end-to-end suite use it. It is a tool, never the product.
package demo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/rs/zerolog"
)

// Options of a Stack.
type Options struct {
	// Dir holds identity files, secrets and the product's data.
	Dir string
	// JiraAddr and TeleportAddr are the emulators' listen addresses
	// (default 127.0.0.1:0); TeleportAdminAddr serves teleport-sim's CLI.
	JiraAddr, TeleportAddr, TeleportAdminAddr string
	// IngressURL is where the Jira emulator sends webhooks.
	IngressURL string
	// JiraFlavor is "cloud" (default) or "server".
	JiraFlavor string
	// Edition of the Teleport emulator (default enterprise).
	Edition string
	// RequestTTL of requests created by the scenario (default 1h).
	RequestTTL time.Duration
	// Logger of the emulators (default silent).
	Logger zerolog.Logger
	// Mattermost starts the Mattermost emulator too (on MattermostAddr,
	// default 127.0.0.1:0) and points the mattermost-bridge at it.
	Mattermost     bool
	MattermostAddr string
}

// Stack is the two emulators and what the product needs to reach them.
type Stack struct {
	Teleport      *teleportsim.Server
	Jira          *jirasim.Server
	Dir           string
	WebhookSecret string
	SecretFile    string
	JiraTokenFile string
	// Mattermost is nil unless Options.Mattermost.
	Mattermost          *mmsim.Server
	MattermostTokenFile string
	opts                Options
}

// Start starts both emulators.
func Start(o Options) (*Stack, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("demo: a directory is required")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	secret := randomHex(24)
	s := &Stack{Dir: o.Dir, WebhookSecret: secret, opts: o,
		SecretFile: filepath.Join(o.Dir, "webhook-secret"), JiraTokenFile: filepath.Join(o.Dir, "jira-token")}
	if err := os.WriteFile(s.SecretFile, []byte(secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	tp, err := teleportsim.New(teleportsim.Options{
		Edition:     teleportsim.Edition(o.Edition),
		ListenAddr:  o.TeleportAddr,
		AdminAddr:   o.TeleportAdminAddr,
		IdentityDir: filepath.Join(o.Dir, "teleport"),
		RequestTTL:  o.RequestTTL,
		Logger:      o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("teleport emulator: %w", err)
	}
	s.Teleport = tp
	jopts := jirasim.Options{
		Addr:          o.JiraAddr,
		Flavor:        o.JiraFlavor,
		CustomFields:  []jirasim.CustomField{jirasim.RequestIDField()},
		WebhookSecret: secret,
		Logger:        o.Logger,
	}
	if o.IngressURL != "" {
		jopts.WebhookURLs = []string{o.IngressURL}
	}
	js, err := jirasim.New(jopts)
	if err != nil {
		_ = tp.Close()
		return nil, fmt.Errorf("jira emulator: %w", err)
	}
	if err := js.Start(); err != nil {
		_ = tp.Close()
		return nil, fmt.Errorf("jira emulator: %w", err)
	}
	s.Jira = js
	if err := os.WriteFile(s.JiraTokenFile, []byte(js.Bot().Token+"\n"), 0o600); err != nil {
		s.Close()
		return nil, err
	}
	if o.Mattermost {
		mm, err := mmsim.New(mmsim.Options{Addr: o.MattermostAddr, Logger: o.Logger})
		if err == nil {
			err = mm.Start()
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("mattermost emulator: %w", err)
		}
		s.Mattermost = mm
		s.MattermostTokenFile = filepath.Join(o.Dir, "mattermost-token")
		if err := os.WriteFile(s.MattermostTokenFile, []byte(mmsim.DefaultBotToken+"\n"), 0o600); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops both emulators.
func (s *Stack) Close() {
	if s.Jira != nil {
		s.Jira.Close()
	}
	if s.Mattermost != nil {
		s.Mattermost.Close()
	}
	if s.Teleport != nil {
		_ = s.Teleport.Close()
	}
}

// Env is the environment that points the product at the emulators. The
// ingress listens on ingressAddr without TLS (loopback only) and checks
// HMAC signatures with the stack's secret.
func (s *Stack) Env(ingressAddr, dataDir string) []string {
	bot := s.Jira.Bot()
	user := bot.Email
	if s.Jira.Flavor() == jirasim.FlavorServer {
		user = bot.Name
	}
	env := []string{
		"LOG_FORMAT=json",
		"ACCESSBRIDGE_DATA_DIR=" + dataDir,
		"ACCESSBRIDGE_NATS_LISTEN=127.0.0.1:0",
		"ACCESSBRIDGE_HTTP_ADDR=127.0.0.1:0",
		"TELEPORT_BRIDGE_ADDR=" + s.Teleport.Addr(),
		"TELEPORT_BRIDGE_IDENTITY_FILE=" + s.Teleport.IdentityFile("access-plugin"),
		"TELEPORT_BRIDGE_HTTP_ADDR=127.0.0.1:0",
		"JIRA_BRIDGE_URL=" + s.Jira.URL(),
		"JIRA_BRIDGE_USER=" + user,
		"JIRA_BRIDGE_API_TOKEN_FILE=" + s.JiraTokenFile,
		"JIRA_BRIDGE_PROJECT=" + s.Jira.ProjectKey(),
		"JIRA_BRIDGE_HTTP_ADDR=127.0.0.1:0",
		"WEBHOOK_INGRESS_ADDR=" + ingressAddr,
		"WEBHOOK_INGRESS_INSECURE_NO_TLS=true",
		"WEBHOOK_INGRESS_HMAC_SECRETS_FILE=" + s.SecretFile,
	}
	if s.Mattermost != nil {
		env = append(env,
			"MATTERMOST_BRIDGE_URL="+s.Mattermost.URL(),
			"MATTERMOST_BRIDGE_TOKEN_FILE="+s.MattermostTokenFile,
			"MATTERMOST_BRIDGE_RECIPIENTS="+MattermostChannel+","+MattermostReviewer,
			"MATTERMOST_BRIDGE_HTTP_ADDR=127.0.0.1:0")
	}
	return env
}

// The demo's Mattermost recipients: Town Square by its display name, as the
// teleport-mattermost guide writes it, and a reviewer by email.
const (
	MattermostChannel  = "myteam/Town Square"
	MattermostReviewer = "alice@example.com"
)

// EnvFile renders env as an env file (for compose and systemd).
func EnvFile(env []string) string { return strings.Join(env, "\n") + "\n" }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
