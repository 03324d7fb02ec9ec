package jirasim

import (
	"net/http"
	"net/url"
	"strings"
)

// findUser looks a user up by accountId, name, key or email (any case).
func (s *Server) findUser(id string) (*User, bool) {
	if id == "" {
		return nil, false
	}
	for i := range s.opts.Users {
		u := &s.opts.Users[i]
		for _, v := range []string{u.AccountID, u.Name, u.Key, u.Email} {
			if v != "" && strings.EqualFold(v, id) {
				return u, true
			}
		}
	}
	return nil, false
}

// userRef is the identifier Jira uses for a user in this flavour: accountId
// on Cloud, key on Server.
func (s *Server) userRef(u *User) string {
	if s.opts.Flavor == FlavorCloud {
		return u.AccountID
	}
	return u.Key
}

// userJSON renders a user as Jira does in this flavour. viewer is the user
// looking (nil for webhooks): Cloud hides a private email from others.
func (s *Server) userJSON(u *User, viewer *User) map[string]any {
	if u == nil {
		return nil
	}
	m := map[string]any{
		"avatarUrls":  s.avatarURLs(u),
		"displayName": u.DisplayName,
		"active":      true,
		"timeZone":    u.TimeZone,
	}
	if s.opts.Flavor == FlavorCloud {
		m["self"] = s.base() + "/rest/api/2/user?accountId=" + url.QueryEscape(u.AccountID)
		m["accountId"] = u.AccountID
		m["accountType"] = "atlassian"
		if u.Email != "" && (!u.HideEmail || viewer == u) {
			m["emailAddress"] = u.Email
		}
	} else {
		m["self"] = s.base() + "/rest/api/2/user?username=" + url.QueryEscape(u.Name)
		m["name"] = u.Name
		m["key"] = u.Key
		if u.Email != "" {
			m["emailAddress"] = u.Email
		}
	}
	return m
}

func (s *Server) avatarURLs(u *User) map[string]string {
	m := map[string]string{}
	for _, size := range []string{"48", "24", "16", "32"} {
		m[size+"x"+size] = s.base() + "/secure/useravatar?size=" + size + "&ownerId=" + url.QueryEscape(s.userRef(u))
	}
	return m
}

func (s *Server) handleMyself(w http.ResponseWriter, r *http.Request) {
	u := caller(r)
	m := s.userJSON(u, u)
	m["locale"] = "en_US"
	m["groups"] = map[string]any{"size": 1, "items": []any{}}
	m["applicationRoles"] = map[string]any{"size": 1, "items": []any{}}
	m["expand"] = "groups,applicationRoles"
	if s.opts.Flavor == FlavorServer {
		m["deleted"] = false
	}
	writeJSON(w, http.StatusOK, m)
}

// handleUser serves GET /user?accountId= (Cloud) or ?username=|key= (Server).
func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("accountId")
	if s.opts.Flavor == FlavorServer {
		id = q.Get("username")
		if id == "" {
			id = q.Get("key")
		}
	}
	u, ok := s.findUser(id)
	if !ok || (s.opts.Flavor == FlavorCloud && u.AccountID != id) {
		writeError(w, http.StatusNotFound, []string{"Specified user does not exist or you do not have required permissions"}, nil)
		return
	}
	writeJSON(w, http.StatusOK, s.userJSON(u, caller(r)))
}

// handleUserSearch serves GET /user/search?query= (Cloud) or ?username=
// (Server): a case-insensitive prefix match on names, display names and
// visible emails.
func (s *Server) handleUserSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := q.Get("query")
	if s.opts.Flavor == FlavorServer && q.Get("username") != "" {
		query = q.Get("username")
	}
	if query == "" {
		if s.opts.Flavor == FlavorCloud {
			writeError(w, http.StatusBadRequest, []string{"One of 'query' or 'accountId' or 'property' query parameters must be provided."}, nil)
		} else {
			writeError(w, http.StatusBadRequest, []string{"The username query parameter was not provided"}, nil)
		}
		return
	}
	query = strings.ToLower(query)
	viewer := caller(r)
	out := []any{}
	for i := range s.opts.Users {
		u := &s.opts.Users[i]
		fields := []string{u.DisplayName, u.Name}
		if s.opts.Flavor == FlavorServer || !u.HideEmail || u == viewer {
			fields = append(fields, u.Email)
		}
		for _, f := range fields {
			if f != "" && (strings.HasPrefix(strings.ToLower(f), query) || containsWordPrefix(strings.ToLower(f), query)) {
				out = append(out, s.userJSON(u, viewer))
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func containsWordPrefix(s, prefix string) bool {
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '.' || r == '@' || r == '-' }) {
		if strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}
