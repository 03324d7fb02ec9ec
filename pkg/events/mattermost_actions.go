package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"
)

// The optional Approve / Deny buttons on the mattermost-bridge's posts
// (DESIGN.md §11): the webhook-ingress publishes each authenticated click on
// mattermost.actions.<req>; the mattermost-bridge maps the Mattermost user
// to a Teleport user and publishes decision.requested on
// mattermost.decisions.<req>; the teleport-bridge applies it.
const (
	SubjectMattermostActions   = "mattermost.actions"
	SubjectMattermostDecisions = "mattermost.decisions"
)

// MattermostActionSubject is mattermost.actions.<req>.
func MattermostActionSubject(requestID string) string {
	return SubjectMattermostActions + "." + requestID
}

// MattermostDecisionSubject is mattermost.decisions.<req>.
func MattermostDecisionSubject(requestID string) string {
	return SubjectMattermostDecisions + "." + requestID
}

// ActionReceived is the type of a button click the ingress authenticated.
const ActionReceived Type = "action.received.v1"

// VerifiedButtonToken is the verification of a Mattermost decision: the
// click carried the per-post HMAC token of its request, channel and verdict.
const VerifiedButtonToken = "button-token"

// MattermostAction is the payload of action.received: one click on an
// Approve or Deny button whose token the ingress checked. The user is as
// Mattermost's server names it in the request it sends to the integration.
type MattermostAction struct {
	RequestID string  `json:"request_id"`
	Verdict   Verdict `json:"verdict"`
	UserID    string  `json:"user_id"`
	UserName  string  `json:"user_name,omitempty"`
	ChannelID string  `json:"channel_id"`
	PostID    string  `json:"post_id"`
	TeamID    string  `json:"team_id,omitempty"`
	// TriggerID is Mattermost's id of the click; it makes the event id, so a
	// retried delivery of one click is stored once.
	TriggerID  string    `json:"trigger_id,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	SourceIP   string    `json:"source_ip,omitempty"`
}

// EventType implements Payload.
func (*MattermostAction) EventType() Type { return ActionReceived }

// Subject implements Payload.
func (a *MattermostAction) Subject() string { return MattermostActionSubject(a.RequestID) }

// DedupID implements Payload: <req>:action:<post>:<user>:<verdict>; the same
// user clicking the same button of the same post again is one action.
func (a *MattermostAction) DedupID() string {
	return a.RequestID + ":action:" + a.PostID + ":" + a.UserID + ":" + string(a.Verdict)
}

// Validate implements Payload.
func (a *MattermostAction) Validate() error {
	if err := token("request_id", a.RequestID); err != nil {
		return err
	}
	if a.Verdict != VerdictApprove && a.Verdict != VerdictDeny {
		return fmt.Errorf("verdict: %q is not %q or %q", a.Verdict, VerdictApprove, VerdictDeny)
	}
	for f, v := range map[string]string{"user_id": a.UserID, "channel_id": a.ChannelID, "post_id": a.PostID} {
		if err := token(f, v); err != nil {
			return err
		}
	}
	for f, v := range map[string]string{"user_name": a.UserName, "team_id": a.TeamID, "trigger_id": a.TriggerID, "source_ip": a.SourceIP} {
		if err := checkLen(f, v, MaxNameLen); err != nil {
			return err
		}
	}
	if a.ReceivedAt.IsZero() {
		return fmt.Errorf("received_at: must be set")
	}
	return nil
}

// MattermostDecider is what a decision made with a Mattermost button carries
// instead of a Jira issue: the post clicked and the Teleport user the
// mattermost-bridge mapped the Mattermost user to (its allow-list).
type MattermostDecider struct {
	PostID       string `json:"post_id"`
	ChannelID    string `json:"channel_id"`
	TeleportUser string `json:"teleport_user"`
}

// NewMattermostDecision is the decision of an allow-listed Mattermost user's
// click: Actor is the Mattermost user (AccountID its id, Name its
// username).
func NewMattermostDecision(a *MattermostAction, teleportUser string, at time.Time) *Decision {
	status := "Approved"
	if a.Verdict == VerdictDeny {
		status = "Denied"
	}
	return &Decision{
		RequestID: a.RequestID, ChangelogID: a.PostID, Verdict: a.Verdict, Status: status,
		Actor:     Actor{AccountID: a.UserID, Name: a.UserName},
		DecidedAt: at.UTC(), Verification: VerifiedButtonToken,
		Mattermost: &MattermostDecider{PostID: a.PostID, ChannelID: a.ChannelID, TeleportUser: teleportUser},
	}
}

func (d *Decision) validateMattermost() error {
	if err := token("request_id", d.RequestID); err != nil {
		return err
	}
	if d.IssueID != "" || d.IssueKey != "" {
		return fmt.Errorf("issue: a Mattermost decision names no Jira issue")
	}
	if d.Verdict != VerdictApprove && d.Verdict != VerdictDeny {
		return fmt.Errorf("verdict: %q is not %q or %q", d.Verdict, VerdictApprove, VerdictDeny)
	}
	if err := required("status", d.Status, MaxNameLen); err != nil {
		return err
	}
	if err := token("actor.account_id", d.Actor.AccountID); err != nil {
		return err
	}
	if err := d.Actor.validate(); err != nil {
		return err
	}
	m := d.Mattermost
	if err := token("mattermost.post_id", m.PostID); err != nil {
		return err
	}
	if d.ChangelogID != m.PostID {
		return fmt.Errorf("changelog_id: must be the post id %q", m.PostID)
	}
	if err := token("mattermost.channel_id", m.ChannelID); err != nil {
		return err
	}
	if err := required("mattermost.teleport_user", m.TeleportUser, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("reason", d.Reason, MaxReasonLen); err != nil {
		return err
	}
	if d.DecidedAt.IsZero() {
		return fmt.Errorf("decided_at: must be set")
	}
	if d.Verification != VerifiedButtonToken {
		return fmt.Errorf("verification: %q is not %q", d.Verification, VerifiedButtonToken)
	}
	return nil
}

// Mattermost button tokens. The mattermost-bridge puts one in the context of
// each button of a post; the webhook-ingress recomputes it from the request
// id and verdict of the context and the channel id Mattermost's server
// sends (the post's own channel), and compares in constant time. Only the
// two services hold the key; a token copied to another channel, request or
// verdict does not verify.

// MinButtonKeyLen is the shortest button-token key accepted (bytes).
const MinButtonKeyLen = 32

// ButtonToken is the token of one button of the post of requestID in
// channelID.
func ButtonToken(key []byte, requestID, channelID string, v Verdict) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("accessbridge-mattermost-button-v1\x00" + requestID + "\x00" + channelID + "\x00" + string(v)))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckButtonToken reports, in constant time, whether tok is the token of
// that button.
func CheckButtonToken(key []byte, tok, requestID, channelID string, v Verdict) bool {
	want := ButtonToken(key, requestID, channelID, v)
	return hmac.Equal([]byte(tok), []byte(want))
}
