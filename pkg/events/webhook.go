package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Authentication methods a webhook delivery can have passed.
const (
	AuthHMAC  = "hmac"
	AuthToken = "token"
	AuthBasic = "basic"
	AuthMTLS  = "mtls"
	AuthNone  = "none"
)

// MaxWebhookBody bounds the raw body carried in a webhook event.
const MaxWebhookBody = 4 << 20

// Webhook is the payload of webhook.received: one authenticated delivery
// from Jira, as received. The ingress decides nothing; the jira-bridge reads
// Body.
type Webhook struct {
	IssueID    string `json:"issue_id"`
	IssueKey   string `json:"issue_key,omitempty"`
	Event      string `json:"webhook_event"`
	Identifier string `json:"identifier,omitempty"`
	Retry      int    `json:"retry,omitempty"`
	Flow       string `json:"flow,omitempty"`
	// ReceivedAt is when the ingress read the delivery.
	ReceivedAt time.Time `json:"received_at"`
	// Signed is true when an HMAC signature over the body was verified.
	Signed bool `json:"signed"`
	// Auth lists the methods that authenticated the delivery.
	Auth []string `json:"auth"`
	// BodySHA256 is the hex SHA-256 of Body. A raw webhook (the message
	// form) carries it only when it has no Identifier, where it is the
	// delivery's id (DedupID); an enveloped one always.
	BodySHA256 string          `json:"body_sha256,omitempty"`
	Body       json.RawMessage `json:"body"`
	// SourceIP is the client address the ingress saw (after a trusted
	// proxy's header), for security events.
	SourceIP string `json:"source_ip,omitempty"`
	// Raw is true when Body is the delivery's bytes exactly as received
	// (the message form, see WebhookMessage), false when it is the
	// canonical JSON an enveloped event carries.
	Raw bool `json:"-"`
}

// NewWebhook builds the event of a delivery; body must be the JSON received.
// The body is kept in the form encoding/json writes a RawMessage in —
// compacted, with <, > and & escaped as \u003c, \u003e, \u0026 — so it
// survives encoding unchanged; BodySHA256 is the hash of that form.
func NewWebhook(issueID, issueKey, event, identifier string, receivedAt time.Time, signed bool, auth []string, body []byte) *Webhook {
	if c, err := canonicalJSON(body); err == nil {
		body = c
	}
	sum := sha256.Sum256(body)
	return &Webhook{
		IssueID: issueID, IssueKey: issueKey, Event: event, Identifier: identifier,
		ReceivedAt: receivedAt.UTC(), Signed: signed, Auth: auth,
		BodySHA256: hex.EncodeToString(sum[:]), Body: json.RawMessage(body),
	}
}

// NewRawWebhook is NewWebhook for the message form: body is kept as
// received, not re-encoded. BodySHA256, its hash, is computed only without
// an identifier, where it is the delivery's id: with one (every Jira Cloud
// delivery) the hash would be a second pass over the body for a check that
// JetStream's own (TCP, the file store's per-message hash) already makes.
// The caller has checked that it is a webhook (ParseJiraWebhook).
func NewRawWebhook(issueID, issueKey, event, identifier string, receivedAt time.Time, signed bool, auth []string, body []byte) *Webhook {
	w := &Webhook{
		IssueID: issueID, IssueKey: issueKey, Event: event, Identifier: identifier,
		ReceivedAt: receivedAt.UTC(), Signed: signed, Auth: auth,
		Body: json.RawMessage(body), Raw: true,
	}
	if identifier == "" {
		sum := sha256.Sum256(body)
		w.BodySHA256 = hex.EncodeToString(sum[:])
	}
	return w
}

// EventType implements Payload.
func (w *Webhook) EventType() Type { return WebhookReceived }

// Subject implements Payload.
func (w *Webhook) Subject() string { return WebhookSubject(w.IssueID) }

// DedupID implements Payload: Jira's webhook identifier, stable across its
// retries, else the hash of the body.
func (w *Webhook) DedupID() string {
	if w.Identifier != "" {
		return "webhook:" + w.Identifier
	}
	return "webhook:sha256:" + w.BodySHA256
}

// Validate implements Payload. The body of a raw webhook is checked by its
// hash only, when it has one (it must without an identifier: the hash is
// then its id): whoever reads it parses it (ParseJiraWebhook), which checks
// it is JSON in the same pass.
func (w *Webhook) Validate() error {
	if err := w.validateMeta(); err != nil {
		return err
	}
	if len(w.Body) == 0 {
		return fmt.Errorf("body: must not be empty")
	}
	if len(w.Body) > MaxWebhookBody {
		return fmt.Errorf("body: %d bytes, over %d", len(w.Body), MaxWebhookBody)
	}
	hashed := []byte(w.Body)
	if !w.Raw {
		canonical, err := canonicalJSON(w.Body) // also checks that it is JSON
		if err != nil {
			return fmt.Errorf("body: is not JSON: %w", err)
		}
		hashed = canonical
	} else if w.BodySHA256 == "" {
		if w.Identifier == "" {
			return fmt.Errorf("body_sha256: must be set on a delivery without an identifier (it is its id)")
		}
		return nil
	}
	sum := sha256.Sum256(hashed)
	if hex.EncodeToString(sum[:]) != w.BodySHA256 {
		return fmt.Errorf("body_sha256: does not match the body")
	}
	return nil
}

func (w *Webhook) validateMeta() error {
	if err := token("issue_id", w.IssueID); err != nil {
		return err
	}
	if err := checkLen("issue_key", w.IssueKey, MaxNameLen); err != nil {
		return err
	}
	if err := required("webhook_event", w.Event, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("identifier", w.Identifier, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("flow", w.Flow, MaxNameLen); err != nil {
		return err
	}
	if w.ReceivedAt.IsZero() {
		return fmt.Errorf("received_at: must be set")
	}
	if len(w.Auth) == 0 {
		return fmt.Errorf("auth: must name how the delivery was authenticated (or %q)", AuthNone)
	}
	for _, a := range w.Auth {
		if err := required("auth", a, MaxNameLen); err != nil {
			return err
		}
	}
	if err := checkLen("source_ip", w.SourceIP, MaxNameLen); err != nil {
		return err
	}
	return nil
}

// canonicalJSON is b as encoding/json emits a json.RawMessage: compacted and
// HTML-escaped. Applying it twice changes nothing.
func canonicalJSON(b []byte) ([]byte, error) {
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		return nil, err
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	return escaped.Bytes(), nil
}
