package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// optionFlags maps every field of jirasim.Options and jirasim.Faults to the
// flag that sets it, so that a new option without a flag fails this test.
var optionFlags = map[string]string{
	"Addr": "addr", "BaseURL": "base-url", "Flavor": "flavor", "ProjectKey": "project",
	"ProjectName": "project-name", "IssueTypes": "issue-types", "Statuses": "statuses",
	"InitialStatus": "initial-status", "Transitions": "transitions-file", "TransitionScreensRefuseComments": "transition-screens-refuse-comments", "CustomFields": "custom-field",
	"Users": "users-file", "Bot": "bot", "WebhookURLs": "webhook-url", "WebhookEvents": "webhook-events",
	"WebhookSecret": "webhook-secret-file", "WebhookTimeout": "webhook-timeout",
	"WebhookMaxRetries": "webhook-max-retries", "WebhookBackoff": "webhook-backoff",
	"WebhookWorkers": "webhook-workers", "Seed": "seed", "Logger": "log-level", "Now": "",
	"Faults": "",
	// Faults
	"Latency": "latency", "ErrorRate": "error-rate", "RateLimit": "rate-limit",
	"IssueWriteLimit": "issue-write-limit", "RetryAfter": "retry-after",
	"DropConnectionRate": "drop-connection-rate", "DropResponseRate": "drop-response-rate",
	"ReadLag": "read-lag", "WebhookDuplicateRate": "webhook-duplicate-rate",
	"WebhookReorderRate": "webhook-reorder-rate", "WebhookReorderDelay": "webhook-reorder-delay",
	"WebhookDropRate": "webhook-drop-rate",
}

func TestHelpDocumentsEveryOption(t *testing.T) {
	var out bytes.Buffer
	m := &Main{Stderr: &out, Getenv: func(string) string { return "" }}
	if err := m.ParseFlags([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	help := out.String()
	for _, typ := range []reflect.Type{reflect.TypeOf(jirasim.Options{}), reflect.TypeOf(jirasim.Faults{})} {
		for i := range typ.NumField() {
			name := typ.Field(i).Name
			fl, ok := optionFlags[name]
			if !ok {
				t.Errorf("option %s.%s has no flag: add one to jira-sim and to optionFlags", typ.Name(), name)
				continue
			}
			if fl != "" && !strings.Contains(help, "  -"+fl+" ") && !strings.Contains(help, "  -"+fl+"\n") {
				t.Errorf("--help does not document -%s (option %s)", fl, name)
			}
		}
	}
	for _, s := range []string{"JIRA_SIM_WEBHOOK_SECRET", "JIRA_SIM_BOT_TOKEN", "--users-file holds", "/_sim"} {
		if !strings.Contains(help, s) {
			t.Errorf("--help does not mention %s", s)
		}
	}
}

// lockedBuffer is a goroutine-safe writer for the logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunServesAndKeepsSecretsOutOfLogs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	users := write("users.json", `[{"name":"bridge","displayName":"Bridge","email":"bridge@example.com","token":"file-token"},{"name":"rev","email":"rev@example.com"}]`)
	secret := write("secret", "hmac-from-file\n")
	var logs lockedBuffer
	urls := make(chan string, 1)
	m := &Main{Stderr: &logs, Getenv: func(k string) string {
		if k == "JIRA_SIM_BOT_PAT" {
			return "pat-from-env"
		}
		return ""
	}, Ready: func(u string) { urls <- u }}
	err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--flavor", "server", "--users-file", users,
		"--webhook-secret-file", secret, "--webhook-url", "http://127.0.0.1:1/hook?token=url-secret",
		"--statuses", "Backlog:new,Pending,Approved:done", "--initial-status", "Pending", "--custom-field", "none"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}

	req, _ := http.NewRequest("GET", base+"/rest/api/2/serverInfo", nil)
	req.Header.Set("Authorization", "Bearer pat-from-env")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ DeploymentType string }
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.DeploymentType != "Server" {
		t.Fatalf("serverInfo = %+v", info)
	}
	req, _ = http.NewRequest("GET", base+"/rest/api/2/myself", nil)
	req.SetBasicAuth("bridge", "file-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("myself with the users-file token: %d", resp.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "jira-sim: ready") {
		t.Fatalf("no ready log: %s", out)
	}
	for _, s := range []string{"file-token", "pat-from-env", "hmac-from-file", "url-secret"} {
		if strings.Contains(out, s) {
			t.Fatalf("logs contain the secret %q: %s", s, out)
		}
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--custom-field", "nonsense"},
		{"--log-format", "xml"},
		{"--users-file", "/does/not/exist"},
		{"--bot", "nobody"},
		{"extra-arg"},
	} {
		m := &Main{Stderr: &bytes.Buffer{}, Getenv: func(k string) string {
			if k == "JIRA_SIM_BOT_TOKEN" {
				return "t"
			}
			return ""
		}}
		if err := m.ParseFlags(args); err == nil {
			t.Errorf("ParseFlags(%q) accepted", args)
		}
	}
}
