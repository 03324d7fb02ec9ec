package jirabridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/domain"
	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/jira"
)

// requiredPermissions are the project permissions the bridge uses.
var requiredPermissions = []string{"BROWSE_PROJECTS", "CREATE_ISSUES", "TRANSITION_ISSUES", "ADD_COMMENTS"}

// jiraFacts is what the start-up checks learn.
type jiraFacts struct {
	deployment     string
	bot            jira.User
	requestIDField string
}

// checkJira runs the start-up checks in order and stops at the first
// failure with one line that says what to fix.
func checkJira(ctx context.Context, cfg *Config, c *jira.Client) (jiraFacts, error) {
	var f jiraFacts
	dep, err := c.ServerInfo(ctx)
	if err != nil {
		if jira.IsStatus(err, http.StatusUnauthorized) || jira.IsStatus(err, http.StatusForbidden) {
			return f, fmt.Errorf("jira: credentials rejected by %s (%v); check JIRA_BRIDGE_USER and JIRA_BRIDGE_API_TOKEN, or JIRA_BRIDGE_PAT", cfg.URL, err)
		}
		return f, fmt.Errorf("jira: %s is not reachable as a Jira REST API (%v); check JIRA_BRIDGE_URL", cfg.URL, err)
	}
	f.deployment = dep
	c.SetDeployment(dep)
	me, err := c.Myself(ctx)
	if err != nil {
		if jira.IsStatus(err, http.StatusUnauthorized) || jira.IsStatus(err, http.StatusForbidden) {
			return f, fmt.Errorf("jira: credentials rejected (%v); check JIRA_BRIDGE_USER and JIRA_BRIDGE_API_TOKEN, or JIRA_BRIDGE_PAT", err)
		}
		return f, fmt.Errorf("jira: GET myself failed (%v); check JIRA_BRIDGE_URL and the credentials", err)
	}
	if me.AccountID == "" && me.Key == "" && me.Name == "" {
		return f, errors.New("jira: myself returned no account id, key or name; check JIRA_BRIDGE_URL points at Jira")
	}
	f.bot = me
	// Per project: permissions, then the workflow statuses of each issue
	// type (which also says whether the project and the issue type exist).
	// With one project the checks make five calls.
	for _, key := range cfg.Projects() {
		perms, err := c.MyPermissions(ctx, key, requiredPermissions)
		if err != nil {
			if jira.IsStatus(err, http.StatusNotFound) || jira.IsStatus(err, http.StatusBadRequest) {
				return f, fmt.Errorf("jira: project %q does not exist or is not visible to %s; check JIRA_BRIDGE_PROJECT / JIRA_BRIDGE_PROJECT_MAP", key, who(me))
			}
			return f, fmt.Errorf("jira: read permissions in project %s: %v", key, err)
		}
		var missing []string
		for _, p := range requiredPermissions {
			if !perms[p] {
				missing = append(missing, p)
			}
		}
		statuses, err := c.ProjectStatuses(ctx, key)
		if err != nil {
			if jira.IsStatus(err, http.StatusNotFound) {
				return f, fmt.Errorf("jira: project %q does not exist or is not visible to %s; check JIRA_BRIDGE_PROJECT / JIRA_BRIDGE_PROJECT_MAP", key, who(me))
			}
			return f, fmt.Errorf("jira: read statuses of project %s: %v", key, err)
		}
		if len(missing) > 0 {
			return f, fmt.Errorf("jira: %s lacks permission %s in project %s; grant it in the project's permission scheme", who(me), strings.Join(missing, ", "), key)
		}
		var have, types []string
		found := false
		for t, list := range statuses {
			types = append(types, t)
			if strings.EqualFold(t, cfg.IssueType) {
				have, found = list, true
			}
		}
		if !found {
			slices.Sort(types)
			return f, fmt.Errorf("jira: issue type %q does not exist in project %s (it has: %s); set JIRA_BRIDGE_ISSUE_TYPE", cfg.IssueType, key, strings.Join(types, ", "))
		}
		for _, s := range []struct{ env, name string }{
			{"STATUS_PENDING", cfg.StatusPending}, {"STATUS_APPROVED", cfg.StatusApproved}, {"STATUS_DENIED", cfg.StatusDenied},
			{"STATUS_EXPIRED", cfg.StatusExpired}, {"STATUS_PROMOTED", cfg.StatusPromoted},
		} {
			ok := false
			for _, h := range have {
				ok = ok || strings.EqualFold(h, s.name)
			}
			if !ok {
				return f, fmt.Errorf("jira: status %q does not exist in the workflow of %s issues in project %s (it has: %s); add it or set JIRA_BRIDGE_%s", s.name, cfg.IssueType, key, strings.Join(have, ", "), s.env)
			}
		}
	}
	fields, err := c.Fields(ctx)
	if err != nil {
		return f, fmt.Errorf("jira: list fields: %v", err)
	}
	for _, fl := range fields {
		if fl.Custom && fl.Name == domain.PropertyRequestID {
			f.requestIDField = fl.ID
		}
	}
	return f, nil
}

func who(u jira.User) string {
	for _, s := range []string{u.EmailAddress, u.Name, u.AccountID} {
		if s != "" {
			return s
		}
	}
	return "the bridge's Jira user"
}
