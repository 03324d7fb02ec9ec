package mattermostsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

type client struct {
	t     *testing.T
	base  string
	token string
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// appError checks the server's error body and returns its id.
func (a answer) appError(t *testing.T, status int) string {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	var e map[string]any
	a.decode(t, &e)
	for _, f := range []string{"id", "message", "detailed_error", "request_id", "status_code"} {
		if _, ok := e[f]; !ok {
			t.Fatalf("error body lacks %q: %s", f, a.body)
		}
	}
	if int(e["status_code"].(float64)) != status || e["request_id"] != a.header.Get("X-Request-Id") {
		t.Fatalf("error body %s does not match status %d / X-Request-Id %q", a.body, status, a.header.Get("X-Request-Id"))
	}
	return e["id"].(string)
}

func (c client) do(method, path string, body any) answer {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func start(t *testing.T) (*mmsim.Server, client) {
	t.Helper()
	s := mmsim.Start(t, mmsim.Options{})
	return s, client{t: t, base: s.URL(), token: mmsim.DefaultBotToken}
}

func TestAuthentication(t *testing.T) {
	s, bot := start(t)
	anon := client{t: t, base: s.URL()}
	if id := anon.do("GET", "/api/v4/users/me", nil).appError(t, 401); id != "api.context.session_expired.app_error" {
		t.Fatalf("id %q", id)
	}
	wrong := client{t: t, base: s.URL(), token: "nope"}
	wrong.do("GET", "/api/v4/users/me", nil).appError(t, 401)
	if a := anon.do("GET", "/api/v4/system/ping", nil); a.status != 200 {
		t.Fatalf("ping %d", a.status)
	}
	a := bot.do("GET", "/api/v4/users/me", nil)
	var me map[string]any
	a.decode(t, &me)
	if a.status != 200 || me["username"] != "teleport" || me["is_bot"] != true || len(me["id"].(string)) != 26 {
		t.Fatalf("users/me %d %s", a.status, a.body)
	}
	if _, leaked := me["token"]; leaked || strings.Contains(string(a.body), mmsim.DefaultBotToken) {
		t.Fatal("users/me shows the token")
	}
	if a.header.Get("ETag") == "" || a.header.Get("X-Version-Id") == "" {
		t.Fatalf("headers %v", a.header)
	}
	// "Token" scheme works as well; an unknown route is the server's 404.
	req, _ := http.NewRequest("GET", s.URL()+"/api/v4/users/me", nil)
	req.Header.Set("Authorization", "token "+mmsim.DefaultBotToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token scheme: %v %v", resp, err)
	}
	resp.Body.Close()
	if id := bot.do("GET", "/api/v4/nothing/here", nil).appError(t, 404); id != "api.context.404.app_error" {
		t.Fatalf("id %q", id)
	}
}

func TestUsersAndChannels(t *testing.T) {
	s, bot := start(t)
	var alice map[string]any
	a := bot.do("GET", "/api/v4/users/email/alice@example.com", nil)
	a.decode(t, &alice)
	if a.status != 200 || alice["username"] != "alice" {
		t.Fatalf("by email %d %s", a.status, a.body)
	}
	if id := bot.do("GET", "/api/v4/users/email/nobody@example.com", nil).appError(t, 404); id != "app.user.missing_account.const" {
		t.Fatalf("id %q", id)
	}
	bot.do("GET", "/api/v4/users/email/not-an-email", nil).appError(t, 400)

	// Channels by name; the display name is not a name.
	var ch map[string]any
	a = bot.do("GET", "/api/v4/teams/name/myteam/channels/name/town-square", nil)
	a.decode(t, &ch)
	if a.status != 200 || ch["display_name"] != "Town Square" || ch["id"] != s.ChannelID("myteam", "town-square") {
		t.Fatalf("channel %d %s", a.status, a.body)
	}
	if id := bot.do("GET", "/api/v4/teams/name/myteam/channels/name/Town%20Square", nil).appError(t, 404); id != "app.channel.get_by_name.missing.app_error" {
		t.Fatalf("id %q", id)
	}
	bot.do("GET", "/api/v4/teams/name/myteam/channels/name/secret", nil).appError(t, 404) // private, not a member
	if id := bot.do("GET", "/api/v4/teams/name/noteam/channels/name/town-square", nil).appError(t, 404); id != "app.team.get_by_name.missing.app_error" {
		t.Fatalf("id %q", id)
	}
	var team map[string]any
	bot.do("GET", "/api/v4/teams/name/myteam", nil).decode(t, &team)
	var mine []map[string]any
	a = bot.do("GET", "/api/v4/users/me/teams/"+team["id"].(string)+"/channels", nil)
	a.decode(t, &mine)
	var names []string
	for _, c := range mine {
		names = append(names, c["display_name"].(string))
	}
	if strings.Join(names, ",") != "Town Square,Off-Topic" {
		t.Fatalf("my channels %v", names)
	}

	// Membership.
	me := s.Bot()
	if a := bot.do("GET", "/api/v4/channels/"+ch["id"].(string)+"/members/"+me.ID, nil); a.status != 200 {
		t.Fatalf("member %d %s", a.status, a.body)
	}
	s.RemoveMember("myteam", "town-square", "teleport")
	if id := bot.do("GET", "/api/v4/channels/"+ch["id"].(string)+"/members/"+me.ID, nil).appError(t, 404); id != "app.channel.get_member.missing.app_error" {
		t.Fatalf("id %q", id)
	}

	// Direct channels: 201, the same channel for the same pair.
	var dm1, dm2 map[string]any
	a = bot.do("POST", "/api/v4/channels/direct", []string{me.ID, alice["id"].(string)})
	a.decode(t, &dm1)
	b := bot.do("POST", "/api/v4/channels/direct", []string{alice["id"].(string), me.ID})
	b.decode(t, &dm2)
	if a.status != 201 || b.status != 201 || dm1["id"] != dm2["id"] || dm1["type"] != "D" {
		t.Fatalf("direct %d %s / %d %s", a.status, a.body, b.status, b.body)
	}
	bob, _ := s.UserByEmail("bob@example.com")
	bot.do("POST", "/api/v4/channels/direct", []string{bob.ID, alice["id"].(string)}).appError(t, 403)
	bot.do("POST", "/api/v4/channels/direct", []string{me.ID}).appError(t, 400)
}

func TestPosts(t *testing.T) {
	s, bot := start(t)
	town := s.ChannelID("myteam", "town-square")
	before := time.Now().UnixMilli() - 1
	var p map[string]any
	a := bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "message": "hello", "props": map[string]any{"teleport_request_id": "r1"}})
	a.decode(t, &p)
	if a.status != 201 || p["message"] != "hello" || p["props"].(map[string]any)["teleport_request_id"] != "r1" || p["root_id"] != "" {
		t.Fatalf("create %d %s", a.status, a.body)
	}
	id := p["id"].(string)

	// Thread reply; a reply to a reply is refused.
	var reply map[string]any
	a = bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "message": "a review", "root_id": id})
	a.decode(t, &reply)
	if a.status != 201 || reply["root_id"] != id {
		t.Fatalf("reply %d %s", a.status, a.body)
	}
	bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "message": "x", "root_id": reply["id"]}).appError(t, 400)

	// Message length: 16383 runes pass, one more fails.
	long := strings.Repeat("é", mmsim.MaxMessageRunes)
	if a := bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "message": long}); a.status != 201 {
		t.Fatalf("max length %d", a.status)
	}
	if id := bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "message": long + "x"}).appError(t, 400); id != "model.post.is_valid.msg.app_error" {
		t.Fatalf("id %q", id)
	}

	// Not a member: 403, also for a public channel of the team.
	bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": s.ChannelID("myteam", "secret"), "message": "x"}).appError(t, 403)
	s.RemoveMember("myteam", "off-topic", "teleport")
	if id := bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": s.ChannelID("myteam", "off-topic"), "message": "x"}).appError(t, 403); id != "api.context.permissions.app_error" {
		t.Fatalf("id %q", id)
	}

	// Patch and update.
	var patched map[string]any
	a = bot.do("PUT", "/api/v4/posts/"+id+"/patch", map[string]any{"message": "hello (approved)"})
	a.decode(t, &patched)
	if a.status != 200 || patched["message"] != "hello (approved)" || patched["edit_at"].(float64) == 0 ||
		patched["props"].(map[string]any)["teleport_request_id"] != "r1" {
		t.Fatalf("patch %d %s", a.status, a.body)
	}
	bot.do("PUT", "/api/v4/posts/"+id, map[string]any{"id": "other", "message": "x"}).appError(t, 400)
	if a := bot.do("PUT", "/api/v4/posts/"+id, map[string]any{"id": id, "message": "updated", "props": map[string]any{"teleport_request_id": "r1"}}); a.status != 200 {
		t.Fatalf("update %d %s", a.status, a.body)
	}
	alice := client{t: t, base: s.URL(), token: "alice-token"}
	alice.do("PUT", "/api/v4/posts/"+id+"/patch", map[string]any{"message": "mine now"}).appError(t, 403)
	var got map[string]any
	bot.do("GET", "/api/v4/posts/"+id, nil).decode(t, &got)
	if got["message"] != "updated" {
		t.Fatalf("get %v", got)
	}

	// Posts since a time, with their props, to find a post after a crash.
	var list struct {
		Order []string                  `json:"order"`
		Posts map[string]map[string]any `json:"posts"`
	}
	bot.do("GET", "/api/v4/channels/"+town+"/posts?since="+itoa(before), nil).decode(t, &list)
	if len(list.Order) != 3 || list.Posts[id]["props"].(map[string]any)["teleport_request_id"] != "r1" {
		t.Fatalf("since: %v", list.Order)
	}
	later := time.Now().UnixMilli() + 60000
	bot.do("GET", "/api/v4/channels/"+town+"/posts?since="+itoa(later), nil).decode(t, &list)
	if len(list.Order) != 0 {
		t.Fatalf("since the future: %v", list.Order)
	}
	bot.do("GET", "/api/v4/channels/"+town+"/posts?since=abc", nil).appError(t, 400)
	var thread struct {
		Order []string `json:"order"`
	}
	bot.do("GET", "/api/v4/posts/"+id+"/thread", nil).decode(t, &thread)
	if len(thread.Order) != 2 {
		t.Fatalf("thread %v", thread.Order)
	}
	if n := s.CountRequests("POST", "/api/v4/posts"); n != 7 {
		t.Fatalf("logged %d post creations", n)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestFaults(t *testing.T) {
	s, bot := start(t)
	town := s.ChannelID("myteam", "town-square")

	s.FailNext(mmsim.Scripted{Method: "POST", Route: "/api/v4/posts", Kind: mmsim.FailBefore, Status: 503})
	bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "message": "one"}).appError(t, 503)
	if n := len(s.Posts(town)); n != 0 {
		t.Fatalf("a failed-before call wrote %d posts", n)
	}
	s.FailNext(mmsim.Scripted{Method: "POST", Route: "/api/v4/posts", Kind: mmsim.FailAfterWrite})
	bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "message": "two"}).appError(t, 500)
	if ps := s.Posts(town); len(ps) != 1 || ps[0].Message != "two" {
		t.Fatalf("after-write fault: posts %+v", ps)
	}
	s.FailNext(mmsim.Scripted{Kind: mmsim.RateLimited, RetryAfter: 3 * time.Second})
	a := bot.do("GET", "/api/v4/users/me", nil)
	if a.status != 429 || a.header.Get("Retry-After") != "3" || strings.TrimSpace(string(a.body)) != "limit exceeded" {
		t.Fatalf("scripted 429: %d %v %q", a.status, a.header, a.body)
	}

	// The rate limiter: headers on every answer, 429 past the burst.
	if err := s.SetFaults(mmsim.Faults{RateLimit: 1, RateBurst: 2}); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for range 3 {
		a = bot.do("GET", "/api/v4/users/me", nil)
		statuses = append(statuses, a.status)
		if a.header.Get("X-RateLimit-Limit") != "1" || a.header.Get("X-RateLimit-Remaining") == "" || a.header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("rate headers %v", a.header)
		}
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 || a.header.Get("Retry-After") != "1" {
		t.Fatalf("statuses %v, Retry-After %q", statuses, a.header.Get("Retry-After"))
	}
	if err := s.SetFaults(mmsim.Faults{ErrorRate: 2}); err == nil {
		t.Fatal("a rate of 2 was accepted")
	}
	// Every call is in the log with its fault.
	faults := map[string]int{}
	for _, r := range s.Requests() {
		faults[r.Fault]++
	}
	if faults["before"] != 1 || faults["after-write"] != 1 || faults["rate-limited"] != 2 {
		t.Fatalf("faults logged %v", faults)
	}
}

func TestRandomFaults(t *testing.T) {
	s := mmsim.Start(t, mmsim.Options{Seed: 7, Faults: mmsim.Faults{ErrorRate: 0.5, Latency: time.Millisecond}})
	bot := client{t: t, base: s.URL(), token: mmsim.DefaultBotToken}
	fails := 0
	for range 40 {
		if a := bot.do("GET", "/api/v4/users/me", nil); a.status >= 500 {
			bot.do("GET", "/api/v4/users/me", nil) // keeps the sequence going
			fails++
		}
	}
	if fails < 5 || fails > 35 {
		t.Fatalf("%d of 40 failed with rate 0.5", fails)
	}
}
