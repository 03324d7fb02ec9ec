package jirasim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	jira "github.com/andygrunwald/go-jira"
	"github.com/trivago/tgo/tcontainer"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

func TestCreateIssueWithCustomFieldAndProperty(t *testing.T) {
	for _, flavor := range []string{jirasim.FlavorCloud, jirasim.FlavorServer} {
		t.Run(flavor, func(t *testing.T) {
			s := jirasim.Start(t, jirasim.Options{Flavor: flavor, CustomFields: []jirasim.CustomField{jirasim.RequestIDField()}})
			c := client(t, s, "accessbridge")

			body := map[string]any{
				"fields": map[string]any{
					"project":           map[string]string{"key": "TAR"},
					"issuetype":         map[string]string{"name": "Task"},
					"summary":           "alice requested editor",
					"labels":            []string{"teleport-access-request-r1"},
					"customfield_10050": "r1",
				},
				"properties": []map[string]any{{"key": "teleportAccessRequestId", "value": "r1"}},
			}
			var created struct{ ID, Key, Self string }
			resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue", body, &created)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("create: %d %s", resp.StatusCode, raw)
			}
			if created.ID != "10000" || created.Key != "TAR-1" || created.Self != s.URL()+"/rest/api/2/issue/10000" {
				t.Fatalf("created = %+v", created)
			}

			// go-jira's typed Get sees the fields, the custom field and the status.
			issue, _, err := c.Issue.Get("TAR-1", &jira.GetQueryOptions{Expand: "transitions"})
			if err != nil {
				t.Fatal(err)
			}
			if issue.Fields.Summary != "alice requested editor" || issue.Fields.Status.Name != "Backlog" || issue.Fields.Type.Name != "Task" {
				t.Fatalf("issue fields = %+v", issue.Fields)
			}
			if got := issue.Fields.Unknowns["customfield_10050"]; got != "r1" {
				t.Fatalf("customfield_10050 = %v", got)
			}
			if len(issue.Transitions) != 5 {
				t.Fatalf("transitions from Backlog = %d, want 5", len(issue.Transitions))
			}

			// The entity property, both ways the reference plugin reads it.
			var withProps struct {
				Properties map[string]any `json:"properties"`
			}
			do(t, c, http.MethodGet, "rest/api/2/issue/10000?fields=status&properties=teleportAccessRequestId", nil, &withProps)
			if withProps.Properties["teleportAccessRequestId"] != "r1" {
				t.Fatalf("properties = %v", withProps.Properties)
			}
			var prop struct {
				Key   string
				Value any
			}
			do(t, c, http.MethodGet, "rest/api/2/issue/TAR-1/properties/teleportAccessRequestId", nil, &prop)
			if prop.Value != "r1" {
				t.Fatalf("property = %+v", prop)
			}
			if got, _ := s.Issue("TAR-1"); string(got.Properties["teleportAccessRequestId"]) != `"r1"` || got.CustomFields["customfield_10050"] != "r1" {
				t.Fatalf("admin snapshot = %+v", got)
			}

			// go-jira's own Create (typed struct, custom field in Unknowns) is accepted.
			typed := &jira.Issue{Fields: &jira.IssueFields{
				Type: jira.IssueType{Name: "Task"}, Project: jira.Project{Key: "TAR"}, Summary: "bob requested admin",
				Unknowns: tcontainer.MarshalMap{"customfield_10050": "r2"},
			}}
			got, resp2, err := c.Issue.Create(typed)
			if err != nil {
				t.Fatalf("go-jira Create: %v (%s)", err, bodyOf(resp2))
			}
			if got.Key != "TAR-2" {
				t.Fatalf("second key = %s", got.Key)
			}
		})
	}
}

