package jirasim

import (
	"strconv"
	"strings"
	"time"
)

// This file renders the emulator's state in the JSON shapes of Jira REST v2
// and of Jira webhooks.

// jiraTimeLayout is Jira's timestamp format, e.g. 2019-02-15T19:01:52.971-0800.
const jiraTimeLayout = "2006-01-02T15:04:05.000-0700"

func jiraTime(t time.Time) string { return t.Format(jiraTimeLayout) }

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

func (s *Server) status(name string) (Status, bool) {
	for _, st := range s.opts.Statuses {
		if strings.EqualFold(st.Name, name) || st.ID == name {
			return st, true
		}
	}
	return Status{}, false
}

func (s *Server) statusJSON(st Status) map[string]any {
	cat := map[string]any{"key": st.Category}
	switch st.Category {
	case CategoryNew:
		cat["id"], cat["colorName"], cat["name"] = 2, "blue-gray", "To Do"
	case CategoryInProgress:
		cat["id"], cat["colorName"], cat["name"] = 4, "yellow", "In Progress"
	default:
		cat["id"], cat["colorName"], cat["name"] = 3, "green", "Done"
	}
	cat["self"] = s.base() + "/rest/api/2/statuscategory/" + strconv.Itoa(cat["id"].(int))
	return map[string]any{
		"self":           s.base() + "/rest/api/2/status/" + st.ID,
		"description":    "",
		"iconUrl":        s.base() + "/",
		"name":           st.Name,
		"id":             st.ID,
		"statusCategory": cat,
	}
}

func (s *Server) issueTypeID(name string) string {
	for i, t := range s.opts.IssueTypes {
		if strings.EqualFold(t, name) {
			return strconv.Itoa(10001 + i)
		}
	}
	return ""
}

func (s *Server) issueTypeJSON(name string) map[string]any {
	id := s.issueTypeID(name)
	return map[string]any{
		"self":        s.base() + "/rest/api/2/issuetype/" + id,
		"id":          id,
		"description": "A small, distinct piece of work.",
		"iconUrl":     s.base() + "/secure/viewavatar?size=xsmall&avatarId=10318&avatarType=issuetype",
		"name":        name,
		"subtask":     false,
		"avatarId":    10318,
	}
}

func (s *Server) projectAvatars() map[string]string {
	return map[string]string{
		"48x48": s.base() + "/secure/projectavatar?avatarId=10324",
		"24x24": s.base() + "/secure/projectavatar?size=small&avatarId=10324",
		"16x16": s.base() + "/secure/projectavatar?size=xsmall&avatarId=10324",
		"32x32": s.base() + "/secure/projectavatar?size=medium&avatarId=10324",
	}
}

func (s *Server) projectRefJSON() map[string]any {
	m := map[string]any{
		"self":       s.base() + "/rest/api/2/project/" + projectID,
		"id":         projectID,
		"key":        s.opts.ProjectKey,
		"name":       s.opts.ProjectName,
		"avatarUrls": s.projectAvatars(),
	}
	if s.opts.Flavor == FlavorCloud {
		m["projectTypeKey"] = "software"
		m["simplified"] = false
	}
	return m
}

func (s *Server) resolutionJSON() map[string]any {
	return map[string]any{
		"self":        s.base() + "/rest/api/2/resolution/10000",
		"id":          "10000",
		"description": "Work has been completed on this issue.",
		"name":        "Done",
	}
}

// fieldSel is a parsed "fields" parameter: *all, *navigable, names, -names.
type fieldSel struct {
	all, navigable bool
	include        map[string]bool
	exclude        map[string]bool
}

// parseFieldSel parses a fields list; def applies when the list is empty.
func parseFieldSel(list []string, def string) fieldSel {
	var names []string
	for _, item := range list {
		for _, f := range strings.Split(item, ",") {
			if f = strings.TrimSpace(f); f != "" {
				names = append(names, f)
			}
		}
	}
	if len(names) == 0 {
		names = []string{def}
	}
	sel := fieldSel{include: map[string]bool{}, exclude: map[string]bool{}}
	for _, f := range names {
		switch {
		case f == "*all":
			sel.all = true
		case f == "*navigable":
			sel.navigable = true
		case strings.HasPrefix(f, "-"):
			sel.exclude[strings.ToLower(f[1:])] = true
		default:
			sel.include[strings.ToLower(f)] = true
		}
	}
	return sel
}

func (f fieldSel) want(id string) bool {
	id = strings.ToLower(id)
	if f.exclude[id] {
		return false
	}
	if f.all || f.include[id] {
		return true
	}
	return f.navigable && id != "comment" && id != "worklog"
}

// idOnly reports whether only the id is asked for (Cloud search's default).
func (f fieldSel) idOnly() bool {
	return !f.all && !f.navigable && len(f.include) == 1 && f.include["id"]
}

// none reports whether no field at all is selected (e.g. fields=id).
func (f fieldSel) none() bool {
	if f.all || f.navigable {
		return false
	}
	for k := range f.include {
		if k != "id" && k != "key" {
			return false
		}
	}
	return true
}

