package domain_test

import (
	"testing"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
)

func TestLabelsRequestID(t *testing.T) {
	l := domain.Labels{Prefix: "teleport-access-request"}
	for _, tc := range []struct {
		labels []string
		want   string
		ok     bool
	}{
		{[]string{"teleport-access-request", "teleport-access-request-r1"}, "r1", true},
		{[]string{"other", "teleport-access-request-r2", "teleport-access-request-r3"}, "r2", true},
		{[]string{"teleport-access-request"}, "", false},
		{[]string{"teleport-access-request-bad id"}, "", false},
		{nil, "", false},
	} {
		got, ok := l.RequestID(tc.labels)
		if got != tc.want || ok != tc.ok {
			t.Errorf("RequestID(%v) = %q, %v; want %q, %v", tc.labels, got, ok, tc.want, tc.ok)
		}
	}
	if got := l.For("r1"); got != "teleport-access-request-r1" {
		t.Errorf("For = %q", got)
	}
}

func TestIsStatusItem(t *testing.T) {
	for _, tc := range []struct {
		field, id string
		want      bool
	}{
		{"status", "status", true}, {"Status", "", true}, {"STATUS", "", true},
		{"status", "customfield_1", false}, {"resolution", "resolution", false}, {"Statuses", "", false},
	} {
		if got := domain.IsStatusItem(tc.field, tc.id); got != tc.want {
			t.Errorf("IsStatusItem(%q, %q) = %v", tc.field, tc.id, got)
		}
	}
}

func TestMarkerAndCauses(t *testing.T) {
	body := domain.WithMarker("Access request has been *approved* in Teleport.\n", "r1", domain.CauseResolved(events.StateApproved))
	if !domain.HasMarker(body, "r1", domain.CauseResolved(events.StateApproved)) {
		t.Fatalf("marker missing from %q", body)
	}
	if domain.HasMarker(body, "r1", domain.CauseResolved(events.StateDenied)) || domain.HasMarker(body, "r2", domain.CauseResolved(events.StateApproved)) {
		t.Fatal("a marker matched another cause or request")
	}
	for c, kind := range map[domain.Cause]string{domain.CauseReview(2): "review", domain.CauseExpired: "expired", domain.CauseRejected("9"): "rejected", domain.CauseDecision("9"): "decision"} {
		if c.Kind() != kind {
			t.Errorf("%s.Kind() = %s", c, c.Kind())
		}
	}
}

func TestStatuses(t *testing.T) {
	s := domain.Statuses{Pending: "Pending", Approved: "Approved", Denied: "Denied", Expired: "Expired", Promoted: "Promoted"}
	if !s.Terminal("approved") || s.Terminal("Pending") || s.Terminal("") {
		t.Fatal("Terminal")
	}
	if v, ok := s.Verdict("DENIED"); !ok || v != events.VerdictDeny {
		t.Fatal("Verdict(DENIED)")
	}
	if _, ok := s.Verdict("Expired"); ok {
		t.Fatal("Expired is not a verdict")
	}
	if s.ForState(events.StatePromoted) != "Promoted" || s.ForState(events.StatePending) != "Pending" {
		t.Fatal("ForState")
	}
}
