package issues

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/accessbridge/accessbridge/pkg/events"
)

func TestSummary(t *testing.T) {
	long := make([]string, 30)
	for i := range long {
		long[i] = "a-rather-long-role-name"
	}
	cases := []struct {
		r    events.AccessRequest
		want string
	}{
		{events.AccessRequest{User: "alice", Roles: []string{"editor"}}, "alice requested editor"},
		{events.AccessRequest{User: "alice", Roles: []string{"editor", "auditor"}}, "alice requested editor, auditor"},
		{events.AccessRequest{User: "alice", Roles: long}, "alice requested access to 30 roles"},
		{events.AccessRequest{User: "bob", RequestedResources: []events.Resource{{Kind: "node", Name: "db-1"}}}, "bob requested access to db-1"},
		{events.AccessRequest{User: "evil\nuser", Roles: []string{"x"}}, "evil user requested x"},
	}
	for _, c := range cases {
		if got := Summary(c.r); got != c.want {
			t.Errorf("Summary = %q, want %q", got, c.want)
		}
	}
	huge := events.AccessRequest{User: strings.Repeat("u", 300), Roles: []string{"x"}}
	if n := utf8.RuneCountInString(Summary(huge)); n > MaxSummary {
		t.Errorf("summary of %d runes", n)
	}
}

func TestDescriptionEscapesMarkup(t *testing.T) {
	r := events.AccessRequest{ID: "req-1", User: "mallory", Roles: []string{"editor"}, Reason: "see [evil|http://x] {code}", Created: time.Unix(0, 0)}
	d := Description(r)
	if strings.Contains(d, "[evil|http://x]") || strings.Contains(d, "{code}") {
		t.Fatalf("markup not escaped:\n%s", d)
	}
	if !strings.Contains(d, "tsh request review --approve req-1") {
		t.Fatalf("no tsh commands:\n%s", d)
	}
}

func TestWebLink(t *testing.T) {
	r := events.AccessRequest{ID: "abc", Cluster: events.Cluster{ProxyAddr: "proxy.example.com:3080", AdvancedWorkflows: true}}
	if got := WebLink(r); got != "https://proxy.example.com:3080/web/requests/abc" {
		t.Fatalf("WebLink = %q", got)
	}
	r.Cluster.AdvancedWorkflows = false
	if got := WebLink(r); got != "" {
		t.Fatalf("WebLink without advanced workflows = %q", got)
	}
}

func TestProjectForRoutesByFirstMappedRole(t *testing.T) {
	l := New(Config{DefaultProject: "TAR", ProjectByRole: map[string]string{"dba": "OPS", "auditor": "SEC"}}, &Writer{})
	for roles, want := range map[string]string{"editor": "TAR", "editor,dba": "OPS", "auditor,dba": "SEC", "": "TAR"} {
		r := events.AccessRequest{Roles: strings.Split(roles, ",")}
		if got := l.ProjectFor(r); got != want {
			t.Errorf("ProjectFor(%s) = %s, want %s", roles, got, want)
		}
	}
}
