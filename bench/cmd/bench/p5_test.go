package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The generator's deliveries are what net/http reads as well-formed signed
// POSTs, each with a new delivery id, and it follows the server's answers:
// a refusal is counted, a closed connection is redialled.
func TestGeneratorSpeaksHTTP(t *testing.T) {
	const secret = "s3cret"
	body := []byte(`{"webhookEvent":"jira:issue_updated"}`)
	var mu sync.Mutex
	ids := map[string]bool{}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(got)
		if err != nil || r.Method != http.MethodPost || r.URL.Path != "/webhook" || string(got) != string(body) ||
			r.Header.Get("X-Hub-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		n++
		ids[r.Header.Get("X-Atlassian-Webhook-Identifier")] = true
		switch {
		case n%10 == 0:
			w.Header().Set("Connection", "close") // the generator must dial again
		case n%7 == 0:
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"result":"published"}`)
	}))
	defer srv.Close()

	g := newGenerator(srv.URL+"/webhook", secret, body)
	c := g.client()
	defer c.close()
	ok, refused := 0, 0
	for range 50 {
		good, err := c.send()
		if err != nil {
			t.Fatal(err)
		}
		if good {
			ok++
		} else {
			refused++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 50 || len(ids) != 50 {
		t.Fatalf("server saw %d deliveries with %d distinct ids, want 50 and 50", n, len(ids))
	}
	// 503 at 7, 14, 21, 28, 35, 42, 49 (not at 70: a close wins).
	if refused != 7 || ok != 43 {
		t.Fatalf("ok %d, refused %d; want 43 and 7", ok, refused)
	}
	for id := range ids {
		if !strings.HasPrefix(id, "p5-") {
			t.Fatalf("delivery id %q", id)
		}
	}
}
