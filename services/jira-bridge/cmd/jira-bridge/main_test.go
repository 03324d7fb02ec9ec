package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestConfigurePrintsEveryPrefix(t *testing.T) {
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb}
	if code := m.Run(context.Background(), []string{"configure"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"LOG_LEVEL", "NATS_URL", "JIRA_BRIDGE_URL", "JIRA_BRIDGE_API_TOKEN_FILE", "JIRA_BRIDGE_PAT", "#JIRA_BRIDGE_STATUS_PENDING=Pending", "#JIRA_BRIDGE_HTTP_ADDR=:8092", "JIRA_BRIDGE_PROJECT_MAP"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("configure output lacks %s", want)
		}
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb}
	if code := m.Run(context.Background(), []string{"version"}); code != 0 || !strings.HasPrefix(out.String(), "jira-bridge ") {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
	if code := m.Run(context.Background(), []string{"frobnicate"}); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

func TestBadConfigExitsWithOneLineNamingTheSetting(t *testing.T) {
	t.Setenv("JIRA_BRIDGE_URL", "")
	t.Setenv("JIRA_BRIDGE_USER", "bot@example.com")
	t.Setenv("JIRA_BRIDGE_API_TOKEN", "tok")
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb}
	if code := m.Run(context.Background(), []string{"start"}); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	msg := errb.String()
	if !strings.Contains(msg, "JIRA_BRIDGE_URL") || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Fatalf("stderr = %q, want one line naming JIRA_BRIDGE_URL", msg)
	}
	t.Setenv("JIRA_BRIDGE_URL", "https://jira.example.com")
	t.Setenv("JIRA_BRIDGE_RECONCILE_INTERVAL", "often")
	errb.Reset()
	if code := m.Run(context.Background(), nil); code != 1 || !strings.Contains(errb.String(), "JIRA_BRIDGE_RECONCILE_INTERVAL") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
