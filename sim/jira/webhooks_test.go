package jirasim_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	jira "github.com/andygrunwald/go-jira"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// The structs a consumer (the jira-bridge) would decode Jira webhooks with.
// They decode the six real payloads in testdata/jira-webhooks (repository root) and the
// emulator's output alike.
type whUser struct {
	Self         string `json:"self"`
	AccountID    string `json:"accountId"`
	AccountType  string `json:"accountType"`
	Name         string `json:"name"`
	Key          string `json:"key"`
	EmailAddress string `json:"emailAddress"`
	DisplayName  string `json:"displayName"`
	Active       bool   `json:"active"`
	TimeZone     string `json:"timeZone"`
}

type whChangeItem struct {
	Field      string  `json:"field"`
	FieldType  string  `json:"fieldtype"`
	FieldID    *string `json:"fieldId"`
	From       *string `json:"from"`
	FromString *string `json:"fromString"`
	To         *string `json:"to"`
	ToString   *string `json:"toString"`
}

type whPayload struct {
	Timestamp          int64   `json:"timestamp"`
	WebhookEvent       string  `json:"webhookEvent"`
	IssueEventTypeName *string `json:"issue_event_type_name"`
	User               whUser  `json:"user"`
	Issue              struct {
		ID     string `json:"id"`
		Self   string `json:"self"`
		Key    string `json:"key"`
		Fields struct {
			Summary     string   `json:"summary"`
			Description *string  `json:"description"`
			Labels      []string `json:"labels"`
			Created     string   `json:"created"`
			Updated     string   `json:"updated"`
			Reporter    *whUser  `json:"reporter"`
			Creator     *whUser  `json:"creator"`
			IssueType   struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"issuetype"`
			Project struct {
				ID   string `json:"id"`
				Key  string `json:"key"`
				Name string `json:"name"`
			} `json:"project"`
			Status struct {
				ID             string `json:"id"`
				Name           string `json:"name"`
				StatusCategory struct {
					ID  int    `json:"id"`
					Key string `json:"key"`
				} `json:"statusCategory"`
			} `json:"status"`
			Resolution *struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"resolution"`
		} `json:"fields"`
	} `json:"issue"`
	Changelog *struct {
		ID    string         `json:"id"`
		Items []whChangeItem `json:"items"`
	} `json:"changelog"`
}

// fixtureDir finds testdata/jira-webhooks at the repository root from the
// module directory (sim/jira).
func fixtureDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("JIRA_WEBHOOK_FIXTURES")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "jira-webhooks")
	}
	if _, err := os.Stat(filepath.Join(dir, "01-cloud-issue_updated-status-to-done.json")); err != nil {
		abs, _ := filepath.Abs(dir)
		t.Fatalf("real Jira webhook payloads not found in %s (expected testdata/jira-webhooks at the repository root, or set JIRA_WEBHOOK_FIXTURES): %v", abs, err)
	}
	return dir
}

// loadFixture returns a fixture as raw JSON, decoded generically and into the
// consumer structs.
func loadFixture(t *testing.T, name string) (map[string]any, whPayload) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return decodePayload(t, raw)
}

func decodePayload(t *testing.T, raw []byte) (map[string]any, whPayload) {
	t.Helper()
	var generic map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		t.Fatalf("decode payload: %v\n%s", err, raw)
	}
	var p whPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decode payload into the consumer structs: %v\n%s", err, raw)
	}
	return generic, p
}

func TestRealFixturesDecode(t *testing.T) {
	entries, err := os.ReadDir(fixtureDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		n++
		_, p := loadFixture(t, e.Name())
		if p.Timestamp == 0 || p.WebhookEvent == "" || p.Issue.ID == "" || p.Issue.Key == "" || p.Issue.Fields.Status.Name == "" || p.User.DisplayName == "" {
			t.Errorf("%s: decoded %+v", e.Name(), p)
		}
	}
	if n != 6 {
		t.Fatalf("found %d fixtures, want 6", n)
	}
}

