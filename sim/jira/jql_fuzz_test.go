package jirasim

import "testing"

// FuzzParseJQL feeds arbitrary queries to the emulator's JQL parser: it
// must answer with a query or a Jira-style error, never panic.
func FuzzParseJQL(f *testing.F) {
	for _, q := range []string{
		`project = TAR`,
		`project = TAR AND labels = "teleport-access-request-1" ORDER BY created DESC`,
		`cf[10050] ~ "abc" AND status in (Pending, "Approved")`,
		`updated >= -15m`,
		`status = Pending OR status = Denied ORDER BY key ASC, updated`,
		`project = "TAR" AND (labels = x OR labels = y)`,
		`ORDER BY`, `"`, `(((`, `cf[`,
	} {
		f.Add(q)
	}
	s, err := New(Options{CustomFields: []CustomField{RequestIDField()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		parsed, err := s.parseJQL(q)
		if err == nil && parsed == nil {
			t.Fatalf("parseJQL(%q) returned neither a query nor an error", q)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("parseJQL(%q) returned an empty error", q)
		}
	})
}
