package logging_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/accessbridge/accessbridge/pkg/service/logging"
)

func TestJSONWithServiceAndLevel(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(logging.Config{Level: "warn", Format: "auto"}, "jira-bridge", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("hidden")
	log.Warn().Str("request_id", "r1").Msg("shown")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line at warn, got %q", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON (a buffer is not a terminal): %v", err)
	}
	if m["service"] != "jira-bridge" || m["request_id"] != "r1" || m["level"] != "warn" {
		t.Fatalf("line %v", m)
	}
}

func TestBadSettingsNameTheVariable(t *testing.T) {
	if _, err := logging.New(logging.Config{Level: "loud", Format: "json"}, "", nil); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("err = %v", err)
	}
	if _, err := logging.New(logging.Config{Level: "info", Format: "xml"}, "", nil); err == nil || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Fatalf("err = %v", err)
	}
}
