package e2e

import (
	"strings"
	"testing"

	"github.com/accessbridge/accessbridge/test/harness"
	"github.com/nats-io/nats.go/jetstream"
)

// Scenario 1: many requests, two replicas of each service, ended on the
// board, in Teleport, and by expiry. Two poison messages (a permanent
// error) are injected: they, and only they, must be dead-lettered with
// their reason.
func TestHappyPathAtScale(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{Replicas: map[harness.Service]int{
		harness.TeleportBridge: 2, harness.JiraBridge: 2, harness.Ingress: 2}})
	poison := map[string]bool{"teleport.requests.poison-1": true, "jira.webhooks.99999999": true}
	_, c := mixed(t, s, play{n: size(1000, 10000), beforeDecide: func([]string) {
		for subj := range poison {
			if _, err := s.JetStream().Publish(t.Context(), subj, []byte(`{"specversion":"1.0","id":"x"`), jetstream.WithMsgID(subj)); err != nil {
				t.Fatal(err)
			}
		}
	}})
	c.DeadLetterExpected = func(dl harness.DeadLetter) bool {
		return poison[dl.OriginalSubject] && strings.Contains(dl.Reason, "decode")
	}
	r := mustCheck(t, c)
	if r.DeadLetters != len(poison) {
		t.Errorf("%d dead letters, want %d (one per poison message)", r.DeadLetters, len(poison))
	}
}
