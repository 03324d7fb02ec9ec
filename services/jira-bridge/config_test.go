package jirabridge_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("JIRA_BRIDGE_URL", "https://example.atlassian.net/")
	t.Setenv("JIRA_BRIDGE_USER", "bot@example.com")
	t.Setenv("JIRA_BRIDGE_API_TOKEN", "s3cr3t-token")
	t.Setenv("JIRA_BRIDGE_PROJECT_MAP", "dba:OPS,editor:TAR")
	t.Setenv("JIRA_BRIDGE_STATUS_APPROVED", "Granted")
	t.Setenv("JIRA_BRIDGE_RECONCILE_INTERVAL", "90s")
	t.Setenv("JIRA_BRIDGE_LABELS", "teleport,access")
	t.Setenv("URL", "https://wrong.example.com") // unprefixed names must not be read
	var c jirabridge.Config
	if err := config.Load(jirabridge.EnvPrefix, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.URL != "https://example.atlassian.net" || c.APIToken.Value() != "s3cr3t-token" || c.ProjectMap["dba"] != "OPS" ||
		c.StatusApproved != "Granted" || c.StatusPending != "Pending" || c.ReconcileInterval != 90*time.Second ||
		c.Project != "TAR" || c.IssueType != "Task" || c.HTTPAddr != ":8092" || len(c.Labels) != 2 || !c.SetReporter {
		t.Fatalf("config = %+v", c)
	}
	if got := c.Projects(); len(got) != 2 || got[0] != "TAR" || got[1] != "OPS" {
		t.Fatalf("projects = %v", got)
	}
	if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "s3cr3t-token") {
		t.Fatalf("printing the config leaks the token: %s", s)
	}
	vars, err := config.Vars(jirabridge.EnvPrefix, &jirabridge.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		if !strings.HasPrefix(v.Name, "JIRA_BRIDGE_") || v.Description == "" {
			t.Errorf("variable %s: want the JIRA_BRIDGE_ prefix and a description", v.Name)
		}
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	base := func() jirabridge.Config {
		return jirabridge.Config{URL: "https://jira.example.com", User: "u", APIToken: "t"}
	}
	cases := []struct {
		modify func(*jirabridge.Config)
		want   string
	}{
		{func(c *jirabridge.Config) { c.URL = "" }, "JIRA_BRIDGE_URL"},
		{func(c *jirabridge.Config) { c.URL = "jira.example.com" }, "JIRA_BRIDGE_URL"},
		{func(c *jirabridge.Config) { c.APIToken = "" }, "JIRA_BRIDGE_API_TOKEN"},
		{func(c *jirabridge.Config) { c.User = ""; c.APIToken = "" }, "JIRA_BRIDGE_USER"},
		{func(c *jirabridge.Config) { c.PAT = "p" }, "JIRA_BRIDGE_PAT"},
		{func(c *jirabridge.Config) { c.StatusDenied = "approved" }, "JIRA_BRIDGE_STATUS_"},
		{func(c *jirabridge.Config) { c.LabelPrefix = "has space" }, "JIRA_BRIDGE_LABEL_PREFIX"},
		{func(c *jirabridge.Config) { c.ProjectMap = map[string]string{"dba": ""} }, "JIRA_BRIDGE_PROJECT_MAP"},
		{func(c *jirabridge.Config) { c.ReconcileInterval = -time.Second }, "JIRA_BRIDGE_RECONCILE_INTERVAL"},
		{func(c *jirabridge.Config) { c.JiraRetryMin = time.Minute; c.JiraRetryMax = time.Second }, "JIRA_BRIDGE_JIRA_RETRY_MAX"},
	}
	for _, c := range cases {
		cfg := base()
		c.modify(&cfg)
		err := cfg.CheckAndSetDefaults()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want it to name %s", err, c.want)
		}
	}
	ok := base()
	ok.User, ok.APIToken, ok.PAT = "", "", "pat"
	if err := ok.CheckAndSetDefaults(); err != nil {
		t.Errorf("PAT alone: %v", err)
	}
}

// The token never reaches a log line, even with debug logging of a whole
// run with failures.
func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t, jirasim.Options{})
	var buf bustest.LogBuffer
	cfg := e.config()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zerolog.New(&buf).Level(zerolog.DebugLevel)
	svc, err := jirabridge.New(ctx, cfg, jirabridge.Deps{Bus: e.nats.Connect(t, "secret-test"), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	_ = e.jira.SetFaults(jirasim.Faults{ErrorRate: 0.5})
	r := request("leo", "editor")
	e.publish(events.NewRequestCreated(r), 1)
	e.issueOf(r.ID, "Pending")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.APIToken = config.Secret("wrong-" + cfg.APIToken.Value())
	_, err = newService(e, bad)
	if err == nil {
		t.Fatal("a wrong token passed the start-up checks")
	}
	out := buf.String() + err.Error()
	if !strings.Contains(out, "jira checks passed") {
		t.Fatalf("the log is empty; the test proves nothing: %s", out)
	}
	if strings.Contains(out, cfg.APIToken.Value()) {
		t.Fatal("the API token appears in the log or error")
	}
}
