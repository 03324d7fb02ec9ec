package decisions

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// BenchmarkDecodeDelivery is what the bridge spends decoding one webhook
// delivery as the ingress publishes it (message: the raw body, attributes
// in headers), up to the fields the decider reads (status change, actor,
// labels, the request-id field, the comment); envelope is the form the
// ingress published before, still read for deliveries already in a stream.
func BenchmarkDecodeDelivery(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(corpus, "*.json"))
	if len(files) != 6 {
		b.Fatalf("want the six payloads in %s", corpus)
	}
	for _, form := range []string{"message", "envelope"} {
		for _, f := range files {
			body, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			var hdr events.Header
			var data []byte
			if form == "message" {
				w := events.NewRawWebhook("10040", "TES-41", "jira:issue_updated", "id-1", time.Now(), true, []string{events.AuthHMAC}, body)
				if hdr, data, err = w.Message("bench", time.Now()); err != nil {
					b.Fatal(err)
				}
			} else {
				w := events.NewWebhook("10040", "TES-41", "jira:issue_updated", "id-1", time.Now(), true, []string{events.AuthHMAC}, body)
				env, err := events.New("bench", time.Now(), w)
				if err != nil {
					b.Fatal(err)
				}
				if data, err = events.Encode(env); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(form+"/"+filepath.Base(f)[:2], func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					ev, err := events.DecodeMessage(hdr, data)
					if err != nil {
						b.Fatal(err)
					}
					p, err := ParsePayload(ev.Payload.(*events.Webhook).Body, "customfield_10050")
					if err != nil {
						b.Fatal(err)
					}
					p.StatusChange()
				}
			})
		}
	}
}
