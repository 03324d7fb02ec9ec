package decide

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/accessbridge/accessbridge/pkg/events"
)

func TestReviewersAuthor(t *testing.T) {
	r := Reviewers{ByActor: map[string]string{"acct-1": "alice", "bob@example.com": "bob", "carol": "carol-t"}, MatchEmail: true}
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

// A stable id (account id, user key) wins over an email, which a Data
// Center user can edit; emails map only when the site opts in.
func TestReviewersStableIDWinsOverEmail(t *testing.T) {
	m := map[string]string{"JIRAUSER10100": "mallory", "alice@example.com": "alice", "acct-m": "mallory"}
	// Mallory (key JIRAUSER10100) set her email to Alice's.
	mallory := events.Actor{Key: "JIRAUSER10100", Name: "mallory", Email: "alice@example.com"}
	for _, matchEmail := range []bool{false, true} {
		r := Reviewers{ByActor: m, MatchEmail: matchEmail}
		if got, ok := r.Author(mallory); !ok || got != "mallory" {
			t.Errorf("match email %v: Author(mallory with alice's email) = %q %v, want mallory", matchEmail, got, ok)
		}
		if got, ok := r.Author(events.Actor{AccountID: "acct-m", Email: "alice@example.com"}); !ok || got != "mallory" {
			t.Errorf("match email %v: account id lost to the email: %q", matchEmail, got)
		}
	}
	alice := events.Actor{Key: "JIRAUSER10200", Email: "Alice@Example.com"}
	if got, ok := (Reviewers{ByActor: m}).Author(alice); ok {
		t.Errorf("an email mapped without REVIEWER_MATCH_EMAIL: %q", got)
	}
	if got, ok := (Reviewers{ByActor: m, MatchEmail: true}).Author(alice); !ok || got != "alice" {
		t.Errorf("with REVIEWER_MATCH_EMAIL: %q %v", got, ok)
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
