package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigurePrintsEveryPrefix(t *testing.T) {
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb}
	if code := m.Run(context.Background(), []string{"configure"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"LOG_LEVEL", "NATS_URL", "MATTERMOST_BRIDGE_URL", "MATTERMOST_BRIDGE_TOKEN_FILE", "MATTERMOST_BRIDGE_RECIPIENTS",
		"MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS", "#MATTERMOST_BRIDGE_HTTP_ADDR=:8094", "mattermost.posts.>"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("configure output lacks %s", want)
		}
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb}
	if code := m.Run(context.Background(), []string{"version"}); code != 0 || !strings.HasPrefix(out.String(), "mattermost-bridge ") {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
	if code := m.Run(context.Background(), []string{"frobnicate"}); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

func TestBadConfigExitsWithOneLineNamingTheSetting(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MATTERMOST_BRIDGE_URL", "")
	t.Setenv("MATTERMOST_BRIDGE_TOKEN_FILE", token)
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb}
	if code := m.Run(context.Background(), []string{"start"}); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	msg := errb.String()
	if !strings.Contains(msg, "MATTERMOST_BRIDGE_URL") || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Fatalf("stderr = %q, want one line naming MATTERMOST_BRIDGE_URL", msg)
	}
	t.Setenv("MATTERMOST_BRIDGE_URL", "https://mattermost.example.com")
	t.Setenv("MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS", `{"dba": ["not a recipient"]}`)
	errb.Reset()
	if code := m.Run(context.Background(), nil); code != 1 || !strings.Contains(errb.String(), "MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if strings.Contains(errb.String(), "tok-from-file") {
		t.Fatal("the token leaked")
	}
}
