// Package fuzz holds fuzz targets that drive the emulators from the outside
// (make fuzz-short runs them briefly, make fuzz longer). It has no TestMain,
// so a fuzz run does not build the product binaries.
package fuzz

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// FuzzJiraEmulatorAPI sends arbitrary JQL and request bodies to the Jira
// emulator's REST API: whatever the input, it answers like Jira (a 4xx for
// what it cannot take), never a 5xx or a panic, and stays usable.
func FuzzJiraEmulatorAPI(f *testing.F) {
	f.Add(uint8(0), `labels = "teleport-access-request-1" ORDER BY created ASC`, `{}`)
	f.Add(uint8(1), `project = TAR AND status = Pending`, `{"fields":{"project":{"key":"TAR"},"summary":"s","issuetype":{"name":"Task"},"labels":["a"]}}`)
	f.Add(uint8(2), `updated >= -1h`, `{"transition":{"id":"21"}}`)
	f.Add(uint8(3), `key in (TAR-1, TAR-2)`, `{"body":"Reason: ok"}`)
	f.Add(uint8(4), `status was "Approved"`, `"value"`)
	f.Add(uint8(5), `(((`, `{"fields":{"summary":null}}`)
	f.Fuzz(func(t *testing.T, op uint8, jql, body string) {
		js, err := jirasim.New(jirasim.Options{BaseURL: "http://jira.test", CustomFields: []jirasim.CustomField{jirasim.RequestIDField()}})
		if err != nil {
			t.Fatal(err)
		}
		defer js.Close()
		bot := js.Bot()
		if _, err := js.CreateIssue(jirasim.NewIssue{Summary: "myuser requested editor", Labels: []string{"teleport-access-request-1"}}); err != nil {
			t.Fatal(err)
		}
		h := js.Handler()
		do := func(method, path, body string) int {
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.SetBasicAuth(bot.Email, bot.Token)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		var method, path string
		switch op % 6 {
		case 0:
			method, path, body = http.MethodGet, "/rest/api/2/search/jql?jql="+url.QueryEscape(jql), ""
		case 1:
			method, path = http.MethodPost, "/rest/api/2/issue"
		case 2:
			method, path = http.MethodPost, "/rest/api/2/issue/TAR-1/transitions"
		case 3:
			method, path = http.MethodPost, "/rest/api/2/issue/TAR-1/comment"
		case 4:
			method, path = http.MethodPut, "/rest/api/2/issue/TAR-1/properties/teleportAccessRequestId"
		case 5:
			method, path = http.MethodPost, "/rest/api/2/search"
			body = `{"jql":` + quote(jql) + `,"maxResults":10}`
		}
		if code := do(method, path, body); code >= 500 {
			t.Fatalf("%s %s with %q: HTTP %d", method, path, body, code)
		}
		if code := do(http.MethodGet, "/rest/api/2/issue/TAR-1", ""); code != http.StatusOK {
			t.Fatalf("the emulator is unusable after %s %s with %q: GET issue answered %d", method, path, body, code)
		}
	})
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	var b strings.Builder
	for _, c := range r.Replace(s) {
		if c < 0x20 {
			continue
		}
		b.WriteRune(c)
	}
	return `"` + b.String() + `"`
}
