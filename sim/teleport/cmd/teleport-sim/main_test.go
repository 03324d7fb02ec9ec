package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

func run(t *testing.T, admin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	m := Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return admin }}
	if err := m.Run(context.Background(), args); err != nil {
		t.Fatalf("teleport-sim %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

func TestCLIAgainstRunningEmulator(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{AdminAddr: "127.0.0.1:0"})
	admin := srv.AdminURL()

	id := strings.TrimSpace(run(t, admin, "request", "create", "--user", "myuser", "--roles", "editor", "--reason", "deploy", "--ttl", "30m", "--reviewers", "reviewer"))
	if _, err := srv.Request(id); err != nil {
		t.Fatalf("created id %q: %v", id, err)
	}
	if out := run(t, admin, "request", "ls"); !strings.Contains(out, id) || !strings.Contains(out, "PENDING") {
		t.Fatalf("ls:\n%s", out)
	}
	if out := run(t, admin, "request", "review", id, "--author", "reviewer", "--approve", "--reason", "lgtm"); !strings.Contains(out, "APPROVED") {
		t.Fatalf("review: %s", out)
	}

	id2 := strings.TrimSpace(run(t, admin, "request", "create", "alice", "--roles", "editor"))
	if out := run(t, admin, "request", "deny", id2, "--reason", "no"); !strings.Contains(out, "DENIED") {
		t.Fatalf("deny: %s", out)
	}
	var v teleportsim.RequestView
	if err := json.Unmarshal([]byte(run(t, admin, "request", "get", id2)), &v); err != nil || v.ResolveReason != "no" {
		t.Fatalf("get: %+v %v", v, err)
	}
	if out := run(t, admin, "request", "ls", "--state", "denied"); strings.Contains(out, id) || !strings.Contains(out, id2) {
		t.Fatalf("ls --state denied:\n%s", out)
	}
	run(t, admin, "request", "plugin-data", id2, "jira", "issue_key=TAR-1", "issue_id=10001")
	if data, _ := srv.PluginData(id2, "jira"); data["issue_key"] != "TAR-1" {
		t.Fatalf("plugin data = %v", data)
	}
	run(t, admin, "request", "expire", id2)
	if _, err := srv.Request(id2); err == nil {
		t.Fatal("expired request still there")
	}
	if out := run(t, admin, "users"); !strings.Contains(out, "access-plugin") || !strings.Contains(out, "built-in admin") {
		t.Fatalf("users:\n%s", out)
	}
	if out := run(t, admin, "audit"); !strings.Contains(out, `"event":"access_request.update"`) || !strings.Contains(out, `"updated_by":"admin"`) {
		t.Fatalf("audit:\n%s", out)
	}
	run(t, admin, "identity", "rotate", "access-plugin")
	run(t, admin, "identity", "reissue", "access-plugin")
	run(t, admin, "fault", "latency", "0s")
	run(t, admin, "fault", "drop-watchers")
	run(t, admin, "fault", "refuse", "10ms")

	var errOut bytes.Buffer
	m := Main{Stdout: &bytes.Buffer{}, Stderr: &errOut, Getenv: func(string) string { return admin }}
	if err := m.Run(context.Background(), []string{"request", "approve", "no-such-id"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("approve unknown: %v", err)
	}
}

// syncBuffer lets the test read serve's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		m := Main{Stdout: &out, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
		done <- m.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
			"--edition", "oss", "--identity-dir", t.TempDir()})
	}()
	deadline := time.Now().Add(10 * time.Second)
	var admin string
	for admin == "" && time.Now().Before(deadline) {
		for _, line := range strings.Split(out.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "admin endpoint: "); ok {
				admin = u
			}
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if admin == "" {
		cancel()
		t.Fatalf("serve printed no admin endpoint:\n%s", out.String())
	}
	status, err := teleportsim.NewAdminClient(admin).Status(ctx)
	if err != nil || status.Edition != teleportsim.EditionOSS {
		t.Fatalf("status: %+v %v", status, err)
	}
	if !strings.Contains(out.String(), "access-plugin") {
		t.Errorf("serve output lacks identity paths:\n%s", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
