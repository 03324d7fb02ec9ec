package webhookingress

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/webhook-ingress/internal/webhook"
	"github.com/rs/zerolog"
)

// encodingPublisher does all the ingress's work on a delivery except the
// network: it builds the message exactly as the service's publisher does
// and drops it.
type encodingPublisher struct{ size int }

func (p *encodingPublisher) PublishWebhook(_ context.Context, w *events.Webhook) (bool, error) {
	msg, err := webhookMsg(w, time.Now())
	if err != nil {
		return false, err
	}
	p.size = len(msg.Data)
	return false, nil
}

func (p *encodingPublisher) Ready(context.Context) error { return nil }

// BenchmarkHandlerDelivery is the CPU and memory one signed delivery costs
// the ingress: headers, HMAC, body read, parse, building the message — all
// but the NATS round trip. One sub-benchmark per real payload.
func BenchmarkHandlerDelivery(b *testing.B) {
	for _, s := range loadSamples(b) {
		b.Run(s.name[:2], func(b *testing.B) {
			pub := &encodingPublisher{}
			h, err := webhook.NewHandler(webhook.Options{
				Auth:      &webhook.Auth{HMACSecrets: [][]byte{[]byte(secretNew)}},
				Publisher: pub, MaxBody: 1 << 20, Log: zerolog.Nop(),
			})
			if err != nil {
				b.Fatal(err)
			}
			sig := sign(secretNew, s.body)
			b.SetBytes(int64(len(s.body)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(s.body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-Hub-Signature", sig)
				r.Header.Set("X-Atlassian-Webhook-Identifier", "bench-"+strconv.Itoa(i))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
