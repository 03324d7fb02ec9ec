package e2e

import (
	"testing"

	"github.com/accessbridge/accessbridge/test/harness"
)

// Scenario 1: many requests, two replicas of each service, ended on the
// board, in Teleport, and by expiry.
func TestHappyPathAtScale(t *testing.T) {
	s := harness.Start(t, bin, harness.Options{Replicas: map[harness.Service]int{
		harness.TeleportBridge: 2, harness.JiraBridge: 2, harness.Ingress: 2}})
	_, c := mixed(t, s, play{n: size(100, 2000)})
	mustCheck(t, c)
}