func bodyOf(resp *jira.Response) string {
	if resp == nil {
		return ""
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return b.String()
}

func TestCreateIssueErrors(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{})
	c := client(t, s, "accessbridge@example.com")
	base := func() map[string]any {
		return map[string]any{
			"project":   map[string]string{"key": "TAR"},
			"issuetype": map[string]string{"name": "Task"},
			"summary":   "ok",
		}
	}
	tests := []struct {
		name   string
		edit   func(map[string]any)
		field  string
		wantIn string
	}{
		{"unknown project", func(f map[string]any) { f["project"] = map[string]string{"key": "NOPE"} }, "project", "valid project is required"},
		{"unknown issue type", func(f map[string]any) { f["issuetype"] = map[string]string{"name": "Epic"} }, "issuetype", "valid issue type is required"},
		{"field not on screen", func(f map[string]any) { f["customfield_99999"] = "x" }, "customfield_99999", "It is not on the appropriate screen, or unknown."},
		{"summary too long", func(f map[string]any) { f["summary"] = strings.Repeat("x", 256) }, "summary", "Summary must be less than 255 characters."},
		{"missing summary", func(f map[string]any) { delete(f, "summary") }, "summary", "You must specify a summary of the issue."},
		{"label with space", func(f map[string]any) { f["labels"] = []string{"a b"} }, "labels", "contains spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			tt.edit(f)
			resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue", map[string]any{"fields": f}, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d %s", resp.StatusCode, raw)
			}
			e := decodeErrors(t, raw)
			if !strings.Contains(e.Errors[tt.field], tt.wantIn) || e.ErrorMessages == nil {
				t.Fatalf("errors = %+v, want %s containing %q", e, tt.field, tt.wantIn)
			}
		})
	}
	if n := len(s.Issues()); n != 0 {
		t.Fatalf("%d issues created by invalid requests", n)
	}
}

func TestTransitionsAndChangelog(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{})
	c := client(t, s, "accessbridge@example.com")
	id, key := createIssue(t, c, "alice requested editor")

	trs, _, err := c.Issue.GetTransitions(key)
	if err != nil {
		t.Fatal(err)
	}
	var pendingID string
	for _, tr := range trs {
		if strings.EqualFold(tr.To.Name, "pending") {
			pendingID = tr.ID
		}
	}
	if pendingID == "" || trs[0].Name == "" {
		t.Fatalf("no transition to Pending in %+v", trs)
	}
	if _, err := c.Issue.DoTransition(id, pendingID); err != nil {
		t.Fatal(err)
	}

	// Moving to the current status is not available: 400 like Jira.
	resp, err := c.Issue.DoTransition(key, pendingID)
	if err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("transition to the current status: err=%v", err)
	}
	if !strings.Contains(err.Error(), "Transition id '"+pendingID+"' is not valid for this issue.") {
		t.Fatalf("error = %v", err)
	}

	// A transition with a comment, as a reviewer would.
	if err := s.Move(key, "Approved", "alice@example.com", "Reason: looks fine"); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(key, "Backlog", "nobody", ""); !errors.Is(err, jirasim.ErrNotFound) {
		t.Fatalf("move as unknown user: %v", err)
	}

	issue, _, err := c.Issue.Get(key, &jira.GetQueryOptions{Expand: "changelog"})
	if err != nil {
		t.Fatal(err)
	}
	if issue.Fields.Status.Name != "Approved" {
		t.Fatalf("status = %s", issue.Fields.Status.Name)
	}
	hs := issue.Changelog.Histories
	if len(hs) != 2 {
		t.Fatalf("histories = %+v", hs)
	}
	last := hs[1]
	var status *jira.ChangelogItems
	for i := range last.Items {
		if last.Items[i].Field == "status" {
			status = &last.Items[i]
		}
	}
	if status == nil || status.FromString != "Pending" || status.ToString != "Approved" || last.Author.AccountID != "5b10a2844c20165700ede21g" {
		t.Fatalf("last history = %+v", last)
	}
	if got := s.Transitions(key); len(got) != 2 || got[1].From != "Pending" || got[1].To != "Approved" {
		t.Fatalf("admin transitions = %+v", got)
	}
	if cs := s.Comments(key); len(cs) != 1 || cs[0].Body != "Reason: looks fine" {
		t.Fatalf("comments = %+v", cs)
	}
}

