package webhookingress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
)

// EnvPrefix is the prefix of every variable of this service.
const EnvPrefix = "WEBHOOK_INGRESS"

// Source is the CloudEvents source of the events this service publishes.
const Source = "accessbridge/webhook-ingress"

// Config is the webhook-ingress section (prefix WEBHOOK_INGRESS).
type Config struct {
	Addr  string   `split_words:"true" default:":8081" desc:"Listen address of the webhook endpoint and of /status /healthz /readyz /metrics. Jira Cloud only calls ports 80 and 443: put a proxy in front, or listen on :443."`
	Paths []string `split_words:"true" default:"/webhook,/" desc:"Comma-separated URL paths that accept POSTed Jira webhooks (/ keeps teleport-jira's webhook URL working)."`

	TlsCert       string `split_words:"true" desc:"PEM certificate (chain) file served to Jira; reloaded when the file changes."`
	TlsKey        string `split_words:"true" desc:"PEM private key file of TLS_CERT; reloaded when the file changes."`
	TlsClientCa   string `split_words:"true" desc:"PEM CA file: when set, clients must present a certificate it signed (mutual TLS; counts as an authentication method)."`
	InsecureNoTls bool   `split_words:"true" default:"false" desc:"Serve plain HTTP (only behind a TLS-terminating proxy). Exported as accessbridge_webhook_ingress_insecure{mode=\"no_tls\"}."`

	HmacSecrets    config.Secret `split_words:"true" desc:"Comma-separated webhook secrets; X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body> must match one of them (several during rotation)."`
	Tokens         config.Secret `split_words:"true" desc:"Comma-separated secret tokens; the URL query parameter TOKEN_PARAM must equal one of them (several during rotation)."`
	TokenParam     string        `split_words:"true" default:"token" desc:"Name of the URL query parameter that carries the token."`
	BasicAuth      config.Secret `split_words:"true" desc:"Comma-separated user:password pairs accepted as HTTP basic auth (several during rotation)."`
	InsecureNoAuth bool          `split_words:"true" default:"false" desc:"Accept unauthenticated deliveries when no method is configured (testing only; the jira-bridge then confirms every decision through the Jira API). Exported as accessbridge_webhook_ingress_insecure{mode=\"no_auth\"}."`

	MaxBodyBytes       int64         `split_words:"true" default:"1048576" desc:"Largest accepted body in bytes; larger deliveries get 413 and are not read further. At most 4194304 (the event limit); the NATS max_payload must allow the body plus ~2 KiB."`
	MaxHeaderBytes     int           `split_words:"true" default:"32768" desc:"Largest accepted request header block in bytes."`
	ReadHeaderTimeout  time.Duration `split_words:"true" default:"5s" desc:"Time allowed to read the request headers."`
	ReadTimeout        time.Duration `split_words:"true" default:"15s" desc:"Time allowed to read a whole request, body included."`
	WriteTimeout       time.Duration `split_words:"true" default:"20s" desc:"Time allowed from the end of the request headers to the end of the response; must exceed PUBLISH_TIMEOUT."`
	IdleTimeout        time.Duration `split_words:"true" default:"60s" desc:"How long an idle keep-alive connection stays open."`
	PublishTimeout     time.Duration `split_words:"true" default:"5s" desc:"How long a delivery waits for the JetStream ack before it is answered 503."`
	MaxConcurrent      int           `split_words:"true" default:"512" desc:"Deliveries handled at once; more are answered 503 with Retry-After. A delivery takes a slot only once its headers authenticate it (token, basic auth, client certificate) or carry a well-formed signature."`
	MaxConcurrentPerIp int           `split_words:"true" default:"64" desc:"Deliveries handled at once from one client IP (at most MAX_CONCURRENT); more are answered 503 with Retry-After, so one client cannot hold every slot."`
	RetryAfter         time.Duration `split_words:"true" default:"10s" desc:"Retry-After sent with 503 and 429 answers (whole seconds)."`
	RateLimit          float64       `split_words:"true" default:"100" desc:"Deliveries per second allowed from one client IP, checked before anything else (0: no limit); over it, 429 with Retry-After. Jira Data Center does not retry a refused delivery: raise it if a bulk change of more than RATE_BURST issues at once is usual (the reconciler catches a lost move within JIRA_BRIDGE_RECONCILE_INTERVAL)."`
	RateBurst          int           `split_words:"true" default:"1000" desc:"Burst of the per-IP rate limit: deliveries one client IP may send at once before RATE_LIMIT applies."`
	ClientIpHeader     string        `split_words:"true" desc:"Header holding the client IP set by a trusted proxy (X-Forwarded-For: its last entry; or X-Real-IP) for the rate limit and logs; empty: the peer address."`
	TrustedProxies     []string      `split_words:"true" desc:"Addresses or CIDRs of the proxies whose CLIENT_IP_HEADER is believed, comma-separated (required with it); a request from any other peer is keyed by its own address."`

	MattermostButtonKey   config.Secret `split_words:"true" desc:"HMAC key of the mattermost-bridge's Approve / Deny button tokens (the same as MATTERMOST_BRIDGE_BUTTON_KEY, at least 32 bytes; or _FILE); comma-separated during a rotation (keep the old key until the requests posted with it are over). When set, MATTERMOST_ACTIONS_PATH accepts button clicks from Mattermost."`
	MattermostActionsPath string        `split_words:"true" default:"/mattermost/actions" desc:"URL path of the Mattermost button endpoint (MATTERMOST_BRIDGE_BUTTON_URL points at it); served only when MATTERMOST_BUTTON_KEY is set."`
}

