package webhookingress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/service/config"
)

func TestConfigFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hmac")
	if err := os.WriteFile(secretFile, []byte(secretOld+"\n"+secretNew+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEBHOOK_INGRESS_INSECURE_NO_TLS", "true")
	t.Setenv("WEBHOOK_INGRESS_HMAC_SECRETS_FILE", secretFile)
	t.Setenv("WEBHOOK_INGRESS_PATHS", "/jira,/")
	t.Setenv("WEBHOOK_INGRESS_MAX_BODY_BYTES", "2097152")
	// Unprefixed names must not be read.
	t.Setenv("ADDR", ":9999")
	t.Setenv("MAX_CONCURRENT", "3")

	var cfg Config
	if err := config.Load(EnvPrefix, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	secrets, _ := cfg.hmacSecrets()
	switch {
	case cfg.Addr != ":8081" || cfg.MaxConcurrent != 512:
		t.Errorf("unprefixed variables were read: addr %q concurrency %d", cfg.Addr, cfg.MaxConcurrent)
	case strings.Join(cfg.Paths, ",") != "/jira,/":
		t.Errorf("paths %v", cfg.Paths)
	case len(secrets) != 2 || string(secrets[1]) != secretNew:
		t.Errorf("%d secrets from the file", len(secrets))
	case cfg.MaxBodyBytes != 2<<20 || cfg.PublishTimeout != 5*time.Second || cfg.TokenParam != "token":
		t.Errorf("defaults: %+v", cfg)
	}

	vars, err := config.Vars(EnvPrefix, &Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		if !strings.HasPrefix(v.Name, EnvPrefix+"_") || v.Description == "" {
			t.Errorf("variable %s: want the prefix and a description", v.Name)
		}
	}
}

func TestCheckAndSetDefaultsNamesTheVariable(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "f")
	if err := os.WriteFile(existing, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := func() Config { return Config{InsecureNoTls: true, HmacSecrets: config.Secret(secretNew)} }
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no TLS and no opt-out", func(c *Config) { c.InsecureNoTls = false }, "WEBHOOK_INGRESS_TLS_CERT"},
		{"TLS and opt-out", func(c *Config) { c.TlsCert, c.TlsKey = existing, existing }, "WEBHOOK_INGRESS_INSECURE_NO_TLS"},
		{"missing cert file", func(c *Config) {
			c.InsecureNoTls, c.TlsCert, c.TlsKey = false, filepath.Join(dir, "nope"), existing
		}, "WEBHOOK_INGRESS_TLS_CERT"},
		{"mTLS without TLS", func(c *Config) { c.TlsClientCa = existing }, "WEBHOOK_INGRESS_TLS_CLIENT_CA"},
		{"no authentication", func(c *Config) { c.HmacSecrets = "" }, "WEBHOOK_INGRESS_HMAC_SECRETS"},
		{"short secret", func(c *Config) { c.HmacSecrets = "short" }, "WEBHOOK_INGRESS_HMAC_SECRETS"},
		{"only commas", func(c *Config) { c.HmacSecrets = ",," }, "WEBHOOK_INGRESS_HMAC_SECRETS"},
		{"short token", func(c *Config) { c.Tokens = "abc" }, "WEBHOOK_INGRESS_TOKENS"},
		{"basic without colon", func(c *Config) { c.BasicAuth = "jira" }, "WEBHOOK_INGRESS_BASIC_AUTH"},
		{"no-auth with auth", func(c *Config) { c.InsecureNoAuth = true }, "WEBHOOK_INGRESS_INSECURE_NO_AUTH"},
		{"bad addr", func(c *Config) { c.Addr = "8081" }, "WEBHOOK_INGRESS_ADDR"},
		{"relative path", func(c *Config) { c.Paths = []string{"webhook"} }, "WEBHOOK_INGRESS_PATHS"},
		{"ops path", func(c *Config) { c.Paths = []string{"/metrics"} }, "WEBHOOK_INGRESS_PATHS"},
		{"body too large", func(c *Config) { c.MaxBodyBytes = 25 << 20 }, "WEBHOOK_INGRESS_MAX_BODY_BYTES"},
		{"write timeout under publish timeout", func(c *Config) { c.WriteTimeout = time.Second }, "WEBHOOK_INGRESS_WRITE_TIMEOUT"},
		{"negative rate", func(c *Config) { c.RateLimit = -1 }, "WEBHOOK_INGRESS_RATE_LIMIT"},
		{"client IP header without proxies", func(c *Config) { c.ClientIpHeader = "X-Forwarded-For" }, "WEBHOOK_INGRESS_TRUSTED_PROXIES"},
		{"bad proxy", func(c *Config) {
			c.ClientIpHeader, c.TrustedProxies = "X-Forwarded-For", []string{"10.0.0.0/8", "proxy.internal"}
		}, "WEBHOOK_INGRESS_TRUSTED_PROXIES"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok()
			c.mutate(&cfg)
			err := cfg.CheckAndSetDefaults()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
			if strings.Contains(err.Error(), secretNew) {
				t.Fatalf("the error shows a secret: %v", err)
			}
		})
	}
	proxied := ok()
	proxied.ClientIpHeader, proxied.TrustedProxies = "X-Real-IP", []string{"10.0.0.0/8", " 192.0.2.10", "::1"}
	if err := proxied.CheckAndSetDefaults(); err != nil {
		t.Fatalf("header with trusted proxies: %v", err)
	}
	insecure := Config{InsecureNoTls: true, InsecureNoAuth: true}
	if err := insecure.CheckAndSetDefaults(); err != nil {
		t.Fatalf("explicitly insecure: %v", err)
	}
}

// The README's table must list every variable (regenerate it with
// config.Markdown when a field changes).
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	vars, err := config.Vars(EnvPrefix, &Config{})
	if err != nil {
		t.Fatal(err)
	}
	table := config.Markdown(vars)
	if !strings.Contains(string(readme), table) {
		t.Fatalf("README.md does not hold the current configuration table; replace it with:\n%s", table)
	}
}
