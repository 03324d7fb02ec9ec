package decisions

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// BenchmarkDecodeDelivery is what the bridge spends decoding one webhook
// delivery as the ingress publishes it, up to the fields the decider reads
// (status change, actor, labels, the request-id field, the comment).
func BenchmarkDecodeDelivery(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(corpus, "*.json"))
	if len(files) != 6 {
		b.Fatalf("want the six payloads in %s", corpus)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		w := events.NewWebhook("10040", "TES-41", "jira:issue_updated", "id-1", time.Now(), true, []string{events.AuthHMAC}, body)
		env, err := events.New("bench", time.Now(), w)
		if err != nil {
			b.Fatal(err)
		}
		data, err := events.Encode(env)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(f)[:2], func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				ev, err := events.Decode(data)
				if err != nil {
					b.Fatal(err)
				}
				p, err := ParsePayload(ev.Payload.(*events.Webhook).Body)
				if err != nil {
					b.Fatal(err)
				}
				p.StatusChange()
				p.Labels()
				p.FieldString("customfield_10050")
			}
		})
	}
}
