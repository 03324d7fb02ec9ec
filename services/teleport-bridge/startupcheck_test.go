package teleportbridge_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	teleportbridge "github.com/accessbridge/accessbridge/services/teleport-bridge"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

// The start-up check of Teleport announces itself, honours
// TELEPORT_BRIDGE_DIAL_TIMEOUT and says in one short line what is wrong:
// a Teleport that accepts connections and never answers, a name that does
// not resolve, a TLS server that is not the cluster (the gRPC client's
// 1,500-character dump is summarised).
func TestStartupCheckOfTeleportIsOneReadableLine(t *testing.T) {
	h := newHarness(t, teleportsim.Options{})
	other := teleportsim.Start(t, teleportsim.Options{}) // another cluster: its CA did not sign h's identity
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		for _, c := range held {
			c.Close()
		}
	})
	for _, c := range []struct {
		name, addr string
		want       []string
	}{
		{"accepts but never answers", silent.Addr().String(), []string{"Teleport at " + silent.Addr().String() + ": connected, but no answer within 1s", "TELEPORT_BRIDGE_DIAL_TIMEOUT"}},
		{"unresolvable name", "teleport.accessbridge-test.invalid:3025", []string{`the name "teleport.accessbridge-test.invalid"`, "DNS", "TELEPORT_BRIDGE_ADDR"}},
		{"another cluster", other.Addr(), []string{"Teleport at " + other.Addr() + ": TLS: ", "TELEPORT_BRIDGE_ADDR"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := h.config(teleportsim.UserAccessPlugin)
			cfg.Addr, cfg.DialTimeout = c.addr, time.Second
			switch c.name {
			case "unresolvable name":
				cfg.DialTimeout = 20 * time.Second // the answer is prompt; a busy resolver must not make it a timeout
			case "another cluster":
				cfg.DialTimeout = 3 * time.Second // the client retries its handshake until the deadline
			}
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := teleportbridge.New(ctx, cfg, teleportbridge.Deps{Bus: h.bus, Log: zerolog.New(&logs)})
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			t.Logf("%s", err)
			if len(err.Error()) > 400 || strings.Contains(err.Error(), "\n") {
				t.Errorf("not one readable line (%d characters): %q", len(err.Error()), err)
			}
			if !strings.Contains(logs.String(), "checking Teleport at "+c.addr) {
				t.Errorf("no progress line in %s", logs.String())
			}
		})
	}
}
