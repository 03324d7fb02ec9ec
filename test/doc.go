// Package test is AccessBridge's end-to-end, fault and security suite: the
// real binaries as separate processes against a real nats-server and the
// Jira and Teleport emulators. The harness is in test/harness, the
// scenarios in test/e2e; `make test` runs their short variants and
// `make soak` (SOAK=1) the long ones.
package test
