package events

import (
	"fmt"
	"time"
)

// State is the state of an access request or of a review, as Teleport names it.
type State string

// Request and review states.
const (
	StatePending  State = "PENDING"
	StateApproved State = "APPROVED"
	StateDenied   State = "DENIED"
	StatePromoted State = "PROMOTED"
)

// Resolved reports whether the state is final.
func (s State) Resolved() bool {
	return s == StateApproved || s == StateDenied || s == StatePromoted
}

func (s State) valid() bool { return s == StatePending || s.Resolved() }

// Field limits of a request snapshot.
const (
	MaxNameLen     = 256        // user, role, reviewer and resource names
	MaxReasonLen   = 16 << 10   // request, review and resolve reasons
	MaxListLen     = 512        // roles, resources, reviewers, reviews
	MaxAddrLen     = 1024       // proxy address
	maxRevisionLen = MaxNameLen // Teleport resource revision
)

// AccessRequest is the full state of a Teleport access request, independent
// of Teleport's own types. Every request event carries one, so a consumer
// reconciles to it rather than replaying deltas.
type AccessRequest struct {
	ID                 string     `json:"id"`
	User               string     `json:"user"`
	Roles              []string   `json:"roles"`
	RequestedResources []Resource `json:"requested_resources,omitempty"`
	Reason             string     `json:"reason,omitempty"`
	SuggestedReviewers []string   `json:"suggested_reviewers,omitempty"`
	State              State      `json:"state"`
	Reviews            []Review   `json:"reviews,omitempty"`
	ResolveReason      string     `json:"resolve_reason,omitempty"`
	Created            time.Time  `json:"created"`
	Expires            time.Time  `json:"expires,omitzero"`
	MaxDuration        time.Time  `json:"max_duration,omitzero"`
	Revision           string     `json:"revision,omitempty"`
	Cluster            Cluster    `json:"cluster,omitzero"`
	// LegacyIssue is the issue Teleport's teleport-jira plugin recorded in the
	// request's "jira" plugin data, for the jira-bridge to adopt.
	LegacyIssue *IssueRef `json:"legacy_issue,omitempty"`
}

// Resource is one resource named in a resource access request.
type Resource struct {
	Kind         string `json:"kind"`
	Cluster      string `json:"cluster,omitempty"`
	Name         string `json:"name"`
	SubResource  string `json:"sub_resource,omitempty"`
	FriendlyName string `json:"friendly_name,omitempty"`
}

// String is kind/cluster/name[/sub], as the ticket shows it.
func (r Resource) String() string {
	s := r.Kind + "/" + r.Cluster + "/" + r.Name
	if r.SubResource != "" {
		s += "/" + r.SubResource
	}
	return s
}