// trustedProxies parses TRUSTED_PROXIES.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s_TRUSTED_PROXIES: %q is neither an IP address nor a CIDR", EnvPrefix, s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// CheckAndSetDefaults validates the configuration and fills what is left
// empty; errors name the variable to fix.
func (c *Config) CheckAndSetDefaults() error {
	var errs []error
	fail := func(err error) { errs = append(errs, err) }
	v := func(name string) string { return EnvPrefix + "_" + name }
	if c.Addr == "" {
		c.Addr = ":8081"
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		fail(fmt.Errorf("%s: %q is not host:port: %w", v("ADDR"), c.Addr, err))
	}
	proxies, err := c.trustedProxies()
	if err != nil {
		fail(err)
	} else if c.ClientIpHeader != "" && len(proxies) == 0 {
		fail(fmt.Errorf("%s is set but %s is empty: list the proxies that set the header, or anyone can choose the IP the rate limit and logs see", v("CLIENT_IP_HEADER"), v("TRUSTED_PROXIES")))
	}
	if len(c.Paths) == 0 {
		c.Paths = []string{"/webhook", "/"}
	}
	seen := map[string]bool{}
	for i, p := range c.Paths {
		p = strings.TrimSpace(p)
		c.Paths[i] = p
		switch {
		case !strings.HasPrefix(p, "/"):
			fail(fmt.Errorf("%s: path %q must start with /", v("PATHS"), p))
		case strings.ContainsAny(p, "{}*?# "):
			fail(fmt.Errorf("%s: path %q must be a plain path (no patterns, query or spaces)", v("PATHS"), p))
		case isOpsPath(p):
			fail(fmt.Errorf("%s: path %q is reserved for the operations endpoints", v("PATHS"), p))
		case seen[p]:
			fail(fmt.Errorf("%s: path %q is listed twice", v("PATHS"), p))
		}
		seen[p] = true
	}

	switch {
	case c.InsecureNoTls && (c.TlsCert != "" || c.TlsKey != ""):
		fail(fmt.Errorf("%s is set together with %s/%s: choose TLS or plain HTTP", v("INSECURE_NO_TLS"), v("TLS_CERT"), v("TLS_KEY")))
	case !c.InsecureNoTls && (c.TlsCert == "" || c.TlsKey == ""):
		fail(fmt.Errorf("%s and %s are required (PEM files), or set %s=true to serve plain HTTP behind a TLS proxy", v("TLS_CERT"), v("TLS_KEY"), v("INSECURE_NO_TLS")))
	case c.InsecureNoTls && c.TlsClientCa != "":
		fail(fmt.Errorf("%s needs TLS: unset %s", v("TLS_CLIENT_CA"), v("INSECURE_NO_TLS")))
	}
	for _, f := range []struct{ name, path string }{{"TLS_CERT", c.TlsCert}, {"TLS_KEY", c.TlsKey}, {"TLS_CLIENT_CA", c.TlsClientCa}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			fail(fmt.Errorf("%s: %w", v(f.name), err))
		}
	}

	if _, err := c.hmacSecrets(); err != nil {
		fail(fmt.Errorf("%s: %w", v("HMAC_SECRETS"), err))
	}
	if _, err := c.tokens(); err != nil {
		fail(fmt.Errorf("%s: %w", v("TOKENS"), err))
	}
	if _, err := c.basicAuth(); err != nil {
		fail(fmt.Errorf("%s: %w", v("BASIC_AUTH"), err))
	}
	if c.TokenParam == "" {
		c.TokenParam = "token"
	}
	if c.Tokens != "" && strings.ContainsAny(c.TokenParam, "&=#? ") {
		fail(fmt.Errorf("%s: %q is not a plain query parameter name", v("TOKEN_PARAM"), c.TokenParam))
	}
	if !c.authConfigured() && !c.InsecureNoAuth {
		fail(fmt.Errorf("no webhook authentication: set %s_FILE to the secret of the Jira webhook (recommended), or %s, %s or %s, or %s=true for tests",
			v("HMAC_SECRETS"), v("TOKENS"), v("BASIC_AUTH"), v("TLS_CLIENT_CA"), v("INSECURE_NO_AUTH")))
	}
	if c.authConfigured() && c.InsecureNoAuth {
		fail(fmt.Errorf("%s=true contradicts the authentication configured: unset it", v("INSECURE_NO_AUTH")))
	}

	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > events.MaxWebhookBody {
		fail(fmt.Errorf("%s: %d is outside 1..%d bytes", v("MAX_BODY_BYTES"), c.MaxBodyBytes, events.MaxWebhookBody))
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"READ_HEADER_TIMEOUT", &c.ReadHeaderTimeout, 5 * time.Second},
		{"READ_TIMEOUT", &c.ReadTimeout, 15 * time.Second},
		{"WRITE_TIMEOUT", &c.WriteTimeout, 20 * time.Second},
		{"IDLE_TIMEOUT", &c.IdleTimeout, 60 * time.Second},
		{"PUBLISH_TIMEOUT", &c.PublishTimeout, 5 * time.Second},
		{"RETRY_AFTER", &c.RetryAfter, 10 * time.Second},
	}
	for _, d := range durations {
		if *d.d < 0 {
			fail(fmt.Errorf("%s: %s must not be negative", v(d.name), *d.d))
		}
		if *d.d <= 0 {
			*d.d = d.def
		}
	}
	if c.WriteTimeout <= c.PublishTimeout {
		fail(fmt.Errorf("%s (%s) must exceed %s (%s), or a slow ack cuts the 503 answer off", v("WRITE_TIMEOUT"), c.WriteTimeout, v("PUBLISH_TIMEOUT"), c.PublishTimeout))
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 512
	}
	if c.MaxConcurrentPerIp <= 0 {
		c.MaxConcurrentPerIp = 64
	}
	c.MaxConcurrentPerIp = min(c.MaxConcurrentPerIp, c.MaxConcurrent)
	if c.RateLimit < 0 {
		fail(fmt.Errorf("%s: %v must not be negative", v("RATE_LIMIT"), c.RateLimit))
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 1000
	}
	c.checkMattermost(fail, seen)
	return errors.Join(errs...)
}

