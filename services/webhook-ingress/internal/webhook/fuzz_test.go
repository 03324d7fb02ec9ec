package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// FuzzWebhookRequest drives the whole request handling with arbitrary
// bodies and headers. It must never panic or answer 500; it must publish
// exactly when it answers "published", and what it publishes must survive
// the wire (encode, decode, validate).
func FuzzWebhookRequest(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s, uint8(0), "application/json", "delivery-1", "1", false)
	}
	f.Add([]byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":"1","key":"<&>"}}`), uint8(0), "application/json; charset=utf-8", "", "", false)
	f.Add([]byte(`{"webhookEvent":"project_created"}`), uint8(1), "application/json", "x", "-3", true)
	f.Add([]byte(`[`), uint8(2), "text/plain", "", "", false)
	f.Add([]byte{}, uint8(0), "", "\xff", "99999999999999999999", true)

	f.Fuzz(func(t *testing.T, body []byte, sig uint8, contentType, identifier, retry string, chunked bool) {
		pub := &fakePublisher{}
		h := newTestHandler(t, pub, func(o *Options) { o.MaxBody = 64 << 10 })
		r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		if chunked {
			r.ContentLength = -1
		}
		r.Header.Set("Content-Type", contentType)
		switch sig % 3 {
		case 0:
			r.Header.Set(HeaderSignature, signature(testSecret, body))
		case 1:
			r.Header.Set(HeaderSignature, signature("another-secret-0123456789", body))
		}
		r.Header.Set(HeaderIdentifier, identifier)
		r.Header.Set(HeaderRetry, retry)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		switch w.Code {
		case 200, 400, 401, 413, 415:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		published := bytes.Contains(w.Body.Bytes(), []byte(`"result":"published"`))
		if published != (pub.count() == 1) || pub.count() > 1 {
			t.Fatalf("answer %s but %d events published", w.Body, pub.count())
		}
		if w.Code != 200 && pub.count() != 0 {
			t.Fatalf("status %d with an event published", w.Code)
		}
		if sig%3 != 0 && w.Code == 200 {
			t.Fatalf("accepted a delivery without a valid signature")
		}
		if pub.count() == 1 {
			ev := pub.events[0]
			h, data, err := ev.Message("fuzz", time.Now())
			if err != nil {
				t.Fatalf("published an invalid event: %v", err)
			}
			got, err := events.DecodeMessage(h, data)
			if err != nil {
				t.Fatalf("published event does not decode: %v", err)
			}
			if _, err := events.ParseJiraWebhook(got.Payload.(*events.Webhook).Body); err != nil {
				t.Fatalf("the bridge's parser refuses what the ingress accepted: %v", err)
			}
		}
	})
}

// FuzzWebhookParse checks that Parse never panics and only routes on ids
// that are safe NATS subject tokens.
func FuzzWebhookParse(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":12}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := Parse(body)
		if err != nil {
			return
		}
		if got.Event == "" {
			t.Fatal("no event but no error")
		}
		if got.IssueID != "" {
			if err := events.ValidToken(got.IssueID); err != nil || strings.Trim(got.IssueID, "0123456789") != "" {
				t.Fatalf("issue id %q: %v", got.IssueID, err)
			}
		}
	})
}
