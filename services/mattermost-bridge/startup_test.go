package mattermostbridge_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/service/config"
	mattermostbridge "github.com/accessbridge/accessbridge/services/mattermost-bridge"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

func TestStartupChecksFailFastWithOneLine(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	e.mm.RemoveMember("myteam", "off-topic", "teleport")
	for _, tc := range []struct {
		name   string
		change func(*mattermostbridge.Config)
		want   []string
	}{
		{"no url", func(c *mattermostbridge.Config) { c.URL = "" }, []string{"missing required value MATTERMOST_BRIDGE_URL"}},
		{"bad url", func(c *mattermostbridge.Config) { c.URL = "mattermost.example.com" }, []string{"MATTERMOST_BRIDGE_URL", "not an http(s) URL"}},
		{"no token", func(c *mattermostbridge.Config) { c.Token = "" }, []string{"MATTERMOST_BRIDGE_TOKEN"}},
		{"unreachable", func(c *mattermostbridge.Config) { c.URL = "http://127.0.0.1:1"; c.MaxRetries = 0 }, []string{"Mattermost at http://127.0.0.1:1", "connection refused", "MATTERMOST_BRIDGE_URL"}},
		{"bad token", func(c *mattermostbridge.Config) { c.Token = config.Secret("s3cr3t-wrong-token") }, []string{"token was rejected", "MATTERMOST_BRIDGE_TOKEN"}},
		{"unknown email", func(c *mattermostbridge.Config) { c.Recipients = []string{"ghost@example.com"} }, []string{"ghost@example.com", "no Mattermost user"}},
		{"unknown team", func(c *mattermostbridge.Config) { c.Recipients = []string{"noteam/town-square"} }, []string{"noteam", "no Mattermost team"}},
		{"unknown channel", func(c *mattermostbridge.Config) { c.Recipients = []string{"myteam/nowhere"} }, []string{"myteam", "nowhere", "invite the bot"}},
		{"private channel without the bot", func(c *mattermostbridge.Config) { c.Recipients = []string{"myteam/secret"} }, []string{"secret", "invite the bot"}},
		{"bot not a member", func(c *mattermostbridge.Config) { c.Recipients = []string{"myteam/off-topic"} }, []string{"not a member of myteam/off-topic", "/invite"}},
		{"bad routing json", func(c *mattermostbridge.Config) { c.RoleToRecipients = `{"editor": "x"` }, []string{"MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS", "JSON"}},
		{"bad routing entry", func(c *mattermostbridge.Config) { c.RoleToRecipients = `{"editor": ["nobody"]}` }, []string{"MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS", "nobody"}},
		{"two defaults", func(c *mattermostbridge.Config) { c.RoleToRecipients = `{"*": ["bob@example.com"]}` }, []string{"MATTERMOST_BRIDGE_RECIPIENTS", "keep one"}},
		{"routed unknown email", func(c *mattermostbridge.Config) {
			c.Recipients = nil
			c.RoleToRecipients = `{"editor": ["ghost@example.com"]}`
		}, []string{"ghost@example.com", "MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.config()
			tc.change(&cfg)
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := mattermostbridge.New(ctx, cfg, mattermostbridge.Deps{Bus: e.bus, Log: zerolog.New(&logs)})
			if err == nil {
				t.Fatal("started")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, secret := range []string{"s3cr3t-wrong-token", mmsim.DefaultBotToken} {
				if strings.Contains(msg, secret) || strings.Contains(logs.String(), secret) {
					t.Errorf("the token leaked: %q / %s", msg, logs.String())
				}
			}
		})
	}
}

func TestChannelFoundByDisplayNameAndCached(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	cfg := e.config()
	cfg.Recipients = []string{"myteam/Off-Topic", "myteam/town-square", "bob@example.com"}
	e.start(cfg, "mb-1")
	// Start-up: ping, me, then per recipient its lookups, once each.
	calls := e.mm.CallsByRoute()
	for route, want := range map[string]int{
		"GET /api/v4/teams/name/{team_name}/channels/name/{channel_name}": 2, // Off-Topic (404), town-square
		"GET /api/v4/teams/name/{team_name}":                              1,
		"GET /api/v4/users/{user_id}/teams/{team_id}/channels":            1,
		"GET /api/v4/channels/{channel_id}/members/{user_id}":             2,
		"GET /api/v4/users/email/{email}":                                 1,
		"POST /api/v4/channels/direct":                                    1,
	} {
		if calls[route] != want {
			t.Errorf("%s: %d calls, want %d (%v)", route, calls[route], want, calls)
		}
	}
	e.mm.ResetRequests()
	for _, id := range []string{"req-a", "req-b", "req-c"} {
		e.publish(eventsCreated(request(id)))
	}
	dmBob := e.mm.DirectChannelID(e.mm.Bot().Email, "bob@example.com")
	e.settled(10*time.Second, []string{"req-a", "req-b", "req-c"}, []string{e.mm.ChannelID("myteam", "off-topic"), e.mm.ChannelID("myteam", "town-square"), dmBob}, "PENDING", 0)
	if calls := e.mm.CallsByRoute(); len(calls) != 1 || calls["POST /api/v4/posts"] != 9 {
		t.Fatalf("three requests to three cached recipients made %v", calls)
	}
}
