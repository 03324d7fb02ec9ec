package teleportbridge_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	teleportbridge "github.com/accessbridge/accessbridge/services/teleport-bridge"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/rs/zerolog"
)

// TestNewFailsFastNamingTheFix covers the start-up checks against Teleport.
func TestNewFailsFastNamingTheFix(t *testing.T) {
	ent := newHarness(t, teleportsim.Options{})
	oss := newHarness(t, teleportsim.Options{Edition: teleportsim.EditionOSS})
	old := teleportsim.Start(t, teleportsim.Options{ServerVersion: "14.3.2"})
	// Certificates valid for a millisecond (x509 rounds to the second):
	// expired by the time that case runs.
	expired := teleportsim.Start(t, teleportsim.Options{CertTTL: time.Millisecond})
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := closed.Addr().String()
	closed.Close()

	cases := []struct {
		name string
		cfg  func() teleportbridge.Config
		want []string
	}{
		{"nothing listening", func() teleportbridge.Config {
			c := ent.config(teleportsim.UserAccessPlugin)
			c.Addr, c.DialTimeout = deadAddr, 2*time.Second
			return c
		}, []string{"TELEPORT_BRIDGE_ADDR", deadAddr, "Auth Service (host:3025) or Proxy (host:443)"}},
		{"missing permissions", func() teleportbridge.Config {
			return ent.config(teleportsim.UserRequester)
		}, []string{"access_request", "list, read, update", "access_plugin_data"}},
		{"review mode on Community Edition", func() teleportbridge.Config {
			c := oss.config(teleportsim.UserAdmin)
			c.DecisionMode, c.ReviewerEmailIsUser = events.ModeReview, true
			return c
		}, []string{"TELEPORT_BRIDGE_DECISION_MODE", "Enterprise", "state mode"}},
		{"expired identity", func() teleportbridge.Config {
			c := ent.config(teleportsim.UserAccessPlugin)
			c.Addr, c.IdentityFile = expired.Addr(), expired.IdentityFile(teleportsim.UserAccessPlugin)
			return c
		}, []string{"TELEPORT_BRIDGE_IDENTITY_FILE", "expired", "renew"}},
		{"server too old", func() teleportbridge.Config {
			c := ent.config(teleportsim.UserAccessPlugin)
			c.Addr, c.IdentityFile = old.Addr(), old.IdentityFile(teleportsim.UserAccessPlugin)
			return c
		}, []string{"14.3.2", "Teleport 15 or newer"}},
		{"bad mode", func() teleportbridge.Config {
			c := ent.config(teleportsim.UserAccessPlugin)
			c.DecisionMode = "vote"
			return c
		}, []string{"TELEPORT_BRIDGE_DECISION_MODE", "vote"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := teleportbridge.New(ctx, tc.cfg(), teleportbridge.Deps{Bus: ent.bus, Log: zerolog.Nop()})
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}

	// Community Edition in state mode is fine.
	b := oss.start(oss.config(teleportsim.UserAccessPlugin))
	if c := b.svc.Cluster(); c.AdvancedWorkflows || c.Name != teleportsim.DefaultClusterName {
		t.Errorf("oss cluster = %+v", c)
	}
}

func TestKeyPairCredentials(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	cfg := h.config(teleportsim.UserAccessPlugin)
	cfg.IdentityFile = ""
	cfg.ClientCert, cfg.ClientKey, cfg.RootCas = h.tp.TLSFiles(teleportsim.UserAccessPlugin)
	h.start(cfg)
	id, _ := h.tp.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "tls")
	h.waitIDs(id, id+":created")
}
