package events

import (
	"fmt"
	"time"
)

// Verdict is what a Jira move asks of Teleport.
type Verdict string

// Verdicts.
const (
	VerdictApprove Verdict = "approve"
	VerdictDeny    Verdict = "deny"
)

// State is the Teleport request state a verdict leads to.
func (v Verdict) State() State {
	if v == VerdictApprove {
		return StateApproved
	}
	return StateDenied
}

// How a decision's status was confirmed.
const (
	VerifiedSignedWebhook = "signed-webhook"
	VerifiedAPI           = "api"
	VerifiedReconciler    = "reconciler"
)

// Actor is the Jira user who moved the issue. Cloud identifies users by
// AccountID, Server/Data Center by Key and Name; Email may be hidden.
type Actor struct {
	AccountID   string `json:"account_id,omitempty"`
	Key         string `json:"key,omitempty"`
	Name        string `json:"name,omitempty"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
}

// StableID is the identifier Jira does not let a user change: the account
// id (Cloud), else the user key (Server/Data Center), else the user name
// (Data Center; only an administrator can rename). Empty when the webhook
// named none of them.
func (a Actor) StableID() string {
	for _, s := range []string{a.AccountID, a.Key, a.Name} {
		if s != "" {
			return s
		}
	}
	return ""
}

// Identity names the actor in delegators, logs and comments: the stable id;
// the email only for a decision recorded before stable ids were required
// (the jira-bridge no longer produces one). A user can edit their own
// email on Data Center, so it is shown beside the id (Display), never
// trusted as the identity.
func (a Actor) Identity() string {
	if id := a.StableID(); id != "" {
		return id
	}
	return a.Email
}

// Display is the identity with what a reader recognises beside it:
// "5b10ac8d82e05b22cc7d4ef5 (Alice Doe <alice@example.com>)".
func (a Actor) Display() string {
	id := a.Identity()
	var extra string
	switch {
	case a.DisplayName != "" && a.Email != "" && a.Email != id:
		extra = a.DisplayName + " <" + a.Email + ">"
	case a.Email != "" && a.Email != id:
		extra = a.Email
	case a.DisplayName != "" && a.DisplayName != id:
		extra = a.DisplayName
	}
	if extra == "" || id == "" {
		return id
	}
	return id + " (" + extra + ")"
}

func (a Actor) validate() error {
	if a.Identity() == "" {
		return fmt.Errorf("actor: needs an account id, key or name")
	}
	for f, v := range map[string]string{"account_id": a.AccountID, "key": a.Key, "name": a.Name, "email": a.Email, "display_name": a.DisplayName} {
		if err := checkLen("actor."+f, v, MaxNameLen); err != nil {
			return err
		}
	}
	return nil
}

// Decision is the payload of decision.requested: a verified move of a linked
// issue to an approving or denying status.
type Decision struct {
	RequestID string `json:"request_id"`
	// Mattermost is set on a decision made with a Mattermost button
	// (mattermost.decisions.<req>); the issue fields are then empty.
	Mattermost  *MattermostDecider `json:"mattermost,omitempty"`
	IssueID     string             `json:"issue_id"`
	IssueKey    string             `json:"issue_key"`
	ChangelogID string             `json:"changelog_id"`
	Verdict     Verdict            `json:"verdict"`
	// Status and FromStatus are the Jira status names of the move.
	Status     string `json:"status"`
	FromStatus string `json:"from_status,omitempty"`
	Actor      Actor  `json:"actor"`
	Reason     string `json:"reason,omitempty"`
	// DecidedAt is when AccessBridge received the move (the webhook's
	// receive time, or when the reconciler or an API read found it).
	DecidedAt time.Time `json:"decided_at"`
	// JiraTimestamp is the time the webhook body claims, unchecked: kept
	// for the record, never used as the decision time.
	JiraTimestamp time.Time `json:"jira_timestamp,omitzero"`
	// Verification says how the move was confirmed (signed webhook, API read
	// or reconciler).
	Verification string `json:"verification"`
	// SourceIP is the address the webhook came from, as the ingress saw it.
	SourceIP string `json:"source_ip,omitempty"`
}

// NewDecision returns a decision; fill the optional fields before New.
func NewDecision(requestID string, issue IssueRef, changelogID string, v Verdict, status string, actor Actor, at time.Time) *Decision {
	return &Decision{RequestID: requestID, IssueID: issue.ID, IssueKey: issue.Key, ChangelogID: changelogID,
		Verdict: v, Status: status, Actor: actor, DecidedAt: at.UTC()}
}

// EventType implements Payload.
func (d *Decision) EventType() Type { return DecisionRequested }

// Subject implements Payload.
func (d *Decision) Subject() string {
	if d.Mattermost != nil {
		return MattermostDecisionSubject(d.RequestID)
	}
	return JiraDecisionSubject(d.RequestID)
}

// DedupID implements Payload: one Jira changelog entry, one decision.
func (d *Decision) DedupID() string {
	if d.Mattermost != nil { // one per post, user and verdict
		return d.RequestID + ":mattermost:" + d.ChangelogID + ":" + d.Actor.AccountID + ":" + string(d.Verdict)
	}
	return d.RequestID + ":" + d.IssueID + ":" + d.ChangelogID
}

// Delegator is how Teleport's audit log names the decider in state mode.
func (d *Decision) Delegator() string {
	if d.Mattermost != nil {
		return "mattermost:" + d.Mattermost.TeleportUser
	}
	return "jira:" + d.Actor.Identity()
}

// Validate implements Payload.
func (d *Decision) Validate() error {
	if d.Mattermost != nil {
		return d.validateMattermost()
	}
	if err := token("request_id", d.RequestID); err != nil {
		return err
	}
	if err := (IssueRef{ID: d.IssueID, Key: d.IssueKey}).validate("issue"); err != nil {
		return err
	}
	if err := token("changelog_id", d.ChangelogID); err != nil {
		return err
	}
	if d.Verdict != VerdictApprove && d.Verdict != VerdictDeny {
		return fmt.Errorf("verdict: %q is not %q or %q", d.Verdict, VerdictApprove, VerdictDeny)
	}
	if err := required("status", d.Status, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("from_status", d.FromStatus, MaxNameLen); err != nil {
		return err
	}
	if err := d.Actor.validate(); err != nil {
		return err
	}
	if err := checkLen("reason", d.Reason, MaxReasonLen); err != nil {
		return err
	}
	if err := checkLen("source_ip", d.SourceIP, MaxNameLen); err != nil {
		return err
	}
	if d.DecidedAt.IsZero() {
		return fmt.Errorf("decided_at: must be set")
	}
	switch d.Verification {
	case VerifiedSignedWebhook, VerifiedAPI, VerifiedReconciler:
	default:
		return fmt.Errorf("verification: %q is not %q, %q or %q", d.Verification, VerifiedSignedWebhook, VerifiedAPI, VerifiedReconciler)
	}
	return nil
}

// RejectCode classifies why a decision was not applied.
type RejectCode string

// Reject codes.
const (
	RejectAlreadyResolved RejectCode = "already_resolved"
	RejectNotFound        RejectCode = "not_found"
	RejectForged          RejectCode = "forged"
	RejectUnmappedActor   RejectCode = "unmapped_actor"
	RejectRefused         RejectCode = "refused"
)

// Decision modes of the Teleport bridge.
const (
	ModeState  = "state"
	ModeReview = "review"
)

// DecisionOutcome is the payload of decision.applied and decision.rejected.
type DecisionOutcome struct {
	// Kind is the event type; it travels in the envelope, not in the data.
	Kind     Type     `json:"-"`
	Decision Decision `json:"decision"`
	Mode     string   `json:"mode"`
	// AppliedAs is the delegator (state mode) or review author (review mode).
	AppliedAs string `json:"applied_as,omitempty"`
	// RequestState is the Teleport request state after the outcome.
	RequestState State      `json:"request_state,omitempty"`
	Code         RejectCode `json:"code,omitempty"`
	Reason       string     `json:"reason,omitempty"`
}

// NewDecisionApplied reports a decision Teleport accepted.
func NewDecisionApplied(d Decision, mode, appliedAs string, state State) *DecisionOutcome {
	return &DecisionOutcome{Kind: DecisionApplied, Decision: d, Mode: mode, AppliedAs: appliedAs, RequestState: state}
}

// NewDecisionRejected reports a decision that was not applied, and why.
func NewDecisionRejected(d Decision, mode string, code RejectCode, reason string, state State) *DecisionOutcome {
	return &DecisionOutcome{Kind: DecisionRejected, Decision: d, Mode: mode, Code: code, Reason: reason, RequestState: state}
}

// EventType implements Payload.
func (o *DecisionOutcome) EventType() Type { return o.Kind }

// Subject implements Payload.
func (o *DecisionOutcome) Subject() string { return TeleportDecisionSubject(o.Decision.RequestID) }

// DedupID implements Payload: one outcome per decision.
func (o *DecisionOutcome) DedupID() string { return o.Decision.DedupID() }

// Validate implements Payload.
func (o *DecisionOutcome) Validate() error {
	if err := o.Decision.Validate(); err != nil {
		return fmt.Errorf("decision.%w", err)
	}
	if o.Mode != ModeState && o.Mode != ModeReview {
		return fmt.Errorf("mode: %q is not %q or %q", o.Mode, ModeState, ModeReview)
	}
	if o.RequestState != "" && !o.RequestState.valid() {
		return fmt.Errorf("request_state: %q is not a request state", o.RequestState)
	}
	if err := checkLen("applied_as", o.AppliedAs, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("reason", o.Reason, MaxReasonLen); err != nil {
		return err
	}
	switch o.Kind {
	case DecisionApplied:
		if o.AppliedAs == "" {
			return fmt.Errorf("applied_as: must name the delegator or review author")
		}
	case DecisionRejected:
		switch o.Code {
		case RejectAlreadyResolved, RejectNotFound, RejectForged, RejectUnmappedActor, RejectRefused:
		default:
			return fmt.Errorf("code: %q is not a known rejection code", o.Code)
		}
		if o.Reason == "" {
			return fmt.Errorf("reason: a rejection must say why")
		}
	default:
		return fmt.Errorf("kind: %q is not a decision outcome type", o.Kind)
	}
	return nil
}