func keysOf(v any) []string {
	m, _ := v.(map[string]any)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}

func obj(v any, path ...string) map[string]any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	m, _ := v.(map[string]any)
	return m
}

// requireKeys checks that got has every key of want except those in skip.
func requireKeys(t *testing.T, what string, want, got map[string]any, skip ...string) {
	t.Helper()
	for k := range want {
		if slices.Contains(skip, k) {
			continue
		}
		if _, ok := got[k]; !ok {
			t.Errorf("%s: missing key %q (real payload has %v, emulator %v)", what, k, keysOf(want), keysOf(got))
		}
	}
}

// requireSameTypes checks that keys present in both have the same JSON type
// (a null on either side is allowed: Jira nulls absent values).
func requireSameTypes(t *testing.T, what string, want, got map[string]any) {
	t.Helper()
	for k, wv := range want {
		gv, ok := got[k]
		if !ok || wv == nil || gv == nil {
			continue
		}
		if jsonType(wv) != jsonType(gv) {
			t.Errorf("%s.%s: type %s, real payload has %s", what, k, jsonType(gv), jsonType(wv))
		}
	}
}

// compareUser checks a user object against the real one of the flavour.
func compareUser(t *testing.T, what, flavor string, want, got map[string]any, emailHidden bool) {
	t.Helper()
	skip := []string{}
	if flavor == jirasim.FlavorCloud {
		skip = append(skip, "name", "key") // legacy fields, gone from Cloud since GDPR (see fixture 06)
		if _, has := got["name"]; has {
			t.Errorf("%s: Cloud user carries a name: %v", what, got)
		}
		if _, has := got["accountId"]; !has {
			t.Errorf("%s: Cloud user without accountId", what)
		}
	} else if _, has := got["accountId"]; has {
		t.Errorf("%s: Server user carries an accountId", what)
	}
	if emailHidden {
		skip = append(skip, "emailAddress")
		if _, has := got["emailAddress"]; has {
			t.Errorf("%s: hidden email present", what)
		}
	}
	requireKeys(t, what, want, got, skip...)
	requireSameTypes(t, what, want, got)
}

// compareIssue checks issue and issue.fields field by field.
func compareIssue(t *testing.T, flavor string, want, got map[string]any) {
	t.Helper()
	requireKeys(t, "issue", obj(want, "issue"), obj(got, "issue"))
	wf, gf := obj(want, "issue", "fields"), obj(got, "issue", "fields")
	for k := range wf {
		if strings.HasPrefix(k, "customfield_") {
			delete(wf, k) // instance-specific custom fields
		}
	}
	requireKeys(t, "issue.fields", wf, gf)
	requireSameTypes(t, "issue.fields", wf, gf)
	for _, k := range []string{"status", "issuetype", "project", "priority", "resolution", "watches", "votes"} {
		if obj(wf, k) == nil || obj(gf, k) == nil {
			continue
		}
		var skip []string
		if k == "project" {
			skip = []string{"projectTypeKey", "simplified", "projectCategory"}
		}
		requireKeys(t, "issue.fields."+k, obj(wf, k), obj(gf, k), skip...)
		requireSameTypes(t, "issue.fields."+k, obj(wf, k), obj(gf, k))
	}
	requireKeys(t, "issue.fields.status.statusCategory", obj(wf, "status", "statusCategory"), obj(gf, "status", "statusCategory"))
	requireSameTypes(t, "issue.fields.status.statusCategory", obj(wf, "status", "statusCategory"), obj(gf, "status", "statusCategory"))
	for _, k := range []string{"reporter", "creator"} {
		if obj(wf, k) != nil {
			compareUser(t, "issue.fields."+k, flavor, obj(wf, k), obj(gf, k), false)
		}
	}
}

