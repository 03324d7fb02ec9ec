package teleportbridge

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
	id := filepath.Join(dir, "identity")
	if err := os.WriteFile(id, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TELEPORT_BRIDGE_ADDR", "teleport.example.com:443")
	t.Setenv("TELEPORT_BRIDGE_IDENTITY_FILE", id)
	t.Setenv("ADDR", "stray:1") // unprefixed names are never read
	var c Config
	if err := config.Load(EnvPrefix, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "teleport.example.com:443" || c.DecisionMode != "state" || !c.RefreshIdentity || c.RefreshInterval != time.Minute ||
		!c.MigrateTeleportJira || c.LegacyPluginName != "jira" || c.HTTPAddr != ":8091" || c.LinkWait != 2*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
	vars, err := config.Vars(EnvPrefix, &Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		if !strings.HasPrefix(v.Name, "TELEPORT_BRIDGE_") || v.Description == "" {
			t.Errorf("variable %s: bad name or no description", v.Name)
		}
	}
}

func TestCheckAndSetDefaultsNamesTheSetting(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "identity")
	goodMap := filepath.Join(dir, "good.json")
	badMap := filepath.Join(dir, "bad.json")
	for p, s := range map[string]string{id: "x", goodMap: `{"acct-1": "alice", "Bob@Example.com": "bob"}`, badMap: `["alice"]`} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := func() Config {
		return Config{Addr: "auth:3025", IdentityFile: id, DecisionMode: "state", ReconnectBackoffMin: time.Second, ReconnectBackoffMax: time.Minute}
	}
	cases := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"missing address", func(c *Config) { c.Addr = "" }, "TELEPORT_BRIDGE_ADDR: missing; set it to the Auth Service (host:3025) or Proxy (host:443) address"},
		{"no credentials", func(c *Config) { c.IdentityFile = "" }, "TELEPORT_BRIDGE_IDENTITY_FILE: missing"},
		{"unreadable identity", func(c *Config) { c.IdentityFile = filepath.Join(dir, "nope") }, "TELEPORT_BRIDGE_IDENTITY_FILE: cannot read it"},
		{"both credentials", func(c *Config) { c.ClientCert = id }, "not both"},
		{"partial triple", func(c *Config) { c.IdentityFile, c.ClientCert, c.ClientKey = "", id, id }, "TELEPORT_BRIDGE_ROOT_CAS: missing"},
		{"bad mode", func(c *Config) { c.DecisionMode = "vote" }, `TELEPORT_BRIDGE_DECISION_MODE: "vote" is not "state" or "review"`},
		{"bad mapping file", func(c *Config) { c.ReviewerMapFile = badMap }, "TELEPORT_BRIDGE_REVIEWER_MAP_FILE: "},
		{"missing mapping file", func(c *Config) { c.ReviewerMapFile = filepath.Join(dir, "none.json") }, "TELEPORT_BRIDGE_REVIEWER_MAP_FILE: "},
		{"review mode without mapping", func(c *Config) { c.DecisionMode = "review" }, "TELEPORT_BRIDGE_REVIEWER_MAP_FILE: review mode needs"},
		{"email keys without opting in", func(c *Config) { c.DecisionMode, c.ReviewerMapFile = "review", goodMap }, `TELEPORT_BRIDGE_REVIEWER_MAP_FILE: "bob@example.com" (and 0 more) is an email`},
		{"backoff inverted", func(c *Config) { c.ReconnectBackoffMax = time.Millisecond }, "TELEPORT_BRIDGE_RECONNECT_BACKOFF_MAX"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.modify(&c)
			err := c.CheckAndSetDefaults()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}

	c := base()
	c.DecisionMode, c.ReviewerMapFile, c.ReviewerMatchEmail = "review", goodMap, true
	if err := c.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.reviewers["acct-1"] != "alice" || c.reviewers["bob@example.com"] != "bob" {
		t.Fatalf("reviewers = %v", c.reviewers)
	}
}
