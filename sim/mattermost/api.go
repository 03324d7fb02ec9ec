package mattermostsim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appError is Mattermost's error body (model.AppError as JSON).
type appError struct {
	ID            string `json:"id"`
	Message       string `json:"message"`
	DetailedError string `json:"detailed_error"`
	RequestID     string `json:"request_id"`
	StatusCode    int    `json:"status_code"`
}

// Error ids and messages the real server answers with.
var (
	errSession     = appError{ID: "api.context.session_expired.app_error", Message: "Invalid or expired session, please login again.", StatusCode: http.StatusUnauthorized}
	errPermissions = appError{ID: "api.context.permissions.app_error", Message: "You do not have the appropriate permissions.", StatusCode: http.StatusForbidden}
	errNotFound404 = appError{ID: "api.context.404.app_error", Message: "Sorry, we could not find the page.", StatusCode: http.StatusNotFound}
	errNoUser      = appError{ID: "app.user.missing_account.const", Message: "Unable to find the user.", StatusCode: http.StatusNotFound}
	errNoTeam      = appError{ID: "app.team.get_by_name.missing.app_error", Message: "Unable to find the existing team.", StatusCode: http.StatusNotFound}
	errNoChannel   = appError{ID: "app.channel.get_by_name.missing.app_error", Message: "Unable to find the existing channel.", StatusCode: http.StatusNotFound}
	errNoChannelID = appError{ID: "app.channel.get.existing.app_error", Message: "Unable to find the existing channel.", StatusCode: http.StatusNotFound}
	errNoMember    = appError{ID: "app.channel.get_member.missing.app_error", Message: "No channel member found for that user ID and channel ID.", StatusCode: http.StatusNotFound}
	errNoPost      = appError{ID: "app.post.get.app_error", Message: "Unable to get the post.", StatusCode: http.StatusNotFound}
	errMessage     = appError{ID: "model.post.is_valid.msg.app_error", Message: "Invalid message.", StatusCode: http.StatusBadRequest}
	errRootID      = appError{ID: "api.post.create_post.root_id.app_error", Message: "Invalid RootId parameter.", StatusCode: http.StatusBadRequest}
	errDMUser      = appError{ID: "api.channel.create_direct_channel.invalid_user.app_error", Message: "Invalid user ID for direct channel creation.", StatusCode: http.StatusBadRequest}
	errInternal    = appError{ID: "api.context.server_error", Message: "An internal server error occurred.", StatusCode: http.StatusInternalServerError}
)

func invalidURLParam(name string) appError {
	return appError{ID: "api.context.invalid_url_param.app_error", Message: fmt.Sprintf("Invalid or missing %s parameter in request URL.", name), StatusCode: http.StatusBadRequest}
}

func invalidBodyParam(name string) appError {
	return appError{ID: "api.context.invalid_body_param.app_error", Message: fmt.Sprintf("Invalid or missing %s in request body.", name), StatusCode: http.StatusBadRequest}
}

// serverVersion is sent as X-Version-Id on every answer, as the server does.
const serverVersion = "9.11.0.9.11.0.sim.false"

type ctxKey struct{}

// call is what the middleware learns about one request.
type call struct {
	requestID string
	user      *User
	fault     string
}

func callOf(r *http.Request) *call {
	c, _ := r.Context().Value(ctxKey{}).(*call)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, r *http.Request, e appError, detail string) {
	e.DetailedError = detail
	if c := callOf(r); c != nil {
		e.RequestID = c.requestID
	}
	writeJSON(w, e.StatusCode, e)
}

