package jirasim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a Jira emulator: the REST v2 API under /rest/api/2, a board page
// at /, admin endpoints under /_sim, and webhooks sent to Options.WebhookURLs.
type Server struct {
	opts    Options
	handler http.Handler

	startMu sync.Mutex // guards httpSrv and closed
	httpSrv *http.Server
	closed  bool
	// baseURL is set once by Start; read lock-free by every handler.
	baseURL atomic.Pointer[string]

	// mu guards the Jira data below. Lock order: mu, then faultMu, then
	// randMu; the dispatcher's lock is taken last and never held while
	// taking another.
	mu      sync.Mutex
	issues  []*issue // in creation order; deleted issues are removed
	byID    map[string]*issue
	byKey   map[string]*issue
	lastNum int
	lastID  int // issue, comment and changelog ids share one sequence
	version uint64

	reqMu    sync.Mutex
	requests []Request

	faultMu      sync.Mutex
	faults       Faults
	globalBucket *bucket
	issueBuckets map[string]*bucket

	randMu sync.Mutex
	rng    *rand.Rand

	hooks *dispatcher
}

// maxRequestLog bounds the request log of a long-running emulator; past it
// the older half is forgotten.
const maxRequestLog = 200000

// Request is one REST API call received, as logged by the emulator.
type Request struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Query  string    `json:"query,omitempty"`
	// Route is the matched route, e.g.
	// "POST /rest/api/2/issue/{issueIdOrKey}/transitions"; empty when none.
	Route string `json:"route,omitempty"`
	// Status answered; 0 when the connection was dropped.
	Status int `json:"status"`
	// User is the accountId of the authenticated caller, if any.
	User string `json:"user,omitempty"`
}

// New builds a server from opts; call Start to listen, or use Handler.
func New(opts Options) (*Server, error) {
	if err := opts.checkAndSetDefaults(); err != nil {
		return nil, fmt.Errorf("jirasim: %w", err)
	}
	s := &Server{
		opts:         opts,
		byID:         map[string]*issue{},
		byKey:        map[string]*issue{},
		lastID:       9999,
		faults:       opts.Faults,
		issueBuckets: map[string]*bucket{},
		rng:          rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	s.hooks = newDispatcher(s)
	s.handler = s.routes()
	return s, nil
}

// Start creates and starts a server on 127.0.0.1:0 (or opts.Addr), failing tb
// on error, and closes it when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("jirasim.New: %v", err)
	}
	if err := s.Start(); err != nil {
		tb.Fatalf("jirasim.Start: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start listens on Options.Addr and serves in the background.
func (s *Server) Start() error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.httpSrv != nil || s.closed {
		return errors.New("jirasim: server already started or closed")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("jirasim: listen %s: %w", s.opts.Addr, err)
	}
	base := s.opts.BaseURL
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	s.baseURL.Store(&base)
	s.httpSrv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.hooks.start()
	go func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error().Err(err).Msg("jira-sim: serve")
		}
	}()
	s.opts.Logger.Info().Str("url", base).Str("flavor", s.opts.Flavor).Str("project", s.opts.ProjectKey).Msg("jira-sim: listening")
	return nil
}

// Close stops the server and the webhook workers; pending deliveries are
// abandoned (see WaitWebhooks).
func (s *Server) Close() {
	s.startMu.Lock()
	if s.closed {
		s.startMu.Unlock()
		return
	}
	s.closed = true
	s.startMu.Unlock()
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			_ = s.httpSrv.Close()
		}
	}
	s.hooks.stop()
}

// URL is the base URL of the emulator, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string {
	if p := s.baseURL.Load(); p != nil {
		return *p
	}
	return s.opts.BaseURL
}

// Handler serves the emulator without a listener (e.g. behind httptest).
// Self links then use Options.BaseURL.
func (s *Server) Handler() http.Handler {
	s.hooks.start()
	return s.handler
}

// Flavor is FlavorCloud or FlavorServer.
func (s *Server) Flavor() string { return s.opts.Flavor }

// ProjectKey is the key of the emulated project.
func (s *Server) ProjectKey() string { return s.opts.ProjectKey }

// Bot returns the user the bridge authenticates as.
func (s *Server) Bot() User {
	u, _ := s.findUser(s.opts.Bot)
	return *u
}

// Users returns the configured users, secrets included.
func (s *Server) Users() []User { return append([]User(nil), s.opts.Users...) }

// Requests returns the REST API calls received so far, oldest first (the
// most recent 100,000 at least).
func (s *Server) Requests() []Request {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	return append([]Request(nil), s.requests...)
}

// CountRequests counts API calls by method and route, e.g.
// CountRequests("POST", "/rest/api/2/issue"). An empty method matches any.
func (s *Server) CountRequests(method, route string) int {
	n := 0
	for _, r := range s.Requests() {
		_, pattern, _ := strings.Cut(r.Route, " ")
		if (method == "" || r.Method == method) && pattern == route {
			n++
		}
	}
	return n
}

// Calls lists the logged API calls as "METHOD route" (e.g. "POST
// /rest/api/2/issue/{issueIdOrKey}/transitions"), oldest first: the Jira
// traffic of what ran since the last ResetRequests.
func (s *Server) Calls() []string {
	var out []string
	for _, r := range s.Requests() {
		_, pattern, _ := strings.Cut(r.Route, " ")
		if pattern == "" {
			pattern = r.Path
		}
		out = append(out, r.Method+" "+pattern)
	}
	return out
}

