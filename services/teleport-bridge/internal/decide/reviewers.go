package decide

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// Reviewers maps Jira actors to the Teleport users who author their reviews
// in review mode.
type Reviewers struct {
	// ByActor maps a Jira account id (Cloud), user key or user name (Data
	// Center) — or, with MatchEmail, an email (any case) — to a Teleport
	// user name.
	ByActor map[string]string
	// MatchEmail also looks the actor's email up in ByActor, after the
	// stable ids. A Data Center user can edit their own email (unless the
	// directory is external and read-only), so with it a user who sets a
	// mapped colleague's email reviews as that colleague.
	MatchEmail bool
	// EmailIsUser maps an unlisted actor whose email Jira shows to the
	// Teleport user of that name (the same risk as MatchEmail).
	EmailIsUser bool
}

// Author returns the Teleport user for a Jira actor: by its stable ids
// first (account id, key, name), by its email only when so configured.
func (r Reviewers) Author(a events.Actor) (string, bool) {
	keys := []string{a.AccountID, a.Key, a.Name}
	if r.MatchEmail {
		keys = append(keys, strings.ToLower(a.Email))
	}
	for _, k := range keys {
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

// EmailKeys lists the keys of a reviewer map that are emails.
func EmailKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		if strings.Contains(k, "@") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
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
