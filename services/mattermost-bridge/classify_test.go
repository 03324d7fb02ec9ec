package mattermostbridge

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/mattermost"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/posts"
)

func TestClassify(t *testing.T) {
	api := func(status int) error {
		return fmt.Errorf("post to x: %w", &mattermost.APIError{Method: "POST", Path: "/posts", Status: status})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bus.Verdict
	}{
		{"5xx", api(503), bus.Verdict{Kind: bus.KindTransient}},
		{"timeout answer", api(408), bus.Verdict{Kind: bus.KindTransient}},
		{"network", &mattermost.TransportError{Method: "GET", Path: "/users/me", Err: errors.New("connection refused")}, bus.Verdict{Kind: bus.KindTransient}},
		{"429", fmt.Errorf("x: %w", &mattermost.RateLimitError{RetryAfter: 7 * time.Second}), bus.Verdict{Kind: bus.KindTransient, After: 7 * time.Second}},
		{"token revoked", api(401), bus.Verdict{Kind: bus.KindSuspect}},
		{"bot removed from channel", api(403), bus.Verdict{Kind: bus.KindSuspect}},
		{"gone", api(404), bus.Verdict{Kind: bus.KindSuspect}},
		{"bad request", api(400), bus.Verdict{Kind: bus.KindPermanent}},
		{"record conflict", fmt.Errorf("save: %w", posts.ErrConflict), bus.Verdict{Kind: bus.KindConflict}},
		{"not a request event", fmt.Errorf("%w: x", errUnexpected), bus.Verdict{Kind: bus.KindPermanent}},
		{"anything else", errors.New("nats: timeout"), bus.Verdict{Kind: bus.KindTransient}},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