// compareChangelog checks changelog and its items' keys per flavour.
func compareChangelog(t *testing.T, flavor string, want, got map[string]any) {
	t.Helper()
	wc, gc := obj(want, "changelog"), obj(got, "changelog")
	if wc == nil {
		if gc != nil {
			t.Errorf("changelog present, real payload has none")
		}
		return
	}
	requireKeys(t, "changelog", wc, gc)
	requireSameTypes(t, "changelog", wc, gc)
	wItems, _ := wc["items"].([]any)
	gItems, _ := gc["items"].([]any)
	if len(gItems) == 0 {
		t.Fatalf("emulator changelog has no items")
	}
	wantKeys := strings.Join(keysOf(wItems[0]), ",")
	for _, it := range gItems {
		if got := strings.Join(keysOf(it), ","); got != wantKeys {
			t.Errorf("changelog item keys = %s, real payload has %s", got, wantKeys)
		}
		_, hasFieldID := it.(map[string]any)["fieldId"]
		if hasFieldID != (flavor == jirasim.FlavorCloud) {
			t.Errorf("%s changelog item fieldId present = %v", flavor, hasFieldID)
		}
	}
}

// comparePayload checks top-level keys (exactly), then user, issue, changelog.
func comparePayload(t *testing.T, flavor string, want, got map[string]any, emailHidden bool) {
	t.Helper()
	wk, gk := keysOf(want), keysOf(got)
	if strings.Join(wk, ",") != strings.Join(gk, ",") {
		t.Errorf("top-level keys = %v, real payload has %v", gk, wk)
	}
	requireSameTypes(t, "payload", want, got)
	if jsonType(got["timestamp"]) != "number" || strings.Contains(string(got["timestamp"].(json.Number)), ".") {
		t.Errorf("timestamp %v is not an integer", got["timestamp"])
	}
	compareUser(t, "user", flavor, obj(want, "user"), obj(got, "user"), emailHidden)
	compareIssue(t, flavor, want, got)
	compareChangelog(t, flavor, want, got)
}

// emitted runs scenario against an emulator of the flavour and returns the
// webhook bodies received, by issue_event_type_name (or event name).
func emitted(t *testing.T, opts jirasim.Options, scenario func(s *jirasim.Server, c *jira.Client)) map[string][]byte {
	t.Helper()
	rcv := newReceiver(t)
	opts.WebhookURLs = []string{rcv.URL()}
	s := jirasim.Start(t, opts)
	scenario(s, client(t, s, "accessbridge"))
	waitWebhooks(t, s)
	out := map[string][]byte{}
	for _, r := range rcv.all() {
		var head struct {
			WebhookEvent       string `json:"webhookEvent"`
			IssueEventTypeName string `json:"issue_event_type_name"`
		}
		if err := json.Unmarshal(r.Body, &head); err != nil {
			t.Fatalf("webhook body: %v", err)
		}
		name := head.IssueEventTypeName
		if name == "" {
			name = head.WebhookEvent
		}
		out[name] = r.Body
	}
	return out
}

