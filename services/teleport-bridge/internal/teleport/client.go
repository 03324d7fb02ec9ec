// Package teleport is the teleport-bridge's only view of Teleport: the narrow
// Client interface the bridge calls, the connection over the real
// teleport/api client (identity file with reload, or a TLS key pair), the
// start-up checks that fail with a message naming the fix, and the
// conversion of Teleport's access requests into event snapshots.
package teleport

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/gravitational/teleport/api/breaker"
	"github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/client/proto"
	"github.com/gravitational/teleport/api/types"
	apiutils "github.com/gravitational/teleport/api/utils"
	"github.com/gravitational/trace"
)

// Client lists the Teleport calls the bridge makes; *client.Client
// implements it, tests may fake it.
type Client interface {
	Ping(ctx context.Context) (proto.PingResponse, error)
	NewWatcher(ctx context.Context, watch types.Watch) (types.Watcher, error)
	GetAccessRequests(ctx context.Context, filter types.AccessRequestFilter) ([]types.AccessRequest, error)
	SetAccessRequestState(ctx context.Context, params types.AccessRequestUpdate) error
	SubmitAccessReview(ctx context.Context, params types.AccessReviewSubmission) (types.AccessRequest, error)
	GetPluginData(ctx context.Context, filter types.PluginDataFilter) ([]types.PluginData, error)
}

// MinServerMajor is the oldest Teleport major version the bridge supports.
const MinServerMajor = 15

// PluginRoleHint is the role the bridge's Teleport user needs, as in the
// access-plugin role of Teleport's plugin guides.
const PluginRoleHint = "give the bridge's Teleport user a role with rules " +
	"{resources: [access_request], verbs: [list, read, update]} and " +
	"{resources: [access_plugin_data], verbs: [update]} (the access-plugin role of Teleport's plugin guides)"

// Options say where Teleport is and which credentials to present. Exactly
// one of IdentityFile or the CertFile/KeyFile/CAsFile triple is set.
type Options struct {
	Addr                       string
	IdentityFile               string
	CertFile, KeyFile, CAsFile string
	DialTimeout                time.Duration
}

// Conn is a connected Teleport client and what Ping told about the cluster.
type Conn struct {
	*client.Client
	Cluster       events.Cluster
	ServerVersion string

	mu      sync.Mutex
	dynamic *client.DynamicIdentityFileCreds
	opts    Options
}

// Dial connects to Teleport, checks the credentials' expiry and the server
// version, and reads the cluster name, proxy address and features.
func Dial(ctx context.Context, opts Options) (*Conn, error) {
	c := &Conn{opts: opts}
	var creds client.Credentials
	if opts.IdentityFile != "" {
		dyn, err := client.NewDynamicIdentityFileCreds(opts.IdentityFile)
		if err != nil {
			return nil, fmt.Errorf("TELEPORT_BRIDGE_IDENTITY_FILE: cannot load %s: %v; write it with `tctl auth sign --user=access-plugin --format=file --out=%s` or point tbot at it", opts.IdentityFile, err, opts.IdentityFile)
		}
		if exp, ok := dyn.Expiry(); ok && !exp.IsZero() && time.Now().After(exp) {
			return nil, fmt.Errorf("TELEPORT_BRIDGE_IDENTITY_FILE: the certificate in %s expired at %s; renew it (tctl auth sign --ttl=…, or Machine ID/tbot with TELEPORT_BRIDGE_REFRESH_IDENTITY=true)", opts.IdentityFile, exp.UTC().Format(time.RFC3339))
		}
		c.dynamic = dyn
		creds = dyn
	} else {
		creds = client.LoadKeyPair(opts.CertFile, opts.KeyFile, opts.CAsFile)
		if _, err := creds.TLSConfig(); err != nil {
			return nil, fmt.Errorf("TELEPORT_BRIDGE_CLIENT_CERT/TELEPORT_BRIDGE_CLIENT_KEY/TELEPORT_BRIDGE_ROOT_CAS: %v", err)
		}
	}
	timeout := opts.DialTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	clt, err := client.New(dctx, client.Config{
		Addrs:       []string{opts.Addr},
		Credentials: []client.Credentials{creds},
		DialTimeout: timeout,
		// The bridge backs off on its own; the default breaker would refuse
		// every call for a minute after a burst of connection failures.
		CircuitBreakerConfig: breaker.NoopBreakerConfig(),
	})
	if err != nil {
		return nil, fmt.Errorf("TELEPORT_BRIDGE_ADDR: cannot connect to Teleport at %s: %s; check that it is the Auth Service (host:3025) or Proxy (host:443) address and that the credentials are valid for this cluster", opts.Addr, oneLine(err))
	}
	c.Client = clt
	pctx, pcancel := context.WithTimeout(ctx, timeout)
	defer pcancel()
	pong, err := clt.Ping(pctx)
	if err != nil {
		_ = clt.Close()
		if trace.IsAccessDenied(err) {
			return nil, fmt.Errorf("teleport ping refused: %s; %s", oneLine(err), PluginRoleHint)
		}
		return nil, fmt.Errorf("TELEPORT_BRIDGE_ADDR: ping Teleport at %s: %s", opts.Addr, oneLine(err))
	}
	if major, ok := majorVersion(pong.ServerVersion); ok && major < MinServerMajor {
		_ = clt.Close()
		return nil, fmt.Errorf("teleport at %s runs %s; the bridge needs Teleport %d or newer: upgrade the cluster", opts.Addr, pong.ServerVersion, MinServerMajor)
	}
	c.ServerVersion = pong.ServerVersion
	c.Cluster = events.Cluster{
		Name:              pong.ClusterName,
		ProxyAddr:         pong.ProxyPublicAddr,
		AdvancedWorkflows: pong.ServerFeatures != nil && pong.ServerFeatures.AdvancedAccessWorkflows,
	}
	return c, nil
}

