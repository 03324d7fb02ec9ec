package jirasim

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
)

type userKey struct{}

// authenticate admits Basic auth (Cloud: email + API token; Server: username
// + password/token) and, on Server, "Authorization: Bearer <PAT>". Anything
// else is answered 401, except serverInfo, which Jira serves anonymously.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, tried := s.credentialsUser(r)
		if u == nil {
			if r.URL.Path == "/rest/api/2/serverInfo" && !tried {
				next.ServeHTTP(w, r)
				return
			}
			if tried {
				w.Header().Set("X-Seraph-LoginReason", "AUTHENTICATED_FAILED")
			}
			writeError(w, http.StatusUnauthorized, []string{"You are not authenticated. Authentication required to perform this operation."}, nil)
			return
		}
		if info, ok := r.Context().Value(callInfoKey{}).(*callInfo); ok {
			info.user = u.AccountID
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

// credentialsUser returns the user whose credentials the request carries, and
// whether it carried any.
func (s *Server) credentialsUser(r *http.Request) (*User, bool) {
	if name, secret, ok := r.BasicAuth(); ok {
		for i := range s.opts.Users {
			u := &s.opts.Users[i]
			login := u.Name
			if s.opts.Flavor == FlavorCloud {
				login = u.Email
			}
			if login != "" && strings.EqualFold(login, name) && secretEqual(u.Token, secret) {
				return u, true
			}
		}
		return nil, true
	}
	auth := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(auth, "Bearer "); ok {
		if s.opts.Flavor != FlavorServer {
			return nil, true // Cloud bearer tokens are OAuth 2.0 tokens, not PATs
		}
		for i := range s.opts.Users {
			if u := &s.opts.Users[i]; secretEqual(u.PAT, token) {
				return u, true
			}
		}
		return nil, true
	}
	return nil, auth != ""
}

func secretEqual(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// caller is the authenticated user of an API request.
func caller(r *http.Request) *User {
	u, _ := r.Context().Value(userKey{}).(*User)
	return u
}