func isOpsPath(p string) bool {
	switch p {
	case "/status", "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

func (c *Config) authConfigured() bool {
	return c.HmacSecrets != "" || c.Tokens != "" || c.BasicAuth != "" || c.TlsClientCa != ""
}

// splitSecret splits a comma- or newline-separated secret list (a *_FILE may
// hold one per line). Error messages never include a value.
func splitSecret(s config.Secret) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s.Value(), func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (c *Config) hmacSecrets() ([][]byte, error) {
	var out [][]byte
	for i, s := range splitSecret(c.HmacSecrets) {
		if len(s) < 16 {
			return nil, fmt.Errorf("secret #%d is %d characters; use at least 16 (e.g. openssl rand -hex 32)", i+1, len(s))
		}
		out = append(out, []byte(s))
	}
	if c.HmacSecrets != "" && len(out) == 0 {
		return nil, errors.New("holds no secret")
	}
	return out, nil
}

func (c *Config) tokens() ([]string, error) {
	out := splitSecret(c.Tokens)
	for i, t := range out {
		if len(t) < 16 {
			return nil, fmt.Errorf("token #%d is %d characters; use at least 16", i+1, len(t))
		}
	}
	if c.Tokens != "" && len(out) == 0 {
		return nil, errors.New("holds no token")
	}
	return out, nil
}

func (c *Config) basicAuth() ([][2]string, error) {
	var out [][2]string
	for i, pair := range splitSecret(c.BasicAuth) {
		user, pass, ok := strings.Cut(pair, ":")
		if !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("entry #%d is not user:password", i+1)
		}
		if len(pass) < 12 {
			return nil, fmt.Errorf("the password of entry #%d is %d characters; use at least 12", i+1, len(pass))
		}
		out = append(out, [2]string{user, pass})
	}
	if c.BasicAuth != "" && len(out) == 0 {
		return nil, errors.New("holds no user:password pair")
	}
	return out, nil
}

// RequiredSettings are the settings a user must provide, with placeholders,
// for the top of `configure`.
func RequiredSettings() []config.Hint {
	return []config.Hint{
		{Name: EnvPrefix + "_HMAC_SECRETS_FILE", Placeholder: "/etc/accessbridge/webhook-secret", Note: "File holding the secret set on the Jira webhook (Jira signs each delivery with it); or use TOKENS, BASIC_AUTH or TLS_CLIENT_CA."},
		{Name: EnvPrefix + "_TLS_CERT", Placeholder: "/etc/accessbridge/tls.crt", Note: "Certificate Jira sees (not self-signed); behind a TLS proxy set " + EnvPrefix + "_INSECURE_NO_TLS=true instead of TLS_CERT and TLS_KEY."},
		{Name: EnvPrefix + "_TLS_KEY", Placeholder: "/etc/accessbridge/tls.key", Note: "Private key of TLS_CERT."},
	}
}
