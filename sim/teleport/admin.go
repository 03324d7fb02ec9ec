package teleportsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"
)

// The admin endpoint is a small JSON API on loopback that the teleport-sim
// CLI (and demo scripts) use to drive a running emulator, acting as the
// built-in admin. It is unauthenticated: never bind it beyond 127.0.0.1.

// RequestView is the admin API's JSON view of an access request.
type RequestView struct {
	ID                 string       `json:"id"`
	User               string       `json:"user"`
	Roles              []string     `json:"roles"`
	State              string       `json:"state"`
	Reason             string       `json:"reason,omitempty"`
	ResolveReason      string       `json:"resolve_reason,omitempty"`
	Created            time.Time    `json:"created"`
	Expires            time.Time    `json:"expires"`
	SuggestedReviewers []string     `json:"suggested_reviewers,omitempty"`
	Resources          []string     `json:"resources,omitempty"`
	Reviews            []ReviewView `json:"reviews,omitempty"`
}

// ReviewView is one review in a RequestView.
type ReviewView struct {
	Author  string    `json:"author"`
	State   string    `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
}

// NewRequestView converts a request for display.
func NewRequestView(r *types.AccessRequestV3) RequestView {
	v := RequestView{
		ID:                 r.GetName(),
		User:               r.GetUser(),
		Roles:              r.GetRoles(),
		State:              r.GetState().String(),
		Reason:             r.GetRequestReason(),
		ResolveReason:      r.GetResolveReason(),
		Created:            r.GetCreationTime(),
		Expires:            r.Expiry(),
		SuggestedReviewers: r.GetSuggestedReviewers(),
	}
	for _, id := range r.GetRequestedResourceIDs() {
		v.Resources = append(v.Resources, types.ResourceIDToString(id))
	}
	for _, rev := range r.GetReviews() {
		v.Reviews = append(v.Reviews, ReviewView{
			Author: rev.Author, State: rev.ProposedState.String(), Reason: rev.Reason, Created: rev.Created,
		})
	}
	return v
}

// CreateRequestBody is the body of POST /v1/requests.
type CreateRequestBody struct {
	User               string   `json:"user"`
	Roles              []string `json:"roles"`
	Reason             string   `json:"reason,omitempty"`
	TTL                string   `json:"ttl,omitempty"` // Go duration
	Resources          []string `json:"resources,omitempty"`
	SuggestedReviewers []string `json:"suggested_reviewers,omitempty"`
}

// ReviewBody is the body of POST /v1/requests/{id}/review.
type ReviewBody struct {
	Author  string `json:"author"`
	Approve bool   `json:"approve"`
	Reason  string `json:"reason,omitempty"`
}

// StatusView is GET /v1/status.
type StatusView struct {
	Addr          string  `json:"addr"`
	Edition       Edition `json:"edition"`
	ClusterName   string  `json:"cluster_name"`
	ServerVersion string  `json:"server_version"`
	IdentityDir   string  `json:"identity_dir"`
}

type reasonBody struct {
	Reason string `json:"reason,omitempty"`
}

type durationBody struct {
	Duration string `json:"duration"`
}

// AdminHandler serves the admin API; New mounts it on Options.AdminAddr.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			out, err := fn(r)
			w.Header().Set("Content-Type", "application/json")
			if err != nil {
				w.WriteHeader(trace.ErrorToCode(err))
				_ = json.NewEncoder(w).Encode(map[string]string{"error": trace.UserMessage(err)})
				return
			}
			if out == nil {
				out = map[string]string{}
			}
			_ = json.NewEncoder(w).Encode(out)
		})
	}
	id := func(r *http.Request) string { return r.PathValue("id") }

	handle("GET /v1/status", func(*http.Request) (any, error) {
		return StatusView{
			Addr: s.Addr(), Edition: s.opts.Edition, ClusterName: s.opts.ClusterName,
			ServerVersion: s.opts.ServerVersion, IdentityDir: s.opts.IdentityDir,
		}, nil
	})
	handle("GET /v1/requests", func(*http.Request) (any, error) {
		out := []RequestView{}
		for _, r := range s.Requests() {
			out = append(out, NewRequestView(r))
		}
		return out, nil
	})
	handle("POST /v1/requests", func(r *http.Request) (any, error) {
		var body CreateRequestBody
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		var opts []RequestOption
		if body.TTL != "" {
			d, err := time.ParseDuration(body.TTL)
			if err != nil {
				return nil, trace.BadParameter("invalid ttl %q: %v", body.TTL, err)
			}
			opts = append(opts, WithTTL(d))
		}
		for _, raw := range body.Resources {
			rid, err := types.ResourceIDFromString(raw)
			if err != nil {
				return nil, trace.Wrap(err)
			}
			opts = append(opts, WithResources(rid))
		}
		opts = append(opts, WithSuggestedReviewers(body.SuggestedReviewers...))
		reqID, err := s.CreateRequest(body.User, body.Roles, body.Reason, opts...)
		if err != nil {
			return nil, err
		}
		return s.requestView(reqID)
	})
	handle("GET /v1/requests/{id}", func(r *http.Request) (any, error) { return s.requestView(id(r)) })
	handle("POST /v1/requests/{id}/approve", func(r *http.Request) (any, error) {
		var body reasonBody
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		if err := s.Approve(id(r), body.Reason); err != nil {
			return nil, err
		}
		return s.requestView(id(r))
	})
	handle("POST /v1/requests/{id}/deny", func(r *http.Request) (any, error) {
		var body reasonBody
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		if err := s.Deny(id(r), body.Reason); err != nil {
			return nil, err
		}
		return s.requestView(id(r))
	})
	handle("POST /v1/requests/{id}/review", func(r *http.Request) (any, error) {
		var body ReviewBody
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		if err := s.Review(id(r), body.Author, body.Approve, body.Reason); err != nil {
			return nil, err
		}
		return s.requestView(id(r))
	})
	handle("POST /v1/requests/{id}/expire", func(r *http.Request) (any, error) { return nil, s.Expire(id(r)) })
	handle("DELETE /v1/requests/{id}", func(r *http.Request) (any, error) { return nil, s.Delete(id(r)) })
	handle("GET /v1/requests/{id}/plugin-data/{plugin}", func(r *http.Request) (any, error) {
		data, err := s.PluginData(id(r), r.PathValue("plugin"))
		if data == nil {
			data = map[string]string{}
		}
		return data, err
	})
	handle("PUT /v1/requests/{id}/plugin-data/{plugin}", func(r *http.Request) (any, error) {
		var data map[string]string
		if err := decode(r, &data); err != nil {
			return nil, err
		}
		return nil, s.SetPluginData(id(r), r.PathValue("plugin"), data)
	})
	handle("GET /v1/users", func(*http.Request) (any, error) { return s.Users(), nil })
	handle("GET /v1/audit", func(*http.Request) (any, error) {
		out := s.Audit()
		if out == nil {
			out = []AuditEvent{}
		}
		return out, nil
	})
	handle("POST /v1/identities/{user}/rotate", func(r *http.Request) (any, error) {
		user := r.PathValue("user")
		if err := s.RotateIdentity(user); err != nil {
			return nil, err
		}
		return map[string]string{"identity": s.IdentityFile(user)}, nil
	})
	handle("POST /v1/identities/{user}/reissue", func(r *http.Request) (any, error) {
		user := r.PathValue("user")
		if err := s.ReissueIdentity(user); err != nil {
			return nil, err
		}
		return map[string]string{"identity": s.IdentityFile(user)}, nil
	})
	handle("POST /v1/faults/drop-watchers", func(*http.Request) (any, error) {
		s.DropWatchers()
		return nil, nil
	})
	handle("POST /v1/faults/refuse", func(r *http.Request) (any, error) {
		d, err := decodeDuration(r)
		if err != nil {
			return nil, err
		}
		s.RefuseConnections(d)
		return nil, nil
	})
	handle("POST /v1/faults/latency", func(r *http.Request) (any, error) {
		d, err := decodeDuration(r)
		if err != nil {
			return nil, err
		}
		s.SetLatency(d)
		return nil, nil
	})
	return mux
}

func (s *Server) requestView(id string) (RequestView, error) {
	r, err := s.Request(id)
	if err != nil {
		return RequestView{}, err
	}
	return NewRequestView(r), nil
}

func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return trace.BadParameter("read body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return trace.BadParameter("invalid JSON body: %v", err)
	}
	return nil
}

func decodeDuration(r *http.Request) (time.Duration, error) {
	var body durationBody
	if err := decode(r, &body); err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(body.Duration)
	if err != nil {
		return 0, trace.BadParameter("invalid duration %q: %v", body.Duration, err)
	}
	return d, nil
}

// AdminClient drives a running emulator through its admin endpoint.
type AdminClient struct {
	baseURL string
	http    *http.Client
}

// NewAdminClient returns a client for the admin endpoint at baseURL
// (e.g. http://127.0.0.1:3080).
func NewAdminClient(baseURL string) *AdminClient {
	return &AdminClient{baseURL: baseURL, http: &http.Client{Timeout: 30 * time.Second}}
}

func (c *AdminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return trace.ConnectionProblem(err, "teleport-sim admin endpoint %s: %v", c.baseURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return trace.ConnectionProblem(err, "read response: %v", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return errorFromStatus(resp.StatusCode, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode response: %w", err)
		}
	}
	return nil
}

// errorFromStatus rebuilds the trace error kind from the HTTP status.
func errorFromStatus(code int, msg string) error {
	switch code {
	case http.StatusNotFound:
		return trace.NotFound("%s", msg)
	case http.StatusForbidden, http.StatusUnauthorized:
		return trace.AccessDenied("%s", msg)
	case http.StatusBadRequest:
		return trace.BadParameter("%s", msg)
	case http.StatusConflict:
		return trace.AlreadyExists("%s", msg)
	case http.StatusPreconditionFailed:
		return trace.CompareFailed("%s", msg)
	case http.StatusNotImplemented:
		return trace.NotImplemented("%s", msg)
	}
	return trace.Errorf("%s", msg)
}

// Status describes the running emulator.
func (c *AdminClient) Status(ctx context.Context) (StatusView, error) {
	var out StatusView
	return out, c.do(ctx, http.MethodGet, "/v1/status", nil, &out)
}

// CreateRequest creates a pending request.
func (c *AdminClient) CreateRequest(ctx context.Context, body CreateRequestBody) (RequestView, error) {
	var out RequestView
	return out, c.do(ctx, http.MethodPost, "/v1/requests", body, &out)
}

// Requests lists all requests.
func (c *AdminClient) Requests(ctx context.Context) ([]RequestView, error) {
	var out []RequestView
	return out, c.do(ctx, http.MethodGet, "/v1/requests", nil, &out)
}

// Request returns one request.
func (c *AdminClient) Request(ctx context.Context, id string) (RequestView, error) {
	var out RequestView
	return out, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id), nil, &out)
}

// Approve approves a request as the admin.
func (c *AdminClient) Approve(ctx context.Context, id, reason string) (RequestView, error) {
	var out RequestView
	return out, c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/approve", reasonBody{reason}, &out)
}

// Deny denies a request as the admin.
func (c *AdminClient) Deny(ctx context.Context, id, reason string) (RequestView, error) {
	var out RequestView
	return out, c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/deny", reasonBody{reason}, &out)
}

// Review submits a review authored by body.Author.
func (c *AdminClient) Review(ctx context.Context, id string, body ReviewBody) (RequestView, error) {
	var out RequestView
	return out, c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/review", body, &out)
}

// Expire expires a request now.
func (c *AdminClient) Expire(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/expire", nil, nil)
}

// Delete deletes a request.
func (c *AdminClient) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/requests/"+url.PathEscape(id), nil, nil)
}

// SetPluginData sets a plugin's data on a request.
func (c *AdminClient) SetPluginData(ctx context.Context, id, plugin string, data map[string]string) error {
	return c.do(ctx, http.MethodPut, "/v1/requests/"+url.PathEscape(id)+"/plugin-data/"+url.PathEscape(plugin), data, nil)
}

// PluginData returns a plugin's data on a request.
func (c *AdminClient) PluginData(ctx context.Context, id, plugin string) (map[string]string, error) {
	var out map[string]string
	return out, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id)+"/plugin-data/"+url.PathEscape(plugin), nil, &out)
}

// Users lists the model's users.
func (c *AdminClient) Users(ctx context.Context) ([]User, error) {
	var out []User
	return out, c.do(ctx, http.MethodGet, "/v1/users", nil, &out)
}

// Audit returns the audit log.
func (c *AdminClient) Audit(ctx context.Context) ([]AuditEvent, error) {
	var out []AuditEvent
	return out, c.do(ctx, http.MethodGet, "/v1/audit", nil, &out)
}

// RotateIdentity reissues a user's identity files and returns the path.
func (c *AdminClient) RotateIdentity(ctx context.Context, user string) (string, error) {
	var out map[string]string
	err := c.do(ctx, http.MethodPost, "/v1/identities/"+url.PathEscape(user)+"/rotate", nil, &out)
	return out["identity"], err
}

// ReissueIdentity rewrites a user's identity files, keeping the old
// certificate valid, and returns the path.
func (c *AdminClient) ReissueIdentity(ctx context.Context, user string) (string, error) {
	var out map[string]string
	err := c.do(ctx, http.MethodPost, "/v1/identities/"+url.PathEscape(user)+"/reissue", nil, &out)
	return out["identity"], err
}

// DropWatchers ends all watch streams.
func (c *AdminClient) DropWatchers(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/faults/drop-watchers", nil, nil)
}

// RefuseConnections closes connections and refuses new ones for d.
func (c *AdminClient) RefuseConnections(ctx context.Context, d time.Duration) error {
	return c.do(ctx, http.MethodPost, "/v1/faults/refuse", durationBody{d.String()}, nil)
}

// SetLatency delays every RPC by d (0 to stop).
func (c *AdminClient) SetLatency(ctx context.Context, d time.Duration) error {
	return c.do(ctx, http.MethodPost, "/v1/faults/latency", durationBody{d.String()}, nil)
}
