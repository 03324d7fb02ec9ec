package jirasim

import (
	"encoding/json"
	"errors"
	"net/http"
)

// This file holds /_sim: JSON endpoints to drive and inspect the emulator
// from out-of-process tests and from the board page. They need no Jira
// credentials: the emulator is a local tool and listens on 127.0.0.1.

// PublicUser is a user without credentials, as /_sim/users lists them.
type PublicUser struct {
	AccountID   string `json:"accountId"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Email       string `json:"email,omitempty"`
	Bot         bool   `json:"bot,omitempty"`
}

// MoveRequest is the body of POST /_sim/move.
type MoveRequest struct {
	Key     string `json:"key"`
	Status  string `json:"status"`
	User    string `json:"user"` // accountId, name or email
	Comment string `json:"comment,omitempty"`
}

// CommentRequest is the body of POST /_sim/comment.
type CommentRequest struct {
	Key  string `json:"key"`
	User string `json:"user"`
	Body string `json:"body"`
}

// PropertyRequest is the body of PUT /_sim/properties.
type PropertyRequest struct {
	Key      string          `json:"key"` // issue key or id
	Property string          `json:"property"`
	Value    json.RawMessage `json:"value"`
}

// IssueDetail is the answer of GET /_sim/issues/{key}.
type IssueDetail struct {
	Issue       Issue          `json:"issue"`
	Comments    []Comment      `json:"comments"`
	History     []History      `json:"history"`
	Transitions []StatusChange `json:"transitions"`
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/issues", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Issues())
	})
	mux.HandleFunc("POST /_sim/issues", func(w http.ResponseWriter, r *http.Request) {
		var in NewIssue
		if !decodeAdmin(w, r, &in) {
			return
		}
		iss, err := s.CreateIssue(in)
		if adminError(w, err) {
			return
		}
		writeJSON(w, http.StatusCreated, iss)
	})
	mux.HandleFunc("GET /_sim/issues/{key}", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		iss, ok := s.Issue(key)
		if !ok {
			adminError(w, ErrNotFound)
			return
		}
		writeJSON(w, http.StatusOK, IssueDetail{Issue: iss, Comments: s.Comments(key), History: s.History(key), Transitions: s.Transitions(key)})
	})
	mux.HandleFunc("DELETE /_sim/issues/{key}", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		if user == "" {
			user = s.opts.Bot
		}
		if adminError(w, s.DeleteIssue(r.PathValue("key"), user)) {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/move", func(w http.ResponseWriter, r *http.Request) {
		var in MoveRequest
		if !decodeAdmin(w, r, &in) {
			return
		}
		if adminError(w, s.Move(in.Key, in.Status, in.User, in.Comment)) {
			return
		}
		iss, _ := s.Issue(in.Key)
		writeJSON(w, http.StatusOK, iss)
	})
	mux.HandleFunc("POST /_sim/comment", func(w http.ResponseWriter, r *http.Request) {
		var in CommentRequest
		if !decodeAdmin(w, r, &in) {
			return
		}
		c, err := s.AddComment(in.Key, in.User, in.Body)
		if adminError(w, err) {
			return
		}
		writeJSON(w, http.StatusCreated, c)
	})
	mux.HandleFunc("PUT /_sim/properties", func(w http.ResponseWriter, r *http.Request) {
		var in PropertyRequest
		if !decodeAdmin(w, r, &in) {
			return
		}
		if adminError(w, s.SetProperty(in.Key, in.Property, in.Value)) {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !decodeAdmin(w, r, &f) {
			return
		}
		if err := s.SetFaults(f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("GET /_sim/requests", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Requests())
	})
	mux.HandleFunc("DELETE /_sim/requests", func(w http.ResponseWriter, r *http.Request) {
		s.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/webhooks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Webhooks())
	})
	mux.HandleFunc("PUT /_sim/webhook-urls", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			URLs []string `json:"urls"`
		}
		if !decodeAdmin(w, r, &in) {
			return
		}
		s.SetWebhookURLs(in.URLs)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.publicUsers())
	})
	mux.HandleFunc("GET /_sim/version", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		v := s.version
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]uint64{"version": v})
	})
	mux.HandleFunc("GET /_sim/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "flavor": s.opts.Flavor, "project": s.opts.ProjectKey})
	})
}

func (s *Server) publicUsers() []PublicUser {
	bot, _ := s.findUser(s.opts.Bot)
	out := []PublicUser{}
	for i := range s.opts.Users {
		u := &s.opts.Users[i]
		out = append(out, PublicUser{AccountID: u.AccountID, Name: u.Name, DisplayName: u.DisplayName, Email: u.Email, Bot: u == bot})
	}
	return out
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return false
	}
	return true
}

// adminError answers err (if any) and reports whether it did.
func adminError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	return true
}
