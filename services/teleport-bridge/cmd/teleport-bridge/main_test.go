package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = (&Main{Stdout: &out, Stderr: &errb}).Run(ctx, args)
	return code, out.String(), errb.String()
}

func TestBadConfigExitsWithOneLineNamingTheSetting(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "identity")
	badMap := filepath.Join(dir, "map.json")
	_ = os.WriteFile(id, []byte("x"), 0o600)
	_ = os.WriteFile(badMap, []byte("not json"), 0o600)
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"missing address", map[string]string{"TELEPORT_BRIDGE_IDENTITY_FILE": id}, "TELEPORT_BRIDGE_ADDR: missing"},
		{"unreadable identity", map[string]string{"TELEPORT_BRIDGE_ADDR": "auth:3025", "TELEPORT_BRIDGE_IDENTITY_FILE": filepath.Join(dir, "missing")}, "TELEPORT_BRIDGE_IDENTITY_FILE: cannot read it"},
		{"bad mode", map[string]string{"TELEPORT_BRIDGE_ADDR": "auth:3025", "TELEPORT_BRIDGE_IDENTITY_FILE": id, "TELEPORT_BRIDGE_DECISION_MODE": "vote"}, "TELEPORT_BRIDGE_DECISION_MODE"},
		{"bad mapping file", map[string]string{"TELEPORT_BRIDGE_ADDR": "auth:3025", "TELEPORT_BRIDGE_IDENTITY_FILE": id, "TELEPORT_BRIDGE_REVIEWER_MAP_FILE": badMap}, "TELEPORT_BRIDGE_REVIEWER_MAP_FILE"},
		{"bad duration", map[string]string{"TELEPORT_BRIDGE_ADDR": "auth:3025", "TELEPORT_BRIDGE_IDENTITY_FILE": id, "TELEPORT_BRIDGE_LINK_WAIT": "soon"}, "TELEPORT_BRIDGE_LINK_WAIT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"TELEPORT_BRIDGE_ADDR", "TELEPORT_BRIDGE_IDENTITY_FILE", "TELEPORT_BRIDGE_DECISION_MODE", "TELEPORT_BRIDGE_REVIEWER_MAP_FILE", "TELEPORT_BRIDGE_LINK_WAIT"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, "start")
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", stderr, tc.want)
			}
		})
	}
}

func TestConfigureAndVersion(t *testing.T) {
	code, out, _ := run(t, "configure")
	if code != 0 {
		t.Fatalf("configure: exit %d", code)
	}
	for _, want := range []string{"#LOG_LEVEL=info", "#NATS_URL=", "TELEPORT_BRIDGE_ADDR=", "#TELEPORT_BRIDGE_DECISION_MODE=state", "#TELEPORT_BRIDGE_HTTP_ADDR=:8091", "\nTELEPORT_BRIDGE_IDENTITY_FILE=/var/lib/accessbridge/identity\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("configure output lacks %q", want)
		}
	}
	if code, out, _ := run(t, "version"); code != 0 || !strings.HasPrefix(out, "teleport-bridge ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, _ := run(t, "frobnicate"); code == 0 {
		t.Error("unknown command succeeded")
	}
}