func TestWebhookConformanceCloud(t *testing.T) {
	got := emitted(t, jirasim.Options{CustomFields: []jirasim.CustomField{{ID: "customfield_10072", Name: "MJK - Number Field", Type: "number"}}},
		func(s *jirasim.Server, c *jira.Client) {
			_, key := createIssue(t, c, "alice requested editor", "teleport-access-request-r1")
			if err := s.Move(key, "Pending", "accessbridge", ""); err != nil {
				t.Fatal(err)
			}
			// bob hides his email (Cloud privacy), as in fixture 06.
			if err := s.Move(key, "Approved", "bob@example.com", "Reason: ok"); err != nil {
				t.Fatal(err)
			}
			resp, raw := do(t, c, http.MethodPut, "rest/api/2/issue/"+key, map[string]any{"fields": map[string]any{"customfield_10072": 12}}, nil)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("edit: %d %s", resp.StatusCode, raw)
			}
			if resp, raw := do(t, c, http.MethodDelete, "rest/api/2/issue/"+key, nil, nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("delete: %d %s", resp.StatusCode, raw)
			}
		})
	for _, name := range []string{"issue_created", "issue_generic", "issue_updated", "jira:issue_deleted"} {
		if got[name] == nil {
			t.Fatalf("no %s webhook among %v", name, keysOf(map[string]any{}))
		}
	}

	t.Run("transition vs 01", func(t *testing.T) {
		want, _ := loadFixture(t, "01-cloud-issue_updated-status-to-done.json")
		gen, p := decodePayload(t, got["issue_generic"])
		delete(gen, "comment") // the transition carried a comment; fixture 01 had none
		comparePayload(t, jirasim.FlavorCloud, want, gen, true)
		items := map[string]whChangeItem{}
		for _, it := range p.Changelog.Items {
			items[*it.FieldID] = it
		}
		st := items["status"]
		if st.Field != "status" || *st.FromString != "Pending" || *st.ToString != "Approved" || p.Issue.Fields.Status.Name != "Approved" || p.Issue.Fields.Resolution == nil {
			t.Fatalf("status change = %+v, issue status %s", st, p.Issue.Fields.Status.Name)
		}
		if p.WebhookEvent != "jira:issue_updated" || *p.IssueEventTypeName != "issue_generic" || p.User.DisplayName != "Bob Reviewer" {
			t.Fatalf("payload = %+v", p)
		}
	})
	t.Run("hidden email vs 06", func(t *testing.T) {
		want, _ := loadFixture(t, "06-cloud-issue_updated-no-emailAddress.json")
		gen, _ := decodePayload(t, got["issue_generic"])
		wantUser, gotUser := obj(want, "user"), obj(gen, "user")
		if strings.Join(keysOf(wantUser), ",") != strings.Join(keysOf(gotUser), ",") {
			t.Fatalf("privacy user keys = %v, real payload has %v", keysOf(gotUser), keysOf(wantUser))
		}
	})
	t.Run("custom field edit vs 03", func(t *testing.T) {
		want, _ := loadFixture(t, "03-cloud-issue_updated-custom-field.json")
		gen, p := decodePayload(t, got["issue_updated"])
		comparePayload(t, jirasim.FlavorCloud, want, gen, false)
		it := p.Changelog.Items[0]
		if it.FieldType != "custom" || it.Field != "MJK - Number Field" || *it.FieldID != "customfield_10072" || *it.ToString != "12" || it.To != nil {
			t.Fatalf("custom field item = %+v", it)
		}
	})
	t.Run("created vs 04", func(t *testing.T) {
		want, _ := loadFixture(t, "04-cloud-issue_created.json")
		gen, p := decodePayload(t, got["issue_created"])
		comparePayload(t, jirasim.FlavorCloud, want, gen, false)
		var status *whChangeItem
		for i, it := range p.Changelog.Items {
			if it.FieldID != nil && *it.FieldID == "status" {
				status = &p.Changelog.Items[i]
			}
		}
		if p.WebhookEvent != "jira:issue_created" || status == nil || status.Field != "Status" || *status.ToString != "Backlog" {
			t.Fatalf("created payload = %+v", p)
		}
	})
	t.Run("deleted vs 05", func(t *testing.T) {
		want, _ := loadFixture(t, "05-cloud-issue_deleted.json")
		gen, p := decodePayload(t, got["jira:issue_deleted"])
		comparePayload(t, jirasim.FlavorCloud, want, gen, false)
		if p.IssueEventTypeName != nil || p.Changelog != nil {
			t.Fatalf("deleted payload carries an event type or changelog: %+v", p)
		}
	})
}

