package events

import "time"

// Stream and bucket names. The publisher of a stream declares it.
const (
	StreamTeleport   = "TELEPORT"
	StreamJira       = "JIRA"
	StreamDeadLetter = "DEADLETTER"
)

// Defaults for every stream (DESIGN.md §3).
const (
	DefaultDuplicateWindow = 2 * time.Hour
	DefaultMaxAge          = 30 * 24 * time.Hour
)

// StreamSpec describes a stream independently of the NATS client.
type StreamSpec struct {
	Name     string
	Subjects []string
}

// Streams returns the specs of all AccessBridge streams.
func Streams() []StreamSpec {
	return []StreamSpec{TeleportStream(), JiraStream(), DeadLetterStream()}
}

// TeleportStream holds teleport.> (requests and decision outcomes).
func TeleportStream() StreamSpec {
	return StreamSpec{Name: StreamTeleport, Subjects: []string{"teleport.>"}}
}

// JiraStream holds jira.> (issues, webhooks and decisions).
func JiraStream() StreamSpec {
	return StreamSpec{Name: StreamJira, Subjects: []string{"jira.>"}}
}

// DeadLetterStream holds dlq.> (messages that could not be processed).
func DeadLetterStream() StreamSpec {
	return StreamSpec{Name: StreamDeadLetter, Subjects: []string{SubjectDeadLetter + ".>"}}
}
