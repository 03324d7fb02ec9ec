// Package mattermost is the bridge's Mattermost REST API v4 client: the few
// calls it makes, Bearer token auth, bounded retries of the calls that are
// safe to repeat, and typed errors. It knows nothing of NATS.
package mattermost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// APIError is an error answer of the server (its AppError body when it sent
// one).
type APIError struct {
	Method, Path  string
	Status        int
	ID            string
	Message       string
	DetailedError string
	RequestID     string
}

func (e *APIError) Error() string {
	msg := e.Message
	if e.ID != "" {
		msg = fmt.Sprintf("%s (%s)", e.Message, e.ID)
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("mattermost %s %s: %d %s", e.Method, e.Path, e.Status, msg)
	if e.RequestID != "" {
		s += " request_id=" + e.RequestID
	}
	return s
}

// RateLimitError is a 429 still answered after the in-process retries; the
// caller should come back after RetryAfter.
type RateLimitError struct {
	Method, Path string
	RetryAfter   time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("mattermost %s %s: rate limited (429), retry after %s", e.Method, e.Path, e.RetryAfter)
}

// TransportError is a call that got no HTTP answer (connection refused or
// reset, timeout). For a post, the server may or may not have written it.
type TransportError struct {
	Method, Path string
	Err          error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("mattermost %s %s: %v", e.Method, e.Path, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// IsStatus reports whether err is an APIError with one of the statuses.
func IsStatus(err error, statuses ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, s := range statuses {
		if ae.Status == s {
			return true
		}
	}
	return false
}

// RetryPolicy bounds the in-process retries of one call.
type RetryPolicy struct {
	MaxRetries int           // after the first attempt
	Min, Max   time.Duration // back-off bounds (jittered, doubling)
	// MaxWait is the longest Retry-After slept in-process; a longer one is
	// returned as a RateLimitError.
	MaxWait time.Duration
}

// Options configure a Client.
type Options struct {
	URL     string
	Token   string
	Timeout time.Duration // one attempt (default 30s)
	Retry   RetryPolicy
	// Observe, if set, is called after every attempt with the route
	// pattern and the status (0 without an answer).
	Observe    func(method, route string, status int, took time.Duration)
	HTTPClient *http.Client
}

// Client calls one Mattermost server.
type Client struct {
	base    string
	token   string
	retry   RetryPolicy
	observe func(string, string, int, time.Duration)
	hc      *http.Client
}

// New checks the URL and returns a client.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", o.URL)
	}
	if o.Token == "" {
		return nil, errors.New("no token")
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Retry.Min <= 0 {
		o.Retry.Min = 200 * time.Millisecond
	}
	if o.Retry.Max < o.Retry.Min {
		o.Retry.Max = max(o.Retry.Min, 10*time.Second)
	}
	if o.Retry.MaxWait <= 0 {
		o.Retry.MaxWait = o.Retry.Max
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.Timeout}
	}
	return &Client{base: strings.TrimRight(o.URL, "/") + "/api/v4", token: o.Token, retry: o.Retry, observe: o.Observe, hc: hc}, nil
}

// User is the part of a Mattermost user the bridge reads.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
	IsBot    bool   `json:"is_bot"`
	DeleteAt int64  `json:"delete_at"`
}

// Team is the part of a team the bridge reads.
type Team struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
}

// Channel is the part of a channel the bridge reads.
type Channel struct {
	ID          string `json:"id"`
	TeamID      string `json:"team_id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Type        string `json:"type"`
	DeleteAt    int64  `json:"delete_at"`
}

// Post is a post as sent and received.
type Post struct {
	ID        string         `json:"id,omitempty"`
	ChannelID string         `json:"channel_id"`
	RootID    string         `json:"root_id,omitempty"`
	Message   string         `json:"message"`
	Props     map[string]any `json:"props,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	CreateAt  int64          `json:"create_at,omitempty"`
	UpdateAt  int64          `json:"update_at,omitempty"`
	DeleteAt  int64          `json:"delete_at,omitempty"`
}

// Ping checks that the server answers (no session needed).
func (c *Client) Ping(ctx context.Context) error {
	return c.call(ctx, "GET", "/system/ping", "/system/ping", nil, nil, true)
}

// Me is the authenticated user (the bot).
func (c *Client) Me(ctx context.Context) (User, error) {
	var u User
	err := c.call(ctx, "GET", "/users/me", "/users/me", nil, &u, true)
	return u, err
}

// UserByEmail finds a user; a 404 APIError when there is none.
func (c *Client) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := c.call(ctx, "GET", "/users/email/"+url.PathEscape(email), "/users/email/{email}", nil, &u, true)
	return u, err
}

// TeamByName finds a team by its name.
func (c *Client) TeamByName(ctx context.Context, name string) (Team, error) {
	var t Team
	err := c.call(ctx, "GET", "/teams/name/"+url.PathEscape(name), "/teams/name/{team_name}", nil, &t, true)
	return t, err
}

// ChannelByName finds a channel by team name and channel name.
func (c *Client) ChannelByName(ctx context.Context, team, channel string) (Channel, error) {
	var ch Channel
	err := c.call(ctx, "GET", "/teams/name/"+url.PathEscape(team)+"/channels/name/"+url.PathEscape(channel),
		"/teams/name/{team_name}/channels/name/{channel_name}", nil, &ch, true)
	return ch, err
}