// ResetRequests forgets the logged API calls.
func (s *Server) ResetRequests() {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.requests = nil
}

func (s *Server) base() string {
	return s.URL()
}

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /rest/api/2/myself", s.handleMyself)
	api.HandleFunc("GET /rest/api/2/serverInfo", s.handleServerInfo)
	api.HandleFunc("GET /rest/api/2/project/{projectIdOrKey}", s.handleProject)
	api.HandleFunc("GET /rest/api/2/project/{projectIdOrKey}/statuses", s.handleProjectStatuses)
	api.HandleFunc("GET /rest/api/2/mypermissions", s.handleMyPermissions)
	api.HandleFunc("GET /rest/api/2/field", s.handleFields)
	api.HandleFunc("GET /rest/api/2/user", s.handleUser)
	api.HandleFunc("GET /rest/api/2/user/search", s.handleUserSearch)
	api.HandleFunc("POST /rest/api/2/issue", s.handleCreateIssue)
	api.HandleFunc("GET /rest/api/2/issue/{issueIdOrKey}", s.handleGetIssue)
	api.HandleFunc("PUT /rest/api/2/issue/{issueIdOrKey}", s.handleEditIssue)
	api.HandleFunc("DELETE /rest/api/2/issue/{issueIdOrKey}", s.handleDeleteIssue)
	api.HandleFunc("GET /rest/api/2/issue/{issueIdOrKey}/transitions", s.handleGetTransitions)
	api.HandleFunc("POST /rest/api/2/issue/{issueIdOrKey}/transitions", s.handleDoTransition)
	api.HandleFunc("GET /rest/api/2/issue/{issueIdOrKey}/comment", s.handleGetComments)
	api.HandleFunc("POST /rest/api/2/issue/{issueIdOrKey}/comment", s.handleAddComment)
	api.HandleFunc("GET /rest/api/2/issue/{issueIdOrKey}/changelog", s.handleGetChangelog)
	api.HandleFunc("GET /rest/api/2/issue/{issueIdOrKey}/properties", s.handleListProperties)
	api.HandleFunc("GET /rest/api/2/issue/{issueIdOrKey}/properties/{propertyKey}", s.handleGetProperty)
	api.HandleFunc("PUT /rest/api/2/issue/{issueIdOrKey}/properties/{propertyKey}", s.handlePutProperty)
	api.HandleFunc("DELETE /rest/api/2/issue/{issueIdOrKey}/properties/{propertyKey}", s.handleDeleteProperty)
	api.HandleFunc("GET /rest/api/2/search", s.handleSearchPaged)
	api.HandleFunc("POST /rest/api/2/search", s.handleSearchPaged)
	api.HandleFunc("GET /rest/api/2/search/jql", s.handleSearchJQL)
	api.HandleFunc("POST /rest/api/2/search/jql", s.handleSearchJQL)
	api.HandleFunc("/rest/", func(w http.ResponseWriter, r *http.Request) {
		// Jersey's answer for an unknown resource.
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "null for uri: " + s.base() + r.URL.RequestURI(), "status-code": 404})
	})

	root := http.NewServeMux()
	root.Handle("/rest/", s.logRequests(api, s.withFaults(s.authenticate(api))))
	s.adminRoutes(root)
	s.boardRoutes(root)
	return root
}

// callInfo travels in the request context so that the request log can record
// the authenticated caller.
type callInfo struct{ user string }

type callInfoKey struct{}

func (s *Server) logRequests(api *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, route := api.Handler(r)
		if strings.HasSuffix(route, " /rest/") || route == "/rest/" {
			route = ""
		}
		info := &callInfo{}
		rec := &statusRecorder{ResponseWriter: w}
		start := s.opts.Now()
		defer func() {
			s.reqMu.Lock()
			if len(s.requests) >= maxRequestLog {
				s.requests = append(s.requests[:0], s.requests[maxRequestLog/2:]...)
			}
			s.requests = append(s.requests, Request{
				Time: start, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
				Route: route, Status: rec.status, User: info.user,
			})
			s.reqMu.Unlock()
			s.opts.Logger.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", rec.status).
				Str("user", info.user).Msg("jira-sim: api call")
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), callInfoKey{}, info)))
	})
}

func (s *Server) chance(p float64) bool {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rng.Float64() < p
}

func (s *Server) intn(n int) int {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rng.IntN(n)
}

func (s *Server) jitter(d time.Duration) time.Duration {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return d/2 + time.Duration(s.rng.Int64N(int64(d)+1))
}

// writeJSON answers v as JSON, the way Jira does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // Jira writes & and < as they are
	_ = enc.Encode(v)
}

// marshalJSON encodes v compactly without HTML escaping, as Jira does.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// writeError answers Jira's error collection:
// {"errorMessages":[...],"errors":{"field":"message"}}.
func writeError(w http.ResponseWriter, status int, messages []string, fieldErrors map[string]string) {
	if messages == nil {
		messages = []string{}
	}
	if fieldErrors == nil {
		fieldErrors = map[string]string{}
	}
	writeJSON(w, status, map[string]any{"errorMessages": messages, "errors": fieldErrors})
}

// decodeBody decodes a JSON request body, answering 400 like Jira when it is
// not valid JSON.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, []string{"Unexpected character or malformed JSON in request body: " + err.Error()}, nil)
		return false
	}
	return true
}
