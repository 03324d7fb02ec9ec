// Package events is the wire contract shared by every AccessBridge service:
// the CloudEvents-style envelope, the versioned event types and their
// payloads, the NATS subjects they travel on, the dedup id of each event and
// the JetStream streams and buckets that hold them.
//
// It imports nothing from NATS or Teleport: a consumer needs only this
// package to read the event log.
package events
