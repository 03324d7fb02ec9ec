package jirasim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// issue is the emulator's record of a Jira issue. Guarded by Server.mu.
type issue struct {
	id, key     string
	num         int
	summary     string
	description string
	labels      []string
	issueType   string
	status      string
	// prevStatus is what reads return until statusChangedAt+ReadLag.
	prevStatus      string
	statusChangedAt time.Time
	resolved        bool
	resolvedAt      time.Time
	reporter        string // accountId
	creator         string // accountId
	created         time.Time
	updated         time.Time
	custom          map[string]any
	properties      map[string]json.RawMessage
	comments        []*comment
	histories       []*history
	deleted         bool
}

type comment struct {
	id, author, body string
	created          time.Time
}

type history struct {
	id, author string
	created    time.Time
	items      []ChangeItem
}

// Issue is a snapshot of an issue, for tests and /_sim.
type Issue struct {
	ID           string                     `json:"id"`
	Key          string                     `json:"key"`
	Summary      string                     `json:"summary"`
	Description  string                     `json:"description,omitempty"`
	Labels       []string                   `json:"labels"`
	IssueType    string                     `json:"issueType"`
	Status       string                     `json:"status"`
	Resolved     bool                       `json:"resolved"`
	Reporter     string                     `json:"reporter"` // accountId
	Creator      string                     `json:"creator"`  // accountId
	Created      time.Time                  `json:"created"`
	Updated      time.Time                  `json:"updated"`
	CustomFields map[string]any             `json:"customFields,omitempty"`
	Properties   map[string]json.RawMessage `json:"properties,omitempty"`
}

// Comment is a snapshot of a comment.
type Comment struct {
	ID       string    `json:"id"`
	IssueKey string    `json:"issueKey"`
	Author   string    `json:"author"` // accountId
	Body     string    `json:"body"`
	Created  time.Time `json:"created"`
}

// History is one changelog entry.
type History struct {
	ID       string       `json:"id"`
	IssueKey string       `json:"issueKey"`
	Author   string       `json:"author"` // accountId
	Created  time.Time    `json:"created"`
	Items    []ChangeItem `json:"items"`
}

// ChangeItem is one field change in a changelog entry.
type ChangeItem struct {
	Field      string `json:"field"`
	FieldType  string `json:"fieldtype"`
	FieldID    string `json:"fieldId"`
	From       string `json:"from,omitempty"`
	FromString string `json:"fromString,omitempty"`
	To         string `json:"to,omitempty"`
	ToString   string `json:"toString,omitempty"`
}

// NewIssue describes an issue created through the admin API.
type NewIssue struct {
	Summary      string                     `json:"summary"`
	Description  string                     `json:"description,omitempty"`
	Labels       []string                   `json:"labels,omitempty"`
	IssueType    string                     `json:"issueType,omitempty"` // default: the first issue type
	Status       string                     `json:"status,omitempty"`    // default: InitialStatus
	AsUser       string                     `json:"asUser,omitempty"`    // default: the bot
	Reporter     string                     `json:"reporter,omitempty"`  // default: AsUser
	CustomFields map[string]any             `json:"customFields,omitempty"`
	Properties   map[string]json.RawMessage `json:"properties,omitempty"`
}

// ErrNotFound is returned by admin calls naming an unknown issue or user.
var ErrNotFound = errors.New("jirasim: not found")

func (s *Server) snapshot(iss *issue) Issue {
	out := Issue{
		ID: iss.id, Key: iss.key, Summary: iss.summary, Description: iss.description,
		Labels: append([]string{}, iss.labels...), IssueType: iss.issueType, Status: iss.status,
		Resolved: iss.resolved, Reporter: iss.reporter, Creator: iss.creator,
		Created: iss.created, Updated: iss.updated,
		CustomFields: map[string]any{}, Properties: map[string]json.RawMessage{},
	}
	for k, v := range iss.custom {
		out.CustomFields[k] = v
	}
	for k, v := range iss.properties {
		out.Properties[k] = append(json.RawMessage(nil), v...)
	}
	return out
}

// Issues returns a snapshot of every issue, oldest first.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, 0, len(s.issues))
	for _, iss := range s.issues {
		out = append(out, s.snapshot(iss))
	}
	return out
}

