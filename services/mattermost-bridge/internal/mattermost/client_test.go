package mattermost_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/mattermost"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

func client(t *testing.T, s *mmsim.Server, token string, retries int) *mattermost.Client {
	t.Helper()
	c, err := mattermost.New(mattermost.Options{URL: s.URL(), Token: token, Timeout: 5 * time.Second,
		Retry: mattermost.RetryPolicy{MaxRetries: retries, Min: time.Millisecond, Max: 10 * time.Millisecond, MaxWait: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestErrorsAreTyped(t *testing.T) {
	s := mmsim.Start(t, mmsim.Options{})
	ctx := context.Background()
	_, err := client(t, s, "wrong", 0).Me(ctx)
	var ae *mattermost.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.ID != "api.context.session_expired.app_error" || ae.RequestID == "" {
		t.Fatalf("bad token: %#v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error shows the token: %v", err)
	}
	c := client(t, s, mmsim.DefaultBotToken, 0)
	if _, err := c.UserByEmail(ctx, "ghost@example.com"); !mattermost.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("unknown email: %v", err)
	}
	if _, err := c.ChannelByName(ctx, "myteam", "Town Square"); !mattermost.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("display name as name: %v", err)
	}
	if _, err := c.CreatePost(ctx, mattermost.Post{ChannelID: s.ChannelID("myteam", "secret"), Message: "x"}); !mattermost.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("not a member: %v", err)
	}
}

func TestRetries(t *testing.T) {
	s := mmsim.Start(t, mmsim.Options{})
	ctx := context.Background()
	c := client(t, s, mmsim.DefaultBotToken, 3)
	town := s.ChannelID("myteam", "town-square")

	// A GET is retried through 5xx; a 429 is retried after Retry-After,
	// for a post too (nothing was written).
	s.FailNext(mmsim.Scripted{Method: "GET", Route: "/api/v4/users/me", Kind: mmsim.FailBefore, Status: 502, Count: 2})
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("Me through two 502s: %v", err)
	}
	s.FailNext(mmsim.Scripted{Method: "POST", Route: "/api/v4/posts", Kind: mmsim.RateLimited, RetryAfter: time.Second})
	start := time.Now()
	if _, err := c.CreatePost(ctx, mattermost.Post{ChannelID: town, Message: "after 429"}); err != nil {
		t.Fatalf("post through a 429: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("Retry-After not honoured: retried after %s", waited)
	}

	// A 5xx on a post is not retried: the post may exist.
	s.FailNext(mmsim.Scripted{Method: "POST", Route: "/api/v4/posts", Kind: mmsim.FailAfterWrite})
	if _, err := c.CreatePost(ctx, mattermost.Post{ChannelID: town, Message: "maybe"}); !mattermost.IsStatus(err, 500) {
		t.Fatalf("post with a 500 after the write: %v", err)
	}
	if n := s.CountRequests("POST", "/api/v4/posts"); n != 3 {
		t.Fatalf("%d post calls, want 3 (429, ok, 500)", n)
	}
	if len(s.Posts(town)) != 2 {
		t.Fatalf("posts %d", len(s.Posts(town)))
	}

	// A Retry-After longer than MaxWait comes back as a RateLimitError.
	s.FailNext(mmsim.Scripted{Kind: mmsim.RateLimited, RetryAfter: 30 * time.Second})
	_, err := c.Me(ctx)
	var rl *mattermost.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Fatalf("long 429: %v", err)
	}

	// PostsSince finds posts by their props.
	ps, err := c.PostsSince(ctx, town, start.Add(-time.Minute))
	if err != nil || len(ps) != 2 {
		t.Fatalf("since: %v %v", ps, err)
	}
}
