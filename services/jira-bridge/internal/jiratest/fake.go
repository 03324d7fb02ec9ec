// Package jiratest is a small in-memory Jira (httptest) for the unit tests
// of the bridge's core: the REST v2 calls the bridge makes, a workflow in
// which every status moves to every other, and a log of the calls. The
// full emulator (sim/jira) serves the end-to-end tests.
package jiratest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Bot is the account the bridge uses.
const Bot = "bot-account"

// Statuses of the fake workflow; new issues start in the first.
var Statuses = []string{"Backlog", "Pending", "Approved", "Denied", "Expired", "Promoted"}

// Fake is a running fake Jira.
type Fake struct {
	*httptest.Server
	// Cloud: the create honours a transition.
	Cloud bool

	mu     sync.Mutex
	issues []*Issue
	calls  []string
	nextID int
}

// Issue is a fake issue.
type Issue struct {
	ID, Key, Status string
	Labels          []string
	Comments        []Comment
	History         []History
}

// Comment is a fake comment.
type Comment struct{ ID, Author, Body string }

// History is one status change.
type History struct{ ID, Author, From, To string }

// Start runs a fake until the test ends.
func Start(t *testing.T) *Fake {
	f := &Fake{nextID: 10000}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Calls returns the calls made since the last Reset, as "METHOD route".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Reset forgets the calls.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Add creates an issue directly (as a person would) and returns it.
func (f *Fake) Add(status string, labels ...string) Issue {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.createLocked(labels)
	is.Status = status
	return *is
}

// Get returns a copy of an issue by id or key.
func (f *Fake) Get(idOrKey string) (Issue, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if is := f.findLocked(idOrKey); is != nil {
		c := *is
		c.Comments = slices.Clone(is.Comments)
		return c, true
	}
	return Issue{}, false
}

// Issues returns how many issues exist.
func (f *Fake) Issues() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.issues)
}

// Move changes an issue's status as user, recording the change; it returns
// the changelog id.
func (f *Fake) Move(idOrKey, status, user string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.moveLocked(f.findLocked(idOrKey), status, user)
}

// Comment adds a comment as user.
func (f *Fake) Comment(idOrKey, user, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.findLocked(idOrKey)
	f.nextID++
	is.Comments = append(is.Comments, Comment{ID: strconv.Itoa(f.nextID), Author: user, Body: body})
}

func (f *Fake) createLocked(labels []string) *Issue {
	f.nextID++
	is := &Issue{ID: strconv.Itoa(f.nextID), Key: fmt.Sprintf("TAR-%d", len(f.issues)+1), Status: Statuses[0], Labels: labels}
	f.issues = append(f.issues, is)
	return is
}

func (f *Fake) moveLocked(is *Issue, status, user string) string {
	f.nextID++
	id := strconv.Itoa(f.nextID)
	is.History = append(is.History, History{ID: id, Author: user, From: is.Status, To: status})
	is.Status = status
	return id
}

func (f *Fake) findLocked(idOrKey string) *Issue {
	for _, is := range f.issues {
		if is.ID == idOrKey || is.Key == idOrKey {
			return is
		}
	}
	return nil
}

func transitionID(status string) string { return "t-" + strings.ToLower(status) }

func transitionsJSON(from string) []map[string]any {
	var out []map[string]any
	for _, s := range Statuses {
		if s != from {
			out = append(out, map[string]any{"id": transitionID(s), "name": s, "to": map[string]string{"name": s}})
		}
	}
	return out
}

