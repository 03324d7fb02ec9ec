package message

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/accessbridge/accessbridge/pkg/events"
)

func request() events.AccessRequest {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	return events.AccessRequest{
		ID: "req-1", User: "alice@example.com", Roles: []string{"editor", "auditor"}, Reason: "incident INC-42",
		RequestedResources: []events.Resource{{Kind: "node", Cluster: "tele.example.com", Name: "6b1c", FriendlyName: "db-01"}},
		State:              events.StatePending, Created: t0, Expires: t0.Add(time.Hour),
		Cluster: events.Cluster{ProxyAddr: "tele.example.com:443"},
	}
}

func TestRequestShowsEveryField(t *testing.T) {
	msg := Request(request(), "PENDING", "")
	for _, want := range []string{"alice@\u200bexample.com", "editor, auditor", "node/tele.example.com/6b1c (db-01)", "incident INC-42",
		"`req-1`", "Sun, 06 Dec 2026 11:00:00 UTC", "⏳ PENDING", "(https://tele.example.com:443/web/requests/req-1)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	r := request()
	r.State, r.ResolveReason = events.StateDenied, "not now"
	msg = Request(r, "DENIED", "https://teleport.internal")
	if !strings.Contains(msg, "❌ DENIED") || !strings.Contains(msg, "**Resolution reason**: not now") ||
		!strings.Contains(msg, "(https://teleport.internal/web/requests/req-1)") {
		t.Fatalf("resolved message:\n%s", msg)
	}
	r.Cluster.ProxyAddr = ""
	if strings.Contains(Request(r, "DENIED", ""), "Open the request") {
		t.Fatal("a link without a proxy address")
	}
}

func TestMessagesFitTheLimit(t *testing.T) {
	r := request()
	r.Reason = strings.Repeat("é", 40000)
	r.ResolveReason = strings.Repeat("x\n", 20000)
	for i := range 500 {
		r.Roles = append(r.Roles, strings.Repeat("r", 200)+string(rune('a'+i%26)))
	}
	if n := utf8.RuneCountInString(Request(r, "APPROVED", "")); n > MaxRunes {
		t.Fatalf("request message of %d runes", n)
	}
	rv := events.Review{Author: "bob", State: events.StateApproved, Reason: strings.Repeat("z", 70000)}
	if n := utf8.RuneCountInString(Review(rv)); n > MaxRunes || !strings.Contains(Review(rv), "(truncated)") {
		t.Fatalf("review reply of %d runes", n)
	}
}

func TestUserTextCannotInjectMarkdown(t *testing.T) {
	r := request()
	r.User = "eve](http://evil)**@channel"
	msg := Request(r, "PENDING", "")
	if strings.Contains(msg, "eve](") || !strings.Contains(msg, `eve\](http://evil)\*\*`) || strings.Contains(msg, "@channel") {
		t.Fatalf("user name not escaped:\n%s", msg)
	}
	if got := Review(events.Review{Author: "bob", State: events.StateDenied, Reason: "line1\nline2"}); !strings.Contains(got, "> line1\n> line2") || !strings.Contains(got, "❌ DENIED") {
		t.Fatalf("review reply:\n%s", got)
	}
}
