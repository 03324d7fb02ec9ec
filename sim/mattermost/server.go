package mattermostsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// UserSpec declares a user of the emulated server.
type UserSpec struct {
	Username string
	Email    string
	// Token is the access token the user authenticates with (bots).
	Token string
	IsBot bool
}

// ChannelSpec declares a team channel; Members are usernames.
type ChannelSpec struct {
	Name        string
	DisplayName string
	Private     bool
	Members     []string
}

// TeamSpec declares a team and its channels.
type TeamSpec struct {
	Name        string
	DisplayName string
	Channels    []ChannelSpec
}

// Options configure a Server. The zero value gives DefaultUsers and
// DefaultTeams.
type Options struct {
	// Addr is the listen address of Start (default 127.0.0.1:0).
	Addr string
	// Users (default DefaultUsers()).
	Users []UserSpec
	// Teams (default DefaultTeams()).
	Teams []TeamSpec
	// Faults injected into the API from the start.
	Faults Faults
	// Seed makes the fault decisions reproducible.
	Seed uint64
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger zerolog.Logger
}

// DefaultBotToken is the token of the default bot "teleport".
const DefaultBotToken = "mm-bot-token"

// DefaultUsers: the bot "teleport" and two reviewers.
func DefaultUsers() []UserSpec {
	return []UserSpec{
		{Username: "teleport", Email: "teleport@bots.example.com", Token: DefaultBotToken, IsBot: true},
		{Username: "alice", Email: "alice@example.com", Token: "alice-token"},
		{Username: "bob", Email: "bob@example.com", Token: "bob-token"},
	}
}

// DefaultTeams: team "myteam" with Town Square (the bot a member), Off-Topic
// (the bot a member) and a private "secret" channel without the bot.
func DefaultTeams() []TeamSpec {
	return []TeamSpec{{Name: "myteam", DisplayName: "My Team", Channels: []ChannelSpec{
		{Name: "town-square", DisplayName: "Town Square", Members: []string{"teleport", "alice", "bob"}},
		{Name: "off-topic", DisplayName: "Off-Topic", Members: []string{"teleport", "alice"}},
		{Name: "secret", DisplayName: "Secret", Private: true, Members: []string{"alice"}},
	}}}
}

// Server is the emulator.
type Server struct {
	opts    Options
	handler http.Handler
	api     *http.ServeMux

	startMu sync.Mutex
	httpSrv *http.Server
	closed  bool
	baseURL atomic.Pointer[string]

	mu       sync.Mutex // guards the data below
	users    map[string]*User
	teams    map[string]*Team
	teamMem  map[string]map[string]bool // team id → user ids
	channels map[string]*Channel
	posts    map[string]*Post
	order    []string // post ids in creation order
	// ephemerals are the ephemeral_text answers of button integrations.
	ephemerals []Ephemeral

	reqMu    sync.Mutex
	requests []Request

	faultMu sync.Mutex
	faults  Faults
	bucket  *bucket
	next    []scripted
	randMu  sync.Mutex
	rng     *rand.Rand
}

// Request is one API call received.
type Request struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Query  string    `json:"query,omitempty"`
	// Route is the matched pattern without the method, e.g.
	// "/api/v4/posts/{post_id}/patch"; empty when none matched.
	Route  string `json:"route,omitempty"`
	Status int    `json:"status"`
	User   string `json:"user,omitempty"`
	// Fault names the injected fault, if any.
	Fault string `json:"fault,omitempty"`
}

const maxRequestLog = 200000

// New builds a server; Start listens.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Users == nil {
		opts.Users = DefaultUsers()
	}
	if opts.Teams == nil {
		opts.Teams = DefaultTeams()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := opts.Faults.check(); err != nil {
		return nil, fmt.Errorf("mattermostsim: %w", err)
	}
	s := &Server{
		opts: opts, users: map[string]*User{}, teams: map[string]*Team{}, teamMem: map[string]map[string]bool{},
		channels: map[string]*Channel{}, posts: map[string]*Post{}, faults: opts.Faults,
		rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	byName := map[string]*User{}
	for _, u := range opts.Users {
		if u.Username == "" || u.Email == "" {
			return nil, errors.New("mattermostsim: every user needs a username and an email")
		}
		nu := &User{ID: newID(), Username: strings.ToLower(u.Username), Email: strings.ToLower(u.Email), Token: u.Token, IsBot: u.IsBot, Roles: "system_user"}
		if _, dup := byName[nu.Username]; dup {
			return nil, fmt.Errorf("mattermostsim: duplicate user %q", u.Username)
		}
		byName[nu.Username] = nu
		s.users[nu.ID] = nu
	}
	now := s.millis()
	for _, t := range opts.Teams {
		team := &Team{ID: newID(), Name: t.Name, DisplayName: t.DisplayName, Type: "O"}
		s.teams[team.ID] = team
		s.teamMem[team.ID] = map[string]bool{}
		for _, c := range t.Channels {
			ch := &Channel{ID: newID(), TeamID: team.ID, Name: c.Name, DisplayName: c.DisplayName, Type: ChannelOpen, CreateAt: now, UpdateAt: now, Members: map[string]bool{}}
			if c.Private {
				ch.Type = ChannelPrivate
			}
			for _, m := range c.Members {
				u := byName[strings.ToLower(m)]
				if u == nil {
					return nil, fmt.Errorf("mattermostsim: channel %s/%s: unknown member %q", t.Name, c.Name, m)
				}
				ch.Members[u.ID] = true
				s.teamMem[team.ID][u.ID] = true
			}
			ch.seq = len(s.channels)
			s.channels[ch.ID] = ch
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Start builds and starts a server for a test, closed when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("mattermostsim.New: %v", err)
	}
	if err := s.Start(); err != nil {
		tb.Fatalf("mattermostsim.Start: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start listens on Options.Addr and serves in the background.
func (s *Server) Start() error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.httpSrv != nil || s.closed {
		return errors.New("mattermostsim: server already started or closed")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("mattermostsim: listen %s: %w", s.opts.Addr, err)
	}
	base := "http://" + ln.Addr().String()
	s.baseURL.Store(&base)
	s.httpSrv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error().Err(err).Msg("mattermost-sim: serve")
		}
	}()
	s.opts.Logger.Info().Str("url", base).Msg("mattermost-sim: listening")
	return nil
}

// Close stops the server.
func (s *Server) Close() {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			_ = s.httpSrv.Close()
		}
	}
}

