package events

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The message form (CloudEvents' binary content mode over NATS): the
// message data is the event's data as is — for webhook.received, the
// delivery's body exactly as Jira sent it — and the attributes travel in
// Ce-* headers. It saves the ingress from re-encoding a body it has just
// validated, and the bridge from decoding it twice. Only webhook.received
// is published in this form; every other event, and webhooks published
// before it existed, are enveloped JSON (structured mode), and
// DecodeMessage reads both.
const (
	HeaderSpecVersion = "Ce-Specversion"
	HeaderID          = "Ce-Id"
	HeaderSource      = "Ce-Source"
	HeaderTime        = "Ce-Time"
	HeaderSubject     = "Ce-Subject"
	HeaderContentType = "Content-Type"

	// Extension attributes of webhook.received.
	HeaderIssueID      = "Ce-Issueid"
	HeaderIssueKey     = "Ce-Issuekey"
	HeaderEvent        = "Ce-Webhookevent"
	HeaderIdentifier   = "Ce-Identifier"
	HeaderRetry        = "Ce-Retry"
	HeaderFlow         = "Ce-Flow"
	HeaderReceivedAt   = "Ce-Receivedat"
	HeaderSigned       = "Ce-Signed"
	HeaderAuth         = "Ce-Auth"
	HeaderBodySHA256   = "Ce-Bodysha256"
	HeaderSourceIP     = "Ce-Sourceip"
	maxHeaderValueSize = 1024
)

// Header is a message's headers (nats.Header has this type).
type Header = map[string][]string

// Message returns the headers and data of the webhook in the message form,
// published by source at the given time. It fails when an attribute is
// invalid or could not travel in a header (a control character).
func (w *Webhook) Message(source string, at time.Time) (Header, []byte, error) {
	if source == "" {
		return nil, nil, fmt.Errorf("%s: source: must not be empty", WebhookReceived)
	}
	if err := w.CheckAttributes(); err != nil {
		return nil, nil, err
	}
	id := w.DedupID()
	retry := ""
	if w.Retry != 0 {
		retry = strconv.Itoa(w.Retry)
	}
	attrs := [...]struct{ k, v string }{
		{HeaderMsgID, id},
		{HeaderSpecVersion, SpecVersion},
		{HeaderType, string(WebhookReceived)},
		{HeaderID, id},
		{HeaderSource, source},
		{HeaderTime, at.UTC().Format(time.RFC3339Nano)},
		{HeaderSubject, w.Subject()},
		{HeaderContentType, ContentTypeJSON},
		{HeaderIssueID, w.IssueID},
		{HeaderIssueKey, w.IssueKey},
		{HeaderEvent, w.Event},
		{HeaderIdentifier, w.Identifier},
		{HeaderRetry, retry},
		{HeaderFlow, w.Flow},
		{HeaderReceivedAt, w.ReceivedAt.UTC().Format(time.RFC3339Nano)},
		{HeaderSigned, strconv.FormatBool(w.Signed)},
		{HeaderAuth, strings.Join(w.Auth, ",")},
		{HeaderBodySHA256, w.BodySHA256},
		{HeaderSourceIP, w.SourceIP},
	}
	h := make(Header, len(attrs))
	values := make([]string, len(attrs)) // one allocation for every header's value
	for i, a := range attrs {
		if a.v == "" {
			continue
		}
		if !headerSafe(a.v) {
			return nil, nil, fmt.Errorf("%s: header %s: holds a control character or is over %d bytes", WebhookReceived, a.k, maxHeaderValueSize)
		}
		values[i] = a.v
		h[a.k] = values[i : i+1 : i+1]
	}
	return h, w.Body, nil
}

// CheckAttributes checks what the message form carries besides the body —
// the attributes, each one fit for a header — and the body's size, without
// a pass over the body (the parser that routed it has made that one).
func (w *Webhook) CheckAttributes() error {
	if !w.Raw {
		return fmt.Errorf("%s: the message form carries a raw body (NewRawWebhook)", WebhookReceived)
	}
	if err := w.validateMeta(); err != nil {
		return fmt.Errorf("%s: %w", WebhookReceived, err)
	}
	if len(w.Body) == 0 || len(w.Body) > MaxWebhookBody {
		return fmt.Errorf("%s: body: %d bytes, want 1..%d", WebhookReceived, len(w.Body), MaxWebhookBody)
	}
	for _, a := range [...]struct{ name, v string }{
		{"issue_key", w.IssueKey}, {"webhook_event", w.Event}, {"identifier", w.Identifier}, {"flow", w.Flow}, {"source_ip", w.SourceIP},
	} {
		if !headerSafe(a.v) {
			return fmt.Errorf("%s: %s: holds a control character or is over %d bytes", WebhookReceived, a.name, maxHeaderValueSize)
		}
	}
	return nil
}

func headerSafe(v string) bool {
	if len(v) > maxHeaderValueSize {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return false
		}
	}
	return true
}