// Issue returns the issue with this key or id.
func (s *Server) Issue(idOrKey string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(idOrKey)
	if iss == nil {
		return Issue{}, false
	}
	return s.snapshot(iss), true
}

// Comments returns the comments of an issue, oldest first.
func (s *Server) Comments(idOrKey string) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(idOrKey)
	if iss == nil {
		return nil
	}
	out := []Comment{}
	for _, c := range iss.comments {
		out = append(out, Comment{ID: c.id, IssueKey: iss.key, Author: c.author, Body: c.body, Created: c.created})
	}
	return out
}

// History returns the changelog of an issue, oldest first.
func (s *Server) History(idOrKey string) []History {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(idOrKey)
	if iss == nil {
		return nil
	}
	out := []History{}
	for _, h := range iss.histories {
		out = append(out, History{ID: h.id, IssueKey: iss.key, Author: h.author, Created: h.created, Items: append([]ChangeItem(nil), h.items...)})
	}
	return out
}

// CreateIssue creates an issue as if through the API (webhook included).
func (s *Server) CreateIssue(in NewIssue) (Issue, error) {
	asUser := in.AsUser
	if asUser == "" {
		asUser = s.opts.Bot
	}
	actor, ok := s.findUser(asUser)
	if !ok {
		return Issue{}, fmt.Errorf("%w: user %q", ErrNotFound, asUser)
	}
	reporter := actor
	if in.Reporter != "" {
		if reporter, ok = s.findUser(in.Reporter); !ok {
			return Issue{}, fmt.Errorf("%w: user %q", ErrNotFound, in.Reporter)
		}
	}
	if in.IssueType == "" {
		in.IssueType = s.opts.IssueTypes[0]
	}
	if s.issueTypeID(in.IssueType) == "" {
		return Issue{}, fmt.Errorf("unknown issue type %q", in.IssueType)
	}
	status := s.opts.InitialStatus
	if in.Status != "" {
		st, ok := s.status(in.Status)
		if !ok {
			return Issue{}, fmt.Errorf("unknown status %q", in.Status)
		}
		status = st.Name
	}
	for k := range in.CustomFields {
		if _, ok := s.customField(k); !ok {
			return Issue{}, fmt.Errorf("unknown custom field %q", k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.createLocked(newIssueData{
		summary: in.Summary, description: in.Description, labels: in.Labels, issueType: in.IssueType,
		status: status, reporter: reporter, custom: in.CustomFields, properties: in.Properties,
	}, actor)
	return s.snapshot(iss), nil
}

// DeleteIssue deletes an issue as asUser (webhook jira:issue_deleted).
func (s *Server) DeleteIssue(idOrKey, asUser string) error {
	actor, ok := s.findUser(asUser)
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, asUser)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(idOrKey)
	if iss == nil {
		return fmt.Errorf("%w: issue %q", ErrNotFound, idOrKey)
	}
	s.deleteLocked(iss, actor)
	return nil
}

// AddComment adds a comment as asUser, as the API would (webhook included).
func (s *Server) AddComment(idOrKey, asUser, body string) (Comment, error) {
	actor, ok := s.findUser(asUser)
	if !ok {
		return Comment{}, fmt.Errorf("%w: user %q", ErrNotFound, asUser)
	}
	if strings.TrimSpace(body) == "" {
		return Comment{}, errors.New("comment body is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(idOrKey)
	if iss == nil {
		return Comment{}, fmt.Errorf("%w: issue %q", ErrNotFound, idOrKey)
	}
	c := s.commentLocked(iss, actor, body, true)
	return Comment{ID: c.id, IssueKey: iss.key, Author: c.author, Body: c.body, Created: c.created}, nil
}

// SetProperty sets an issue entity property to the JSON encoding of value.
func (s *Server) SetProperty(idOrKey, key string, value any) error {
	raw, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("encode property %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(idOrKey)
	if iss == nil {
		return fmt.Errorf("%w: issue %q", ErrNotFound, idOrKey)
	}
	iss.properties[key] = raw
	s.version++
	return nil
}

func (s *Server) findIssueLocked(idOrKey string) *issue {
	if iss := s.byID[idOrKey]; iss != nil {
		return iss
	}
	return s.byKey[strings.ToUpper(idOrKey)]
}

func (s *Server) nextIDLocked() string {
	s.lastID++
	return strconv.Itoa(s.lastID)
}

func (s *Server) customField(idOrName string) (CustomField, bool) {
	for _, cf := range s.opts.CustomFields {
		if cf.ID == idOrName || strings.EqualFold(cf.Name, idOrName) || "cf["+strings.TrimPrefix(cf.ID, "customfield_")+"]" == strings.ToLower(idOrName) {
			return cf, true
		}
	}
	return CustomField{}, false
}

type newIssueData struct {
	summary, description string
	labels               []string
	issueType, status    string
	reporter             *User
	custom               map[string]any
	properties           map[string]json.RawMessage
}

// createLocked stores a new issue and emits jira:issue_created.
func (s *Server) createLocked(d newIssueData, actor *User) *issue {
	now := s.opts.Now()
	s.lastNum++
	iss := &issue{
		id: s.nextIDLocked(), num: s.lastNum, key: fmt.Sprintf("%s-%d", s.opts.ProjectKey, s.lastNum),
		summary: d.summary, description: d.description, labels: append([]string{}, d.labels...),
		issueType: d.issueType, status: d.status, prevStatus: d.status, statusChangedAt: now,
		reporter: d.reporter.AccountID, creator: actor.AccountID, created: now, updated: now,
		custom: map[string]any{}, properties: map[string]json.RawMessage{},
	}
	for k, v := range d.custom {
		iss.custom[k] = v
	}
	for k, v := range d.properties {
		iss.properties[k] = v
	}
	if st, _ := s.status(iss.status); st.Category == CategoryDone {
		iss.resolved, iss.resolvedAt = true, now
	}
	s.issues = append(s.issues, iss)
	s.byID[iss.id] = iss
	s.byKey[iss.key] = iss
	s.version++

	if s.wantsEventLocked(EventIssueCreated) {
		// Jira keeps no history for creation, but the webhook carries one.
		st, _ := s.status(iss.status)
		var items []ChangeItem
		if iss.description != "" {
			items = append(items, ChangeItem{Field: "description", FieldType: "jira", FieldID: "description", ToString: iss.description})
		}
		items = append(items,
			ChangeItem{Field: "priority", FieldType: "jira", FieldID: "priority", To: "3", ToString: "Medium"},
			ChangeItem{Field: "reporter", FieldType: "jira", FieldID: "reporter", To: s.userRef(d.reporter), ToString: d.reporter.DisplayName},
			ChangeItem{Field: "Status", FieldType: "jira", FieldID: "status", To: st.ID, ToString: st.Name},
			ChangeItem{Field: "summary", FieldType: "jira", FieldID: "summary", ToString: iss.summary},
		)
		s.emitLocked(EventIssueCreated, "issue_created", iss, actor, &history{id: s.nextIDLocked(), items: items}, nil)
	}
	return iss
}

func (s *Server) deleteLocked(iss *issue, actor *User) {
	iss.deleted = true
	s.emitLocked(EventIssueDeleted, "", iss, actor, nil, nil)
	delete(s.byID, iss.id)
	delete(s.byKey, iss.key)
	s.issues = slices.DeleteFunc(s.issues, func(i *issue) bool { return i == iss })
	s.version++
}

// commentLocked adds a comment; notify emits the issue_commented webhook
// (a transition with a comment sends one issue_generic event instead).
func (s *Server) commentLocked(iss *issue, actor *User, body string, notify bool) *comment {
	now := s.opts.Now()
	c := &comment{id: s.nextIDLocked(), author: actor.AccountID, body: body, created: now}
	iss.comments = append(iss.comments, c)
	iss.updated = now
	s.version++
	if notify {
		s.emitLocked(EventIssueUpdated, "issue_commented", iss, actor, nil, c)
	}
	return c
}

// visibleStatus is the status API reads see, lagging behind transitions by
// Faults.ReadLag.
func (s *Server) visibleStatus(iss *issue, lag time.Duration) string {
	if lag > 0 && s.opts.Now().Before(iss.statusChangedAt.Add(lag)) {
		return iss.prevStatus
	}
	return iss.status
}

// issueJSON renders an issue for the API.
func (s *Server) issueJSON(iss *issue, sel fieldSel, expand, props []string, viewer *User, lag time.Duration) map[string]any {
	m := map[string]any{
		"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
		"id":     iss.id,
		"self":   s.base() + "/rest/api/2/issue/" + iss.id,
		"key":    iss.key,
	}
	if !sel.none() {
		m["fields"] = s.fieldsJSON(iss, sel, renderView{viewer: viewer, status: s.visibleStatus(iss, lag)})
	}
	for _, e := range expand {
		switch strings.TrimSpace(e) {
		case "changelog":
			hs := []any{}
			for _, h := range iss.histories {
				hs = append(hs, s.historyJSON(h, viewer))
			}
			m["changelog"] = map[string]any{"startAt": 0, "maxResults": len(hs), "total": len(hs), "histories": hs}
		case "transitions":
			m["transitions"] = s.transitionsJSON(s.visibleStatus(iss, lag))
		case "names":
			names := map[string]string{}
			for _, f := range systemFields() {
				names[f.id] = f.name
			}
			for _, cf := range s.opts.CustomFields {
				names[cf.ID] = cf.Name
			}
			m["names"] = names
		}
	}
	if len(props) > 0 {
		pm := map[string]any{}
		for _, p := range props {
			for k, v := range iss.properties {
				if p == "*all" || p == k {
					pm[k] = v
				}
			}
		}
		m["properties"] = pm
	}
	return m
}

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func issueNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, []string{"Issue does not exist or you do not have permission to see it."}, nil)
}

// createRequest is the body of POST /rest/api/2/issue.
type createRequest struct {
	Fields map[string]json.RawMessage `json:"fields"`
	Update map[string]json.RawMessage `json:"update"`
	// Transition is honoured on Cloud only: Jira Cloud's create issue
	// documents it ("optional when creating an issue": the new issue
	// leaves the initial status through it in the same call); Data
	// Center's create ignores it.
	Transition *struct {
		ID string `json:"id"`
	} `json:"transition"`
	Properties []struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	} `json:"properties"`
}

func (s *Server) handleCreateIssue(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !decodeBody(w, r, &req) {
		return
	}
	actor := caller(r)
	d, errs := s.parseCreateFields(req.Fields, actor)
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, nil, errs)
		return
	}
	if !s.hasPermission(actor, "CREATE_ISSUES") {
		writeError(w, http.StatusBadRequest, nil, map[string]string{"project": "You do not have permission to create issues in this project."})
		return
	}
	d.properties = map[string]json.RawMessage{}
	for _, p := range req.Properties {
		if p.Key == "" || len(p.Key) > 255 {
			writeError(w, http.StatusBadRequest, []string{"The property key must be between 1 and 255 characters."}, nil)
			return
		}
		d.properties[p.Key] = append(json.RawMessage(nil), p.Value...)
	}
	s.mu.Lock()
	var move *Transition
	if req.Transition != nil && s.opts.Flavor == FlavorCloud {
		for _, t := range s.availableTransitions(d.status) {
			if t.ID == req.Transition.ID {
				move = &t
			}
		}
		if move == nil {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, []string{fmt.Sprintf("Transition id '%s' is not valid for this issue.", req.Transition.ID)}, nil)
			return
		}
	}
	iss := s.createLocked(d, actor)
	if move != nil {
		s.transitionLocked(iss, *move, actor, "")
	}
	id, key := iss.id, iss.key
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "key": key, "self": s.base() + "/rest/api/2/issue/" + id})
}

