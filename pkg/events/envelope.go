package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SpecVersion is the CloudEvents specification version of the envelope.
const SpecVersion = "1.0"

// ContentTypeJSON is the only data content type AccessBridge emits.
const ContentTypeJSON = "application/json"

// MaxEventSize bounds an encoded event; a larger one is rejected on decode
// (the NATS server's max_payload must allow it; its default is 1 MiB).
const MaxEventSize = 8 << 20

// Header names set on every published message.
const (
	// HeaderMsgID is JetStream's dedup header; it carries the event id.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderType repeats the event type so tools can filter without decoding.
	HeaderType = "Ce-Type"
)

// Envelope is one event on the wire, with CloudEvents 1.0 attribute names.
// Subject is the NATS subject the event is published on.
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            Type            `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// Payload is implemented by the data of every event type.
type Payload interface {
	// EventType is the versioned type of the event carrying this payload.
	EventType() Type
	// Subject is the NATS subject the event is published on.
	Subject() string
	// DedupID is the event id, also sent as Nats-Msg-Id.
	DedupID() string
	// Validate reports the first invalid field, naming it.
	Validate() error
}

// New wraps a payload in an envelope. It validates the payload first, so an
// invalid event is never published.
func New(source string, at time.Time, p Payload) (Envelope, error) {
	if source == "" {
		return Envelope{}, fmt.Errorf("%s: source: must not be empty", p.EventType())
	}
	if err := p.Validate(); err != nil {
		return Envelope{}, fmt.Errorf("%s: %w", p.EventType(), err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Envelope{}, fmt.Errorf("%s: encode data: %w", p.EventType(), err)
	}
	return Envelope{
		SpecVersion:     SpecVersion,
		ID:              p.DedupID(),
		Source:          source,
		Type:            p.EventType(),
		Subject:         p.Subject(),
		Time:            at.UTC(),
		DataContentType: ContentTypeJSON,
		Data:            data,
	}, nil
}

// Encode returns the JSON form of the envelope.
func Encode(e Envelope) ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// Event is a decoded envelope with its typed payload: one of *RequestEvent,
// *IssueEvent, *Webhook, *Decision or *DecisionOutcome.
type Event struct {
	Envelope
	Payload Payload
}

// Decode parses and checks an event. Unknown attributes and unknown data
// fields are ignored; an unknown type, an unsupported major version or an
// invalid payload is an error that names what is wrong.
func Decode(b []byte) (Event, error) {
	if len(b) > MaxEventSize {
		return Event{}, fmt.Errorf("event is %d bytes, over the %d byte limit", len(b), MaxEventSize)
	}
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	if err := e.validate(); err != nil {
		return Event{}, err
	}
	p, err := newPayload(e.Type)
	if err != nil {
		return Event{}, err
	}
	if len(bytes.TrimSpace(e.Data)) == 0 || string(e.Data) == "null" {
		return Event{}, fmt.Errorf("%s %s: data: must not be empty", e.Type, e.ID)
	}
	if err := json.Unmarshal(e.Data, p); err != nil {
		return Event{}, fmt.Errorf("%s %s: data: %w", e.Type, e.ID, err)
	}
	if err := p.Validate(); err != nil {
		return Event{}, fmt.Errorf("%s %s: data.%w", e.Type, e.ID, err)
	}
	if p.Subject() != e.Subject {
		return Event{}, fmt.Errorf("%s %s: subject: %q does not match the data (%q)", e.Type, e.ID, e.Subject, p.Subject())
	}
	return Event{Envelope: e, Payload: p}, nil
}

func (e Envelope) validate() error {
	switch {
	case e.SpecVersion != SpecVersion:
		return fmt.Errorf("specversion: got %q, want %q", e.SpecVersion, SpecVersion)
	case e.ID == "":
		return fmt.Errorf("id: must not be empty")
	case e.Source == "":
		return fmt.Errorf("source: must not be empty")
	case e.Type == "":
		return fmt.Errorf("type: must not be empty")
	case e.Subject == "":
		return fmt.Errorf("subject: must not be empty")
	case e.Time.IsZero():
		return fmt.Errorf("time: must be set")
	case e.DataContentType != "" && e.DataContentType != ContentTypeJSON:
		return fmt.Errorf("datacontenttype: got %q, want %q", e.DataContentType, ContentTypeJSON)
	}
	return nil
}

// splitType splits "request.created.v1" into "request.created" and 1.
func splitType(t Type) (base string, major int, err error) {
	s := string(t)
	i := strings.LastIndex(s, ".v")
	if i <= 0 {
		return "", 0, fmt.Errorf("type %q has no version suffix (.vN)", s)
	}
	major, err = strconv.Atoi(s[i+2:])
	if err != nil || major < 1 {
		return "", 0, fmt.Errorf("type %q has a malformed version suffix", s)
	}
	return s[:i], major, nil
}
