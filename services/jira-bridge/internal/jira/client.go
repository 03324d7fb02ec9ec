// Package jira is the jira-bridge's Jira REST v2 client: go-jira's request
// building and decoding, under a transport that authenticates (Basic with an
// API token, or a Data Center PAT as Bearer), bounds concurrency and retries
// as the client policy says (see transport.go). It also writes the calls
// go-jira lacks: entity properties, /search/jql, project statuses,
// permissions.
package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/accessbridge/accessbridge/services/jira-bridge/internal/metrics"
)

// Deployment types from serverInfo.
const (
	DeploymentCloud  = "Cloud"
	DeploymentServer = "Server"
)

// Options configure a Client.
type Options struct {
	URL string
	// User and Token: Basic auth (Cloud: email + API token; Server: user
	// name + password). PAT: Bearer (Data Center personal access token);
	// when set it wins.
	User, Token string
	PAT         string
	Timeout     time.Duration // per attempt
	Concurrency int
	Retry       RetryPolicy
	Metrics     *metrics.Metrics
	// Transport is the base transport (default http.DefaultTransport clone).
	Transport http.RoundTripper
}

// Client talks to one Jira.
type Client struct {
	gj         *gojira.Client
	deployment string
	wf         workflow
	// answered is when Jira last answered a call with the bridge's
	// credentials accepted (unix nanoseconds): Ready trusts it for
	// readyWithin instead of spending a call.
	answered    atomic.Int64
	readyWithin time.Duration
}

// readyWithin is how long an answer from Jira keeps the client ready
// without a call of its own.
const readyWithin = 30 * time.Second

// New returns a client; it makes no call.
func New(o Options) (*Client, error) {
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	base := o.Transport
	if base == nil {
		// Keep-alive connections for every call in flight: Go's default
		// keeps 2 idle per host, so most calls would open a connection (on
		// Jira Cloud, a TLS handshake each).
		ht := http.DefaultTransport.(*http.Transport).Clone()
		ht.MaxIdleConns = max(ht.MaxIdleConns, o.Concurrency)
		ht.MaxIdleConnsPerHost = o.Concurrency
		ht.MaxConnsPerHost = 0
		base = ht
	}
	auth := func(r *http.Request) { r.SetBasicAuth(o.User, o.Token) }
	if o.PAT != "" {
		auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+o.PAT) }
	}
	t := &transport{base: base, auth: auth, sem: make(chan struct{}, o.Concurrency), policy: o.Retry, metrics: o.Metrics, sleep: sleepCtx, timeout: o.Timeout}
	if t.policy.Min <= 0 {
		t.policy.Min = 500 * time.Millisecond
	}
	if t.policy.Max < t.policy.Min {
		t.policy.Max = max(30*time.Second, t.policy.Min)
	}
	hc := &http.Client{Transport: t}
	gj, err := gojira.NewClient(hc, strings.TrimRight(o.URL, "/")+"/")
	if err != nil {
		return nil, fmt.Errorf("jira url %q: %w", o.URL, err)
	}
	return &Client{gj: gj, deployment: DeploymentCloud, readyWithin: readyWithin}, nil
}

// Ready reports whether Jira answers with the bridge's credentials
// accepted. A readiness probe calls it every few seconds, and Jira Cloud
// counts every call against the site's rate limits: while the bridge's own
// calls get answers, that is the proof, and a client whose last call got
// no answer, a 5xx or a rejected credential, or that has not heard from
// Jira for readyWithin, asks (GET serverInfo).
func (c *Client) Ready(ctx context.Context) error {
	if last := c.answered.Load(); last != 0 && time.Since(time.Unix(0, last)) < c.readyWithin {
		return nil
	}
	_, err := c.ServerInfo(ctx)
	return err
}

// SetDeployment chooses the search endpoint (Cloud: /search/jql).
func (c *Client) SetDeployment(d string) { c.deployment = d }

// Deployment returns DeploymentCloud or DeploymentServer.
func (c *Client) Deployment() string { return c.deployment }

// APIError is a non-2xx answer from Jira, with Jira's own error text.
type APIError struct {
	Method, Endpoint string
	Status           int
	Text             string
	RetryAfter       time.Duration
	fieldErrors      map[string]bool
}

func (e *APIError) Error() string {
	return fmt.Sprintf("jira %s: HTTP %d: %s", e.Endpoint, e.Status, e.Text)
}

// Retryable says whether a later attempt may succeed.
func (e *APIError) Retryable() bool { return e.Status == 429 || e.Status >= 500 }

