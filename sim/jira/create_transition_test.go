package jirasim_test

import (
	"net/http"
	"slices"
	"testing"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// Jira Cloud's create issue takes an optional transition that moves the new
// issue out of the initial status in the same call; Data Center ignores it.
func TestCreateWithTransition(t *testing.T) {
	for _, tc := range []struct {
		flavor, want string
	}{{jirasim.FlavorCloud, "Pending"}, {jirasim.FlavorServer, "Backlog"}} {
		t.Run(tc.flavor, func(t *testing.T) {
			s := jirasim.Start(t, jirasim.Options{Flavor: tc.flavor})
			c := client(t, s, s.Bot().Name)
			var ts struct{ Transitions []struct{ ID, Name string } }
			id, _ := createIssue(t, c, "probe")
			do(t, c, http.MethodGet, "rest/api/2/issue/"+id+"/transitions", nil, &ts)
			pending := ""
			for _, tr := range ts.Transitions {
				if tr.Name == "Pending" {
					pending = tr.ID
				}
			}
			s.ResetRequests()
			body := map[string]any{
				"fields":     map[string]any{"project": map[string]string{"key": "TAR"}, "issuetype": map[string]string{"name": "Task"}, "summary": "with transition"},
				"transition": map[string]string{"id": pending},
			}
			var out struct{ Key string }
			if resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue", body, &out); resp.StatusCode != http.StatusCreated {
				t.Fatalf("create: %d %s", resp.StatusCode, raw)
			}
			is, _ := s.Issue(out.Key)
			if is.Status != tc.want {
				t.Fatalf("status %s, want %s", is.Status, tc.want)
			}
			if got := s.Calls(); !slices.Equal(got, []string{"POST /rest/api/2/issue"}) {
				t.Fatalf("calls = %v", got)
			}
			if tc.flavor == jirasim.FlavorCloud {
				body["transition"] = map[string]string{"id": "999"}
				resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue", body, nil)
				if resp.StatusCode != http.StatusBadRequest || len(s.Issues()) != 2 {
					t.Fatalf("invalid transition: %d %s, %d issues (want 400 and nothing created)", resp.StatusCode, raw, len(s.Issues()))
				}
			}
		})
	}
}

// A workflow whose transition screens lack the comment field refuses a
// comment in the transition, naming the field.
func TestTransitionScreensRefuseComments(t *testing.T) {
	s := jirasim.Start(t, jirasim.Options{TransitionScreensRefuseComments: true})
	c := client(t, s, s.Bot().Name)
	id, key := createIssue(t, c, "probe")
	body := map[string]any{"transition": map[string]string{"id": "21"},
		"update": map[string]any{"comment": []any{map[string]any{"add": map[string]string{"body": "why"}}}}}
	resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue/"+id+"/transitions", body, nil)
	if resp.StatusCode != http.StatusBadRequest || decodeErrors(t, raw).Errors["comment"] == "" {
		t.Fatalf("transition with a comment: %d %s, want 400 naming the comment field", resp.StatusCode, raw)
	}
	delete(body, "update")
	if resp, raw := do(t, c, http.MethodPost, "rest/api/2/issue/"+id+"/transitions", body, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("transition without a comment: %d %s", resp.StatusCode, raw)
	}
	if is, _ := s.Issue(key); is.Status != "Pending" {
		t.Fatalf("status %s", is.Status)
	}
}
