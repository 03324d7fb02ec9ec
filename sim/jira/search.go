package jirasim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// searchParams are the parameters common to both search endpoints, from the
// query string (GET) or the body (POST).
type searchParams struct {
	jql           string
	startAt       int
	maxResults    int
	nextPageToken string
	fields        []string
	expand        []string
	properties    []string
}

// stringList decodes a JSON list of strings or a comma-separated string:
// Cloud's POST /search/jql takes "expand" as a string, Server as a list.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = splitList([]string{one})
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = splitList(many)
	return nil
}

func readSearchParams(w http.ResponseWriter, r *http.Request) (searchParams, bool) {
	if r.Method == http.MethodPost {
		var body struct {
			JQL           string     `json:"jql"`
			StartAt       *int       `json:"startAt"`
			MaxResults    *int       `json:"maxResults"`
			NextPageToken string     `json:"nextPageToken"`
			Fields        stringList `json:"fields"`
			Expand        stringList `json:"expand"`
			Properties    stringList `json:"properties"`
		}
		if !decodeBody(w, r, &body) {
			return searchParams{}, false
		}
		p := searchParams{jql: body.JQL, nextPageToken: body.NextPageToken, fields: body.Fields, expand: body.Expand, properties: body.Properties, maxResults: -1}
		if body.StartAt != nil {
			p.startAt = *body.StartAt
		}
		if body.MaxResults != nil {
			p.maxResults = *body.MaxResults
		}
		return p, true
	}
	q := r.URL.Query()
	p := searchParams{
		jql: q.Get("jql"), nextPageToken: q.Get("nextPageToken"),
		fields: splitList(q["fields"]), expand: splitList(q["expand"]), properties: splitList(q["properties"]),
		startAt: atoiOr(q.Get("startAt"), 0), maxResults: atoiOr(q.Get("maxResults"), -1),
	}
	return p, true
}

// runSearchLocked evaluates the JQL; it answers 400 itself on a JQL error.
func (s *Server) runSearchLocked(w http.ResponseWriter, p searchParams, requireBounded bool, lag time.Duration) ([]*issue, bool) {
	q, err := s.parseJQL(p.jql)
	if err != nil {
		var je *jqlError
		if errors.As(err, &je) {
			writeError(w, http.StatusBadRequest, []string{je.msg}, nil)
		} else {
			writeError(w, http.StatusBadRequest, []string{err.Error()}, nil)
		}
		return nil, false
	}
	if requireBounded && q.where == nil {
		writeError(w, http.StatusBadRequest, []string{"Unbounded JQL queries are not allowed here. Please add a search restriction to your query."}, nil)
		return nil, false
	}
	var out []*issue
	now := s.opts.Now()
	for _, iss := range s.issues {
		st, _ := s.status(s.visibleStatus(iss, lag))
		if q.where == nil || q.where(&evalCtx{iss: iss, status: st, now: now}) {
			out = append(out, iss)
		}
	}
	sortIssues(out, q.orderBy)
	return out, true
}

// handleSearchPaged serves Server's /rest/api/2/search (startAt, total). Jira
// Cloud removed it: 410 Gone.
func (s *Server) handleSearchPaged(w http.ResponseWriter, r *http.Request) {
	if s.opts.Flavor == FlavorCloud {
		writeError(w, http.StatusGone, []string{"The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"}, nil)
		return
	}
	p, ok := readSearchParams(w, r)
	if !ok {
		return
	}
	if p.maxResults < 0 {
		p.maxResults = 50
	}
	p.maxResults = min(p.maxResults, 1000)
	p.startAt = max(p.startAt, 0)
	lag := s.Faults().ReadLag
	viewer := caller(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	found, ok := s.runSearchLocked(w, p, false, lag)
	if !ok {
		return
	}
	sel := parseFieldSel(p.fields, "*navigable")
	page := found[min(p.startAt, len(found)):]
	page = page[:min(p.maxResults, len(page))]
	issues := []any{}
	for _, iss := range page {
		issues = append(issues, s.issueJSON(iss, sel, p.expand, p.properties, viewer, lag))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"expand": "names,schema", "startAt": p.startAt, "maxResults": p.maxResults,
		"total": len(found), "issues": issues,
	})
}

// handleSearchJQL serves Cloud's /rest/api/2/search/jql: token paging, no
// total, id-only issues unless fields are asked for, bounded JQL only.
func (s *Server) handleSearchJQL(w http.ResponseWriter, r *http.Request) {
	if s.opts.Flavor != FlavorCloud {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "null for uri: " + s.base() + r.URL.RequestURI(), "status-code": 404})
		return
	}
	p, ok := readSearchParams(w, r)
	if !ok {
		return
	}
	if p.maxResults <= 0 {
		p.maxResults = 50
	}
	p.maxResults = min(p.maxResults, 5000)
	start := 0
	if p.nextPageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.nextPageToken)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "offset:") || n < 0 {
			writeError(w, http.StatusBadRequest, []string{"The provided next page token is invalid or expired."}, nil)
			return
		}
		start = n
	}
	lag := s.Faults().ReadLag
	viewer := caller(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	found, ok := s.runSearchLocked(w, p, true, lag)
	if !ok {
		return
	}
	sel := parseFieldSel(p.fields, "id")
	page := found[min(start, len(found)):]
	page = page[:min(p.maxResults, len(page))]
	issues := []any{}
	for _, iss := range page {
		if sel.idOnly() && len(p.expand) == 0 && len(p.properties) == 0 {
			issues = append(issues, map[string]any{"id": iss.id})
			continue
		}
		issues = append(issues, s.issueJSON(iss, sel, p.expand, p.properties, viewer, lag))
	}
	out := map[string]any{"issues": issues, "isLast": start+len(page) >= len(found)}
	if !out["isLast"].(bool) {
		out["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(start+len(page))))
	}
	writeJSON(w, http.StatusOK, out)
}