func TestWebhookConformanceServer(t *testing.T) {
	got := emitted(t, jirasim.Options{Flavor: jirasim.FlavorServer}, func(s *jirasim.Server, c *jira.Client) {
		_, key := createIssue(t, c, "alice requested editor")
		if err := s.Move(key, "Pending", "accessbridge", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Move(key, "Denied", "alice", ""); err != nil {
			t.Fatal(err)
		}
	})
	want, _ := loadFixture(t, "02-server-issue_updated-status-to-resolved.json")
	gen, p := decodePayload(t, got["issue_resolved"])
	comparePayload(t, jirasim.FlavorServer, want, gen, false)
	if strings.Join(keysOf(obj(gen, "user")), ",") != strings.Join(keysOf(obj(want, "user")), ",") {
		t.Fatalf("server user keys = %v, real payload has %v", keysOf(obj(gen, "user")), keysOf(obj(want, "user")))
	}
	if p.User.Name != "alice" || p.User.Key != "alice" || p.Changelog.Items[0].Field != "status" || *p.Changelog.Items[0].ToString != "Denied" {
		t.Fatalf("payload = %+v", p)
	}
	// A move to a non-done status is issue_generic on Server too.
	if got["issue_generic"] == nil {
		t.Fatal("no issue_generic event for Backlog -> Pending")
	}
}

func TestWebhookSignatureAndHeaders(t *testing.T) {
	const secret = "whsec-test-0123456789"
	rcv := newReceiver(t)
	s := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv.URL()}, WebhookSecret: secret, InitialStatus: "Pending"})
	c := client(t, s, "accessbridge")
	_, key := createIssue(t, c, "alice requested editor")
	if err := s.Move(key, "Approved", "alice", ""); err != nil {
		t.Fatal(err)
	}
	got := rcv.waitN(t, 2)
	for _, r := range got {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(r.Body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if sig := r.Header.Get("X-Hub-Signature"); !hmac.Equal([]byte(sig), []byte(want)) {
			t.Fatalf("X-Hub-Signature = %q, want %q", sig, want)
		}
		if sig := jirasim.Signature(secret, r.Body); sig != want {
			t.Fatalf("Signature() = %q", sig)
		}
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Atlassian-Webhook-Identifier") == "" || r.Header.Get("X-Atlassian-Webhook-Retry") != "" {
			t.Fatalf("headers = %v", r.Header)
		}
	}
	if got[0].Header.Get("X-Atlassian-Webhook-Identifier") == got[1].Header.Get("X-Atlassian-Webhook-Identifier") {
		t.Fatal("two events share an identifier")
	}
	// A tampered body does not verify.
	if jirasim.Signature(secret, append(got[1].Body, ' ')) == got[1].Header.Get("X-Hub-Signature") {
		t.Fatal("signature does not depend on the body")
	}
	// Without a secret there is no signature.
	rcv2 := newReceiver(t)
	s2 := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv2.URL()}})
	createIssue(t, client(t, s2, "accessbridge"), "x")
	if r := rcv2.waitN(t, 1)[0]; r.Header.Get("X-Hub-Signature") != "" {
		t.Fatal("unsigned emulator sent X-Hub-Signature")
	}
}

