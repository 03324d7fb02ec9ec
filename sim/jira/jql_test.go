package jirasim

import (
	"strings"
	"testing"
	"time"
)

// search runs q against s's issues and returns the matching keys in order.
func search(t *testing.T, s *Server, q string) ([]string, error) {
	t.Helper()
	parsed, err := s.parseJQL(q)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*issue
	for _, iss := range s.issues {
		st, _ := s.status(iss.status)
		if parsed.where == nil || parsed.where(&evalCtx{iss: iss, status: st, now: s.opts.Now()}) {
			found = append(found, iss)
		}
	}
	sortIssues(found, parsed.orderBy)
	var keys []string
	for _, iss := range found {
		keys = append(keys, iss.key)
	}
	return keys, nil
}

func TestJQL(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-time.Hour)
	s, err := New(Options{Now: func() time.Time { return clock }, CustomFields: []CustomField{RequestIDField()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mk := func(summary, status, reqID string, labels ...string) {
		t.Helper()
		in := NewIssue{Summary: summary, Status: status, Labels: labels}
		if reqID != "" {
			in.CustomFields = map[string]any{"customfield_10050": reqID}
		}
		if _, err := s.CreateIssue(in); err != nil {
			t.Fatal(err)
		}
	}
	mk("alice requested editor", "Pending", "0b8e-aaaa", "teleport-access-request-0b8e-aaaa", "teleport") // TAR-1, an hour ago
	clock = now.Add(-5 * time.Minute)
	mk("bob requested admin", "Approved", "1c9f-bbbb", "teleport") // TAR-2
	mk("carol requested auditor", "", "")                          // TAR-3, Backlog
	clock = now

	tests := []struct {
		jql  string
		want string // comma-separated keys, or "error: <substring>"
	}{
		{``, "TAR-3,TAR-2,TAR-1"},
		{`project = TAR`, "TAR-3,TAR-2,TAR-1"},
		{`project = "Teleport Access Requests" ORDER BY key ASC`, "TAR-1,TAR-2,TAR-3"},
		{`labels = "teleport-access-request-0b8e-aaaa"`, "TAR-1"},
		{`project = TAR AND labels = teleport ORDER BY created ASC`, "TAR-1,TAR-2"},
		{`labels is EMPTY`, "TAR-3"},
		{`labels != teleport-access-request-0b8e-aaaa ORDER BY key ASC`, "TAR-2"},
		{`status = Pending`, "TAR-1"},
		{`status = "pending"`, "TAR-1"},
		{`status in (Pending, Approved) ORDER BY key`, "TAR-1,TAR-2"},
		{`status not in (Pending, Approved)`, "TAR-3"},
		{`statusCategory = Done`, "TAR-2"},
		{`resolution = Unresolved ORDER BY key ASC`, "TAR-1,TAR-3"},
		{`cf[10050] ~ "0b8e-aaaa"`, "TAR-1"},
		{`"teleportAccessRequestId" ~ "1c9f"`, "TAR-2"},
		{`teleportAccessRequestId is EMPTY`, "TAR-3"},
		{`updated >= -15m ORDER BY updated DESC, key ASC`, "TAR-2,TAR-3"},
		{`created < -30m`, "TAR-1"},
		{`created >= "2026-05-01 11:30"`, "TAR-3,TAR-2"},
		{`summary ~ "requested admin"`, "TAR-2"},
		{`text ~ alice`, "TAR-1"},
		{`key = TAR-2 OR key = tar-3`, "TAR-3,TAR-2"},
		{`project = TAR AND (status = Pending OR status = Backlog) AND NOT labels = teleport`, "TAR-3"},
		{`issuetype = Task AND key in (TAR-1, 10001)`, "TAR-2,TAR-1"},

		{`project = NOPE`, "error: The value 'NOPE' does not exist for the field 'project'."},
		{`status = Reviewing`, "error: The value 'Reviewing' does not exist for the field 'status'."},
		{`foo = bar`, "error: Field 'foo' does not exist or you do not have permission to view it."},
		{`status ~ Pending`, "error: The operator '~' is not supported by the 'status' field."},
		{`cf[10050] = "x"`, "error: The operator '=' is not supported by the 'teleportAccessRequestId' field."},
		{`project = TAR AND`, "error: Expecting a field name but got 'EOF'"},
		{`project = TAR labels = x`, "error: Expecting either 'OR' or 'AND' but got 'labels'. (line 1, character 15)"},
		{`status was Pending`, "error: Expecting operator but got 'was'"},
		{`assignee = currentUser()`, "error: Unable to find JQL function 'currentUser()'."},
		{`updated >= -15x`, "error: Date value '-15x' for field is invalid."},
		{`labels = "open`, "error: has not been completed"},
		{`project = TAR ORDER BY priority`, "error: Not able to sort using field 'priority'."},
		{`status in (Pending`, "error: Expecting ')' but got 'EOF'"},
	}
	for _, tt := range tests {
		t.Run(tt.jql, func(t *testing.T) {
			keys, err := search(t, s, tt.jql)
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want it to contain %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(keys, ","); got != tt.want {
				t.Fatalf("keys = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]time.Duration{"-15m": -15 * time.Minute, "2h": 2 * time.Hour, "+1d": 24 * time.Hour, "-1w": -7 * 24 * time.Hour} {
		if got, ok := parsePeriod(in); !ok || got != want {
			t.Errorf("parsePeriod(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "m", "-", "15", "1y", "--1m"} {
		if _, ok := parsePeriod(in); ok {
			t.Errorf("parsePeriod(%q) accepted", in)
		}
	}
}