func TestConfiguredWorkflowAndInitialStatus(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{
		InitialStatus: "Pending",
		Transitions: []jirasim.Transition{
			{Name: "Approve", From: []string{"Pending"}, To: "Approved"},
			{Name: "Deny", From: []string{"Pending"}, To: "Denied"},
			{Name: "Reopen", From: []string{"Approved", "Denied"}, To: "Pending"},
		},
	})
	c := client(t, s, "accessbridge@example.com")
	_, key := createIssue(t, c, "alice requested editor")
	trs, _, err := c.Issue.GetTransitions(key)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tr := range trs {
		names = append(names, tr.Name+"->"+tr.To.Name)
	}
	if strings.Join(names, ",") != "Approve->Approved,Deny->Denied" {
		t.Fatalf("transitions from Pending = %v", names)
	}
	if err := s.Move(key, "Expired", "alice", ""); err == nil {
		t.Fatal("move without a transition succeeded")
	}
	if err := s.Move(key, "Approve", "alice", ""); err != nil {
		t.Fatal(err)
	}
}

func TestComments(t *testing.T) {
	for _, flavor := range []string{jirasim.FlavorCloud, jirasim.FlavorServer} {
		t.Run(flavor, func(t *testing.T) {
			s := jirasim.Start(t, jirasim.Options{Flavor: flavor})
			c := client(t, s, "accessbridge")
			_, key := createIssue(t, c, "alice requested editor")
			for i := range 3 {
				if _, _, err := c.Issue.AddComment(key, &jira.Comment{Body: "comment " + strconv.Itoa(i)}); err != nil {
					t.Fatal(err)
				}
			}
			var page struct {
				StartAt, MaxResults, Total int
				Comments                   []struct {
					ID, Body string
					Author   map[string]any
				}
			}
			do(t, c, http.MethodGet, "rest/api/2/issue/"+key+"/comment?startAt=0&maxResults=2&orderBy=-created", nil, &page)
			if page.Total != 3 || len(page.Comments) != 2 || page.Comments[0].Body != "comment 2" {
				t.Fatalf("page = %+v", page)
			}
			if flavor == jirasim.FlavorCloud && page.Comments[0].Author["accountId"] == nil {
				t.Fatalf("cloud author without accountId: %v", page.Comments[0].Author)
			}
			if flavor == jirasim.FlavorServer && (page.Comments[0].Author["name"] != "accessbridge" || page.Comments[0].Author["accountId"] != nil) {
				t.Fatalf("server author = %v", page.Comments[0].Author)
			}
			resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue/"+key+"/comment", map[string]string{"body": "  "}, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("empty comment: %d %s", resp.StatusCode, raw)
			}
		})
	}
}