// parseCreateFields validates create fields as Jira does, returning field
// errors keyed by field id.
func (s *Server) parseCreateFields(fields map[string]json.RawMessage, actor *User) (newIssueData, map[string]string) {
	errs := map[string]string{}
	d := newIssueData{reporter: actor, status: s.opts.InitialStatus}
	if raw, ok := fields["project"]; !ok {
		errs["project"] = "project is required"
	} else {
		var p struct{ ID, Key string }
		if json.Unmarshal(raw, &p) != nil || !(s.isProject(p.Key) || (p.Key == "" && s.isProject(p.ID))) {
			errs["project"] = "valid project is required"
		}
	}
	if raw, ok := fields["issuetype"]; !ok {
		errs["issuetype"] = "issue type is required"
	} else {
		var t struct{ ID, Name string }
		_ = json.Unmarshal(raw, &t)
		for i, name := range s.opts.IssueTypes {
			if strings.EqualFold(name, t.Name) || t.ID == strconv.Itoa(10001+i) {
				d.issueType = name
			}
		}
		if d.issueType == "" {
			errs["issuetype"] = "valid issue type is required"
		}
	}
	for k, raw := range fields {
		switch k {
		case "project", "issuetype":
		case "summary", "description":
			var v *string
			if err := json.Unmarshal(raw, &v); err != nil {
				errs[k] = "Operation value must be a string"
				continue
			}
			if v == nil {
				continue
			}
			if k == "description" {
				d.description = *v
			} else {
				d.summary = *v
			}
		case "labels":
			if err := json.Unmarshal(raw, &d.labels); err != nil {
				errs[k] = "Operation value must be an array of strings"
				continue
			}
			if msg := checkLabels(d.labels); msg != "" {
				errs[k] = msg
			}
		case "reporter":
			u, msg := s.parseUserField(raw)
			if msg != "" {
				errs[k] = msg
				continue
			}
			d.reporter = u
		default:
			cf, ok := s.customField(k)
			if !ok || cf.ID != k {
				errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
				continue
			}
			v, msg := parseCustomValue(cf, raw)
			if msg != "" {
				errs[k] = msg
				continue
			}
			if v != nil {
				if d.custom == nil {
					d.custom = map[string]any{}
				}
				d.custom[k] = v
			}
		}
	}
	if _, bad := errs["summary"]; !bad {
		switch {
		case strings.TrimSpace(d.summary) == "":
			errs["summary"] = "You must specify a summary of the issue."
		case utf8.RuneCountInString(d.summary) > 255:
			errs["summary"] = "Summary must be less than 255 characters."
		case strings.ContainsAny(d.summary, "\r\n"):
			errs["summary"] = "The summary is invalid because it contains newline characters."
		}
	}
	return d, errs
}

