package watch

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
)

func TestDerive(t *testing.T) {
	base := events.AccessRequest{ID: "r1", User: "u", Roles: []string{"editor"}, State: events.StatePending, Created: time.Unix(1, 0)}
	review := func(s events.State) events.Review {
		return events.Review{Author: "a", State: s, Created: time.Unix(2, 0)}
	}
	withReviews := func(r events.AccessRequest, state events.State, rv ...events.Review) events.AccessRequest {
		r.State, r.Reviews = state, rv
		return r
	}
	cases := []struct {
		name string
		in   events.AccessRequest
		want string
	}{
		{"pending", base, "r1:created"},
		{"one review", withReviews(base, events.StatePending, review(events.StateApproved)), "r1:created r1:review:1"},
		{"approved by reviews", withReviews(base, events.StateApproved, review(events.StateApproved), review(events.StateApproved)), "r1:created r1:review:1 r1:review:2 r1:resolved:APPROVED"},
		{"denied", withReviews(base, events.StateDenied), "r1:created r1:resolved:DENIED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ev := range Derive(tc.in) {
				if _, err := events.New("test", time.Now(), ev); err != nil {
					t.Fatalf("%s: %v", ev.DedupID(), err)
				}
				got = append(got, ev.DedupID())
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
	if progress(withReviews(base, events.StateDenied)) <= progress(withReviews(base, events.StatePending, review(events.StateApproved), review(events.StateApproved))) {
		t.Error("a resolved snapshot must outrank a pending one with more reviews")
	}
}

func TestDecorrelatedBackoffStaysInBounds(t *testing.T) {
	lo, hi := 10*time.Millisecond, time.Second
	d := lo
	for range 1000 {
		d = decorrelated(lo, hi, d)
		if d < lo || d > hi {
			t.Fatalf("back-off %v outside [%v, %v]", d, lo, hi)
		}
	}
}
