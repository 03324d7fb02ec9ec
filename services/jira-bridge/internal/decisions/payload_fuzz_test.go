package decisions

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePayload feeds arbitrary bodies, seeded with the six real Jira
// payloads, to the webhook parser and to what the bridge reads from it.
func FuzzParsePayload(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpus, "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"webhookEvent":"jira:issue_updated","changelog":{"id":10500,"items":[{"field":"STATUS","toString":"Approved"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePayload(body)
		if err != nil {
			return
		}
		if sc, ok := p.StatusChange(); ok && sc.To == "" && sc.From == "" {
			t.Fatalf("a status change with neither side: %+v", sc)
		}
		_ = p.Issue.Labels
		_, _ = ParseReason(string(body))
	})
}