// IsStatus reports whether err is an APIError with that status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

// do sends one call through go-jira and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.gj.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return fmt.Errorf("jira %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.gj.Do(req, nil)
	endpoint := Endpoint(method, req.URL.Path)
	if resp == nil {
		c.answered.Store(0) // no answer: the next probe asks
		if err == nil {
			err = errors.New("no response")
		}
		return fmt.Errorf("jira %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	switch st := resp.StatusCode; {
	case st == http.StatusUnauthorized || st == http.StatusForbidden || st >= 500:
		c.answered.Store(0) // credentials rejected, or Jira failing: the next probe asks
	case st != http.StatusTooManyRequests:
		c.answered.Store(time.Now().UnixNano())
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		ae := &APIError{Method: method, Endpoint: endpoint, Status: resp.StatusCode, Text: errorText(raw), fieldErrors: fieldNames(raw)}
		if d, ok := ServerDelay(resp.Header, time.Now()); ok && ae.Retryable() {
			ae.RetryAfter = d
		}
		return ae
	}
	if rerr != nil {
		return fmt.Errorf("jira %s: read answer: %w", endpoint, rerr)
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("jira %s: answer is not the expected JSON (%.80q): %w", endpoint, raw, err)
		}
	}
	return nil
}

// errorText extracts Jira's messages from its error collection, or returns
// the body itself (shortened).
func errorText(raw []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
		Message       string            `json:"message"`
	}
	if json.Unmarshal(raw, &e) == nil {
		var parts []string
		for _, m := range e.ErrorMessages {
			if m = strings.TrimSpace(m); m != "" {
				parts = append(parts, m)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(e.Errors)) {
			parts = append(parts, k+": "+e.Errors[k])
		}
		if e.Message != "" {
			parts = append(parts, e.Message)
		}
		if len(parts) > 0 {
			return strings.Join(parts, "; ")
		}
	}
	s := strings.ToValidUTF8(strings.TrimSpace(string(raw)), "\uFFFD")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	if s == "" {
		s = "(empty answer)"
	}
	return s
}

// User is a Jira account as the API shows it.
type User struct {
	AccountID    string `json:"accountId,omitempty"`
	Name         string `json:"name,omitempty"`
	Key          string `json:"key,omitempty"`
	EmailAddress string `json:"emailAddress,omitempty"`
	DisplayName  string `json:"displayName,omitempty"`
}

// Is reports whether u and o are the same account (by account id on Cloud,
// key or name on Server).
func (u User) Is(o User) bool {
	switch {
	case u.AccountID != "" && o.AccountID != "":
		return u.AccountID == o.AccountID
	case u.Key != "" && o.Key != "":
		return strings.EqualFold(u.Key, o.Key)
	case u.Name != "" && o.Name != "":
		return strings.EqualFold(u.Name, o.Name)
	}
	return false
}

// ServerInfo returns the deployment type ("Cloud" or "Server").
func (c *Client) ServerInfo(ctx context.Context) (string, error) {
	var info struct {
		DeploymentType string `json:"deploymentType"`
		Version        string `json:"version"`
	}
	if err := c.do(ctx, http.MethodGet, "rest/api/2/serverInfo", nil, &info); err != nil {
		return "", err
	}
	if info.DeploymentType == "" {
		info.DeploymentType = DeploymentServer
	}
	return info.DeploymentType, nil
}

// Myself returns the authenticated user.
func (c *Client) Myself(ctx context.Context) (User, error) {
	var u User
	err := c.do(ctx, http.MethodGet, "rest/api/2/myself", nil, &u)
	return u, err
}

