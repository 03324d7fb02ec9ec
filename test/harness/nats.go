package harness

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NATS users of the suite: one per service, each allowed to publish only on
// its own subjects (DESIGN.md §2), and the harness's own, unrestricted.
const (
	UserTeleportBridge = "teleport-bridge"
	UserJiraBridge     = "jira-bridge"
	UserIngress        = "webhook-ingress"
	UserHarness        = "harness"
)

// publishAllow is what each service may publish. Reading is not restricted
// for the bridges (their reads are JetStream API requests); the ingress may
// only receive replies on its inboxes.
var publishAllow = map[string][]string{
	UserTeleportBridge: {"teleport.requests.>", "teleport.decisions.>", "dlq.>",
		"$JS.API.>", "$JS.ACK.>"},
	UserJiraBridge: {"jira.issues.>", "jira.decisions.>", "dlq.>",
		"$JS.API.>", "$JS.ACK.>", "$KV.request-issues.>"},
	UserIngress: {"jira.webhooks.>", "$JS.API.INFO", "$JS.API.STREAM.INFO.JIRA"},
}

// NATSBinary finds nats-server: on PATH, else ../bin/tools from the
// test module or the repository root. Without it the test is skipped,
// except in CI (CI=true), where `make tools` must have installed it.
func NATSBinary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	root, err := RepoRoot()
	if err == nil {
		p := filepath.Join(root, "bin", "tools", "nats-server")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("nats-server not found on PATH nor in bin/tools: run `make tools` first")
	}
	tb.Skip("nats-server not found on PATH nor in bin/tools: run `make tools` to install it (the suite needs a real nats-server)")
	return ""
}

// NATS is a nats-server (one node) or a three-node cluster, each a process
// with a config file the harness writes: per-service users and permissions,
// JetStream on a file store, loopback only.
type NATS struct {
	Dir       string
	Passwords map[string]string // user → password
	Nodes     []*Proc
	ports     []int
}

// StartNATS starts n nodes (1, or 3 for a cluster with routes).
// Config files and stores go to dir, logs to logDir.
func StartNATS(tb testing.TB, bin, dir, logDir string, n int) *NATS {
	tb.Helper()
	ns := &NATS{Dir: dir, Passwords: map[string]string{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	for _, u := range []string{UserTeleportBridge, UserJiraBridge, UserIngress, UserHarness} {
		ns.Passwords[u] = randomHex(16)
	}
	clusterPorts := make([]int, n)
	for i := range n {
		ns.ports = append(ns.ports, FreePort(tb))
		clusterPorts[i] = FreePort(tb)
	}
	for i := range n {
		conf := filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i))
		if err := os.WriteFile(conf, []byte(ns.config(i, clusterPorts)), 0o600); err != nil {
			tb.Fatal(err)
		}
		p := &Proc{Name: fmt.Sprintf("nats-%d", i), Path: bin, Args: []string{"-c", conf},
			Env: []string{"PATH=" + os.Getenv("PATH")}, LogFile: filepath.Join(logDir, fmt.Sprintf("nats-%d.log", i))}
		ns.Nodes = append(ns.Nodes, p)
		if err := p.Start(); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		for _, p := range ns.Nodes {
			p.Stop()
		}
	})
	for i := range n {
		if err := ns.WaitNode(i, 30*time.Second); err != nil {
			tb.Fatal(err)
		}
	}
	return ns
}

func (ns *NATS) config(i int, clusterPorts []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: n%d\nlisten: 127.0.0.1:%d\nmax_payload: 8MB\n", i, ns.ports[i])
	fmt.Fprintf(&b, "jetstream { store_dir: %q }\n", filepath.Join(ns.Dir, fmt.Sprintf("js-%d", i)))
	if len(clusterPorts) > 1 {
		var routes []string
		for j, p := range clusterPorts {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		fmt.Fprintf(&b, "cluster { name: accessbridge, listen: 127.0.0.1:%d, routes: [%s] }\n", clusterPorts[i], strings.Join(routes, ", "))
	}
	b.WriteString("authorization {\n  users: [\n")
	for _, u := range []string{UserTeleportBridge, UserJiraBridge, UserIngress, UserHarness} {
		fmt.Fprintf(&b, "    { user: %q, password: %q", u, ns.Passwords[u])
		if allow, ok := publishAllow[u]; ok {
			q := make([]string, len(allow))
			for k, s := range allow {
				q[k] = fmt.Sprintf("%q", s)
			}
			fmt.Fprintf(&b, ", permissions: { publish: { allow: [%s] }", strings.Join(q, ", "))
			if u == UserIngress {
				b.WriteString(`, subscribe: { allow: ["_INBOX.>"] }`)
			}
			b.WriteString(" }")
		}
		b.WriteString(" }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

// URL is the client URL of every node, comma-separated.
func (ns *NATS) URL() string {
	urls := make([]string, len(ns.ports))
	for i, p := range ns.ports {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	return strings.Join(urls, ",")
}

// WaitNode waits until node i accepts TCP connections.
func (ns *NATS) WaitNode(i int, d time.Duration) error {
	addr := fmt.Sprintf("127.0.0.1:%d", ns.ports[i])
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if !ns.Nodes[i].Running() {
			return fmt.Errorf("nats node %d exited; see %s", i, ns.Nodes[i].LogFile)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats node %d not listening on %s after %s: %w", i, addr, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// KillNode kill -9s node i; StartNode brings it back on the same port and store.
func (ns *NATS) KillNode(i int) { ns.Nodes[i].Kill() }

// StartNode starts node i again and waits for it to listen.
func (ns *NATS) StartNode(i int) error {
	if err := ns.Nodes[i].Start(); err != nil {
		return err
	}
	return ns.WaitNode(i, 30*time.Second)
}

// Restart stops every node gracefully and starts them again.
func (ns *NATS) Restart() error {
	for _, p := range ns.Nodes {
		p.Stop()
	}
	var errs []error
	for i := range ns.Nodes {
		errs = append(errs, ns.StartNode(i))
	}
	return errors.Join(errs...)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
