package jirabridge_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	jirabridge "github.com/accessbridge/accessbridge/services/jira-bridge"
)

// A Jira that accepts connections and never answers fails the start-up
// check after JIRA_BRIDGE_CHECK_TIMEOUT with a line saying so, announced by
// a progress line; a closed port is reported as refused at once.
func TestStartupCheckOfJiraSaysWhatIsWrong(t *testing.T) {
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
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	nats := bustest.Start(t)

	for _, c := range []struct {
		name, url string
		timeout   time.Duration
		want      string
	}{
		{"accepts but never answers", "http://" + silent.Addr().String(), 500 * time.Millisecond,
			"Jira at http://" + silent.Addr().String() + ": connected, but no answer within 500ms"},
		{"closed port", "http://" + closedAddr, time.Minute,
			"Jira at http://" + closedAddr + ": connection refused (nothing listens on " + closedAddr + "); check JIRA_BRIDGE_URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := jirabridge.Config{URL: c.url, User: "bot@example.com", APIToken: config.Secret("token"), CheckTimeout: c.timeout}
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err := jirabridge.New(ctx, cfg, jirabridge.Deps{Bus: nats.Connect(t, "check"), Log: zerolog.New(&logs)})
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant it to start with %q", err, c.want)
			}
			if !strings.Contains(logs.String(), "checking Jira at "+c.url) {
				t.Errorf("no progress line in %s", logs.String())
			}
		})
	}
}