// renderView says for whom an issue is rendered.
type renderView struct {
	viewer  *User // nil for webhooks
	status  string
	webhook bool
}

// fieldsJSON renders issue.fields. Caller holds s.mu.
func (s *Server) fieldsJSON(iss *issue, sel fieldSel, v renderView) map[string]any {
	st, _ := s.status(v.status)
	reporter, _ := s.findUser(iss.reporter)
	creator, _ := s.findUser(iss.creator)
	var resolution, resolutionDate any
	if iss.resolved {
		resolution, resolutionDate = s.resolutionJSON(), jiraTime(iss.resolvedAt)
	}
	var description any
	if iss.description != "" {
		description = iss.description
	}
	self := s.base() + "/rest/api/2/issue/" + iss.key
	all := map[string]any{
		"summary":        iss.summary,
		"description":    description,
		"labels":         append([]string{}, iss.labels...),
		"issuetype":      s.issueTypeJSON(iss.issueType),
		"project":        s.projectRefJSON(),
		"status":         s.statusJSON(st),
		"reporter":       s.userJSON(reporter, v.viewer),
		"creator":        s.userJSON(creator, v.viewer),
		"created":        jiraTime(iss.created),
		"updated":        jiraTime(iss.updated),
		"resolution":     resolution,
		"resolutiondate": resolutionDate,
		"priority": map[string]any{
			"self": s.base() + "/rest/api/2/priority/3", "iconUrl": s.base() + "/images/icons/priorities/medium.svg",
			"name": "Medium", "id": "3",
		},
		"assignee":                      nil,
		"lastViewed":                    nil,
		"environment":                   nil,
		"duedate":                       nil,
		"timespent":                     nil,
		"timeestimate":                  nil,
		"timeoriginalestimate":          nil,
		"aggregatetimespent":            nil,
		"aggregatetimeestimate":         nil,
		"aggregatetimeoriginalestimate": nil,
		"workratio":                     -1,
		"timetracking":                  map[string]any{},
		"progress":                      map[string]any{"progress": 0, "total": 0},
		"aggregateprogress":             map[string]any{"progress": 0, "total": 0},
		"components":                    []any{},
		"fixVersions":                   []any{},
		"versions":                      []any{},
		"issuelinks":                    []any{},
		"subtasks":                      []any{},
		"attachment":                    []any{},
		"watches":                       map[string]any{"self": self + "/watchers", "watchCount": 1, "isWatching": false},
		"votes":                         map[string]any{"self": self + "/votes", "votes": 0, "hasVoted": false},
		"comment":                       s.commentPageJSON(iss, iss.comments, 0, len(iss.comments), v.viewer),
		"worklog":                       map[string]any{"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []any{}},
	}
	if s.opts.Flavor == FlavorCloud {
		all["security"] = nil
		all["statuscategorychangedate"] = jiraTime(iss.statusChangedAt)
	}
	for _, cf := range s.opts.CustomFields {
		all[cf.ID] = iss.custom[cf.ID] // null when unset, as Jira does
	}
	if v.webhook && s.opts.Flavor == FlavorCloud && !iss.deleted {
		// Cloud's update/create payloads carry no comment or worklog pages.
		delete(all, "comment")
		delete(all, "worklog")
	}
	out := map[string]any{}
	for k, val := range all {
		if v.webhook || sel.want(k) {
			out[k] = val
		}
	}
	return out
}

func (s *Server) commentJSON(iss *issue, c *comment, viewer *User) map[string]any {
	author, _ := s.findUser(c.author)
	m := map[string]any{
		"self":         s.base() + "/rest/api/2/issue/" + iss.id + "/comment/" + c.id,
		"id":           c.id,
		"author":       s.userJSON(author, viewer),
		"body":         c.body,
		"updateAuthor": s.userJSON(author, viewer),
		"created":      jiraTime(c.created),
		"updated":      jiraTime(c.created),
	}
	if s.opts.Flavor == FlavorCloud {
		m["jsdPublic"] = true
	}
	return m
}

func (s *Server) commentPageJSON(iss *issue, comments []*comment, startAt, maxResults int, viewer *User) map[string]any {
	list := []any{}
	for _, c := range comments {
		list = append(list, s.commentJSON(iss, c, viewer))
	}
	return map[string]any{"comments": list, "maxResults": maxResults, "total": len(iss.comments), "startAt": startAt}
}

func (s *Server) changeItemJSON(it ChangeItem) map[string]any {
	m := map[string]any{
		"field": it.Field, "fieldtype": it.FieldType,
		"from": nullIfEmpty(it.From), "fromString": nullIfEmpty(it.FromString),
		"to": nullIfEmpty(it.To), "toString": nullIfEmpty(it.ToString),
	}
	if s.opts.Flavor == FlavorCloud {
		m["fieldId"] = it.FieldID // Server changelogs carry no fieldId
	}
	return m
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) historyJSON(h *history, viewer *User) map[string]any {
	author, _ := s.findUser(h.author)
	items := []any{}
	for _, it := range h.items {
		items = append(items, s.changeItemJSON(it))
	}
	return map[string]any{"id": h.id, "author": s.userJSON(author, viewer), "created": jiraTime(h.created), "items": items}
}
