package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/rs/zerolog"
)

type nested struct {
	URL string `split_words:"true" default:"nats://127.0.0.1:4222" desc:"Server URL."`
}

type spec struct {
	JiraURL  string        `split_words:"true" required:"true" desc:"Base URL of Jira."`
	APIToken config.Secret `split_words:"true" desc:"Jira API token."`
	Timeout  time.Duration `split_words:"true" default:"5s" desc:"Call timeout."`
	Statuses []string      `split_words:"true" default:"Pending,Approved" desc:"Statuses."`
	NATS     nested
}

func TestVarsNamesMatchEnvconfig(t *testing.T) {
	vars, err := config.Vars("JB", &spec{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vars {
		names = append(names, v.Name)
	}
	want := "JB_JIRA_URL JB_API_TOKEN JB_TIMEOUT JB_STATUSES JB_NATS_URL"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("names = %s, want %s", got, want)
	}
	// Setting each documented name must reach the field: the names are real.
	t.Setenv("JB_JIRA_URL", "https://jira.example.com")
	t.Setenv("JB_NATS_URL", "nats://nats:4222")
	var s spec
	if err := config.Load("JB", &s); err != nil {
		t.Fatal(err)
	}
	if s.JiraURL != "https://jira.example.com" || s.NATS.URL != "nats://nats:4222" || s.Timeout != 5*time.Second || len(s.Statuses) != 2 {
		t.Fatalf("loaded %+v", s)
	}
}

func TestNoFallbackToUnprefixedName(t *testing.T) {
	t.Setenv("JB_JIRA_URL", "https://jira.example.com")
	t.Setenv("URL", "https://stray.example.com")
	t.Setenv("TIMEOUT", "1h")
	var s spec
	if err := config.Load("JB", &s); err != nil {
		t.Fatal(err)
	}
	if s.NATS.URL != "nats://127.0.0.1:4222" || s.Timeout != 5*time.Second {
		t.Fatalf("a stray unprefixed variable leaked in: %+v", s)
	}
}

func TestRequiredNamesTheVariable(t *testing.T) {
	var s spec
	err := config.Load("JB", &s)
	if err == nil || !strings.Contains(err.Error(), "JB_JIRA_URL") {
		t.Fatalf("err = %v, want it to name JB_JIRA_URL", err)
	}
}

func TestSecretFromFileAndRedaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JB_JIRA_URL", "https://jira.example.com")
	t.Setenv("JB_API_TOKEN_FILE", path)
	var s spec
	if err := config.Load("JB", &s); err != nil {
		t.Fatal(err)
	}
	if s.APIToken.Value() != "s3cr3t-token" {
		t.Fatalf("token = %q", s.APIToken.Value())
	}
	var logs bytes.Buffer
	l := zerolog.New(&logs)
	l.Info().Interface("config", s).Str("token", s.APIToken.String()).Msg("loaded")
	j, _ := json.Marshal(s)
	printed := fmt.Sprintf("%v %+v %#v %s", s, s, s, j) + logs.String()
	if strings.Contains(printed, "s3cr3t") {
		t.Fatalf("secret leaked: %s", printed)
	}
	if !strings.Contains(printed, config.Redacted) {
		t.Fatalf("expected the redaction marker in %s", printed)
	}

	t.Setenv("JB_API_TOKEN", "direct")
	if err := config.Load("JB", &spec{}); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("both set: err = %v", err)
	}
	t.Setenv("JB_API_TOKEN", "")
	t.Setenv("JB_API_TOKEN_FILE", filepath.Join(t.TempDir(), "missing"))
	if err := config.Load("JB", &spec{}); err == nil || !strings.Contains(err.Error(), "JB_API_TOKEN_FILE") {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestMarkdownAndExample(t *testing.T) {
	vars, err := config.Vars("JB", &spec{})
	if err != nil {
		t.Fatal(err)
	}
	md := config.Markdown(vars)
	for _, want := range []string{"| `JB_JIRA_URL` | string |  | **Required.** Base URL of Jira. |", "`JB_API_TOKEN_FILE`", "| `JB_TIMEOUT` | duration | `5s` |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	ex := config.Example("jira-bridge", vars, nil, map[string]string{"JB_TIMEOUT": "A note."})
	if !strings.Contains(ex, "\nJB_JIRA_URL=\n") || !strings.Contains(ex, "# A note.\n#JB_TIMEOUT=5s") {
		t.Errorf("example:\n%s", ex)
	}
}

func TestRequiredButEmptyNamesTheVariable(t *testing.T) {
	t.Setenv("JB_JIRA_URL", "")
	err := config.Load("JB", &spec{})
	if err == nil || !strings.Contains(err.Error(), "JB_JIRA_URL is required") {
		t.Fatalf("err = %v", err)
	}
}

type numbers struct {
	Interval time.Duration     `split_words:"true" default:"5m" desc:"How often (0 disables)."`
	Timeout  time.Duration     `split_words:"true" default:"30s" desc:"Timeout of one call."`
	Workers  int               `split_words:"true" default:"8" desc:"Workers."`
	Retries  int               `split_words:"true" default:"5" min:"0" desc:"Retries."`
	Rate     float64           `split_words:"true" default:"0" desc:"Rate limit."`
	Enabled  bool              `split_words:"true" default:"true" desc:"On or off."`
	Routes   map[string]string `split_words:"true" desc:"role:project pairs."`
	Name     string            `split_words:"true" required:"true" desc:"The name, e.g. alice."`
	Password config.Secret     `split_words:"true" desc:"A secret."`
}

// One Load reports every problem, each naming the variable, its value and
// the fix, in plain words; a bad value leaves the default in place.
func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Setenv("N_INTERVAL", "5")
	t.Setenv("N_TIMEOUT", "-1s")
	t.Setenv("N_WORKERS", "0")
	t.Setenv("N_RETRIES", "ten")
	t.Setenv("N_RATE", "-2")
	t.Setenv("N_ENABLED", "yes")
	t.Setenv("N_ROUTES", "editor=OPS")
	t.Setenv("N_PASSWORD_FILE", filepath.Join(t.TempDir(), "nope"))
	var n numbers
	err := config.Load("N", &n)
	want := []string{
		`N_INTERVAL="5": not a duration; write it with a unit, e.g. 5m`,
		`N_TIMEOUT="-1s": must not be negative (the default is 30s)`,
		`N_WORKERS="0": must be more than 0 (the default is 8)`,
		`N_RETRIES="ten": not a whole number; write digits only, e.g. 5`,
		`N_RATE="-2": must not be negative; use 0`,
		`N_ENABLED="yes": write true or false`,
		`N_ROUTES="editor=OPS": entry "editor=OPS" is not key:value`,
		`N_NAME is required and not set: The name, e.g. alice.`,
		`N_PASSWORD_FILE=`,
	}
	list := config.List(err)
	if len(list) != len(want) {
		t.Errorf("got %d problems, want %d: %v", len(list), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no problem says %q in:\n%v", w, strings.ReplaceAll(err.Error(), "; ", "\n"))
		}
	}
	if strings.Contains(err.Error(), "envconfig") || strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "time.Duration") {
		t.Errorf("library jargon in %v", err)
	}
	if !strings.Contains(err.Error(), "no such file") {
		t.Errorf("the missing secret file is not explained: %v", err)
	}
	if n.Interval != 5*time.Minute || n.Timeout != 30*time.Second || n.Workers != 8 || n.Retries != 5 || !n.Enabled {
		t.Errorf("bad values did not fall back to the defaults: %+v", n)
	}
}

