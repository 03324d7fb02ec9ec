package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestWebhookMessageRoundTrip(t *testing.T) {
	body := corpusFiles(t)["01"]
	at := time.Date(2026, 12, 1, 10, 0, 0, 123, time.UTC)
	w := NewRawWebhook("10040", "TES-41", "jira:issue_updated", "wh-1", at, true, []string{AuthHMAC, AuthToken}, body)
	w.Retry, w.Flow, w.SourceIP = 2, "Primary", "203.0.113.7"
	h, data, err := w.Message("accessbridge/webhook-ingress", at.Add(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if &data[0] != &body[0] {
		t.Errorf("the body was copied; the message form carries it as is")
	}
	if h[HeaderMsgID][0] != "webhook:wh-1" || h[HeaderType][0] != string(WebhookReceived) {
		t.Errorf("headers %v", h)
	}
	ev, err := DecodeMessage(h, data)
	if err != nil {
		t.Fatal(err)
	}
	got := ev.Payload.(*Webhook)
	if !got.Raw || !bytes.Equal(got.Body, body) || got.IssueID != "10040" || got.IssueKey != "TES-41" || got.Event != "jira:issue_updated" ||
		got.Identifier != "wh-1" || got.Retry != 2 || got.Flow != "Primary" || !got.ReceivedAt.Equal(at) || !got.Signed ||
		strings.Join(got.Auth, ",") != "hmac,token" || got.SourceIP != "203.0.113.7" || got.BodySHA256 != w.BodySHA256 {
		t.Errorf("decoded %+v", got)
	}
	if ev.ID != "webhook:wh-1" || ev.Subject != "jira.webhooks.10040" || ev.Source != "accessbridge/webhook-ingress" || !ev.Time.Equal(at.Add(time.Millisecond)) {
		t.Errorf("envelope %+v", ev.Envelope)
	}

	// Tampering with what the headers say is caught.
	for k, v := range map[string]string{HeaderBodySHA256: strings.Repeat("0", 64), HeaderSubject: "jira.webhooks.1", HeaderID: "webhook:other",
		HeaderSigned: "yes", HeaderType: string(DecisionRequested), HeaderIssueID: "x y"} {
		bad := Header{}
		for hk, hv := range h {
			bad[hk] = hv
		}
		bad[k] = []string{v}
		if _, err := DecodeMessage(bad, data); err == nil {
			t.Errorf("%s: %q accepted", k, v)
		}
	}
}

func TestWebhookMessageRefusesHeaderInjection(t *testing.T) {
	w := NewRawWebhook("1", "TAR-1\r\nCe-Signed: true", "jira:issue_updated", "", time.Now(), false, []string{AuthNone}, []byte(`{}`))
	if _, _, err := w.Message("src", time.Now()); err == nil {
		t.Fatal("a control character reached a header")
	}
}

// Webhooks already in a stream when an installation upgrades are
// enveloped JSON without Ce-* headers; they still decode.
func TestDecodeMessageReadsTheEnvelopeForm(t *testing.T) {
	body := corpusFiles(t)["02"]
	w := NewWebhook("10300", "TES-4", "jira:issue_updated", "", time.Now(), false, []string{AuthToken}, body)
	env, err := New("accessbridge/webhook-ingress", time.Now(), w)
	if err != nil {
		t.Fatal(err)
	}
	data, err := Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := DecodeMessage(Header{HeaderMsgID: {env.ID}, HeaderType: {string(env.Type)}}, data)
	if err != nil {
		t.Fatal(err)
	}
	got := ev.Payload.(*Webhook)
	if got.Raw || got.IssueID != "10300" {
		t.Fatalf("%+v", got)
	}
	p, err := ParseJiraWebhook(got.Body)
	if err != nil || p.Issue.ID != "10300" {
		t.Fatalf("the enveloped body parses: %+v %v", p, err)
	}
}

// The body's hash travels only where it is the delivery's id (no
// identifier, as Jira Server sends): there it is checked and required; a
// delivery with an identifier costs no second pass over its body.
func TestBodyHashOnlyWhereItIsTheID(t *testing.T) {
	body := corpusFiles(t)["01"]
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

	withID := NewRawWebhook("10040", "TES-41", "jira:issue_updated", "wh-1", at, true, []string{AuthHMAC}, body)
	if withID.BodySHA256 != "" {
		t.Fatalf("a delivery with an identifier was hashed: %q", withID.BodySHA256)
	}
	h, data, err := withID.Message("accessbridge/webhook-ingress", at)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h[HeaderBodySHA256]; ok {
		t.Fatalf("header %s sent for a delivery with an identifier", HeaderBodySHA256)
	}
	if _, err := DecodeMessage(h, data); err != nil {
		t.Fatalf("a delivery with an identifier and no hash: %v", err)
	}

	noID := NewRawWebhook("10040", "TES-41", "jira:issue_updated", "", at, true, []string{AuthHMAC}, body)
	sum := sha256.Sum256(body)
	if noID.BodySHA256 != hex.EncodeToString(sum[:]) || noID.DedupID() != "webhook:sha256:"+noID.BodySHA256 {
		t.Fatalf("no identifier: hash %q, id %q", noID.BodySHA256, noID.DedupID())
	}
	h, data, err = noID.Message("accessbridge/webhook-ingress", at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeMessage(h, data); err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(data, []byte("TES-41"), []byte("TES-42"), 1)
	if _, err := DecodeMessage(h, tampered); err == nil || !strings.Contains(err.Error(), "body_sha256: does not match") {
		t.Fatalf("a changed body decoded: %v", err)
	}
	delete(h, HeaderBodySHA256)
	if _, err := DecodeMessage(h, data); err == nil || !strings.Contains(err.Error(), "body_sha256: must be set") {
		t.Fatalf("a delivery without identifier or hash decoded: %v", err)
	}
}