// Project is what the start-up checks need of a project.
type Project struct {
	ID         string `json:"id"`
	Key        string `json:"key"`
	Name       string `json:"name"`
	IssueTypes []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"issueTypes"`
}

// Project returns a project by key.
func (c *Client) Project(ctx context.Context, key string) (Project, error) {
	var p Project
	err := c.do(ctx, http.MethodGet, "rest/api/2/project/"+url.PathEscape(key), nil, &p)
	return p, err
}

// ProjectStatuses returns, per issue type name, the status names of its
// workflow.
func (c *Client) ProjectStatuses(ctx context.Context, key string) (map[string][]string, error) {
	var out []struct {
		Name     string `json:"name"`
		Statuses []struct {
			Name string `json:"name"`
		} `json:"statuses"`
	}
	if err := c.do(ctx, http.MethodGet, "rest/api/2/project/"+url.PathEscape(key)+"/statuses", nil, &out); err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for _, t := range out {
		for _, s := range t.Statuses {
			m[t.Name] = append(m[t.Name], s.Name)
		}
	}
	return m, nil
}

// MyPermissions returns which of perms the user holds in the project.
func (c *Client) MyPermissions(ctx context.Context, project string, perms []string) (map[string]bool, error) {
	var out struct {
		Permissions map[string]struct {
			HavePermission bool `json:"havePermission"`
		} `json:"permissions"`
	}
	q := url.Values{"projectKey": {project}, "permissions": {strings.Join(perms, ",")}}
	if err := c.do(ctx, http.MethodGet, "rest/api/2/mypermissions?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for k, v := range out.Permissions {
		m[k] = v.HavePermission
	}
	return m, nil
}

// Field is one issue field.
type Field struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Custom bool   `json:"custom"`
}

// Fields lists the issue fields.
func (c *Client) Fields(ctx context.Context) ([]Field, error) {
	var out []Field
	err := c.do(ctx, http.MethodGet, "rest/api/2/field", nil, &out)
	return out, err
}

// FindUserByEmail returns the user whose visible email is email.
func (c *Client) FindUserByEmail(ctx context.Context, email string) (User, bool, error) {
	q := url.Values{"query": {email}}
	if c.deployment != DeploymentCloud {
		q = url.Values{"username": {email}}
	}
	var out []User
	if err := c.do(ctx, http.MethodGet, "rest/api/2/user/search?"+q.Encode(), nil, &out); err != nil {
		return User{}, false, err
	}
	for _, u := range out {
		if strings.EqualFold(u.EmailAddress, email) {
			return u, true, nil
		}
	}
	return User{}, false, nil
}

// IssueRef names a created issue.
type IssueRef struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// CreateIssue creates an issue with the given fields and entity properties.
func (c *Client) CreateIssue(ctx context.Context, fields map[string]any, properties map[string]any) (IssueRef, error) {
	return c.createIssue(ctx, fields, properties, "")
}

// Issue is the part of an issue the bridge reads.
type Issue struct {
	ID     string
	Key    string
	Status string
	Labels []string
	// Properties holds the entity properties that were asked for.
	Properties map[string]json.RawMessage
	// Histories holds the changelog when asked for, oldest first.
	Histories []History
	Updated   time.Time
}

// History is one changelog entry.
type History struct {
	ID      string `json:"id"`
	Author  User   `json:"author"`
	Created string `json:"created"`
	Items   []struct {
		Field      string `json:"field"`
		FieldID    string `json:"fieldId"`
		FromString string `json:"fromString"`
		ToString   string `json:"toString"`
	} `json:"items"`
}

type issueJSON struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Status *struct {
			Name string `json:"name"`
		} `json:"status"`
		Labels  []string `json:"labels"`
		Updated string   `json:"updated"`
	} `json:"fields"`
	Properties map[string]json.RawMessage `json:"properties"`
	Changelog  *struct {
		Histories []History `json:"histories"`
	} `json:"changelog"`
}

func (j issueJSON) issue() Issue {
	is := Issue{ID: j.ID, Key: j.Key, Labels: j.Fields.Labels, Properties: j.Properties}
	if j.Fields.Status != nil {
		is.Status = j.Fields.Status.Name
	}
	if j.Changelog != nil {
		is.Histories = j.Changelog.Histories
	}
	is.Updated, _ = ParseTime(j.Fields.Updated)
	return is
}

// ParseTime reads Jira's timestamp format.
func ParseTime(s string) (time.Time, error) {
	for _, l := range []string{"2006-01-02T15:04:05.000-0700", time.RFC3339Nano} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a Jira time: %q", s)
}

// GetIssue reads an issue's status and labels, the named entity properties,
// and its changelog when withChangelog.
func (c *Client) GetIssue(ctx context.Context, idOrKey string, properties []string, withChangelog bool) (Issue, error) {
	q := url.Values{"fields": {"status,labels,updated"}}
	if len(properties) > 0 {
		q.Set("properties", strings.Join(properties, ","))
	}
	if withChangelog {
		q.Set("expand", "changelog")
	}
	var j issueJSON
	if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"?"+q.Encode(), nil, &j); err != nil {
		return Issue{}, err
	}
	return j.issue(), nil
}

// Search runs a JQL query and returns up to limit issues (status, labels,
// the named properties). Cloud uses /search/jql (token paging); Server and
// Data Center use /search.
func (c *Client) Search(ctx context.Context, jql string, properties []string, limit int) ([]Issue, error) {
	var out []Issue
	body := map[string]any{"jql": jql, "fields": []string{"status", "labels", "updated"}, "maxResults": min(limit, 100)}
	if len(properties) > 0 {
		body["properties"] = properties
	}
	if c.deployment == DeploymentCloud {
		for {
			var page struct {
				Issues        []issueJSON `json:"issues"`
				NextPageToken string      `json:"nextPageToken"`
				IsLast        bool        `json:"isLast"`
			}
			if err := c.do(ctx, http.MethodPost, "rest/api/2/search/jql", body, &page); err != nil {
				return nil, err
			}
			for _, j := range page.Issues {
				out = append(out, j.issue())
			}
			if page.IsLast || page.NextPageToken == "" || len(out) >= limit {
				return out, nil
			}
			body["nextPageToken"] = page.NextPageToken
		}
	}
	for start := 0; ; {
		body["startAt"] = start
		var page struct {
			Issues []issueJSON `json:"issues"`
			Total  int         `json:"total"`
		}
		if err := c.do(ctx, http.MethodPost, "rest/api/2/search", body, &page); err != nil {
			return nil, err
		}
		for _, j := range page.Issues {
			out = append(out, j.issue())
		}
		start += len(page.Issues)
		if len(page.Issues) == 0 || start >= page.Total || len(out) >= limit {
			return out, nil
		}
	}
}

// Transition is one available transition.
type Transition struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	To   struct {
		Name string `json:"name"`
	} `json:"to"`
}

// Transitions lists the transitions available on an issue.
func (c *Client) Transitions(ctx context.Context, idOrKey string) ([]Transition, error) {
	var out struct {
		Transitions []Transition `json:"transitions"`
	}
	err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"/transitions", nil, &out)
	return out.Transitions, err
}

// ErrNoTransition: the workflow has no transition to the wanted status from
// the issue's current one.
var ErrNoTransition = errors.New("no transition")

// TransitionTo moves an issue to the status named status (any case), by the
// transition whose target it is, adding comment when not empty.
func (c *Client) TransitionTo(ctx context.Context, idOrKey, status, comment string) error {
	ts, err := c.Transitions(ctx, idOrKey)
	if err != nil {
		return err
	}
	var id string
	var names []string
	for _, t := range ts {
		names = append(names, t.To.Name)
		if strings.EqualFold(t.To.Name, status) {
			id = t.ID
			break
		}
	}
	if id == "" {
		return fmt.Errorf("%w to status %q on %s (available: %s)", ErrNoTransition, status, idOrKey, strings.Join(names, ", "))
	}
	body := map[string]any{"transition": map[string]string{"id": id}}
	if comment != "" {
		body["update"] = map[string]any{"comment": []any{map[string]any{"add": map[string]string{"body": comment}}}}
	}
	return c.do(ctx, http.MethodPost, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"/transitions", body, nil)
}

// Comment is one issue comment.
type Comment struct {
	ID      string `json:"id"`
	Author  User   `json:"author"`
	Body    string `json:"body"`
	Created string `json:"created"`
}

// Comments lists an issue's comments, oldest first (up to 5000).
func (c *Client) Comments(ctx context.Context, idOrKey string) ([]Comment, error) {
	var out []Comment
	for start := 0; ; {
		var page struct {
			Comments []Comment `json:"comments"`
			Total    int       `json:"total"`
		}
		q := url.Values{"startAt": {strconv.Itoa(start)}, "maxResults": {"100"}, "orderBy": {"created"}}
		if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"/comment?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Comments...)
		start += len(page.Comments)
		if len(page.Comments) == 0 || start >= page.Total || start >= 5000 {
			return out, nil
		}
	}
}

// AddComment adds a comment and returns its id.
func (c *Client) AddComment(ctx context.Context, idOrKey, body string) (string, error) {
	var out Comment
	err := c.do(ctx, http.MethodPost, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"/comment", map[string]string{"body": body}, &out)
	return out.ID, err
}

// Property reads an issue entity property (found=false on 404).
func (c *Client) Property(ctx context.Context, idOrKey, key string) (json.RawMessage, bool, error) {
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"/properties/"+url.PathEscape(key), nil, &out)
	if IsStatus(err, http.StatusNotFound) {
		return nil, false, nil
	}
	return out.Value, err == nil, err
}

// SetProperty writes an issue entity property.
func (c *Client) SetProperty(ctx context.Context, idOrKey, key string, value any) error {
	return c.do(ctx, http.MethodPut, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"/properties/"+url.PathEscape(key), value, nil)
}