func TestSearchCloud(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{CustomFields: []jirasim.CustomField{jirasim.RequestIDField()}})
	c := client(t, s, "accessbridge@example.com")
	for i := range 3 {
		createIssue(t, c, "user"+strconv.Itoa(i)+" requested editor", "teleport-access-request-r"+strconv.Itoa(i), "teleport")
	}
	if err := s.Move("TAR-2", "Pending", "alice", ""); err != nil {
		t.Fatal(err)
	}

	issues, _, err := c.Issue.SearchV2JQL(`project = TAR AND labels = "teleport-access-request-r1"`, &jira.SearchOptionsV2{Fields: []string{"key", "status"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(issues) != 1 || issues[0].Key != "TAR-2" || issues[0].Fields.Status.Name != "Pending" {
		t.Fatalf("issues = %+v", issues)
	}

	// Default fields on Cloud's new search are ids only.
	issues, _, err = c.Issue.SearchV2JQL("project = TAR ORDER BY key ASC", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(issues) != 3 || issues[0].ID != "10000" || issues[0].Key != "" || issues[0].Fields != nil {
		t.Fatalf("id-only issues = %+v", issues)
	}

	// Token paging: no total, isLast, nextPageToken.
	var seen []string
	token := ""
	for {
		var page struct {
			Issues        []struct{ Key string }
			NextPageToken string
			IsLast        bool
			Total         *int
		}
		do(t, c, http.MethodPost, "rest/api/2/search/jql", map[string]any{
			"jql": `labels = teleport ORDER BY created DESC`, "maxResults": 2, "fields": []string{"key"}, "nextPageToken": token,
		}, &page)
		if page.Total != nil {
			t.Fatal("Cloud search returned a total")
		}
		for _, i := range page.Issues {
			seen = append(seen, i.Key)
		}
		if page.IsLast {
			break
		}
		token = page.NextPageToken
	}
	if strings.Join(seen, ",") != "TAR-3,TAR-2,TAR-1" {
		t.Fatalf("paged keys = %v", seen)
	}

	// Status lists, custom field text search, relative dates.
	var res struct{ Issues []struct{ Key string } }
	do(t, c, http.MethodGet, `rest/api/2/search/jql?fields=key&jql=`+urlQuery(`project = TAR AND status in (Backlog, "Pending") AND updated >= -15m AND cf[10050] ~ "user0" ORDER BY key ASC`), nil, &res)
	if len(res.Issues) != 0 {
		t.Fatalf("custom field unset yet matched: %+v", res)
	}

	// The old search is gone on Cloud.
	_, resp, err := c.Issue.Search("project = TAR", nil)
	if err == nil || resp.StatusCode != http.StatusGone {
		t.Fatalf("old search on Cloud: %v", err)
	}

	// Unsupported JQL: 400 with Jira's message.
	resp2, raw := do(t, c, http.MethodGet, "rest/api/2/search/jql?jql="+urlQuery("assignee was currentUser()"), nil, nil)
	if resp2.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "Expecting operator but got 'was'") {
		t.Fatalf("bad JQL: %d %s", resp2.StatusCode, raw)
	}
	resp3, raw := do(t, c, http.MethodGet, "rest/api/2/search/jql?jql="+urlQuery("ORDER BY created"), nil, nil)
	if resp3.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "Unbounded JQL") {
		t.Fatalf("unbounded JQL: %d %s", resp3.StatusCode, raw)
	}
}

func TestSearchServer(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{Flavor: jirasim.FlavorServer, CustomFields: []jirasim.CustomField{jirasim.RequestIDField()}})
	c := client(t, s, "accessbridge")
	for i := range 5 {
		body := map[string]any{"fields": map[string]any{
			"project": map[string]string{"key": "TAR"}, "issuetype": map[string]string{"name": "Task"},
			"summary": "user requested role" + strconv.Itoa(i), "customfield_10050": "req-" + strconv.Itoa(i),
		}}
		if resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue", body, nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %s", raw)
		}
	}
	for _, k := range []string{"TAR-2", "TAR-4"} {
		if err := s.Move(k, "Pending", "alice", ""); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	err := c.Issue.SearchPages(`project = TAR AND status = Pending ORDER BY key ASC`, &jira.SearchOptions{MaxResults: 1}, func(i jira.Issue) error {
		keys = append(keys, i.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "TAR-2,TAR-4" {
		t.Fatalf("keys = %v", keys)
	}

	var page struct {
		StartAt, MaxResults, Total int
		Issues                     []struct {
			Key    string
			Fields map[string]any
		}
	}
	do(t, c, http.MethodGet, "rest/api/2/search?startAt=1&maxResults=2&jql="+urlQuery(`"teleportAccessRequestId" ~ "req" ORDER BY key DESC`), nil, &page)
	if page.Total != 5 || page.StartAt != 1 || len(page.Issues) != 2 || page.Issues[0].Key != "TAR-4" || page.Issues[0].Fields["summary"] == nil {
		t.Fatalf("page = %+v", page)
	}
	// Server has no /search/jql.
	if resp, _ := do(t, c, http.MethodGet, "rest/api/2/search/jql?jql=project=TAR", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/search/jql on Server: %d", resp.StatusCode)
	}
	// cf text fields do not take "=".
	resp, raw := do(t, c, http.MethodGet, "rest/api/2/search?jql="+urlQuery(`cf[10050] = "req-1"`), nil, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "The operator '=' is not supported by the 'teleportAccessRequestId' field.") {
		t.Fatalf("cf = : %d %s", resp.StatusCode, raw)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D", "(", "%28", ")", "%29", ",", "%2C", "[", "%5B", "]", "%5D", "~", "%7E", ">", "%3E", "<", "%3C", "+", "%2B")
	return r.Replace(s)
}

func TestAuth(t *testing.T) {
	cloud := jirasim.Start(t, jirasim.Options{})
	server := jirasim.Start(t, jirasim.Options{Flavor: jirasim.FlavorServer})
	tests := []struct {
		name string
		s    *jirasim.Server
		set  func(r *http.Request)
		want int
	}{
		{"cloud email+token", cloud, func(r *http.Request) { r.SetBasicAuth("accessbridge@example.com", "accessbridge-token") }, 200},
		{"cloud wrong token", cloud, func(r *http.Request) { r.SetBasicAuth("accessbridge@example.com", "nope") }, 401},
		{"cloud username instead of email", cloud, func(r *http.Request) { r.SetBasicAuth("accessbridge", "accessbridge-token") }, 401},
		{"cloud PAT is not a Cloud credential", cloud, func(r *http.Request) { r.Header.Set("Authorization", "Bearer accessbridge-pat") }, 401},
		{"cloud anonymous", cloud, func(*http.Request) {}, 401},
		{"server name+password", server, func(r *http.Request) { r.SetBasicAuth("accessbridge", "accessbridge-token") }, 200},
		{"server PAT", server, func(r *http.Request) { r.Header.Set("Authorization", "Bearer accessbridge-pat") }, 200},
		{"server wrong PAT", server, func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401},
		{"server email login", server, func(r *http.Request) { r.SetBasicAuth("accessbridge@example.com", "accessbridge-token") }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.s.URL()+"/rest/api/2/myself", nil)
			tt.set(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 401 {
				var e jiraErrors
				if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || len(e.ErrorMessages) == 0 {
					t.Fatalf("401 body: %+v %v", e, err)
				}
			}
		})
	}
	// go-jira with a bad token sees the 401 too, and the log shows it.
	c, _ := jira.NewClient((&jira.BasicAuthTransport{Username: "alice@example.com", Password: "bad"}).Client(), cloud.URL())
	if _, resp, err := c.User.GetSelf(); err == nil || resp.StatusCode != 401 {
		t.Fatalf("go-jira bad token: %v", err)
	}
	if n := cloud.CountRequests("GET", "/rest/api/2/myself"); n != 6 {
		t.Fatalf("myself calls logged = %d, want 6", n)
	}
}

// TestRateLimitHonouredByRetryLoop shows a client that honours Retry-After
// getting through an injected 429.
func TestRateLimitHonouredByRetryLoop(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{Faults: jirasim.Faults{RateLimit: 2}})
	c := client(t, s, "accessbridge@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var throttled int
	getWithRetry := func() *jira.User {
		for attempt := 0; ; attempt++ {
			u, resp, err := c.User.GetSelfWithContext(ctx)
			if err == nil {
				return u
			}
			if resp == nil || resp.StatusCode != http.StatusTooManyRequests || attempt > 5 {
				t.Fatalf("attempt %d: %v", attempt, err)
			}
			throttled++
			secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
			}
			if resp.Header.Get("RateLimit-Reason") == "" {
				t.Fatal("429 without RateLimit-Reason")
			}
			// Honouring Retry-After is the behaviour under test, not synchronisation.
			timer := time.NewTimer(time.Duration(secs) * time.Second)
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-timer.C:
			}
		}
	}
	for range 4 {
		if u := getWithRetry(); u.AccountID == "" {
			t.Fatal("no accountId")
		}
	}
	if throttled == 0 {
		t.Fatal("no 429 was injected")
	}
	var n429 int
	for _, r := range s.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n429++
		}
	}
	if n429 != throttled {
		t.Fatalf("request log has %d 429s, client saw %d", n429, throttled)
	}
}

