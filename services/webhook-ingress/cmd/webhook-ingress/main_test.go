package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
)

func run(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	code = m.Run(ctx, args)
	return code, out.String(), errOut.String()
}

func TestBadConfigurationExits1WithOneLineNamingTheSetting(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "WEBHOOK_INGRESS_TLS_CERT"},
		{map[string]string{"WEBHOOK_INGRESS_INSECURE_NO_TLS": "true"}, "WEBHOOK_INGRESS_HMAC_SECRETS"},
		{map[string]string{"WEBHOOK_INGRESS_INSECURE_NO_TLS": "yes please"}, "WEBHOOK_INGRESS_INSECURE_NO_TLS"},
		{map[string]string{"WEBHOOK_INGRESS_INSECURE_NO_TLS": "true", "WEBHOOK_INGRESS_HMAC_SECRETS": "0123456789abcdef0123", "LOG_LEVEL": "loud"}, "LOG_LEVEL"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, context.Background(), "start")
			// One problem is one line; several are a count and one line each.
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			listed := len(lines) == 1 || strings.HasSuffix(lines[0], "problems to fix:")
			for _, l := range lines[1:] {
				listed = listed && strings.HasPrefix(l, "  - ")
			}
			if code != 1 || !strings.Contains(stderr, c.want) || !listed {
				t.Fatalf("exit %d, stderr %q; want 1 and a line naming %s", code, stderr, c.want)
			}
			if strings.Contains(stderr, "0123456789abcdef0123") {
				t.Fatalf("a secret in the error: %s", stderr)
			}
		})
	}
}

func TestConfigureVersionAndUnknown(t *testing.T) {
	code, out, _ := run(t, context.Background(), "configure")
	if code != 0 {
		t.Fatalf("configure: %d", code)
	}
	for _, v := range []string{"#LOG_LEVEL=info", "#NATS_URL=", "#WEBHOOK_INGRESS_ADDR=:8081", "WEBHOOK_INGRESS_HMAC_SECRETS_FILE", "#WEBHOOK_INGRESS_MAX_BODY_BYTES=1048576"} {
		if !strings.Contains(out, v) {
			t.Errorf("configure output lacks %q", v)
		}
	}
	if code, out, _ := run(t, context.Background(), "version"); code != 0 || !strings.HasPrefix(out, "webhook-ingress ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, _ := run(t, context.Background(), "frobnicate"); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
}

func TestStartServesUntilCancelled(t *testing.T) {
	ns := bustest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const secret = "main-test-secret-0123456789"
	t.Setenv("NATS_URL", ns.URL())
	t.Setenv("LOG_FORMAT", "json")
	t.Setenv("WEBHOOK_INGRESS_ADDR", addr)
	t.Setenv("WEBHOOK_INGRESS_INSECURE_NO_TLS", "true")
	t.Setenv("WEBHOOK_INGRESS_HMAC_SECRETS", secret)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		m := &Main{Stdout: &bytes.Buffer{}, Stderr: &stderr}
		done <- m.Run(ctx, nil)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	body, err := os.ReadFile(filepath.Join("../../../../testdata/jira-webhooks", "04-cloud-issue_created.json"))
	if err != nil {
		t.Fatalf("sample (testdata/jira-webhooks at the repository root): %v", err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("delivery: %d", resp.StatusCode)
	}
	// The binary declared the stream; the delivery is in it.
	b := ns.Connect(t, "check")
	s, err := b.JS.Stream(context.Background(), events.StreamJira)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream: %v %+v", err, info)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
}
