package teleportsim_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gravitational/teleport/api/types"

	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

func TestModelFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.yaml")
	err := os.WriteFile(path, []byte(`
roles:
  - name: db
  - name: db-requester
    request:
      roles: [db]
      suggested_reviewers: [carol]
      thresholds: [{approve: 3, deny: 2}]
  - name: db-reviewer
    review_requests: {roles: [db]}
  - name: plugin
    rules:
      - resources: [access_request]
        verbs: [list, read, update]
users:
  - {name: dave, roles: [db-requester]}
  - {name: carol, roles: [db-reviewer]}
  - {name: bridge, roles: [plugin]}
  - {name: root, builtin_admin: true}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	m, err := teleportsim.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := teleportsim.Start(t, teleportsim.Options{Model: &m})
	id, err := srv.CreateRequest("dave", []string{"db"}, "")
	if err != nil {
		t.Fatal(err)
	}
	req := mustState(t, srv, id, types.RequestState_PENDING)
	if th := req.GetThresholds(); len(th) != 1 || th[0].Approve != 3 || th[0].Deny != 2 {
		t.Errorf("thresholds = %+v", th)
	}
	if rv := req.GetSuggestedReviewers(); len(rv) != 1 || rv[0] != "carol" {
		t.Errorf("suggested reviewers = %v", rv)
	}
	if _, err := connect(t, srv, "bridge").Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Review(id, "carol", true, ""); err != nil {
		t.Fatal(err)
	}
	mustState(t, srv, id, types.RequestState_PENDING)

	bad := teleportsim.Model{Users: []teleportsim.User{{Name: "x", Roles: []string{"nope"}}}}
	if err := bad.Validate(teleportsim.EditionEnterprise); err == nil {
		t.Fatal("unknown role accepted")
	}
}
