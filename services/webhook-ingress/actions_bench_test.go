package webhookingress

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// BenchmarkMattermostAction is one button click through the router: the
// constant-time token check, the event, and the publish with its JetStream
// ack on an embedded NATS server. Every click is a new post, so none is a
// duplicate. The forged variant is a click refused at the token (401).
func BenchmarkMattermostAction(b *testing.B) {
	h := startIngress(b, buttonConfig())
	h.mattermostStream()
	handler := h.svc.Handler()
	tok := events.ButtonToken([]byte(buttonKey), "req-1", "chan1", events.VerdictApprove)
	post := func(body []byte, want int) time.Duration {
		r := httptest.NewRequest(http.MethodPost, "/mattermost/actions", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		start := time.Now()
		handler.ServeHTTP(w, r)
		d := time.Since(start)
		if w.Code != want {
			b.Fatalf("status %d, want %d: %s", w.Code, want, w.Body)
		}
		return d
	}
	b.Run("published", func(b *testing.B) {
		bodies := make([][]byte, b.N)
		for i := range bodies {
			bodies[i] = bytes.Replace(click(tok, "req-1", "chan1", "approve"), []byte("ua3wzahbjpgwxbhbkbhk5xbs9c"),
				fmt.Appendf(nil, "p%025d", i), 1)
		}
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			lat = append(lat, post(bodies[i], http.StatusOK))
		}
		report(b, lat, time.Since(start))
	})
	b.Run("forged", func(b *testing.B) {
		body := click(tok, "req-1", "chan2", "approve")
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			lat = append(lat, post(body, http.StatusUnauthorized))
		}
		report(b, lat, time.Since(start))
	})
}
