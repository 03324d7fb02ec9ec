package mattermostbridge

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/accessbridge/accessbridge/pkg/service/startup"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/recipients"
)

// EnvPrefix prefixes every mattermost-bridge environment variable.
const EnvPrefix = "MATTERMOST_BRIDGE"

// Config is the mattermost-bridge's configuration (environment, prefix
// MATTERMOST_BRIDGE_).
type Config struct {
	URL   string        `split_words:"true" desc:"Mattermost server URL, e.g. https://mattermost.example.com (required)."`
	Token config.Secret `split_words:"true" desc:"Access token of the Mattermost bot account (required; or MATTERMOST_BRIDGE_TOKEN_FILE)."`

	Recipients       []string `split_words:"true" desc:"Default recipients, comma-separated: user emails (direct message) and team/channel (channel name or display name). The \"*\" entry of ROLE_TO_RECIPIENTS."`
	RoleToRecipients string   `split_words:"true" desc:"JSON object from role to recipients, with \"*\" for requests whose roles have no entry, e.g. {\"editor\":[\"myteam/admins\"],\"*\":[\"ops@example.com\"]}."`

	TeleportProxyAddr string `split_words:"true" desc:"Teleport proxy address for the link to the request in the web UI (default: the address the teleport-bridge reports)."`

	Timeout      time.Duration `split_words:"true" default:"30s" desc:"Timeout of one Mattermost HTTP attempt."`
	CheckTimeout time.Duration `split_words:"true" default:"15s" desc:"How long the start-up checks of Mattermost (address, token, every recipient) may take in all."`
	MaxRetries   int           `split_words:"true" default:"5" desc:"Retries of one Mattermost call on 429 (and, for calls safe to repeat, 5xx and network errors) before the event is redelivered later."`
	CallRetryMin time.Duration `split_words:"true" default:"500ms" desc:"Minimum back-off between Mattermost retries (jittered, doubled each time) when there is no Retry-After."`
	CallRetryMax time.Duration `split_words:"true" default:"30s" desc:"Maximum back-off between Mattermost retries, and the longest Retry-After slept in-process."`

	MaxAttempts int           `split_words:"true" default:"10" desc:"Deliveries of an event before a failure that needs the operator (401/403/404 from Mattermost) dead-letters it; transient failures are retried for RETRY_WINDOW."`
	RetryWindow time.Duration `split_words:"true" default:"24h" desc:"How long after its publication an event that fails transiently (Mattermost down, 5xx, 429) is still retried; only then is it dead-lettered."`
	RetryMin    time.Duration `split_words:"true" default:"1s" desc:"Minimum redelivery delay of an event after a transient error."`
	RetryMax    time.Duration `split_words:"true" default:"5m" desc:"Maximum redelivery delay of an event after a transient error."`
	Concurrency int           `split_words:"true" default:"16" desc:"Requests handled at once (one request is always serial)."`
	AckWait     time.Duration `split_words:"true" default:"30s" desc:"How long JetStream waits for a handler's ack before redelivering."`

	Buttons     bool          `split_words:"true" desc:"Put Approve / Deny buttons on pending posts (off by default; read the README's \"Approve / Deny buttons\" first). Needs BUTTON_URL, BUTTON_KEY and BUTTON_USERS."`
	ButtonURL   string        `split_words:"true" desc:"Where Mattermost's server sends a click: the webhook-ingress's /mattermost/actions, e.g. https://accessbridge.example.com/mattermost/actions."`
	ButtonKey   config.Secret `split_words:"true" desc:"HMAC key of the per-post button tokens, at least 32 bytes, the same as the webhook-ingress's WEBHOOK_INGRESS_MATTERMOST_BUTTON_KEY (or MATTERMOST_BRIDGE_BUTTON_KEY_FILE)."`
	ButtonUsers string        `split_words:"true" desc:"The allow-list: JSON object from Mattermost user id or username to the Teleport user who decides, e.g. {\"bob\":\"bob\",\"kx8ncbx1i3bfzm9ryxn7hbpnfr\":\"carol\"}. A click by anyone else is refused and logged as a security event."`

	HTTPAddr string `split_words:"true" default:":8094" desc:"Listen address of /status, /healthz, /readyz and /metrics (standalone binary only)."`

	routing recipients.Routing
	buttons buttonUsers
}