// ChannelsForUser lists the channels of a user in a team.
func (c *Client) ChannelsForUser(ctx context.Context, userID, teamID string) ([]Channel, error) {
	var chs []Channel
	err := c.call(ctx, "GET", "/users/"+url.PathEscape(userID)+"/teams/"+url.PathEscape(teamID)+"/channels",
		"/users/{user_id}/teams/{team_id}/channels", nil, &chs, true)
	return chs, err
}

// ChannelMember checks that the user is a member of the channel (a 404
// APIError when not).
func (c *Client) ChannelMember(ctx context.Context, channelID, userID string) error {
	return c.call(ctx, "GET", "/channels/"+url.PathEscape(channelID)+"/members/"+url.PathEscape(userID),
		"/channels/{channel_id}/members/{user_id}", nil, nil, true)
}

// DirectChannel returns the direct channel of two users, creating it when
// needed (idempotent on the server).
func (c *Client) DirectChannel(ctx context.Context, a, b string) (Channel, error) {
	var ch Channel
	err := c.call(ctx, "POST", "/channels/direct", "/channels/direct", []string{a, b}, &ch, true)
	return ch, err
}

// CreatePost creates a post. It is not idempotent, so a 5xx or a lost answer
// is not retried here: the post may exist (find it with PostsSince).
func (c *Client) CreatePost(ctx context.Context, p Post) (Post, error) {
	var out Post
	err := c.call(ctx, "POST", "/posts", "/posts", p, &out, false)
	return out, err
}

// PatchPost replaces the message and props of a post (idempotent).
func (c *Client) PatchPost(ctx context.Context, id, message string, props map[string]any) (Post, error) {
	var out Post
	body := map[string]any{"message": message}
	if props != nil {
		body["props"] = props
	}
	err := c.call(ctx, "PUT", "/posts/"+url.PathEscape(id)+"/patch", "/posts/{post_id}/patch", body, &out, true)
	return out, err
}

// PostsSince returns the posts of a channel created or changed after since.
func (c *Client) PostsSince(ctx context.Context, channelID string, since time.Time) ([]Post, error) {
	var list struct {
		Order []string         `json:"order"`
		Posts map[string]*Post `json:"posts"`
	}
	ms := max(since.UnixMilli(), 1)
	err := c.call(ctx, "GET", "/channels/"+url.PathEscape(channelID)+"/posts?since="+strconv.FormatInt(ms, 10),
		"/channels/{channel_id}/posts", nil, &list, true)
	if err != nil {
		return nil, err
	}
	out := make([]Post, 0, len(list.Order))
	for _, id := range list.Order {
		if p := list.Posts[id]; p != nil {
			out = append(out, *p)
		}
	}
	return out, nil
}

// maxAnswer bounds a response body read.
const maxAnswer = 8 << 20

// call makes one API call with retries: 429 always (nothing was done), and
// 5xx and transport errors when retrySafe.
func (c *Client) call(ctx context.Context, method, path, route string, in, out any, retrySafe bool) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("mattermost %s %s: encode: %w", method, route, err)
		}
		body = b
	}
	backoff := c.retry.Min
	for attempt := 0; ; attempt++ {
		wait, err := c.once(ctx, method, path, route, body, out)
		if err == nil {
			return nil
		}
		var rl *RateLimitError
		retryable := errors.As(err, &rl) || (retrySafe && (IsStatus(err, 500, 502, 503, 504) || isTransport(err)))
		if !retryable || attempt >= c.retry.MaxRetries || ctx.Err() != nil {
			return err
		}
		if wait == 0 {
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, c.retry.Max)
		} else if wait > c.retry.MaxWait {
			return err // the caller schedules the retry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func isTransport(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}

func (c *Client) once(ctx context.Context, method, path, route string, body []byte, out any) (time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("mattermost %s %s: %w", method, route, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.observed(method, route, 0, start)
		return 0, &TransportError{Method: method, Path: route, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	c.observed(method, route, resp.StatusCode, start)
	if err != nil {
		return 0, &TransportError{Method: method, Path: route, Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := retryAfter(resp.Header)
		return wait, &RateLimitError{Method: method, Path: route, RetryAfter: wait}
	case resp.StatusCode >= 300:
		ae := &APIError{Method: method, Path: route, Status: resp.StatusCode}
		var body struct {
			ID            string `json:"id"`
			Message       string `json:"message"`
			DetailedError string `json:"detailed_error"`
			RequestID     string `json:"request_id"`
		}
		if json.Unmarshal(data, &body) == nil {
			ae.ID, ae.Message, ae.DetailedError, ae.RequestID = body.ID, body.Message, body.DetailedError, body.RequestID
		}
		if ae.RequestID == "" {
			ae.RequestID = resp.Header.Get("X-Request-Id")
		}
		return 0, ae
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return 0, fmt.Errorf("mattermost %s %s: decode answer: %w", method, route, err)
		}
	}
	return 0, nil
}

func (c *Client) observed(method, route string, status int, start time.Time) {
	if c.observe != nil {
		c.observe(method, route, status, time.Since(start))
	}
}

// retryAfter reads Retry-After (seconds), else X-RateLimit-Reset (seconds
// until the limit resets), else one second.
func retryAfter(h http.Header) time.Duration {
	for _, name := range []string{"Retry-After", "X-RateLimit-Reset"} {
		if v := h.Get(name); v != "" {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				return max(time.Duration(n)*time.Second, time.Second)
			}
		}
	}
	return time.Second
}
