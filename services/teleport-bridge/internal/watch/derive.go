// Package watch turns Teleport's access_request watch stream into request
// events: it watches, relists after every (re)connect and periodically, keeps
// the latest snapshot of every request it has seen, and publishes the
// created, reviewed, resolved and expired events each snapshot implies, with
// dedup ids that make replicas and relists collapse into one event each.
package watch

import "github.com/accessbridge/accessbridge/pkg/events"

// Derive lists the events a snapshot implies, in the order they happened:
// created, one reviewed per review, and resolved once the state is final.
// Every event carries the snapshot itself, so a consumer that sees them late
// or twice reconciles to the same state.
func Derive(r events.AccessRequest) []*events.RequestEvent {
	out := []*events.RequestEvent{events.NewRequestCreated(r)}
	for i := range r.Reviews {
		out = append(out, events.NewRequestReviewed(r, i+1))
	}
	if r.State.Resolved() {
		out = append(out, events.NewRequestResolved(r))
	}
	return out
}

// progress orders snapshots of one request: a snapshot with a final state
// or more reviews is newer. Teleport's revisions are opaque, and a listing
// read through its cache may be older than an event already watched.
func progress(r events.AccessRequest) int {
	p := len(r.Reviews)
	if r.State.Resolved() {
		p += 1 << 20
	}
	return p
}
