package teleport

import (
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/gravitational/teleport/api/types"
)

// Snapshot converts a Teleport access request into the event snapshot,
// with the cluster facts learned from Ping. Free text is cut to the event
// limits so an oversized reason never blocks a request's events.
func Snapshot(r types.AccessRequest, cluster events.Cluster) events.AccessRequest {
	out := events.AccessRequest{
		ID:                 r.GetName(),
		User:               cut(r.GetUser(), events.MaxNameLen),
		Roles:              cutList(r.GetRoles()),
		Reason:             cut(r.GetRequestReason(), events.MaxReasonLen),
		SuggestedReviewers: cutList(r.GetSuggestedReviewers()),
		State:              State(r.GetState()),
		ResolveReason:      cut(r.GetResolveReason(), events.MaxReasonLen),
		Created:            r.GetCreationTime().UTC(),
		Expires:            utcOrZero(r.Expiry()),
		MaxDuration:        utcOrZero(r.GetMaxDuration()),
		Revision:           cut(r.GetRevision(), events.MaxNameLen),
		Cluster:            cluster,
	}
	for _, id := range r.GetRequestedResourceIDs() {
		if len(out.RequestedResources) == events.MaxListLen {
			break
		}
		out.RequestedResources = append(out.RequestedResources, events.Resource{
			Kind:        cut(id.Kind, events.MaxNameLen),
			Cluster:     cut(id.ClusterName, events.MaxNameLen),
			Name:        cut(id.Name, events.MaxNameLen),
			SubResource: cut(id.SubResourceName, events.MaxNameLen),
		})
	}
	for _, rv := range r.GetReviews() {
		if len(out.Reviews) == events.MaxListLen {
			break
		}
		out.Reviews = append(out.Reviews, events.Review{
			Author:  cut(rv.Author, events.MaxNameLen),
			State:   State(rv.ProposedState),
			Reason:  cut(rv.Reason, events.MaxReasonLen),
			Created: rv.Created.UTC(),
		})
	}
	return out
}

// State maps Teleport's request state to the event state; NONE (an
// uninitialised request) counts as pending.
func State(s types.RequestState) events.State {
	switch s {
	case types.RequestState_APPROVED:
		return events.StateApproved
	case types.RequestState_DENIED:
		return events.StateDenied
	case types.RequestState_PROMOTED:
		return events.StatePromoted
	}
	return events.StatePending
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

func cutList(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(in), events.MaxListLen))
	for _, s := range in {
		if len(out) == events.MaxListLen {
			break
		}
		if s != "" {
			out = append(out, cut(s, events.MaxNameLen))
		}
	}
	return out
}
