package jirasim

import (
	"net/http"
	"slices"
	"strings"
)

const projectID = "10000"

// permissionNames returns the project permissions the emulator knows, with
// the names Jira shows.
func permissionNames() map[string]string {
	return map[string]string{
		"BROWSE_PROJECTS":   "Browse Projects",
		"CREATE_ISSUES":     "Create Issues",
		"EDIT_ISSUES":       "Edit Issues",
		"DELETE_ISSUES":     "Delete Issues",
		"TRANSITION_ISSUES": "Transition Issues",
		"RESOLVE_ISSUES":    "Resolve Issues",
		"ADD_COMMENTS":      "Add Comments",
		"ASSIGN_ISSUES":     "Assign Issues",
		"ASSIGNABLE_USER":   "Assignable User",
		"CLOSE_ISSUES":      "Close Issues",
	}
}

func (s *Server) hasPermission(u *User, key string) bool {
	return !slices.ContainsFunc(u.DeniedPermissions, func(d string) bool { return strings.EqualFold(d, key) })
}

func (s *Server) handleServerInfo(w http.ResponseWriter, r *http.Request) {
	info := map[string]any{
		"baseUrl":     s.base(),
		"serverTime":  jiraTime(s.opts.Now()),
		"scmInfo":     "jira-sim",
		"serverTitle": "Jira (emulated)",
	}
	if s.opts.Flavor == FlavorCloud {
		info["version"] = "1001.0.0-SNAPSHOT"
		info["versionNumbers"] = []int{1001, 0, 0}
		info["deploymentType"] = "Cloud"
		info["buildNumber"] = 100285
	} else {
		info["version"] = "9.12.15"
		info["versionNumbers"] = []int{9, 12, 15}
		info["deploymentType"] = "Server"
		info["buildNumber"] = 9120015
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) isProject(idOrKey string) bool {
	return idOrKey == projectID || strings.EqualFold(idOrKey, s.opts.ProjectKey)
}

func (s *Server) handleProject(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("projectIdOrKey")
	if !s.isProject(key) {
		writeError(w, http.StatusNotFound, []string{"No project could be found with key '" + key + "'."}, nil)
		return
	}
	bot, _ := s.findUser(s.opts.Bot)
	types := []any{}
	for _, name := range s.opts.IssueTypes {
		types = append(types, s.issueTypeJSON(name))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"expand":         "description,lead,issueTypes,url,projectKeys,permissions,insight",
		"self":           s.base() + "/rest/api/2/project/" + projectID,
		"id":             projectID,
		"key":            s.opts.ProjectKey,
		"name":           s.opts.ProjectName,
		"description":    "",
		"lead":           s.userJSON(bot, caller(r)),
		"components":     []any{},
		"issueTypes":     types,
		"assigneeType":   "UNASSIGNED",
		"versions":       []any{},
		"roles":          map[string]any{},
		"avatarUrls":     s.projectAvatars(),
		"projectTypeKey": "software",
		"archived":       false,
	})
}

// handleProjectStatuses lists the statuses valid for each issue type.
func (s *Server) handleProjectStatuses(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("projectIdOrKey")
	if !s.isProject(key) {
		writeError(w, http.StatusNotFound, []string{"No project could be found with key '" + key + "'."}, nil)
		return
	}
	statuses := []any{}
	for _, st := range s.opts.Statuses {
		statuses = append(statuses, s.statusJSON(st))
	}
	out := []any{}
	for _, name := range s.opts.IssueTypes {
		it := s.issueTypeJSON(name)
		out = append(out, map[string]any{"self": it["self"], "id": it["id"], "name": name, "subtask": false, "statuses": statuses})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMyPermissions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if pk := q.Get("projectKey"); pk != "" && !s.isProject(pk) {
		writeError(w, http.StatusNotFound, []string{"No project could be found with key '" + pk + "'."}, nil)
		return
	}
	var keys []string
	for _, k := range strings.Split(q.Get("permissions"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		if s.opts.Flavor == FlavorCloud {
			writeError(w, http.StatusBadRequest, []string{"The 'permissions' query parameter is required."}, nil)
			return
		}
		for k := range permissionNames() {
			keys = append(keys, k)
		}
	}
	u := caller(r)
	perms := map[string]any{}
	names := permissionNames()
	for _, k := range keys {
		name, ok := names[k]
		if !ok {
			writeError(w, http.StatusBadRequest, []string{"Unrecognized permission keys: [" + k + "]"}, nil)
			return
		}
		perms[k] = map[string]any{
			"id": k, "key": k, "name": name, "type": "PROJECT",
			"description": "Ability to " + strings.ToLower(name) + ".", "havePermission": s.hasPermission(u, k),
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"permissions": perms})
}

type systemField struct{ id, name, schemaType string }

// systemFields returns the system fields the emulator reports.
func systemFields() []systemField {
	return []systemField{
		{"summary", "Summary", "string"},
		{"description", "Description", "string"},
		{"labels", "Labels", "array"},
		{"issuetype", "Issue Type", "issuetype"},
		{"project", "Project", "project"},
		{"status", "Status", "status"},
		{"reporter", "Reporter", "user"},
		{"creator", "Creator", "user"},
		{"created", "Created", "datetime"},
		{"updated", "Updated", "datetime"},
		{"resolution", "Resolution", "resolution"},
		{"resolutiondate", "Resolved", "datetime"},
		{"comment", "Comment", "comments-page"},
		{"priority", "Priority", "priority"},
		{"assignee", "Assignee", "user"},
	}
}

func (s *Server) handleFields(w http.ResponseWriter, r *http.Request) {
	out := []any{}
	for _, f := range systemFields() {
		clause := f.id
		if f.id == "issuetype" {
			clause = "type"
		}
		out = append(out, map[string]any{
			"id": f.id, "key": f.id, "name": f.name, "custom": false, "orderable": true,
			"navigable": f.id != "comment", "searchable": true, "clauseNames": []string{clause},
			"schema": map[string]any{"type": f.schemaType, "system": f.id},
		})
	}
	for _, cf := range s.opts.CustomFields {
		num := strings.TrimPrefix(cf.ID, "customfield_")
		plugin := "com.atlassian.jira.plugin.system.customfieldtypes:textfield"
		if cf.Type == "number" {
			plugin = "com.atlassian.jira.plugin.system.customfieldtypes:float"
		}
		m := map[string]any{
			"id": cf.ID, "key": cf.ID, "name": cf.Name, "custom": true, "orderable": true,
			"navigable": true, "searchable": true, "clauseNames": []string{"cf[" + num + "]", cf.Name},
			"schema": map[string]any{"type": cf.Type, "custom": plugin, "customId": atoiOr(num, 0)},
		}
		if s.opts.Flavor == FlavorCloud {
			m["untranslatedName"] = cf.Name
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}
