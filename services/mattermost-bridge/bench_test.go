package mattermostbridge_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

// BenchmarkLifecycle publishes b.N request lifecycles (created, one review,
// approved) at once to one bridge posting to one email and one channel, and
// reports the Mattermost calls per lifecycle (from the emulator's log) and
// how long a request waited for its first post in that backlog.
func BenchmarkLifecycle(b *testing.B) {
	e := newEnv(b, mmsim.Options{})
	e.start(e.config(), "mb-bench")
	dm, town := e.channels()
	startup := len(e.mm.Requests())
	e.mm.ResetRequests()

	ids := make([]string, b.N)
	published := make(map[string]time.Time, b.N)
	b.ResetTimer()
	for i := range b.N {
		r := request(fmt.Sprintf("req-bench-%d-%d", b.N, i))
		ids[i] = r.ID
		published[r.ID] = time.Now()
		e.lifecycle(r, events.StateApproved)
	}
	e.settled(time.Duration(b.N)*time.Second+30*time.Second, ids, []string{dm, town}, "APPROVED", 1)
	b.StopTimer()

	calls := len(e.mm.Requests())
	var lat []float64
	for _, id := range ids {
		first := int64(0)
		for _, ps := range e.posts(id) {
			if first == 0 || ps[0].CreateAt < first {
				first = ps[0].CreateAt
			}
		}
		lat = append(lat, float64(first-published[id].UnixMilli()))
	}
	sort.Float64s(lat)
	b.ReportMetric(float64(calls)/float64(b.N), "mm-calls/lifecycle")
	b.ReportMetric(float64(startup), "mm-calls-at-start")
	b.ReportMetric(lat[len(lat)/2], "p50-ms-to-post-in-backlog")
	b.ReportMetric(lat[len(lat)*99/100], "p99-ms-to-post-in-backlog")
}

// BenchmarkEventToPost measures one request at a time: from publishing
// request.created to both of its posts existing.
func BenchmarkEventToPost(b *testing.B) {
	e := newEnv(b, mmsim.Options{})
	e.start(e.config(), "mb-bench")
	b.ResetTimer()
	for i := range b.N {
		r := request(fmt.Sprintf("req-latency-%d-%d", b.N, i))
		e.publish(events.NewRequestCreated(r))
		for len(e.posts(r.ID)) < 2 {
			time.Sleep(time.Millisecond)
		}
	}
}