// etagMatch answers 304 when the client holds the current version.
func etagMatch(w http.ResponseWriter, r *http.Request, etag string) bool {
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return false
}

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v4/system/ping", s.handlePing)
	api.HandleFunc("GET /api/v4/users/me", s.handleMe)
	api.HandleFunc("GET /api/v4/users/email/{email}", s.handleUserByEmail)
	api.HandleFunc("GET /api/v4/users/{user_id}", s.handleUser)
	api.HandleFunc("GET /api/v4/users/{user_id}/teams/{team_id}/channels", s.handleUserTeamChannels)
	api.HandleFunc("GET /api/v4/teams/name/{team_name}", s.handleTeamByName)
	api.HandleFunc("GET /api/v4/teams/name/{team_name}/channels/name/{channel_name}", s.handleChannelByName)
	api.HandleFunc("GET /api/v4/channels/{channel_id}", s.handleChannel)
	api.HandleFunc("GET /api/v4/channels/{channel_id}/members/{user_id}", s.handleChannelMember)
	api.HandleFunc("POST /api/v4/channels/direct", s.handleCreateDirect)
	api.HandleFunc("GET /api/v4/channels/{channel_id}/posts", s.handleChannelPosts)
	api.HandleFunc("POST /api/v4/posts", s.handleCreatePost)
	api.HandleFunc("GET /api/v4/posts/{post_id}", s.handleGetPost)
	api.HandleFunc("PUT /api/v4/posts/{post_id}", s.handleUpdatePost)
	api.HandleFunc("PUT /api/v4/posts/{post_id}/patch", s.handlePatchPost)
	api.HandleFunc("GET /api/v4/posts/{post_id}/thread", s.handleThread)
	api.HandleFunc("POST /api/v4/posts/{post_id}/actions/{action_id}", s.handleDoPostAction)
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, r, errNotFound404, "")
	})
	s.api = api

	root := http.NewServeMux()
	root.Handle("/api/", s.logRequests(s.withFaults(s.authenticate(api))))
	s.pageRoutes(root)
	return root
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := s.api.Handler(r)
		_, route, _ := strings.Cut(pattern, " ")
		if route == "/api/" || pattern == "/api/" {
			route = ""
		}
		c := &call{requestID: newID()}
		w.Header().Set("X-Request-Id", c.requestID)
		w.Header().Set("X-Version-Id", serverVersion)
		rec := &statusRecorder{ResponseWriter: w}
		start := s.opts.Now()
		defer func() {
			user := ""
			if c.user != nil {
				user = c.user.Username
			}
			s.logRequest(Request{Time: start, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Route: route, Status: rec.status, User: user, Fault: c.fault})
			s.opts.Logger.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", rec.status).Str("fault", c.fault).Msg("mattermost-sim: api call")
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

// authenticate admits "Authorization: Bearer <token>" (or "Token <token>",
// any case) and the access_token query parameter, as the server does; ping
// needs no session.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v4/system/ping" {
			next.ServeHTTP(w, r)
			return
		}
		token := ""
		if auth := r.Header.Get("Authorization"); auth != "" {
			scheme, rest, _ := strings.Cut(auth, " ")
			if strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token") {
				token = strings.TrimSpace(rest)
			}
		} else {
			token = r.URL.Query().Get("access_token")
		}
		u := s.userByToken(token)
		if u == nil {
			detail := "token=" + shortToken(token)
			if token == "" {
				detail = ""
			}
			writeErr(w, r, errSession, detail)
			return
		}
		callOf(r).user = u
		next.ServeHTTP(w, r)
	})
}

// shortToken keeps the server's habit of naming the token in the detail
// without giving it away.
func shortToken(t string) string {
	if len(t) > 4 {
		return t[:4] + "…"
	}
	return "…"
}

func (s *Server) userByToken(token string) *User {
	if token == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *User
	for _, u := range s.users {
		if u.Token != "" && subtle.ConstantTimeCompare([]byte(u.Token), []byte(token)) == 1 {
			found = u
		}
	}
	return found
}

func (s *Server) handlePing(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "OK"})
}

// userJSON is the sanitised user the API returns.
func userJSON(u *User) map[string]any {
	return map[string]any{
		"id": u.ID, "create_at": 0, "update_at": 0, "delete_at": 0, "username": u.Username,
		"auth_data": "", "auth_service": "", "email": u.Email, "nickname": u.Nickname,
		"first_name": u.FirstName, "last_name": u.LastName, "position": "", "roles": u.Roles,
		"locale": "en", "is_bot": u.IsBot,
	}
}

func userEtag(u *User) string { return u.ID + ".0" }

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	u := callOf(r).user
	if etagMatch(w, r, userEtag(u)) {
		return
	}
	writeJSON(w, http.StatusOK, userJSON(u))
}

func (s *Server) handleUserByEmail(w http.ResponseWriter, r *http.Request) {
	email := r.PathValue("email")
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		writeErr(w, r, invalidURLParam("email"), "")
		return
	}
	s.mu.Lock()
	u := s.userByEmailLocked(email)
	var out map[string]any
	if u != nil {
		out = userJSON(u)
	}
	s.mu.Unlock()
	if u == nil {
		writeErr(w, r, errNoUser, "email="+email)
		return
	}
	if etagMatch(w, r, userEtag(u)) {
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("user_id")
	if id == "me" {
		id = callOf(r).user.ID
	}
	if !validID(id) {
		writeErr(w, r, invalidURLParam("user_id"), "")
		return
	}
	s.mu.Lock()
	u := s.users[id]
	s.mu.Unlock()
	if u == nil {
		writeErr(w, r, errNoUser, "user_id="+id)
		return
	}
	if etagMatch(w, r, userEtag(u)) {
		return
	}
	writeJSON(w, http.StatusOK, userJSON(u))
}

