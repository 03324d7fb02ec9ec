package jirabridge

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/projection"
)

func TestClassify(t *testing.T) {
	stale := &jira.APIError{Status: 400, Text: "Transition id '31' is not valid for this issue."}
	for _, tc := range []struct {
		name string
		err  error
		want bus.Verdict
	}{
		{"429 with Retry-After", fmt.Errorf("create: %w", &jira.APIError{Status: 429, RetryAfter: 7 * time.Second}), bus.Verdict{Kind: bus.KindTransient, After: 7 * time.Second}},
		{"503", &jira.APIError{Status: 503}, bus.Verdict{Kind: bus.KindTransient}},
		{"network", errors.New("connection reset"), bus.Verdict{Kind: bus.KindTransient}},
		{"store unavailable", fmt.Errorf("%w: timeout", projection.ErrUnavailable), bus.Verdict{Kind: bus.KindTransient}},
		{"400 elsewhere", fmt.Errorf("create: %w", &jira.APIError{Status: 400, Text: "summary: required"}), bus.Verdict{Kind: bus.KindPermanent}},
		{"403", &jira.APIError{Status: 403}, bus.Verdict{Kind: bus.KindPermanent}},
		{"stale transition", &domain.RefusedError{Err: fmt.Errorf("move: %w", stale)}, bus.Verdict{Kind: bus.KindSuspect, After: refusedRetry}},
		{"no transition", &domain.RefusedError{Err: fmt.Errorf("move: %w", jira.ErrNoTransition)}, bus.Verdict{Kind: bus.KindSuspect, After: refusedRetry}},
		{"conflict on a transition", &domain.RefusedError{Err: &jira.APIError{Status: 409}}, bus.Verdict{Kind: bus.KindSuspect, After: refusedRetry}},
		{"wait for a link", domain.RetryAfter(errors.New("claimed"), 3*time.Second), bus.Verdict{Kind: bus.KindTransient, After: 3 * time.Second}},
		{"malformed webhook", domain.Invalid(errors.New("no issue.id")), bus.Verdict{Kind: bus.KindPermanent}},
		{"corrupt entry", fmt.Errorf("r1: %w", projection.ErrCorrupt), bus.Verdict{Kind: bus.KindPermanent}},
		{"conflict", projection.ErrConflict, bus.Verdict{Kind: bus.KindConflict}},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
