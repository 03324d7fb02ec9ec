package teleportsim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gravitational/teleport/api/client/proto"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/teleport/api/utils/grpc/interceptors"
	"github.com/gravitational/trace"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// Defaults reported by Ping; the emulator follows Teleport 17 behaviour.
const (
	DefaultClusterName     = "teleport.example.com"
	DefaultServerVersion   = "17.2.1"
	DefaultProxyPublicAddr = "teleport.example.com:443"
)

// Options configure an emulator. The zero value is usable with Start.
type Options struct {
	// Edition is enterprise (default) or oss.
	Edition Edition
	// ClusterName, ServerVersion and ProxyPublicAddr are reported by Ping.
	ClusterName     string
	ServerVersion   string
	ProxyPublicAddr string
	// ListenAddr of the gRPC API; default 127.0.0.1:0.
	ListenAddr string
	// AdminAddr of the admin HTTP endpoint the CLI uses; empty disables it.
	// Keep it on loopback: it is unauthenticated.
	AdminAddr string
	// IdentityDir receives <user>/identity and <user>/auth.{crt,key,cas} for
	// every user. Required by New; Start defaults it to a test temp dir.
	IdentityDir string
	// Model is the users and roles; nil means DefaultModel(Edition).
	Model *Model
	// Clock drives request creation times and expiry; default the real
	// clock. Certificates always use the wall clock, since clients verify
	// them against it.
	Clock clockwork.Clock
	// RequestTTL is how long a request lives before it expires and is
	// deleted (OpDelete); default 1h.
	RequestTTL time.Duration
	// CertTTL is the validity of issued client certificates; default 12h.
	CertTTL time.Duration
	// MaxPageSize caps ListAccessRequests pages; default 100.
	MaxPageSize int
	// Logger receives one line per fault and rotation; default silent.
	Logger zerolog.Logger
}

func (o *Options) setDefaults() error {
	var err error
	if o.Edition, err = ParseEdition(string(o.Edition)); err != nil {
		return err
	}
	if o.ClusterName == "" {
		o.ClusterName = DefaultClusterName
	}
	if o.ServerVersion == "" {
		o.ServerVersion = DefaultServerVersion
	}
	if o.ProxyPublicAddr == "" {
		o.ProxyPublicAddr = DefaultProxyPublicAddr
	}
	if o.ListenAddr == "" {
		o.ListenAddr = "127.0.0.1:0"
	}
	if o.IdentityDir == "" {
		return trace.BadParameter("missing required value IdentityDir")
	}
	if o.Model == nil {
		m := DefaultModel(o.Edition)
		o.Model = &m
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.RequestTTL <= 0 {
		o.RequestTTL = time.Hour
	}
	if o.CertTTL <= 0 {
		o.CertTTL = 12 * time.Hour
	}
	if o.MaxPageSize <= 0 {
		o.MaxPageSize = 100
	}
	return o.Model.Validate(o.Edition)
}

// Server is a running Teleport Auth emulator.
type Server struct {
	opts   Options
	log    zerolog.Logger
	rbac   *rbac
	store  *store
	ca     *authority
	conns  *connTracker
	grpc   *grpc.Server
	lis    net.Listener
	admin  *http.Server
	adminL net.Listener

	latency atomic.Int64 // time.Duration added before each RPC

	idMu    sync.Mutex
	current map[string]string // user → serial of the current certificate
	revoked map[string]bool   // serials no longer accepted

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New starts an emulator: it creates the CA, writes identity files for every
// user, and serves the gRPC API (and the admin endpoint when configured).
func New(opts Options) (*Server, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("teleport emulator options: %w", err)
	}
	now := time.Now()
	ca, err := newAuthority(opts.ClusterName, now)
	if err != nil {
		return nil, err
	}
	r := newRBAC(*opts.Model)
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		rbac:    r,
		store:   newStore(r, opts.Clock, opts.RequestTTL),
		ca:      ca,
		conns:   newConnTracker(),
		current: make(map[string]string),
		revoked: make(map[string]bool),
		closing: make(chan struct{}),
	}
	for _, u := range opts.Model.Users {
		if err := s.issue(u.Name, false); err != nil {
			return nil, err
		}
	}
	serverCert, err := ca.serverCert(now)
	if err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{
		Certificates:          []tls.Certificate{serverCert},
		ClientAuth:            tls.RequireAndVerifyClientCert,
		ClientCAs:             ca.pool(),
		MinVersion:            tls.VersionTLS12,
		VerifyPeerCertificate: s.verifyClient,
	}
	s.grpc = grpc.NewServer(
		grpc.Creds(trackingCreds{TransportCredentials: credentials.NewTLS(tlsConfig), t: s.conns}),
		grpc.ChainUnaryInterceptor(s.latencyUnary, interceptors.GRPCServerUnaryErrorInterceptor),
		grpc.ChainStreamInterceptor(s.latencyStream, interceptors.GRPCServerStreamErrorInterceptor),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	proto.RegisterAuthServiceServer(s.grpc, &authService{srv: s})

	lis, err := net.Listen("tcp", opts.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", opts.ListenAddr, err)
	}
	s.lis = lis
	if opts.AdminAddr != "" {
		if s.adminL, err = net.Listen("tcp", opts.AdminAddr); err != nil {
			lis.Close()
			return nil, fmt.Errorf("listen admin %s: %w", opts.AdminAddr, err)
		}
		s.admin = &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.grpc.Serve(&trackingListener{Listener: lis, t: s.conns})
	}()
	go s.expiryLoop()
	if s.admin != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.admin.Serve(s.adminL); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error().Err(err).Msg("admin endpoint stopped")
			}
		}()
	}
	return s, nil
}