func first(h Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// DecodeMessage decodes a message in either form: the message form when
// the headers carry Ce-Specversion (the data is then the event's data),
// else an enveloped event (Decode). The returned event's payload may share
// memory with data.
func DecodeMessage(h Header, data []byte) (Event, error) {
	if first(h, HeaderSpecVersion) == "" {
		return Decode(data)
	}
	if len(data) > MaxEventSize {
		return Event{}, fmt.Errorf("event is %d bytes, over the %d byte limit", len(data), MaxEventSize)
	}
	e := Envelope{
		SpecVersion: first(h, HeaderSpecVersion), ID: first(h, HeaderID), Source: first(h, HeaderSource),
		Type: Type(first(h, HeaderType)), Subject: first(h, HeaderSubject), DataContentType: first(h, HeaderContentType),
	}
	if t := first(h, HeaderTime); t != "" {
		at, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return Event{}, fmt.Errorf("time: %q is not an RFC 3339 time", t)
		}
		e.Time = at
	}
	if err := e.validate(); err != nil {
		return Event{}, err
	}
	p, err := newPayload(e.Type)
	if err != nil {
		return Event{}, err
	}
	if _, ok := p.(*Webhook); !ok {
		return Event{}, fmt.Errorf("type: %s is not published in the message form", e.Type)
	}
	w := &Webhook{
		IssueID: first(h, HeaderIssueID), IssueKey: first(h, HeaderIssueKey), Event: first(h, HeaderEvent),
		Identifier: first(h, HeaderIdentifier), Flow: first(h, HeaderFlow), BodySHA256: first(h, HeaderBodySHA256),
		SourceIP: first(h, HeaderSourceIP), Body: data, Raw: true,
	}
	if r := first(h, HeaderRetry); r != "" {
		if w.Retry, err = strconv.Atoi(r); err != nil {
			return Event{}, fmt.Errorf("%s %s: retry: %q is not a number", e.Type, e.ID, r)
		}
	}
	if t := first(h, HeaderReceivedAt); t != "" {
		if w.ReceivedAt, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return Event{}, fmt.Errorf("%s %s: received_at: %q is not an RFC 3339 time", e.Type, e.ID, t)
		}
	}
	if w.Signed, err = strconv.ParseBool(first(h, HeaderSigned)); err != nil {
		return Event{}, fmt.Errorf("%s %s: signed: %q is not a boolean", e.Type, e.ID, first(h, HeaderSigned))
	}
	if a := first(h, HeaderAuth); a != "" {
		w.Auth = strings.Split(a, ",")
	}
	if err := w.Validate(); err != nil {
		return Event{}, fmt.Errorf("%s %s: data.%w", e.Type, e.ID, err)
	}
	if w.Subject() != e.Subject {
		return Event{}, fmt.Errorf("%s %s: subject: %q does not match the data (%q)", e.Type, e.ID, e.Subject, w.Subject())
	}
	if w.DedupID() != e.ID {
		return Event{}, fmt.Errorf("%s %s: id: does not match the delivery (%q)", e.Type, e.ID, w.DedupID())
	}
	return Event{Envelope: e, Payload: w}, nil
}
