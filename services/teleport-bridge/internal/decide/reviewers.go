package decide

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// Reviewers maps Jira actors to the Teleport users who author their reviews
// in review mode.
type Reviewers struct {
	// ByActor maps a Jira account id, email (any case), user name or key to
	// a Teleport user name.
	ByActor map[string]string
	// EmailIsUser maps an unlisted actor whose email Jira shows to the
	// Teleport user of that name.
	EmailIsUser bool
}

// Author returns the Teleport user for a Jira actor.
func (r Reviewers) Author(a events.Actor) (string, bool) {
	for _, k := range []string{a.AccountID, a.Email, strings.ToLower(a.Email), a.Name, a.Key} {
		if k == "" {
			continue
		}
		if u, ok := r.ByActor[k]; ok && u != "" {
			return u, true
		}
	}
	if r.EmailIsUser && a.Email != "" {
		return a.Email, true
	}
	return "", false
}

// LoadReviewerMap reads a JSON object of Jira account id or email →
// Teleport user name, e.g. {"5b10ac8d82e05b22cc7d4ef5": "alice",
// "bob@example.com": "bob"}. Email keys match in any case.
func LoadReviewerMap(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object of Jira account id or email to Teleport user: %w", path, err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || v == "" {
			return nil, fmt.Errorf("%s: empty Jira actor or Teleport user in %q: %q", path, k, v)
		}
		if strings.Contains(k, "@") {
			k = strings.ToLower(k)
		}
		out[k] = v
	}
	return out, nil
}