var (
	issuePath = regexp.MustCompile(`^/rest/api/2/issue/([^/]+)(/[a-z]+)?(/[^/]+)?$`)
	labelJQL  = regexp.MustCompile(`labels = "([^"]+)"`)
)

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	route := r.URL.Path
	m := issuePath.FindStringSubmatch(r.URL.Path)
	if m != nil {
		route = "/rest/api/2/issue/{issueIdOrKey}" + m[2]
		if m[3] != "" {
			route += "/{key}"
		}
	}
	f.calls = append(f.calls, r.Method+" "+route)
	var body map[string]json.RawMessage
	_ = json.NewDecoder(r.Body).Decode(&body)
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
		var fields struct{ Labels []string }
		_ = json.Unmarshal(body["fields"], &fields)
		var tr struct{ ID string }
		_ = json.Unmarshal(body["transition"], &tr)
		is := f.createLocked(fields.Labels)
		if f.Cloud && tr.ID != "" {
			for _, s := range Statuses {
				if transitionID(s) == tr.ID {
					f.moveLocked(is, s, Bot)
				}
			}
		}
		reply(http.StatusCreated, map[string]string{"id": is.ID, "key": is.Key})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/rest/api/2/search"):
		var jql string
		_ = json.Unmarshal(body["jql"], &jql)
		var out []map[string]any
		if lm := labelJQL.FindStringSubmatch(jql); lm != nil {
			for _, is := range f.issues {
				if slices.Contains(is.Labels, lm[1]) {
					out = append(out, f.issueJSON(is, "", ""))
				}
			}
		}
		if strings.Contains(jql, "status in") {
			for _, is := range f.issues {
				if is.Status == "Approved" || is.Status == "Denied" {
					out = append(out, f.issueJSON(is, "", ""))
				}
			}
		}
		reply(http.StatusOK, map[string]any{"issues": out, "total": len(out), "isLast": true})
	case r.URL.Path == "/rest/api/2/user/search":
		reply(http.StatusOK, []any{})
	case m != nil:
		is := f.findLocked(m[1])
		if is == nil {
			reply(http.StatusNotFound, map[string]any{"errorMessages": []string{"Issue does not exist"}})
			return
		}
		switch {
		case r.Method == http.MethodGet && m[2] == "":
			reply(http.StatusOK, f.issueJSON(is, r.URL.Query().Get("expand"), ""))
		case r.Method == http.MethodPost && m[2] == "/transitions":
			var tr struct{ ID string }
			_ = json.Unmarshal(body["transition"], &tr)
			for _, s := range Statuses {
				if transitionID(s) == tr.ID && s != is.Status {
					f.moveLocked(is, s, Bot)
					var up struct {
						Comment []struct{ Add struct{ Body string } }
					}
					_ = json.Unmarshal(body["update"], &up)
					for _, c := range up.Comment {
						f.nextID++
						is.Comments = append(is.Comments, Comment{ID: strconv.Itoa(f.nextID), Author: Bot, Body: c.Add.Body})
					}
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
			reply(http.StatusBadRequest, map[string]any{"errorMessages": []string{"Transition id '" + tr.ID + "' is not valid for this issue."}})
		case r.Method == http.MethodGet && m[2] == "/comment":
			var cs []map[string]any
			for _, c := range is.Comments {
				cs = append(cs, map[string]any{"id": c.ID, "body": c.Body, "author": map[string]string{"accountId": c.Author}})
			}
			reply(http.StatusOK, map[string]any{"comments": cs, "total": len(cs)})
		case r.Method == http.MethodPost && m[2] == "/comment":
			var text string
			_ = json.Unmarshal(body["body"], &text)
			f.nextID++
			is.Comments = append(is.Comments, Comment{ID: strconv.Itoa(f.nextID), Author: Bot, Body: text})
			reply(http.StatusCreated, map[string]string{"id": strconv.Itoa(f.nextID)})
		default:
			reply(http.StatusNotFound, map[string]any{"errorMessages": []string{"not found"}})
		}
	default:
		reply(http.StatusNotFound, map[string]any{"errorMessages": []string{"not found"}})
	}
}

func (f *Fake) issueJSON(is *Issue, expand, _ string) map[string]any {
	out := map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{"status": map[string]string{"name": is.Status}, "labels": is.Labels}}
	if strings.Contains(expand, "transitions") {
		out["transitions"] = transitionsJSON(is.Status)
	}
	if strings.Contains(expand, "changelog") {
		var hs []map[string]any
		for _, h := range is.History {
			hs = append(hs, map[string]any{"id": h.ID, "author": map[string]string{"accountId": h.Author}, "created": "2026-12-06T10:00:00.000+0000",
				"items": []map[string]string{{"field": "status", "fieldId": "status", "fromString": h.From, "toString": h.To}}})
		}
		out["changelog"] = map[string]any{"histories": hs}
	}
	return out
}