// URL is the base URL, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string {
	if p := s.baseURL.Load(); p != nil {
		return *p
	}
	return ""
}

// Handler serves the emulator without a listener.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) millis() int64 { return s.opts.Now().UnixMilli() }

// UserByEmail returns a copy of the user with that email.
func (s *Server) UserByEmail(email string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByEmailLocked(email); u != nil {
		return *u, true
	}
	return User{}, false
}

// Bot returns the first bot user.
func (s *Server) Bot() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.IsBot {
			return *u
		}
	}
	return User{}
}

func (s *Server) userByEmailLocked(email string) *User {
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			return u
		}
	}
	return nil
}

func (s *Server) userByNameLocked(name string) *User {
	for _, u := range s.users {
		if u.Username == strings.ToLower(name) {
			return u
		}
	}
	return nil
}

// ChannelID returns the id of team/channel (channel name), or "".
func (s *Server) ChannelID(team, channel string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channelByNameLocked(team, channel); c != nil {
		return c.ID
	}
	return ""
}

func (s *Server) teamByNameLocked(name string) *Team {
	for _, t := range s.teams {
		if t.Name == strings.ToLower(name) {
			return t
		}
	}
	return nil
}

func (s *Server) channelByNameLocked(team, name string) *Channel {
	t := s.teamByNameLocked(team)
	if t == nil {
		return nil
	}
	for _, c := range s.channels {
		if c.TeamID == t.ID && c.Name == name {
			return c
		}
	}
	return nil
}

// DirectChannelID returns the id of the direct channel between the users
// with these emails, or "" when none was created.
func (s *Server) DirectChannelID(email1, email2 string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, b := s.userByEmailLocked(email1), s.userByEmailLocked(email2)
	if a == nil || b == nil {
		return ""
	}
	for _, c := range s.channels {
		if c.Type == ChannelDirect && c.Name == dmName(a.ID, b.ID) {
			return c.ID
		}
	}
	return ""
}

// AddMember adds the user (username) to team/channel.
func (s *Server) AddMember(team, channel, username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, u := s.channelByNameLocked(team, channel), s.userByNameLocked(username)
	if c == nil || u == nil {
		return fmt.Errorf("no channel %s/%s or user %s", team, channel, username)
	}
	c.Members[u.ID] = true
	s.teamMem[c.TeamID][u.ID] = true
	return nil
}

// RemoveMember removes the user (username) from team/channel.
func (s *Server) RemoveMember(team, channel, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, u := s.channelByNameLocked(team, channel), s.userByNameLocked(username); c != nil && u != nil {
		delete(c.Members, u.ID)
	}
}

// Posts returns the posts of a channel (deleted ones included), oldest first.
func (s *Server) Posts(channelID string) []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Post
	for _, id := range s.order {
		if p := s.posts[id]; p.ChannelID == channelID {
			out = append(out, clonePost(p))
		}
	}
	return out
}

// AllPosts returns every post, oldest first.
func (s *Server) AllPosts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Post, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, clonePost(s.posts[id]))
	}
	return out
}

// Post returns one post.
func (s *Server) Post(id string) (Post, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.posts[id]; p != nil {
		return clonePost(p), true
	}
	return Post{}, false
}

// clonePost copies a post; props maps are replaced whole on update, never
// changed in place, so a shallow copy of the map is enough.
func clonePost(p *Post) Post {
	c := *p
	if p.Props != nil {
		c.Props = make(map[string]any, len(p.Props))
		for k, v := range p.Props {
			c.Props[k] = v
		}
	}
	return c
}

// PostCount is the number of posts (replies included), cheaply.
func (s *Server) PostCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

// Requests returns the API calls received, oldest first.
func (s *Server) Requests() []Request {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	return append([]Request(nil), s.requests...)
}

// CountRequests counts calls by method and route (e.g. "POST",
// "/api/v4/posts"); an empty method or route matches any.
func (s *Server) CountRequests(method, route string) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && (route == "" || r.Route == route) {
			n++
		}
	}
	return n
}

// CallsByRoute counts the calls per "METHOD route", for reports.
func (s *Server) CallsByRoute() map[string]int {
	out := map[string]int{}
	for _, r := range s.Requests() {
		out[r.Method+" "+r.Route]++
	}
	return out
}

// ResetRequests forgets the logged calls.
func (s *Server) ResetRequests() {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.requests = nil
}

func (s *Server) logRequest(r Request) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	if len(s.requests) >= maxRequestLog {
		s.requests = append(s.requests[:0], s.requests[maxRequestLog/2:]...)
	}
	s.requests = append(s.requests, r)
}

func sortedChannels(m map[string]*Channel) []*Channel {
	out := make([]*Channel, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].seq < out[j].seq
	})
	return out
}