func checkLabels(labels []string) string {
	for _, l := range labels {
		if strings.ContainsAny(l, " \t\r\n") {
			return fmt.Sprintf("The label '%s' contains spaces which is invalid.", l)
		}
		if l == "" || utf8.RuneCountInString(l) > 255 {
			return "The label must be between 1 and 255 characters."
		}
	}
	return ""
}

// parseUserField reads {"accountId":...} (Cloud) or {"name":...} (Server).
func (s *Server) parseUserField(raw json.RawMessage) (*User, string) {
	var ref struct{ AccountID, Name, Key, ID string }
	if json.Unmarshal(raw, &ref) != nil {
		return nil, "Could not parse the user."
	}
	id := ref.AccountID
	if s.opts.Flavor == FlavorServer {
		id = ref.Name
		if id == "" {
			id = ref.Key
		}
	} else if id == "" {
		id = ref.ID
	}
	u, ok := s.findUser(id)
	if !ok || (s.opts.Flavor == FlavorCloud && u.AccountID != id) {
		if s.opts.Flavor == FlavorCloud {
			return nil, "Specify a valid value for the user (accountId)."
		}
		return nil, fmt.Sprintf("The user '%s' does not exist.", id)
	}
	return u, ""
}

func parseCustomValue(cf CustomField, raw json.RawMessage) (any, string) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, ""
	}
	if cf.Type == "number" {
		var f float64
		if json.Unmarshal(raw, &f) != nil {
			return nil, "Operation value must be a number"
		}
		return f, ""
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return nil, "Operation value must be a string"
	}
	if utf8.RuneCountInString(v) > 255 {
		return nil, "The entered text is too long. It exceeds the allowed limit of 255 characters."
	}
	return v, ""
}

