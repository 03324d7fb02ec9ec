package teleportsim

import (
	"context"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// connTracker knows every live connection and the client certificate serial
// each one authenticated with, so faults and rotations can cut them.
type connTracker struct {
	mu          sync.Mutex
	conns       map[*trackedConn]string // conn → client cert serial ("" before handshake)
	refuseUntil time.Time
}

func newConnTracker() *connTracker {
	return &connTracker{conns: make(map[*trackedConn]string)}
}

type trackedConn struct {
	net.Conn
	t    *connTracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

// refuse closes every connection and refuses new ones until d has passed
// (wall time, whatever clock the emulator uses for expiry).
func (t *connTracker) refuse(d time.Duration) {
	t.mu.Lock()
	t.refuseUntil = time.Now().Add(d)
	t.mu.Unlock()
	t.closeWhere(func(string) bool { return true })
}

func (t *connTracker) refusing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Now().Before(t.refuseUntil)
}

func (t *connTracker) closeWhere(match func(serial string) bool) int {
	t.mu.Lock()
	var victims []*trackedConn
	for c, serial := range t.conns {
		if match(serial) {
			victims = append(victims, c)
		}
	}
	t.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
	return len(victims)
}

// trackingListener accepts connections into the tracker and, while refusing,
// closes them on accept, which the client sees as a failed dial.
type trackingListener struct {
	net.Listener
	t *connTracker
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.t.refusing() {
			c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, t: l.t}
		l.t.mu.Lock()
		l.t.conns[tc] = ""
		l.t.mu.Unlock()
		return tc, nil
	}
}

// trackingCreds is gRPC's TLS server credentials, noting which client
// certificate each connection presented.
type trackingCreds struct {
	credentials.TransportCredentials
	t *connTracker
}

func (c trackingCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return conn, info, err
	}
	tc, ok := raw.(*trackedConn)
	tlsInfo, ok2 := info.(credentials.TLSInfo)
	if ok && ok2 && len(tlsInfo.State.PeerCertificates) > 0 {
		c.t.mu.Lock()
		if _, live := c.t.conns[tc]; live {
			c.t.conns[tc] = tlsInfo.State.PeerCertificates[0].SerialNumber.String()
		}
		c.t.mu.Unlock()
	}
	return conn, info, nil
}

func (c trackingCreds) Clone() credentials.TransportCredentials {
	return trackingCreds{TransportCredentials: c.TransportCredentials.Clone(), t: c.t}
}

// delay waits d unless ctx ends first.
func delay(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (s *Server) latencyUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := delay(ctx, time.Duration(s.latency.Load())); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) latencyStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := delay(ss.Context(), time.Duration(s.latency.Load())); err != nil {
		return err
	}
	return handler(srv, ss)
}
