// Package teleportsim emulates the Teleport Auth Service gRPC API closely enough
// for the unchanged github.com/gravitational/teleport/api client (client.New with
// an identity file) to run an access-request plugin against it.
//
// It owns: a cluster CA that serves mTLS and issues identity files, a small
// static model of users and roles, access requests with Teleport's state rules,
// reviews and thresholds (enterprise edition), plugin data with
// compare-and-swap, request expiry, watch streams, an audit list, faults on
// demand, and an admin HTTP endpoint driven by the teleport-sim CLI.
//
// Tests use Start(tb, Options{}); the demo runs `teleport-sim serve`.
package teleportsim