// CheckPermissions probes the rules the bridge needs: read (a watch),
// list (a listing) and update (a state change of a request that does not
// exist, which Teleport checks before looking the request up).
func (c *Conn) CheckPermissions(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	w, err := c.NewWatcher(ctx, types.Watch{Kinds: []types.WatchKind{{Kind: types.KindAccessRequest}}})
	if err == nil {
		select {
		case ev := <-w.Events():
			if ev.Type != types.OpInit {
				err = fmt.Errorf("watch started with %v, not OpInit", ev.Type)
			}
		case <-w.Done():
			err = w.Error()
		case <-ctx.Done():
			err = ctx.Err()
		}
		_ = w.Close()
	}
	if err != nil {
		if trace.IsAccessDenied(err) {
			return fmt.Errorf("teleport refused to watch access requests (%s); %s", oneLine(err), PluginRoleHint)
		}
		return fmt.Errorf("teleport: watch access requests: %s", oneLine(err))
	}
	if _, err := c.GetAccessRequests(ctx, types.AccessRequestFilter{ID: "accessbridge-permission-probe"}); err != nil {
		if trace.IsAccessDenied(err) {
			return fmt.Errorf("teleport refused to list access requests (%s); %s", oneLine(err), PluginRoleHint)
		}
		return fmt.Errorf("teleport: list access requests: %s", oneLine(err))
	}
	pctx := apiutils.WithDelegator(ctx, "accessbridge:permission-probe")
	err = c.SetAccessRequestState(pctx, types.AccessRequestUpdate{
		RequestID: "00000000-0000-4000-8000-accessbridge", State: types.RequestState_DENIED, Reason: "permission probe",
	})
	switch {
	case err == nil, trace.IsNotFound(err):
		return nil
	case trace.IsAccessDenied(err):
		return fmt.Errorf("teleport refused to update access requests (%s); %s", oneLine(err), PluginRoleHint)
	}
	return nil // any other answer means the rule check passed
}

// ReloadIdentity re-reads the identity file; new connections use it. It is
// a no-op for a TLS key pair.
func (c *Conn) ReloadIdentity() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dynamic == nil {
		return nil
	}
	if err := c.dynamic.Reload(); err != nil {
		return fmt.Errorf("reload identity file %s: %w", c.opts.IdentityFile, err)
	}
	return nil
}

// Reloads reports whether ReloadIdentity does anything.
func (c *Conn) Reloads() bool { return c.dynamic != nil }

func majorVersion(v string) (int, bool) {
	v = strings.TrimPrefix(v, "v")
	head, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(head)
	return n, err == nil
}

// oneLine flattens trace's multi-line error reports.
func oneLine(err error) string {
	msg := trace.UserMessage(err)
	if msg == "" {
		msg = err.Error()
	}
	return strings.Join(strings.Fields(msg), " ")
}

// Retryable reports whether a Teleport error is worth retrying: the
// connection, a timeout, or rate limiting.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return trace.IsConnectionProblem(err) || trace.IsLimitExceeded(err) || trace.IsRetryError(err) ||
		!(trace.IsAccessDenied(err) || trace.IsBadParameter(err) || trace.IsNotFound(err) ||
			trace.IsAlreadyExists(err) || trace.IsCompareFailed(err) || trace.IsNotImplemented(err))
}

// Message is Teleport's message for err, on one line.
func Message(err error) string { return oneLine(err) }
