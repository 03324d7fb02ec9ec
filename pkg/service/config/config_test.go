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
	ex := config.Example("jira-bridge", vars)
	if !strings.Contains(ex, "\nJB_JIRA_URL=\n") || !strings.Contains(ex, "#JB_TIMEOUT=5s") {
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