// Zero is accepted where it means something (the description says what 0
// does, the default is 0, or min:"0"); an empty number means the default.
func TestZeroWhereItMeansSomething(t *testing.T) {
	t.Setenv("N_INTERVAL", "0")
	t.Setenv("N_RETRIES", "0")
	t.Setenv("N_RATE", "0")
	t.Setenv("N_WORKERS", "")
	t.Setenv("N_NAME", "alice")
	t.Setenv("N_ROUTES", "editor:OPS,dba:DB")
	var n numbers
	if err := config.Load("N", &n); err != nil {
		t.Fatal(err)
	}
	if n.Interval != 0 || n.Retries != 0 || n.Workers != 8 || n.Routes["dba"] != "DB" {
		t.Fatalf("loaded %+v", n)
	}
}

func TestUnknownVariablesAreNamedWithTheClosestSetting(t *testing.T) {
	known := map[string]bool{"JIRA_BRIDGE_PROJECT": true, "JIRA_BRIDGE_URL": true, "JIRA_BRIDGE_API_TOKEN": true, "JIRA_BRIDGE_API_TOKEN_FILE": true, "NATS_URL": true}
	env := []string{"JIRA_BRIDGE_PROJCT=OPS", "JIRA_BRIDGE_URL=x", "JIRA_BRIDGE_URL_FILE=/u", "JIRA_BRIDGE_FROBNICATE_EVERYTHING=1", "HOME=/root", "NATS_URLS=x", "TELEPORT_BRIDGE_ADDR=x"}
	got := config.FindUnknown(env, []string{"JIRA_BRIDGE_", "NATS_"}, known)
	var lines []string
	for _, u := range got {
		lines = append(lines, u.String())
	}
	want := []string{
		"JIRA_BRIDGE_FROBNICATE_EVERYTHING is not a setting; remove it (`configure` lists every setting)",
		"JIRA_BRIDGE_PROJCT is not a setting (a typo?); did you mean JIRA_BRIDGE_PROJECT?",
		"JIRA_BRIDGE_URL_FILE is not a setting: only secrets can be read from a file; set JIRA_BRIDGE_URL itself",
		"NATS_URLS is not a setting (a typo?); did you mean NATS_URL?",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestLevenshtein(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"JIRA_BRIDGE_PROJCT", "JIRA_BRIDGE_PROJECT", 1}, {"flaw", "lawn", 2}} {
		if got := config.Levenshtein(c.a, c.b); got != c.d {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
