package webhookingress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/nats-io/nats.go/jetstream"
)

const buttonKey = "mattermost-button-key-0123456789abcdef"

func buttonConfig() Config {
	cfg := baseConfig()
	cfg.MattermostButtonKey = config.Secret(buttonKey)
	return cfg
}

// click is the body Mattermost's server sends for a button.
func click(token, requestID, channelID, action string) []byte {
	b, _ := json.Marshal(map[string]any{
		"user_id": "kx8ncbx1i3bfzm9ryxn7hbpnfr", "user_name": "bob", "channel_id": channelID, "channel_name": "town-square",
		"team_id": "rbs8m4i3p7ft8rbe9ffm1e3jty", "team_domain": "myteam", "post_id": "ua3wzahbjpgwxbhbkbhk5xbs9c",
		"trigger_id": "trig", "type": "button", "data_source": "",
		"context": map[string]any{"request_id": requestID, "action": action, "token": token},
	})
	return b
}

func (h *harness) postAction(body []byte) (int, string) {
	h.t.Helper()
	resp, err := h.client.Post(h.url+"/mattermost/actions", "application/json", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

func (h *harness) mattermostStream() jetstream.Stream {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.bus.EnsureStream(ctx, events.MattermostStream())
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func actionCount(t testing.TB, st jetstream.Stream) uint64 {
	t.Helper()
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestMattermostActionRecorded: a click with its button's token is recorded
// on mattermost.actions.<req> as Mattermost described it, and answered 200
// with an ephemeral text for the user; the same click again is stored once.
func TestMattermostActionRecorded(t *testing.T) {
	h := startIngress(t, buttonConfig())
	st := h.mattermostStream()
	tok := events.ButtonToken([]byte(buttonKey), "req-1", "chan1", events.VerdictApprove)
	for range 2 {
		code, body := h.postAction(click(tok, "req-1", "chan1", "approve"))
		var ans map[string]any
		if code != http.StatusOK || json.Unmarshal([]byte(body), &ans) != nil || !strings.Contains(ans["ephemeral_text"].(string), "req-1") {
			t.Fatalf("answer %d %s", code, body)
		}
	}
	msg, err := st.GetLastMsgForSubject(context.Background(), events.MattermostActionSubject("req-1"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	a := ev.Payload.(*events.MattermostAction)
	if a.Verdict != events.VerdictApprove || a.UserID != "kx8ncbx1i3bfzm9ryxn7hbpnfr" || a.UserName != "bob" || a.ChannelID != "chan1" ||
		a.PostID != "ua3wzahbjpgwxbhbkbhk5xbs9c" || a.SourceIP != "127.0.0.1" {
		t.Fatalf("recorded %+v", a)
	}
	if n := actionCount(t, st); n != 1 {
		t.Fatalf("%d messages, want 1 (the repeat is a duplicate)", n)
	}
}

// TestMattermostActionForgedToken: a token for another channel, request or
// verdict, under another key, missing, or a body that is not JSON is 401,
// logged as a security event, and nothing is published.
func TestMattermostActionForgedToken(t *testing.T) {
	h := startIngress(t, buttonConfig())
	st := h.mattermostStream()
	good := events.ButtonToken([]byte(buttonKey), "req-1", "chan1", events.VerdictApprove)
	for name, body := range map[string][]byte{
		"other channel": click(good, "req-1", "chan2", "approve"),
		"other request": click(good, "req-2", "chan1", "approve"),
		"other verdict": click(good, "req-1", "chan1", "deny"),
		"other key":     click(events.ButtonToken([]byte(strings.Repeat("x", 40)), "req-1", "chan1", events.VerdictApprove), "req-1", "chan1", "approve"),
		"no token":      click("", "req-1", "chan1", "approve"),
		"not json":      []byte("user_id=x&token=" + good),
	} {
		if code, _ := h.postAction(body); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	if n := actionCount(t, st); n != 0 {
		t.Fatalf("%d messages published for forged clicks", n)
	}
	if l := h.logs.String(); !strings.Contains(l, `"event":"bad_button_token"`) || !strings.Contains(l, `"security":true`) || strings.Contains(l, buttonKey) {
		t.Fatalf("log: %s", l)
	}
	// A body over the limit is refused before it is read whole.
	big := click(good, "req-1", "chan1", "approve")
	big = append(big[:len(big)-1], []byte(`,"pad":"`+strings.Repeat("a", 20<<10)+`"}`)...)
	if code, _ := h.postAction(big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d", code)
	}
}

// TestMattermostActionsOffByDefault: without the key, the path is not served.
func TestMattermostActionsOffByDefault(t *testing.T) {
	h := startIngress(t, baseConfig())
	tok := events.ButtonToken([]byte(buttonKey), "req-1", "chan1", events.VerdictApprove)
	if code, _ := h.postAction(click(tok, "req-1", "chan1", "approve")); code == http.StatusOK {
		t.Fatal("the button endpoint answers 200 without MATTERMOST_BUTTON_KEY")
	}
}

func TestMattermostButtonConfig(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"short key":  func(c *Config) { c.MattermostButtonKey = "short" },
		"jira path":  func(c *Config) { c.MattermostActionsPath = "/webhook" },
		"ops path":   func(c *Config) { c.MattermostActionsPath = "/metrics" },
		"not a path": func(c *Config) { c.MattermostActionsPath = "mattermost" },
		"root":       func(c *Config) { c.MattermostActionsPath = "/" },
	} {
		cfg := buttonConfig()
		mut(&cfg)
		if err := cfg.CheckAndSetDefaults(); err == nil || !strings.Contains(err.Error(), "WEBHOOK_INGRESS_MATTERMOST") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestMattermostButtonKeyRotation: during a rotation both keys verify (a
// pending post keeps its old token); a key that is not listed does not.
func TestMattermostButtonKeyRotation(t *testing.T) {
	const next = "next-mattermost-button-key-0123456789abcdef"
	cfg := baseConfig()
	cfg.MattermostButtonKey = config.Secret(next + "," + buttonKey)
	h := startIngress(t, cfg)
	h.mattermostStream()
	for i, key := range []string{next, buttonKey} {
		tok := events.ButtonToken([]byte(key), "req-rot", "chan1", events.VerdictDeny)
		body := bytes.Replace(click(tok, "req-rot", "chan1", "deny"), []byte("ua3wzahbjpgwxbhbkbhk5xbs9c"), []byte(fmt.Sprintf("p%025d", i)), 1)
		if code, body := h.postAction(body); code != http.StatusOK {
			t.Fatalf("key %d: %d %s", i, code, body)
		}
	}
	tok := events.ButtonToken([]byte("retired-mattermost-button-key-0123456789"), "req-rot", "chan1", events.VerdictDeny)
	if code, _ := h.postAction(click(tok, "req-rot", "chan1", "deny")); code != http.StatusUnauthorized {
		t.Fatalf("retired key: %d", code)
	}
}