func (s *Server) handleTeamByName(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teamByNameLocked(r.PathValue("team_name"))
	if t == nil {
		writeErr(w, r, errNoTeam, "name="+r.PathValue("team_name"))
		return
	}
	if !s.teamMem[t.ID][me.ID] {
		writeErr(w, r, errPermissions, "")
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func channelJSON(c *Channel) map[string]any {
	return map[string]any{
		"id": c.ID, "create_at": c.CreateAt, "update_at": c.UpdateAt, "delete_at": 0, "team_id": c.TeamID,
		"type": c.Type, "display_name": c.DisplayName, "name": c.Name, "header": "", "purpose": "",
		"last_post_at": c.LastPostAt, "total_msg_count": 0, "extra_update_at": 0, "creator_id": c.CreatorID,
	}
}

// canRead is the read_channel permission: members, and team members for
// public channels.
func (s *Server) canReadLocked(u *User, c *Channel) bool {
	if c.Members[u.ID] {
		return true
	}
	return c.Type == ChannelOpen && s.teamMem[c.TeamID][u.ID]
}

func (s *Server) handleChannelByName(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teamByNameLocked(r.PathValue("team_name"))
	if t == nil {
		writeErr(w, r, errNoTeam, "name="+r.PathValue("team_name"))
		return
	}
	c := s.channelByNameLocked(t.Name, r.PathValue("channel_name"))
	// A channel the caller cannot see is answered like a missing one.
	if c == nil || !s.canReadLocked(me, c) {
		writeErr(w, r, errNoChannel, fmt.Sprintf("teamName=%s, channelName=%s", t.Name, r.PathValue("channel_name")))
		return
	}
	writeJSON(w, http.StatusOK, channelJSON(c))
}

func (s *Server) handleChannel(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	id := r.PathValue("channel_id")
	if !validID(id) {
		writeErr(w, r, invalidURLParam("channel_id"), "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[id]
	if c == nil {
		writeErr(w, r, errNoChannelID, "")
		return
	}
	if !s.canReadLocked(me, c) {
		writeErr(w, r, errPermissions, "")
		return
	}
	writeJSON(w, http.StatusOK, channelJSON(c))
}

func (s *Server) handleUserTeamChannels(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	uid, tid := r.PathValue("user_id"), r.PathValue("team_id")
	if uid == "me" {
		uid = me.ID
	}
	if !validID(uid) {
		writeErr(w, r, invalidURLParam("user_id"), "")
		return
	}
	if !validID(tid) {
		writeErr(w, r, invalidURLParam("team_id"), "")
		return
	}
	if uid != me.ID {
		writeErr(w, r, errPermissions, "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.teamMem[tid][me.ID] {
		writeErr(w, r, errPermissions, "")
		return
	}
	out := []map[string]any{}
	for _, c := range sortedChannels(s.channels) {
		if c.Members[me.ID] && (c.TeamID == tid || c.TeamID == "") {
			out = append(out, channelJSON(c))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleChannelMember(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	cid, uid := r.PathValue("channel_id"), r.PathValue("user_id")
	if uid == "me" {
		uid = me.ID
	}
	if !validID(cid) {
		writeErr(w, r, invalidURLParam("channel_id"), "")
		return
	}
	if !validID(uid) {
		writeErr(w, r, invalidURLParam("user_id"), "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[cid]
	if c == nil || !s.canReadLocked(me, c) {
		writeErr(w, r, errPermissions, "")
		return
	}
	if !c.Members[uid] {
		writeErr(w, r, errNoMember, fmt.Sprintf("channel_id=%s, user_id=%s", cid, uid))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"channel_id": cid, "user_id": uid, "roles": "channel_user", "last_viewed_at": 0, "msg_count": 0,
		"mention_count": 0, "notify_props": map[string]string{"desktop": "default", "mark_unread": "all"},
		"last_update_at": c.UpdateAt, "scheme_guest": false, "scheme_user": true, "scheme_admin": false,
	})
}

// handleCreateDirect creates the direct channel of two users, or returns
// the existing one: 201 either way, as the server does.
func (s *Server) handleCreateDirect(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	var ids []string
	if err := decode(w, r, &ids); err != nil || len(ids) != 2 {
		writeErr(w, r, invalidBodyParam("user_ids"), "")
		return
	}
	allowed := false
	for _, id := range ids {
		if !validID(id) {
			writeErr(w, r, invalidBodyParam("user_id"), "")
			return
		}
		allowed = allowed || id == me.ID
	}
	if !allowed {
		writeErr(w, r, errPermissions, "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if s.users[id] == nil {
			writeErr(w, r, errDMUser, "")
			return
		}
	}
	name := dmName(ids[0], ids[1])
	for _, c := range s.channels {
		if c.Type == ChannelDirect && c.Name == name {
			writeJSON(w, http.StatusCreated, channelJSON(c))
			return
		}
	}
	now := s.millis()
	c := &Channel{ID: newID(), Name: name, Type: ChannelDirect, CreatorID: me.ID, CreateAt: now, UpdateAt: now,
		Members: map[string]bool{ids[0]: true, ids[1]: true}, seq: len(s.channels)}
	s.channels[c.ID] = c
	writeJSON(w, http.StatusCreated, channelJSON(c))
}

// postList is model.PostList.
type postList struct {
	Order      []string         `json:"order"`
	Posts      map[string]*Post `json:"posts"`
	NextPostID string           `json:"next_post_id"`
	PrevPostID string           `json:"prev_post_id"`
	HasNext    bool             `json:"has_next"`
}

// handleChannelPosts answers a page of posts (newest first), or with
// ?since=<ms> every post created, edited or deleted after that time.
func (s *Server) handleChannelPosts(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	cid := r.PathValue("channel_id")
	if !validID(cid) {
		writeErr(w, r, invalidURLParam("channel_id"), "")
		return
	}
	q := r.URL.Query()
	var since int64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeErr(w, r, invalidURLParam("since"), err.Error())
			return
		}
		since = n
	}
	page, perPage := 0, 60
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeErr(w, r, invalidURLParam("page"), "")
			return
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeErr(w, r, invalidURLParam("per_page"), "")
			return
		}
		perPage = min(n, 200)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[cid]
	if c == nil || !s.canReadLocked(me, c) {
		writeErr(w, r, errPermissions, "")
		return
	}
	list := postList{Order: []string{}, Posts: map[string]*Post{}}
	var matched []*Post
	for i := len(s.order) - 1; i >= 0; i-- { // newest first
		p := s.posts[s.order[i]]
		if p.ChannelID != cid {
			continue
		}
		if since > 0 {
			if p.UpdateAt > since {
				matched = append(matched, p)
			}
			continue
		}
		if p.DeleteAt == 0 {
			matched = append(matched, p)
		}
	}
	if since == 0 {
		lo := min(page*perPage, len(matched))
		hi := min(lo+perPage, len(matched))
		matched = matched[lo:hi]
	}
	for _, p := range matched {
		cp := clonePost(p)
		list.Order = append(list.Order, p.ID)
		list.Posts[p.ID] = &cp
	}
	writeJSON(w, http.StatusOK, list)
}

// postInput is the body of POST /posts and PUT /posts/{id}.
type postInput struct {
	ID        string         `json:"id"`
	ChannelID string         `json:"channel_id"`
	RootID    string         `json:"root_id"`
	Message   string         `json:"message"`
	Type      string         `json:"type"`
	Props     map[string]any `json:"props"`
	FileIDs   []string       `json:"file_ids"`
}

func checkContent(message string, props map[string]any) (appError, bool) {
	if utf8.RuneCountInString(message) > MaxMessageRunes {
		return errMessage, false
	}
	if props != nil {
		b, _ := json.Marshal(props)
		if len(b) > maxPropsBytes {
			return appError{ID: "model.post.is_valid.props.app_error", Message: "Invalid props.", StatusCode: http.StatusBadRequest}, false
		}
	}
	return appError{}, true
}

func (s *Server) handleCreatePost(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	var in postInput
	if err := decode(w, r, &in); err != nil {
		writeErr(w, r, invalidBodyParam("post"), err.Error())
		return
	}
	if e, ok := checkContent(in.Message, in.Props); !ok {
		writeErr(w, r, e, "")
		return
	}
	if in.Message == "" && len(in.FileIDs) == 0 {
		writeErr(w, r, errMessage, "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[in.ChannelID]
	if c == nil || !c.Members[me.ID] {
		writeErr(w, r, errPermissions, "")
		return
	}
	if in.RootID != "" {
		root := s.posts[in.RootID]
		if root == nil || root.ChannelID != c.ID || root.RootID != "" || root.DeleteAt != 0 {
			writeErr(w, r, errRootID, "")
			return
		}
	}
	now := s.millis()
	if now <= c.LastPostAt {
		now = c.LastPostAt + 1 // distinct, increasing times per channel
	}
	p := &Post{ID: newID(), CreateAt: now, UpdateAt: now, UserID: me.ID, ChannelID: c.ID, RootID: in.RootID,
		Message: in.Message, Type: in.Type, Props: in.Props}
	if p.Props == nil {
		p.Props = map[string]any{}
	}
	if me.IsBot {
		p.Props["from_bot"] = "true"
	}
	s.posts[p.ID] = p
	s.order = append(s.order, p.ID)
	c.LastPostAt = now
	cp := clonePost(p)
	writeJSON(w, http.StatusCreated, cp)
}

func (s *Server) postForRead(w http.ResponseWriter, r *http.Request) (*Post, bool) {
	me := callOf(r).user
	id := r.PathValue("post_id")
	if !validID(id) {
		writeErr(w, r, invalidURLParam("post_id"), "")
		return nil, false
	}
	p := s.posts[id]
	if p == nil || p.DeleteAt != 0 {
		writeErr(w, r, errNoPost, "")
		return nil, false
	}
	if c := s.channels[p.ChannelID]; c == nil || !s.canReadLocked(me, c) {
		writeErr(w, r, errPermissions, "")
		return nil, false
	}
	return p, true
}

func (s *Server) handleGetPost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.postForRead(w, r)
	if !ok {
		return
	}
	if etagMatch(w, r, fmt.Sprintf("%s.%d", p.ID, p.UpdateAt)) {
		return
	}
	writeJSON(w, http.StatusOK, clonePost(p))
}

func (s *Server) handleThread(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.postForRead(w, r)
	if !ok {
		return
	}
	root := p.ID
	if p.RootID != "" {
		root = p.RootID
	}
	list := postList{Order: []string{}, Posts: map[string]*Post{}}
	for i := len(s.order) - 1; i >= 0; i-- {
		q := s.posts[s.order[i]]
		if q.DeleteAt == 0 && (q.ID == root || q.RootID == root) {
			cp := clonePost(q)
			list.Order = append(list.Order, q.ID)
			list.Posts[q.ID] = &cp
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// editable returns the post the caller may edit: only its author (the bot
// has edit_own_posts, not edit_others_posts).
func (s *Server) editable(w http.ResponseWriter, r *http.Request) (*Post, bool) {
	me := callOf(r).user
	id := r.PathValue("post_id")
	if !validID(id) {
		writeErr(w, r, invalidURLParam("post_id"), "")
		return nil, false
	}
	p := s.posts[id]
	if p == nil || p.DeleteAt != 0 {
		writeErr(w, r, errPermissions, "") // the server checks permission on the post first
		return nil, false
	}
	if p.UserID != me.ID {
		writeErr(w, r, errPermissions, "")
		return nil, false
	}
	return p, true
}

func (s *Server) handleUpdatePost(w http.ResponseWriter, r *http.Request) {
	var in postInput
	if err := decode(w, r, &in); err != nil {
		writeErr(w, r, invalidBodyParam("post"), err.Error())
		return
	}
	if in.ID != r.PathValue("post_id") {
		writeErr(w, r, invalidBodyParam("id"), "")
		return
	}
	if e, ok := checkContent(in.Message, in.Props); !ok {
		writeErr(w, r, e, "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.editable(w, r)
	if !ok {
		return
	}
	p.Message = in.Message
	if in.Props != nil {
		p.Props = in.Props
	}
	s.touch(p)
	writeJSON(w, http.StatusOK, clonePost(p))
}

func (s *Server) handlePatchPost(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Message  *string         `json:"message"`
		Props    *map[string]any `json:"props"`
		IsPinned *bool           `json:"is_pinned"`
	}
	if err := decode(w, r, &in); err != nil {
		writeErr(w, r, invalidBodyParam("patch"), err.Error())
		return
	}
	msg := ""
	if in.Message != nil {
		msg = *in.Message
	}
	var props map[string]any
	if in.Props != nil {
		props = *in.Props
	}
	if e, ok := checkContent(msg, props); !ok {
		writeErr(w, r, e, "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.editable(w, r)
	if !ok {
		return
	}
	if in.Message != nil {
		p.Message = *in.Message
	}
	if in.Props != nil {
		p.Props = *in.Props
	}
	if in.IsPinned != nil {
		p.IsPinned = *in.IsPinned
	}
	s.touch(p)
	writeJSON(w, http.StatusOK, clonePost(p))
}

func (s *Server) touch(p *Post) {
	now := s.millis()
	if now <= p.UpdateAt {
		now = p.UpdateAt + 1
	}
	p.UpdateAt, p.EditAt = now, now
}

// decode reads a JSON body of at most 1 MiB.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(body); err != nil {
		return err
	}
	return json.Unmarshal(buf.Bytes(), v)
}
