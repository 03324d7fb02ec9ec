package mattermostsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

// TestButtonClick: a click is sent to the integration with the body
// Mattermost sends (the context from the stored post), and the answer's
// update replaces the post's message and props; ephemeral_text goes to the
// clicking user. A user who cannot read the channel cannot click, and an
// integration that fails is the server's action error.
func TestButtonClick(t *testing.T) {
	var mu sync.Mutex
	var got []mmsim.ActionRequest
	status := http.StatusOK
	integ := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in mmsim.ActionRequest
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("integration body: %v", err)
		}
		mu.Lock()
		got = append(got, in)
		st := status
		mu.Unlock()
		w.WriteHeader(st)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"update":         map[string]any{"message": "decided by " + in.UserName, "props": map[string]any{"k": "v"}},
			"ephemeral_text": "thanks " + in.UserName,
		})
	}))
	t.Cleanup(integ.Close)

	s, bot := start(t)
	ch := s.ChannelID("myteam", "town-square")
	a := bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": ch, "message": "pending", "props": map[string]any{
		"attachments": []any{map[string]any{"actions": []any{map[string]any{
			"id": "approve", "name": "Approve", "type": "button",
			"integration": map[string]any{"url": integ.URL, "context": map[string]any{"request_id": "r1", "token": "t"}},
		}}}},
	}})
	var post mmsim.Post
	a.decode(t, &post)

	ctx := context.Background()
	if err := s.Click(ctx, post.ID, "approve", "bob"); err != nil {
		t.Fatal(err)
	}
	bobID := func() string { u, _ := s.UserByEmail("bob@example.com"); return u.ID }()
	mu.Lock()
	if len(got) != 1 || got[0].UserID != bobID || got[0].UserName != "bob" || got[0].ChannelID != ch || got[0].PostID != post.ID ||
		got[0].TeamName != "myteam" || got[0].ChannelName != "town-square" || got[0].Context["request_id"] != "r1" || got[0].TriggerID == "" {
		t.Fatalf("integration got %+v", got)
	}
	mu.Unlock()
	p, _ := s.Post(post.ID)
	if p.Message != "decided by bob" || p.Props["k"] != "v" || p.Props["from_bot"] != "true" || p.Props["attachments"] != nil {
		t.Fatalf("post after the click: %q %v", p.Message, p.Props)
	}
	if e := s.Ephemerals(); len(e) != 1 || e[0].UserID != bobID || e[0].Message != "thanks bob" {
		t.Fatalf("ephemerals %+v", e)
	}

	// The update removed the button: the same click is now a 404.
	var ce *mmsim.ClickError
	if err := s.Click(ctx, post.ID, "approve", "bob"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Fatalf("click on a removed button: %v", err)
	}

	// A user who cannot read the channel; an integration answering 401.
	botU, _ := s.UserByEmail("teleport@bots.example.com")
	aliceU, _ := s.UserByEmail("alice@example.com")
	var dm map[string]any
	bot.do("POST", "/api/v4/channels/direct", []string{botU.ID, aliceU.ID}).decode(t, &dm)
	secret := dm["id"].(string)
	a = bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": secret, "message": "m", "props": map[string]any{
		"attachments": []any{map[string]any{"actions": []any{map[string]any{
			"id": "deny", "name": "Deny", "type": "button", "integration": map[string]any{"url": integ.URL},
		}}}},
	}})
	a.decode(t, &post)
	if err := s.Click(ctx, post.ID, "deny", "bob"); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Fatalf("click by a non-member: %v", err)
	}
	mu.Lock()
	status = http.StatusUnauthorized
	mu.Unlock()
	if err := s.Click(ctx, post.ID, "deny", "alice"); !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
		t.Fatalf("click refused by the integration: %v", err)
	}
	if p, _ := s.Post(post.ID); p.Message != "m" {
		t.Fatalf("a refused click changed the post: %q", p.Message)
	}
}