func TestWebhookRetriesKeepIdentifier(t *testing.T) {
	rcv := newReceiver(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	s := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv.URL()}, WebhookBackoff: 10_000_000})
	createIssue(t, client(t, s, "accessbridge"), "alice requested editor")
	got := rcv.waitN(t, 3)
	waitWebhooks(t, s)
	id := got[0].Header.Get("X-Atlassian-Webhook-Identifier")
	for i, r := range got {
		if r.Header.Get("X-Atlassian-Webhook-Identifier") != id {
			t.Fatalf("attempt %d identifier %q, want %q", i, r.Header.Get("X-Atlassian-Webhook-Identifier"), id)
		}
		wantRetry := ""
		if i > 0 {
			wantRetry = string(rune('0' + i))
		}
		if r.Header.Get("X-Atlassian-Webhook-Retry") != wantRetry {
			t.Fatalf("attempt %d X-Atlassian-Webhook-Retry = %q, want %q", i, r.Header.Get("X-Atlassian-Webhook-Retry"), wantRetry)
		}
		if !bytes.Equal(r.Body, got[0].Body) {
			t.Fatalf("attempt %d body differs", i)
		}
	}
	ds := s.Webhooks()
	if len(ds) != 1 || ds[0].State != jirasim.DeliveryDelivered || len(ds[0].Attempts) != 3 || ds[0].Attempts[0].Status != 503 || ds[0].ID != id {
		t.Fatalf("deliveries = %+v", ds)
	}

	// A 400 is not retried.
	rcv2 := newReceiver(t, http.StatusBadRequest)
	s2 := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv2.URL()}, WebhookBackoff: 10_000_000})
	createIssue(t, client(t, s2, "accessbridge"), "x")
	waitWebhooks(t, s2)
	if ds := s2.Webhooks(); ds[0].State != jirasim.DeliveryFailed || len(rcv2.all()) != 1 {
		t.Fatalf("400 delivery = %+v, %d posts", ds[0], len(rcv2.all()))
	}
}

func TestWebhookFaults(t *testing.T) {
	t.Run("duplicate", func(t *testing.T) {
		rcv := newReceiver(t)
		s := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv.URL()}, Faults: jirasim.Faults{WebhookDuplicateRate: 1}})
		createIssue(t, client(t, s, "accessbridge"), "x")
		got := rcv.waitN(t, 2)
		if got[0].Header.Get("X-Atlassian-Webhook-Identifier") != got[1].Header.Get("X-Atlassian-Webhook-Identifier") || !bytes.Equal(got[0].Body, got[1].Body) {
			t.Fatal("duplicate differs from the original")
		}
	})
	t.Run("drop", func(t *testing.T) {
		rcv := newReceiver(t)
		s := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv.URL()}, Faults: jirasim.Faults{WebhookDropRate: 1}})
		createIssue(t, client(t, s, "accessbridge"), "x")
		waitWebhooks(t, s)
		if ds := s.Webhooks(); len(ds) != 1 || ds[0].State != jirasim.DeliveryDropped || len(rcv.all()) != 0 {
			t.Fatalf("deliveries = %+v", ds)
		}
	})
	t.Run("reorder", func(t *testing.T) {
		rcv := newReceiver(t)
		s := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv.URL()}, InitialStatus: "Pending"})
		c := client(t, s, "accessbridge")
		_, key := createIssue(t, c, "x")
		rcv.waitN(t, 1)
		_ = s.SetFaults(jirasim.Faults{WebhookReorderRate: 1, WebhookReorderDelay: 300_000_000})
		if err := s.Move(key, "Approved", "alice", ""); err != nil {
			t.Fatal(err)
		}
		_ = s.SetFaults(jirasim.Faults{})
		if err := s.Move(key, "Denied", "alice", ""); err != nil {
			t.Fatal(err)
		}
		got := rcv.waitN(t, 3)
		_, second := decodePayload(t, got[1].Body)
		if second.Issue.Fields.Status.Name != "Denied" {
			t.Fatalf("the later move should arrive first, got %s", second.Issue.Fields.Status.Name)
		}
	})
}

func TestAPINeverBlocksOnWebhookReceiver(t *testing.T) {
	release := make(chan struct{})
	slow := newBlockingReceiver(t, release)
	s := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{slow}})
	c := client(t, s, "accessbridge")
	for i := range 10 {
		createIssue(t, c, "x"+string(rune('a'+i)))
	}
	if n := len(s.Issues()); n != 10 {
		t.Fatalf("issues = %d", n)
	}
	close(release)
	waitWebhooks(t, s)
}

func newBlockingReceiver(t *testing.T, release <-chan struct{}) string {
	t.Helper()
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	return srv
}
