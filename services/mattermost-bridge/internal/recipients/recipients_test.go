package recipients

import (
	"reflect"
	"testing"

	"github.com/accessbridge/accessbridge/pkg/events"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Recipient
		bad  bool
	}{
		{in: "alice@example.com", want: Recipient{Email: "alice@example.com"}},
		{in: " Alice@Example.com ", want: Recipient{Email: "alice@example.com"}},
		{in: "myteam/Town Square", want: Recipient{Team: "myteam", Channel: "Town Square"}},
		{in: "MyTeam/town-square", want: Recipient{Team: "myteam", Channel: "town-square"}},
		{in: "team/", bad: true},
		{in: "/chan", bad: true},
		{in: "a/b/c", bad: true},
		{in: "alice", bad: true},
		{in: "Alice <alice@example.com>", bad: true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("Parse(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestRoutingFor(t *testing.T) {
	p := func(s string) Recipient { r, _ := Parse(s); return r }
	rt := Routing{
		"editor": {p("myteam/editors"), p("lead@example.com")},
		"dba":    {p("myteam/dbas"), p("lead@example.com")},
		"*":      {p("myteam/town-square")},
	}
	str := func(rcs []Recipient) []string {
		out := []string{}
		for _, r := range rcs {
			out = append(out, r.String())
		}
		return out
	}
	for _, tc := range []struct {
		roles, suggested []string
		want             []string
	}{
		{roles: []string{"editor", "dba"}, want: []string{"myteam/editors", "lead@example.com", "myteam/dbas"}},
		{roles: []string{"auditor"}, want: []string{"myteam/town-square"}},
		{roles: []string{"auditor"}, suggested: []string{"Bob@example.com", "teleport-user", "lead@example.com"},
			want: []string{"myteam/town-square", "bob@example.com", "lead@example.com"}},
		{roles: []string{"editor"}, suggested: []string{"lead@example.com"}, want: []string{"myteam/editors", "lead@example.com"}},
	} {
		got := str(rt.For(events.AccessRequest{Roles: tc.roles, SuggestedReviewers: tc.suggested}))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("roles %v suggested %v: %v, want %v", tc.roles, tc.suggested, got, tc.want)
		}
	}
	if got := str(Routing{}.For(events.AccessRequest{Roles: []string{"x"}})); len(got) != 0 {
		t.Errorf("no routing: %v", got)
	}
	if got := str(rt.All()); !reflect.DeepEqual(got, []string{"lead@example.com", "myteam/dbas", "myteam/editors", "myteam/town-square"}) {
		t.Errorf("All: %v", got)
	}
}