func (s *Server) handleGetIssue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lag := s.Faults().ReadLag
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	sel := parseFieldSel(q["fields"], "*all")
	writeJSON(w, http.StatusOK, s.issueJSON(iss, sel, splitList(q["expand"]), splitList(q["properties"]), caller(r), lag))
}

// handleEditIssue supports editing summary, description, labels and custom
// fields, through "fields" (set) and "update" (labels add/remove, set).
func (s *Server) handleEditIssue(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Fields map[string]json.RawMessage `json:"fields"`
		Update map[string][]map[string]json.RawMessage
	}
	if !decodeBody(w, r, &req) {
		return
	}
	actor := caller(r)
	if !s.hasPermission(actor, "EDIT_ISSUES") {
		writeError(w, http.StatusForbidden, []string{"You do not have permission to edit issues in this project."}, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	errs := map[string]string{}
	next := *iss
	next.labels = append([]string{}, iss.labels...)
	next.custom = map[string]any{}
	for k, v := range iss.custom {
		next.custom[k] = v
	}
	for k, raw := range req.Fields {
		s.applyEdit(&next, k, raw, errs)
	}
	for k, ops := range req.Update {
		for _, op := range ops {
			for verb, raw := range op {
				switch {
				case k == "labels" && (verb == "add" || verb == "remove"):
					var l string
					if json.Unmarshal(raw, &l) != nil || checkLabels([]string{l}) != "" {
						errs[k] = "Operation value must be a string"
						continue
					}
					next.labels = slices.DeleteFunc(next.labels, func(x string) bool { return x == l })
					if verb == "add" {
						next.labels = append(next.labels, l)
					}
				case verb == "set":
					s.applyEdit(&next, k, raw, errs)
				default:
					errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
				}
			}
		}
	}
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, nil, errs)
		return
	}
	var items []ChangeItem
	if next.summary != iss.summary {
		items = append(items, ChangeItem{Field: "summary", FieldType: "jira", FieldID: "summary", FromString: iss.summary, ToString: next.summary})
	}
	if next.description != iss.description {
		items = append(items, ChangeItem{Field: "description", FieldType: "jira", FieldID: "description", FromString: iss.description, ToString: next.description})
	}
	if strings.Join(next.labels, " ") != strings.Join(iss.labels, " ") {
		items = append(items, ChangeItem{Field: "labels", FieldType: "jira", FieldID: "labels", FromString: strings.Join(iss.labels, " "), ToString: strings.Join(next.labels, " ")})
	}
	for _, cf := range s.opts.CustomFields {
		if fmt.Sprint(next.custom[cf.ID]) != fmt.Sprint(iss.custom[cf.ID]) {
			items = append(items, ChangeItem{Field: cf.Name, FieldType: "custom", FieldID: cf.ID, FromString: valueString(iss.custom[cf.ID]), ToString: valueString(next.custom[cf.ID])})
		}
	}
	if len(items) > 0 {
		iss.summary, iss.description, iss.labels, iss.custom = next.summary, next.description, next.labels, next.custom
		h := s.recordLocked(iss, actor, items)
		s.emitLocked(EventIssueUpdated, "issue_updated", iss, actor, h, nil)
	}
	w.WriteHeader(http.StatusNoContent)
}

