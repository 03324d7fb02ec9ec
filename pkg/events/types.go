package events

import (
	"fmt"
	"strings"
)

// Type is a versioned event type such as "request.created.v1".
type Type string

// The event types of DESIGN.md §3.
const (
	RequestCreated  Type = "request.created.v1"
	RequestReviewed Type = "request.reviewed.v1"
	RequestResolved Type = "request.resolved.v1"
	RequestExpired  Type = "request.expired.v1"

	IssueLinked       Type = "issue.linked.v1"
	IssueTransitioned Type = "issue.transitioned.v1"
	IssueCommented    Type = "issue.commented.v1"

	WebhookReceived Type = "webhook.received.v1"

	DecisionRequested Type = "decision.requested.v1"
	DecisionApplied   Type = "decision.applied.v1"
	DecisionRejected  Type = "decision.rejected.v1"

	PostsRecorded Type = "posts.recorded.v1"
)

// known maps each type's unversioned name to its current major version and a
// constructor of an empty payload.
var known = map[string]struct {
	major int
	new   func() Payload
}{
	"request.created":    {1, func() Payload { return &RequestEvent{Kind: RequestCreated} }},
	"request.reviewed":   {1, func() Payload { return &RequestEvent{Kind: RequestReviewed} }},
	"request.resolved":   {1, func() Payload { return &RequestEvent{Kind: RequestResolved} }},
	"request.expired":    {1, func() Payload { return &RequestEvent{Kind: RequestExpired} }},
	"issue.linked":       {1, func() Payload { return &IssueEvent{Kind: IssueLinked} }},
	"issue.transitioned": {1, func() Payload { return &IssueEvent{Kind: IssueTransitioned} }},
	"issue.commented":    {1, func() Payload { return &IssueEvent{Kind: IssueCommented} }},
	"webhook.received":   {1, func() Payload { return &Webhook{} }},
	"decision.requested": {1, func() Payload { return &Decision{} }},
	"decision.applied":   {1, func() Payload { return &DecisionOutcome{Kind: DecisionApplied} }},
	"decision.rejected":  {1, func() Payload { return &DecisionOutcome{Kind: DecisionRejected} }},
	"posts.recorded":     {1, func() Payload { return &MattermostPosts{} }},
	"action.received":    {1, func() Payload { return &MattermostAction{} }},
}

// Types lists every event type this build understands.
func Types() []Type {
	out := make([]Type, 0, len(known))
	for base, k := range known {
		out = append(out, Type(fmt.Sprintf("%s.v%d", base, k.major)))
	}
	return out
}

func newPayload(t Type) (Payload, error) {
	base, major, err := splitType(t)
	if err != nil {
		return nil, err
	}
	k, ok := known[base]
	if !ok {
		return nil, fmt.Errorf("type: unknown event type %q (known: %s)", t, knownList())
	}
	if major != k.major {
		return nil, fmt.Errorf("type: %s has major version %d; this build understands v%d only — upgrade the consumer", base, major, k.major)
	}
	return k.new(), nil
}

func knownList() string {
	names := make([]string, 0, len(known))
	for _, t := range Types() {
		names = append(names, string(t))
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}