func v(name string) string { return EnvPrefix + "_" + name }

// CheckAndSetDefaults validates the configuration and fills defaults left
// empty by a caller that did not go through envconfig. Errors name the
// variable to fix.
func (c *Config) CheckAndSetDefaults() error {
	if c.URL == "" {
		return fmt.Errorf("missing required value %s (the Mattermost server URL)", v("URL"))
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: %q is not an http(s) URL", v("URL"), c.URL)
	}
	c.URL = strings.TrimRight(c.URL, "/")
	if strings.TrimSpace(c.Token.Value()) == "" {
		return fmt.Errorf("missing required value %s (or %s_FILE): the bot's access token", v("TOKEN"), v("TOKEN"))
	}
	routing := recipients.Routing{}
	var defaults []recipients.Recipient
	if strings.TrimSpace(c.RoleToRecipients) != "" {
		var raw map[string][]string
		if err := json.Unmarshal([]byte(c.RoleToRecipients), &raw); err != nil {
			return fmt.Errorf("%s: not a JSON object of role → list of recipients: %v", v("ROLE_TO_RECIPIENTS"), err)
		}
		for role, list := range raw {
			if role == "" {
				return fmt.Errorf("%s: empty role name", v("ROLE_TO_RECIPIENTS"))
			}
			for _, s := range list {
				rc, err := recipients.Parse(s)
				if err != nil {
					return fmt.Errorf("%s[%q]: %v", v("ROLE_TO_RECIPIENTS"), role, err)
				}
				routing[role] = append(routing[role], rc)
			}
		}
	}
	for _, s := range c.Recipients {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if _, both := routing["*"]; both {
			return fmt.Errorf("%s and the \"*\" entry of %s both set the default recipients; keep one", v("RECIPIENTS"), v("ROLE_TO_RECIPIENTS"))
		}
		rc, err := recipients.Parse(s)
		if err != nil {
			return fmt.Errorf("%s: %v", v("RECIPIENTS"), err)
		}
		defaults = append(defaults, rc)
	}
	if len(defaults) > 0 {
		routing["*"] = defaults
	}
	c.routing = routing
	if c.TeleportProxyAddr != "" && strings.ContainsAny(c.TeleportProxyAddr, " \t\r\n") {
		return fmt.Errorf("%s: %q contains spaces", v("TELEPORT_PROXY_ADDR"), c.TeleportProxyAddr)
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&c.Timeout, 30*time.Second)
	def(&c.CheckTimeout, startup.DefaultTimeout)
	def(&c.CallRetryMin, 500*time.Millisecond)
	def(&c.CallRetryMax, 30*time.Second)
	def(&c.RetryWindow, 24*time.Hour)
	def(&c.RetryMin, time.Second)
	def(&c.RetryMax, 5*time.Minute)
	def(&c.AckWait, 30*time.Second)
	if c.CallRetryMax < c.CallRetryMin {
		return fmt.Errorf("%s: %s is below %s %s", v("CALL_RETRY_MAX"), c.CallRetryMax, v("CALL_RETRY_MIN"), c.CallRetryMin)
	}
	if c.MaxRetries < 0 {
		return fmt.Errorf("%s: must not be negative", v("MAX_RETRIES"))
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8094"
	}
	return c.checkButtons()
}

// Routing is the parsed recipient routing (after CheckAndSetDefaults).
func (c *Config) Routing() recipients.Routing { return c.routing }

// RequiredSettings are the settings `configure` asks for first.
func RequiredSettings() []config.Hint {
	return []config.Hint{
		{Name: EnvPrefix + "_URL", Placeholder: "https://mattermost.example.com", Note: "Mattermost server URL."},
		{Name: EnvPrefix + "_TOKEN_FILE", Placeholder: "/etc/accessbridge/mattermost-token", Note: "File holding the bot account's access token."},
		{Name: EnvPrefix + "_RECIPIENTS", Placeholder: "myteam/Town Square,reviewer@example.com", Note: "Who is told about requests: team/channel and emails (or MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS)."},
	}
}