func valueString(v any) string {
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func (s *Server) applyEdit(iss *issue, k string, raw json.RawMessage, errs map[string]string) {
	switch k {
	case "summary":
		var v string
		if json.Unmarshal(raw, &v) != nil || strings.TrimSpace(v) == "" || utf8.RuneCountInString(v) > 255 {
			errs[k] = "Summary must be less than 255 characters."
			return
		}
		iss.summary = v
	case "description":
		var v *string
		if json.Unmarshal(raw, &v) != nil {
			errs[k] = "Operation value must be a string"
			return
		}
		iss.description = ""
		if v != nil {
			iss.description = *v
		}
	case "labels":
		var l []string
		if json.Unmarshal(raw, &l) != nil {
			errs[k] = "Operation value must be an array of strings"
			return
		}
		if msg := checkLabels(l); msg != "" {
			errs[k] = msg
			return
		}
		iss.labels = l
	default:
		cf, ok := s.customField(k)
		if !ok || cf.ID != k {
			errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
			return
		}
		v, msg := parseCustomValue(cf, raw)
		if msg != "" {
			errs[k] = msg
			return
		}
		if v == nil {
			delete(iss.custom, k)
		} else {
			iss.custom[k] = v
		}
	}
}

// recordLocked appends a changelog entry.
func (s *Server) recordLocked(iss *issue, actor *User, items []ChangeItem) *history {
	now := s.opts.Now()
	h := &history{id: s.nextIDLocked(), author: actor.AccountID, created: now, items: items}
	iss.histories = append(iss.histories, h)
	iss.updated = now
	s.version++
	return h
}

func (s *Server) handleDeleteIssue(w http.ResponseWriter, r *http.Request) {
	actor := caller(r)
	if !s.hasPermission(actor, "DELETE_ISSUES") {
		writeError(w, http.StatusForbidden, []string{"You do not have permission to delete issues in this project."}, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	s.deleteLocked(iss, actor)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAddComment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Body string `json:"body"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	actor := caller(r)
	if strings.TrimSpace(req.Body) == "" {
		writeError(w, http.StatusBadRequest, nil, map[string]string{"comment": "Comment body can not be empty!"})
		return
	}
	if !s.hasPermission(actor, "ADD_COMMENTS") {
		writeError(w, http.StatusForbidden, []string{"You do not have the permission to comment on this issue."}, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	c := s.commentLocked(iss, actor, req.Body, true)
	writeJSON(w, http.StatusCreated, s.commentJSON(iss, c, actor))
}

func (s *Server) handleGetComments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	startAt := max(0, atoiOr(q.Get("startAt"), 0))
	def := 5000
	if s.opts.Flavor == FlavorServer {
		def = 50
	}
	maxResults := atoiOr(q.Get("maxResults"), def)
	if maxResults <= 0 || maxResults > def {
		maxResults = def
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	comments := append([]*comment(nil), iss.comments...)
	switch q.Get("orderBy") {
	case "", "created", "+created":
	case "-created":
		slices.Reverse(comments)
	default:
		writeError(w, http.StatusBadRequest, []string{"Invalid orderBy value: " + q.Get("orderBy")}, nil)
		return
	}
	comments = comments[min(startAt, len(comments)):]
	comments = comments[:min(maxResults, len(comments))]
	writeJSON(w, http.StatusOK, s.commentPageJSON(iss, comments, startAt, maxResults, caller(r)))
}

// handleGetChangelog serves Cloud's paged GET /issue/{id}/changelog.
func (s *Server) handleGetChangelog(w http.ResponseWriter, r *http.Request) {
	if s.opts.Flavor != FlavorCloud {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "null for uri: " + s.base() + r.URL.RequestURI(), "status-code": 404})
		return
	}
	q := r.URL.Query()
	startAt := max(0, atoiOr(q.Get("startAt"), 0))
	maxResults := atoiOr(q.Get("maxResults"), 100)
	if maxResults <= 0 || maxResults > 100 {
		maxResults = 100
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	values := []any{}
	end := min(len(iss.histories), startAt+maxResults)
	for _, h := range iss.histories[min(startAt, end):end] {
		values = append(values, s.historyJSON(h, caller(r)))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"self": s.base() + r.URL.RequestURI(), "maxResults": maxResults, "startAt": startAt,
		"total": len(iss.histories), "isLast": end >= len(iss.histories), "values": values,
	})
}

func (s *Server) handleListProperties(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	keys := make([]string, 0, len(iss.properties))
	for k := range iss.properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := []any{}
	for _, k := range keys {
		out = append(out, map[string]any{"self": s.base() + "/rest/api/2/issue/" + iss.id + "/properties/" + k, "key": k})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) handleGetProperty(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	key := r.PathValue("propertyKey")
	v, ok := iss.properties[key]
	if !ok {
		writeError(w, http.StatusNotFound, []string{fmt.Sprintf("The property with key '%s' does not exist.", key)}, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "value": v})
}

func (s *Server) handlePutProperty(w http.ResponseWriter, r *http.Request) {
	var v json.RawMessage
	if !decodeBody(w, r, &v) {
		return
	}
	key := r.PathValue("propertyKey")
	if len(key) > 255 {
		writeError(w, http.StatusBadRequest, []string{"The property key can not be longer than 255 characters."}, nil)
		return
	}
	if len(v) > 32768 {
		writeError(w, http.StatusBadRequest, []string{"The property value is too long. It can not exceed 32768 bytes."}, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	_, existed := iss.properties[key]
	iss.properties[key] = append(json.RawMessage(nil), v...)
	s.version++
	if existed {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
}

func (s *Server) handleDeleteProperty(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	key := r.PathValue("propertyKey")
	if _, ok := iss.properties[key]; !ok {
		writeError(w, http.StatusNotFound, []string{fmt.Sprintf("The property with key '%s' does not exist.", key)}, nil)
		return
	}
	delete(iss.properties, key)
	s.version++
	w.WriteHeader(http.StatusNoContent)
}
