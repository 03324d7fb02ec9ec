package teleportbridge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/decide"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   error
		want  bus.Kind
		after time.Duration
	}{
		{"not a decision", fmt.Errorf("issue.linked.v1 on jira.decisions.r1: %w", decide.ErrNotDecision), bus.KindPermanent, 0},
		{"teleport refused for good", fmt.Errorf("set state: %w: %w", decide.ErrRefused, errors.New("access denied")), bus.KindPermanent, 0},
		{"link not there yet", fmt.Errorf("decide: %w", &decide.WaitError{Err: errors.New("no link"), After: 2 * time.Second}), bus.KindTransient, 2 * time.Second},
		{"teleport unreachable", fmt.Errorf("read access request: %w", errors.New("connection refused")), bus.KindTransient, 0},
		{"timeout", context.DeadlineExceeded, bus.KindTransient, 0},
	} {
		if v := classify(c.err); v.Kind != c.want || v.After != c.after {
			t.Errorf("%s: %+v, want %v after %s", c.name, v, c.want, c.after)
		}
	}
}
