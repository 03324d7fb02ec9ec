package mmaction

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
)

var fuzzKey = []byte("fuzz-mattermost-button-key-0123456789abcdef")

// recorder stands in for the stream: the fuzz target checks what reaches
// it, not the publish (the service tests publish to embedded NATS).
type recorder struct{ got []*events.MattermostAction }

func (r *recorder) Publish(_ context.Context, a *events.MattermostAction) (bool, error) {
	r.got = append(r.got, a)
	return false, nil
}

// FuzzActionRequest: whatever the body, nothing is published unless the
// body carries the token of its own request, channel and verdict, and what
// is published is a valid event; the answer is 200 only then.
func FuzzActionRequest(f *testing.F) {
	tok := events.ButtonToken(fuzzKey, "req-1", "chan1", events.VerdictApprove)
	valid, _ := json.Marshal(map[string]any{"user_id": "u1", "user_name": "bob", "channel_id": "chan1", "post_id": "p1",
		"context": map[string]any{"request_id": "req-1", "action": "approve", "token": tok}})
	f.Add(valid)
	f.Add([]byte(`{"channel_id":"chan1","context":{"request_id":"req-1","action":"approve","token":""}}`))
	f.Add([]byte(`{"context":null}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := &recorder{}
		h, err := New(Options{Keys: [][]byte{fuzzKey}, Publisher: rec, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/mattermost/actions", bytes.NewReader(body)))
		var in request
		_ = json.Unmarshal(body, &in)
		signed := events.CheckButtonToken(fuzzKey, in.Context.Token, in.Context.RequestID, in.ChannelID, events.Verdict(in.Context.Action))
		switch {
		case !signed && (len(rec.got) != 0 || w.Code == http.StatusOK):
			t.Fatalf("unsigned body answered %d and published %d: %q", w.Code, len(rec.got), body)
		case len(rec.got) > 1:
			t.Fatalf("published %d events for one click", len(rec.got))
		case len(rec.got) == 1:
			a := rec.got[0]
			if err := a.Validate(); err != nil || a.RequestID != in.Context.RequestID || a.ChannelID != in.ChannelID || w.Code != http.StatusOK {
				t.Fatalf("published %+v (%v), answered %d", a, err, w.Code)
			}
		case w.Code == http.StatusOK:
			t.Fatalf("200 without a publish: %q", body)
		}
	})
}

func TestNewRefusesShortKeys(t *testing.T) {
	for _, keys := range [][][]byte{nil, {[]byte("short")}, {fuzzKey, []byte("short")}} {
		if _, err := New(Options{Keys: keys, Publisher: &recorder{}}); err == nil {
			t.Errorf("keys %q accepted", keys)
		}
	}
}