// Review is one review submitted in Teleport.
type Review struct {
	Author  string    `json:"author"`
	State   State     `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
}

// Cluster is what the Teleport bridge learned from Ping.
type Cluster struct {
	Name              string `json:"name,omitempty"`
	ProxyAddr         string `json:"proxy_addr,omitempty"`
	AdvancedWorkflows bool   `json:"advanced_workflows,omitempty"`
}

// IssueRef names a Jira issue.
type IssueRef struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// Validate checks every field of the snapshot, naming the first bad one.
func (r AccessRequest) Validate() error {
	if err := token("request.id", r.ID); err != nil {
		return err
	}
	if err := required("request.user", r.User, MaxNameLen); err != nil {
		return err
	}
	if len(r.Roles) == 0 && len(r.RequestedResources) == 0 {
		return fmt.Errorf("request.roles: a request needs roles or resources")
	}
	if err := checkNames("request.roles", r.Roles); err != nil {
		return err
	}
	if err := checkNames("request.suggested_reviewers", r.SuggestedReviewers); err != nil {
		return err
	}
	if len(r.RequestedResources) > MaxListLen {
		return fmt.Errorf("request.requested_resources: %d entries, over %d", len(r.RequestedResources), MaxListLen)
	}
	for i, res := range r.RequestedResources {
		f := fmt.Sprintf("request.requested_resources[%d]", i)
		if err := required(f+".kind", res.Kind, MaxNameLen); err != nil {
			return err
		}
		if err := required(f+".name", res.Name, MaxNameLen); err != nil {
			return err
		}
		for name, v := range map[string]string{".cluster": res.Cluster, ".sub_resource": res.SubResource, ".friendly_name": res.FriendlyName} {
			if err := checkLen(f+name, v, MaxNameLen); err != nil {
				return err
			}
		}
	}
	if err := checkLen("request.reason", r.Reason, MaxReasonLen); err != nil {
		return err
	}
	if !r.State.valid() {
		return fmt.Errorf("request.state: %q is not PENDING, APPROVED, DENIED or PROMOTED", r.State)
	}
	if len(r.Reviews) > MaxListLen {
		return fmt.Errorf("request.reviews: %d entries, over %d", len(r.Reviews), MaxListLen)
	}
	for i, rv := range r.Reviews {
		f := fmt.Sprintf("request.reviews[%d]", i)
		if err := required(f+".author", rv.Author, MaxNameLen); err != nil {
			return err
		}
		if rv.State != StateApproved && rv.State != StateDenied && rv.State != StatePromoted {
			return fmt.Errorf("%s.state: %q is not APPROVED, DENIED or PROMOTED", f, rv.State)
		}
		if err := checkLen(f+".reason", rv.Reason, MaxReasonLen); err != nil {
			return err
		}
	}
	if err := checkLen("request.resolve_reason", r.ResolveReason, MaxReasonLen); err != nil {
		return err
	}
	if r.Created.IsZero() {
		return fmt.Errorf("request.created: must be set")
	}
	if err := checkLen("request.revision", r.Revision, maxRevisionLen); err != nil {
		return err
	}
	if err := checkLen("request.cluster.name", r.Cluster.Name, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("request.cluster.proxy_addr", r.Cluster.ProxyAddr, MaxAddrLen); err != nil {
		return err
	}
	if r.LegacyIssue != nil {
		if err := r.LegacyIssue.validate("request.legacy_issue"); err != nil {
			return err
		}
	}
	return nil
}

func (i IssueRef) validate(field string) error {
	if err := token(field+".id", i.ID); err != nil {
		return err
	}
	return required(field+".key", i.Key, MaxNameLen)
}

func checkNames(field string, names []string) error {
	if len(names) > MaxListLen {
		return fmt.Errorf("%s: %d entries, over %d", field, len(names), MaxListLen)
	}
	for i, n := range names {
		if err := required(fmt.Sprintf("%s[%d]", field, i), n, MaxNameLen); err != nil {
			return err
		}
	}
	return nil
}

// RequestEvent is the payload of the four request.* events: the snapshot of
// the request when the event was observed.
type RequestEvent struct {
	// Kind is the event type; it travels in the envelope, not in the data.
	Kind    Type          `json:"-"`
	Request AccessRequest `json:"request"`
	// Review is the 1-based index of the review a request.reviewed reports.
	Review int `json:"review,omitempty"`
}

// NewRequestCreated reports a request seen for the first time.
func NewRequestCreated(r AccessRequest) *RequestEvent {
	return &RequestEvent{Kind: RequestCreated, Request: r}
}

// NewRequestReviewed reports the n-th review (1-based) of a request.
func NewRequestReviewed(r AccessRequest, n int) *RequestEvent {
	return &RequestEvent{Kind: RequestReviewed, Request: r, Review: n}
}

// NewRequestResolved reports a request that reached a final state.
func NewRequestResolved(r AccessRequest) *RequestEvent {
	return &RequestEvent{Kind: RequestResolved, Request: r}
}

// NewRequestExpired reports a request deleted or expired while pending.
func NewRequestExpired(r AccessRequest) *RequestEvent {
	return &RequestEvent{Kind: RequestExpired, Request: r}
}

// EventType implements Payload.
func (e *RequestEvent) EventType() Type { return e.Kind }

// Subject implements Payload.
func (e *RequestEvent) Subject() string { return RequestSubject(e.Request.ID) }

// DedupID implements Payload: the same observation from two replicas, or
// after a relist, gets the same id.
func (e *RequestEvent) DedupID() string {
	id := e.Request.ID
	switch e.Kind {
	case RequestCreated:
		return id + ":created"
	case RequestReviewed:
		return fmt.Sprintf("%s:review:%d", id, e.Review)
	case RequestResolved:
		return id + ":resolved:" + string(e.Request.State)
	case RequestExpired:
		return id + ":expired"
	}
	return id + ":" + string(e.Kind)
}

// Validate implements Payload.
func (e *RequestEvent) Validate() error {
	if err := e.Request.Validate(); err != nil {
		return err
	}
	switch e.Kind {
	case RequestCreated, RequestExpired:
	case RequestReviewed:
		if e.Review < 1 || e.Review > len(e.Request.Reviews) {
			return fmt.Errorf("review: %d is not the index of one of the request's %d reviews", e.Review, len(e.Request.Reviews))
		}
	case RequestResolved:
		if !e.Request.State.Resolved() {
			return fmt.Errorf("request.state: a resolved event needs a final state, got %q", e.Request.State)
		}
	default:
		return fmt.Errorf("kind: %q is not a request event type", e.Kind)
	}
	return nil
}
