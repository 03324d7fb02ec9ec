package decide

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/accessbridge/accessbridge/pkg/events"
)

func TestReviewersAuthor(t *testing.T) {
	r := Reviewers{ByActor: map[string]string{"acct-1": "alice", "bob@example.com": "bob", "carol": "carol-t"}}
	cases := []struct {
		actor events.Actor
		want  string
		ok    bool
	}{
		{events.Actor{AccountID: "acct-1", Email: "x@example.com"}, "alice", true},
		{events.Actor{AccountID: "acct-9", Email: "Bob@Example.com"}, "bob", true},
		{events.Actor{Name: "carol", Key: "JIRAUSER1"}, "carol-t", true},
		{events.Actor{AccountID: "acct-9", Email: "dave@example.com"}, "", false},
	}
	for _, tc := range cases {
		got, ok := r.Author(tc.actor)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Author(%+v) = %q %v, want %q %v", tc.actor, got, ok, tc.want, tc.ok)
		}
	}
	r.EmailIsUser = true
	if got, ok := r.Author(events.Actor{AccountID: "acct-9", Email: "dave@example.com"}); !ok || got != "dave@example.com" {
		t.Errorf("email as user: %q %v", got, ok)
	}
	if _, ok := r.Author(events.Actor{AccountID: "acct-9"}); ok {
		t.Error("an actor without email mapped by EmailIsUser")
	}
}

func TestLoadReviewerMap(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m, err := LoadReviewerMap(write("ok.json", `{"A@B.com": "ab", "acct": "x"}`))
	if err != nil || m["a@b.com"] != "ab" || m["acct"] != "x" {
		t.Fatalf("%v %v", m, err)
	}
	for name, content := range map[string]string{"list.json": `["a"]`, "empty.json": `{"a": ""}`, "garbage.json": `{`} {
		if _, err := LoadReviewerMap(write(name, content)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadReviewerMap(filepath.Join(dir, "none.json")); err == nil {
		t.Error("missing file accepted")
	}
}
