package teleport

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/gravitational/teleport/api/types"
)

func TestSnapshot(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	req, err := types.NewAccessRequestWithResources("req-1", "alice", []string{"editor"}, []types.ResourceID{
		{ClusterName: "c1", Kind: "db", Name: "pg", SubResourceName: "main"},
	})
	if err != nil {
		t.Fatal(err)
	}
	req.SetCreationTime(created)
	req.SetExpiry(created.Add(time.Hour))
	req.SetMaxDuration(created.Add(2 * time.Hour))
	req.SetRequestReason(strings.Repeat("é", events.MaxReasonLen)) // over the limit, multi-byte
	req.SetSuggestedReviewers([]string{"bob"})
	req.SetReviews([]types.AccessReview{{Author: "bob", ProposedState: types.RequestState_APPROVED, Reason: "ok", Created: created}})
	if err := req.SetState(types.RequestState_APPROVED); err != nil {
		t.Fatal(err)
	}
	req.SetResolveReason("ok")
	cluster := events.Cluster{Name: "c1", ProxyAddr: "p:443"}

	s := Snapshot(req, cluster)
	if err := s.Validate(); err != nil {
		t.Fatalf("snapshot invalid: %v", err)
	}
	switch {
	case s.ID != "req-1", s.User != "alice", s.State != events.StateApproved, s.ResolveReason != "ok":
		t.Errorf("basic fields: %+v", s)
	case len(s.RequestedResources) != 1 || s.RequestedResources[0].String() != "db/c1/pg/main":
		t.Errorf("resources: %+v", s.RequestedResources)
	case len(s.Reviews) != 1 || s.Reviews[0].Author != "bob" || s.Reviews[0].State != events.StateApproved:
		t.Errorf("reviews: %+v", s.Reviews)
	case !s.Created.Equal(created), !s.Expires.Equal(created.Add(time.Hour)), !s.MaxDuration.Equal(created.Add(2 * time.Hour)):
		t.Errorf("times: %v %v %v", s.Created, s.Expires, s.MaxDuration)
	case len(s.Reason) > events.MaxReasonLen, s.Cluster != cluster:
		t.Errorf("reason %d bytes, cluster %+v", len(s.Reason), s.Cluster)
	}
	if State(types.RequestState_NONE) != events.StatePending || State(types.RequestState_DENIED) != events.StateDenied {
		t.Error("state mapping")
	}
}
