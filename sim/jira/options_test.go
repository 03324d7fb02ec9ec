package jirasim_test

import (
	"strings"
	"testing"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts jirasim.Options
		want string
	}{
		{"flavor", jirasim.Options{Flavor: "onprem"}, "invalid Flavor"},
		{"initial status", jirasim.Options{InitialStatus: "Open"}, `InitialStatus "Open" is not one of Statuses`},
		{"transition target", jirasim.Options{Transitions: []jirasim.Transition{{To: "Done"}}}, `Transitions[0].To "Done"`},
		{"duplicate status", jirasim.Options{Statuses: []jirasim.Status{{Name: "A"}, {Name: "a"}}}, "duplicate status"},
		{"custom field id", jirasim.Options{CustomFields: []jirasim.CustomField{{ID: "10050", Name: "x"}}}, "want customfield_NNNNN"},
		{"bot", jirasim.Options{Bot: "mallory"}, `Bot "mallory" is not one of Users`},
		{"fault rate", jirasim.Options{Faults: jirasim.Faults{ErrorRate: 1.5}}, "invalid Faults.ErrorRate"},
		{"user identity", jirasim.Options{Users: []jirasim.User{{DisplayName: "nobody"}}}, "needs an accountId, a name or an email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jirasim.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	s, err := jirasim.New(jirasim.Options{Flavor: "DataCenter"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Flavor() != jirasim.FlavorServer || s.ProjectKey() != "TAR" || s.Bot().Email != "accessbridge@example.com" {
		t.Fatalf("defaults: flavor %s project %s bot %+v", s.Flavor(), s.ProjectKey(), s.Bot())
	}
}