// Start runs an emulator for a test on 127.0.0.1:0 with identity files in a
// temp dir, and stops it when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.IdentityDir == "" {
		opts.IdentityDir = tb.TempDir()
	}
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("start teleport emulator: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Close stops serving; watch streams end with a connection problem.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.store.closeWatchers()
		s.grpc.Stop()
		if s.admin != nil {
			_ = s.admin.Close()
		}
		s.wg.Wait()
	})
	return nil
}

func (s *Server) expiryLoop() {
	defer s.wg.Done()
	for {
		var fire <-chan time.Time
		var timer clockwork.Timer
		if next := s.store.nextExpiry(); !next.IsZero() {
			timer = s.opts.Clock.NewTimer(next.Sub(s.opts.Clock.Now()))
			fire = timer.Chan()
		}
		select {
		case <-fire:
			s.store.expireDue()
		case <-s.store.kick:
		case <-s.closing:
			if timer != nil {
				timer.Stop()
			}
			return
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// verifyClient rejects certificates replaced by RotateIdentity and users
// that are no longer in the model; the chain is already verified.
func (s *Server) verifyClient(_ [][]byte, chains [][]*x509.Certificate) error {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return errors.New("no verified client certificate")
	}
	leaf := chains[0][0]
	s.idMu.Lock()
	revoked := s.revoked[leaf.SerialNumber.String()]
	s.idMu.Unlock()
	if revoked {
		return fmt.Errorf("certificate of %q has been replaced (rotated)", leaf.Subject.CommonName)
	}
	return nil
}

// issue writes a fresh identity for user and makes it the current one,
// rejecting the previous certificate from then on when revoke is set.
func (s *Server) issue(user string, revoke bool) error {
	u, err := s.rbac.user(user)
	if err != nil {
		return err
	}
	id, err := s.ca.issue(u.Name, u.Roles, time.Now(), s.opts.CertTTL)
	if err != nil {
		return err
	}
	if _, err := s.ca.write(s.opts.IdentityDir, id); err != nil {
		return err
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if old, ok := s.current[user]; ok && revoke {
		s.revoked[old] = true
	}
	s.current[user] = id.serial.String()
	return nil
}

// Addr is the gRPC address to put in client.Config.Addrs.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// AdminURL is the base URL of the admin endpoint ("" when disabled).
func (s *Server) AdminURL() string {
	if s.adminL == nil {
		return ""
	}
	return "http://" + s.adminL.Addr().String()
}

// Edition is the edition the emulator runs as.
func (s *Server) Edition() Edition { return s.opts.Edition }

// ClusterName is the name Ping reports.
func (s *Server) ClusterName() string { return s.opts.ClusterName }

// IdentityFile is the path of user's identity file (tctl auth sign
// --format=file), for client.LoadIdentityFile or NewDynamicIdentityFileCreds.
func (s *Server) IdentityFile(user string) string {
	return pathsFor(s.opts.IdentityDir, user).Identity
}

// TLSFiles are the paths of user's --format=tls triple for client.LoadKeyPair.
func (s *Server) TLSFiles(user string) (crt, key, cas string) {
	p := pathsFor(s.opts.IdentityDir, user)
	return p.Cert, p.Key, p.CAs
}

// RotateIdentity issues user a new certificate and rewrites its files. The
// previous certificate is rejected from then on and connections that used it
// are closed, like an expired short-lived certificate: a client keeps working
// only if it reloads the files.
func (s *Server) RotateIdentity(user string) error {
	s.idMu.Lock()
	old := s.current[user]
	s.idMu.Unlock()
	if err := s.issue(user, true); err != nil {
		return err
	}
	n := s.conns.closeWhere(func(serial string) bool { return serial == old })
	s.log.Info().Str("user", user).Int("closed_conns", n).Msg("identity rotated")
	return nil
}

// ReissueIdentity rewrites user's files with a new certificate and leaves the
// old one valid, like Machine ID renewing before expiry.
func (s *Server) ReissueIdentity(user string) error {
	if err := s.issue(user, false); err != nil {
		return err
	}
	s.log.Info().Str("user", user).Msg("identity reissued")
	return nil
}

// Users lists the users of the model.
func (s *Server) Users() []User {
	out := make([]User, 0, len(s.rbac.users))
	for _, u := range s.rbac.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) adminUser() User {
	for _, u := range s.opts.Model.Users {
		if u.BuiltinAdmin {
			return u
		}
	}
	return User{Name: UserAdmin, BuiltinAdmin: true}
}

// RequestOption adjusts a request made with CreateRequest.
type RequestOption func(*requestParams)

type requestParams struct {
	id        string
	ttl       time.Duration
	resources []types.ResourceID
	reviewers []string
}

// WithResources adds requested resources (resource access requests).
func WithResources(ids ...types.ResourceID) RequestOption {
	return func(p *requestParams) { p.resources = append(p.resources, ids...) }
}

// WithSuggestedReviewers adds suggested reviewers.
func WithSuggestedReviewers(users ...string) RequestOption {
	return func(p *requestParams) { p.reviewers = append(p.reviewers, users...) }
}

// WithTTL sets how long the request lives before it expires.
func WithTTL(d time.Duration) RequestOption {
	return func(p *requestParams) { p.ttl = d }
}

// WithID fixes the request id (default: a random UUID, as Teleport).
func WithID(id string) RequestOption {
	return func(p *requestParams) { p.id = id }
}

// CreateRequest creates a pending request for user, as `tctl request create`
// does. The user must be allowed to request the roles.
func (s *Server) CreateRequest(user string, roles []string, reason string, opts ...RequestOption) (string, error) {
	var p requestParams
	for _, o := range opts {
		o(&p)
	}
	req := &types.AccessRequestV3{
		Metadata: types.Metadata{Name: p.id},
		Spec: types.AccessRequestSpecV3{
			User:                 user,
			Roles:                roles,
			RequestReason:        reason,
			RequestedResourceIDs: p.resources,
			SuggestedReviewers:   p.reviewers,
		},
	}
	out, err := s.store.create(s.adminUser(), req, p.ttl)
	if err != nil {
		return "", err
	}
	return out.GetName(), nil
}

// Approve sets the request APPROVED as the admin (no delegator).
func (s *Server) Approve(id, reason string) error {
	return s.store.setState(s.adminUser(), types.AccessRequestUpdate{
		RequestID: id, State: types.RequestState_APPROVED, Reason: reason,
	}, "")
}

// Deny sets the request DENIED as the admin (no delegator).
func (s *Server) Deny(id, reason string) error {
	return s.store.setState(s.adminUser(), types.AccessRequestUpdate{
		RequestID: id, State: types.RequestState_DENIED, Reason: reason,
	}, "")
}

// Review submits a review authored by author (the admin submits it on the
// author's behalf, which Teleport allows only the built-in admin).
func (s *Server) Review(id, author string, approve bool, reason string) error {
	state := types.RequestState_DENIED
	if approve {
		state = types.RequestState_APPROVED
	}
	_, err := s.store.submitReview(s.adminUser(), types.AccessReviewSubmission{
		RequestID: id,
		Review:    types.AccessReview{Author: author, ProposedState: state, Reason: reason},
	})
	return err
}

// Expire deletes the request now, as its TTL would: OpDelete, no audit event.
func (s *Server) Expire(id string) error { return s.store.remove(nil, id) }

// Delete deletes the request as the admin (tctl request rm).
func (s *Server) Delete(id string) error {
	u := s.adminUser()
	return s.store.remove(&u, id)
}

// Request returns a copy of the request's current state (NotFound once
// deleted or expired).
func (s *Server) Request(id string) (*types.AccessRequestV3, error) { return s.store.get(id) }

// Requests returns copies of all requests, sorted by id.
func (s *Server) Requests() []*types.AccessRequestV3 {
	return s.store.list(s.adminUser(), types.AccessRequestFilter{})
}

// Audit returns the audit log so far (access_request.create, .update with
// updated_by and delegator, .review, .delete).
func (s *Server) Audit() []AuditEvent { return s.store.auditLog() }

// SetPluginData sets plugin's data on request id, e.g. to pre-seed the "jira"
// plugin data teleport-jira leaves (issue_id, issue_key).
func (s *Server) SetPluginData(id, plugin string, data map[string]string) error {
	return s.store.updatePluginData(s.adminUser(), types.PluginDataUpdateParams{
		Kind: types.KindAccessRequest, Resource: id, Plugin: plugin, Set: data,
	})
}

// PluginData returns plugin's data on request id (nil when none).
func (s *Server) PluginData(id, plugin string) (map[string]string, error) {
	all, err := s.store.getPluginData(s.adminUser(), types.PluginDataFilter{
		Kind: types.KindAccessRequest, Resource: id, Plugin: plugin,
	})
	if err != nil || len(all) == 0 {
		return nil, err
	}
	if e := all[0].Entries()[plugin]; e != nil {
		return e.Data, nil
	}
	return nil, nil
}

// Watchers is the number of open watch streams.
func (s *Server) Watchers() int {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return len(s.store.watchers)
}

// DropWatchers ends every watch stream with a connection problem; clients
// must re-watch (and should re-list).
func (s *Server) DropWatchers() {
	n := s.store.dropWatchers()
	s.log.Info().Int("watchers", n).Msg("fault: watch streams dropped")
}

// RefuseConnections closes every connection and refuses new ones for d.
func (s *Server) RefuseConnections(d time.Duration) {
	s.conns.refuse(d)
	s.log.Info().Dur("for", d).Msg("fault: refusing connections")
}

// Refusing reports whether a RefuseConnections window is still open.
func (s *Server) Refusing() bool { return s.conns.refusing() }

// SetLatency delays every RPC (and the start of every stream) by d; 0 stops.
func (s *Server) SetLatency(d time.Duration) {
	s.latency.Store(int64(d))
	s.log.Info().Dur("latency", d).Msg("fault: latency set")
}