func TestFaults(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	s := jirasim.Start(t, jirasim.Options{Now: clock.Now, Seed: 1})
	c := client(t, s, "accessbridge@example.com")
	_, key := createIssue(t, c, "alice requested editor")

	t.Run("errors", func(t *testing.T) {
		if err := s.SetFaults(jirasim.Faults{ErrorRate: 1}); err != nil {
			t.Fatal(err)
		}
		defer s.SetFaults(jirasim.Faults{})
		_, resp, err := c.Issue.Get(key, nil)
		if err == nil || resp.StatusCode < 500 {
			t.Fatalf("want 5xx, got %v", err)
		}
	})
	t.Run("dropped connection", func(t *testing.T) {
		_ = s.SetFaults(jirasim.Faults{DropConnectionRate: 1})
		defer s.SetFaults(jirasim.Faults{})
		if _, resp, err := c.Issue.Get(key, nil); err == nil || resp != nil {
			t.Fatalf("want a transport error, got resp=%v err=%v", resp, err)
		}
	})
	t.Run("lost response after a write", func(t *testing.T) {
		_ = s.SetFaults(jirasim.Faults{DropResponseRate: 1})
		before := len(s.Issues())
		if _, _, err := c.Issue.AddComment(key, &jira.Comment{Body: "lost answer"}); err == nil {
			t.Fatal("want a transport error")
		}
		_ = s.SetFaults(jirasim.Faults{})
		if cs := s.Comments(key); len(cs) != 1 || len(s.Issues()) != before {
			t.Fatalf("the write should have happened once: %+v", cs)
		}
	})
	t.Run("read lag", func(t *testing.T) {
		_ = s.SetFaults(jirasim.Faults{ReadLag: 2 * time.Second})
		defer s.SetFaults(jirasim.Faults{})
		if err := s.Move(key, "Pending", "alice", ""); err != nil {
			t.Fatal(err)
		}
		issue, _, err := c.Issue.Get(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if issue.Fields.Status.Name != "Backlog" {
			t.Fatalf("status within the lag = %s, want the old Backlog", issue.Fields.Status.Name)
		}
		clock.Advance(3 * time.Second)
		issue, _, _ = c.Issue.Get(key, nil)
		if issue.Fields.Status.Name != "Pending" {
			t.Fatalf("status after the lag = %s", issue.Fields.Status.Name)
		}
	})
	t.Run("per-issue write limit", func(t *testing.T) {
		_ = s.SetFaults(jirasim.Faults{IssueWriteLimit: 1})
		defer s.SetFaults(jirasim.Faults{})
		if _, _, err := c.Issue.AddComment(key, &jira.Comment{Body: "one"}); err != nil {
			t.Fatal(err)
		}
		_, resp, err := c.Issue.AddComment(key, &jira.Comment{Body: "two"})
		if err == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("RateLimit-Reason") != "jira-per-issue-on-write" {
			t.Fatalf("second write: %v", err)
		}
		// Reads of the same issue are not limited.
		if _, _, err := c.Issue.Get(key, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMetaEndpoints(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{Flavor: jirasim.FlavorServer, CustomFields: []jirasim.CustomField{jirasim.RequestIDField()},
		Users: []jirasim.User{{Name: "bridge", Email: "bridge@example.com", Token: "t", DeniedPermissions: []string{"TRANSITION_ISSUES"}}}})
	c := client(t, s, "bridge")
	var info struct{ DeploymentType string }
	do(t, c, http.MethodGet, "rest/api/2/serverInfo", nil, &info)
	if info.DeploymentType != "Server" {
		t.Fatalf("serverInfo = %+v", info)
	}
	var perms struct {
		Permissions map[string]struct{ HavePermission bool }
	}
	do(t, c, http.MethodGet, "rest/api/2/mypermissions?projectKey=TAR&permissions=BROWSE_PROJECTS,CREATE_ISSUES,TRANSITION_ISSUES,ADD_COMMENTS", nil, &perms)
	if !perms.Permissions["CREATE_ISSUES"].HavePermission || perms.Permissions["TRANSITION_ISSUES"].HavePermission {
		t.Fatalf("permissions = %+v", perms)
	}
	var project struct{ Key, Name string }
	do(t, c, http.MethodGet, "rest/api/2/project/TAR", nil, &project)
	if project.Key != "TAR" || project.Name != "Teleport Access Requests" {
		t.Fatalf("project = %+v", project)
	}
	if resp, _ := do(t, c, http.MethodGet, "rest/api/2/project/NOPE", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown project: %d", resp.StatusCode)
	}
	fields, _, err := c.Field.GetList()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range fields {
		if f.ID == "customfield_10050" && f.Custom && strings.Join(f.ClauseNames, ",") == "cf[10050],teleportAccessRequestId" {
			found = true
		}
	}
	if !found {
		t.Fatalf("custom field not listed: %+v", fields)
	}
	users, _, err := c.User.Find("", jira.WithUsername("bri"))
	if err != nil || len(users) != 1 || users[0].Name != "bridge" {
		t.Fatalf("user search = %+v, %v", users, err)
	}
}
