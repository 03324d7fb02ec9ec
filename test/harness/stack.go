package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/sim/demo"
	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options of a Stack.
type Options struct {
	// Replicas of each service (default 1 each).
	Replicas map[Service]int
	// NATSNodes is 1 (default) or 3 (a cluster; streams and buckets R3).
	NATSNodes int
	// Env is added to every service's environment (it overrides the
	// harness's defaults); ServiceEnv to one service's.
	Env        []string
	ServiceEnv map[Service][]string
	// ReviewerMap (Jira account id → Teleport user) switches the
	// teleport-bridge to review mode, with the emulator's built-in admin
	// identity (the one Teleport lets submit reviews on others' behalf).
	ReviewerMap map[string]string
}

// Stack is a running AccessBridge: nats-server process(es), the emulators
// in-process, and every replica of every service as a process.
type Stack struct {
	TB       testing.TB
	Bin      Binaries
	Dir      string
	LogDir   string
	NATS     *NATS
	Jira     *jirasim.Server
	Teleport *teleportsim.Server
	Emu      *demo.Stack

	opts  Options
	mu    sync.Mutex
	procs map[Service][]*Proc
	addrs map[Service][]string
	files map[string]string // name → path of secret files
	nc    *nats.Conn
	js    jetstream.JetStream
}

// Start brings a stack up and waits until every replica is ready.
func Start(tb testing.TB, bin Binaries, opts Options) *Stack {
	tb.Helper()
	natsBin := NATSBinary(tb)
	if opts.NATSNodes == 0 {
		opts.NATSNodes = 1
	}
	dir := tb.TempDir()
	s := &Stack{TB: tb, Bin: bin, Dir: dir, LogDir: filepath.Join(dir, "logs"), opts: opts,
		procs: map[Service][]*Proc{}, addrs: map[Service][]string{}, files: map[string]string{}}
	if err := os.MkdirAll(s.LogDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	s.NATS = StartNATS(tb, natsBin, filepath.Join(dir, "nats"), s.LogDir, opts.NATSNodes)
	emu, err := demo.Start(demo.Options{Dir: filepath.Join(dir, "emulators")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(emu.Close)
	s.Emu, s.Jira, s.Teleport = emu, emu.Jira, emu.Teleport
	for user, pw := range s.NATS.Passwords {
		s.writeSecret("nats-"+user, pw)
	}
	if opts.ReviewerMap != nil {
		b, _ := json.Marshal(opts.ReviewerMap)
		p := filepath.Join(dir, "reviewers.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
		s.files["reviewers"] = p
	}

	var urls []string
	for _, svc := range Services {
		n := max(opts.Replicas[svc], 1)
		for i := range n {
			addr := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
			s.addrs[svc] = append(s.addrs[svc], addr)
			p := &Proc{Name: fmt.Sprintf("%s-%d", svc, i), Path: bin.Path(svc), Args: []string{"start"},
				LogFile: filepath.Join(s.LogDir, fmt.Sprintf("%s-%d.log", svc, i))}
			p.Env = s.env(svc, addr)
			s.procs[svc] = append(s.procs[svc], p)
			if svc == Ingress {
				urls = append(urls, "http://"+addr+"/webhook")
			}
		}
	}
	s.Jira.SetWebhookURLs(urls)
	tb.Cleanup(s.StopAll)
	tb.Cleanup(s.dumpLogsOnFailure)
	// A fresh cluster elects its JetStream meta leader first.
	if err := Eventually(context.Background(), time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := s.JetStream().AccountInfo(ctx); err != nil {
			return err
		}
		if opts.NATSNodes == 1 {
			return nil
		}
		// Every peer known: an R3 stream can be placed.
		probe := jetstream.StreamConfig{Name: "HARNESS_PROBE", Subjects: []string{"harness.probe"}, Replicas: opts.NATSNodes, Storage: jetstream.MemoryStorage}
		if _, err := s.JetStream().CreateStream(ctx, probe); err != nil {
			return err
		}
		return s.JetStream().DeleteStream(ctx, probe.Name)
	}); err != nil {
		tb.Fatalf("JetStream not available: %v", err)
	}
	for _, svc := range Services {
		for i := range s.procs[svc] {
			if err := s.StartReplica(svc, i); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return s
}

func (s *Stack) writeSecret(name, value string) {
	p := filepath.Join(s.Dir, "secret-"+name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		s.TB.Fatal(err)
	}
	s.files[name] = p
}

// Secrets are every secret the stack configured: NATS passwords, the
// webhook secret, the Jira token.
func (s *Stack) Secrets() []string {
	out := []string{s.Emu.WebhookSecret, s.Jira.Bot().Token}
	for _, pw := range s.NATS.Passwords {
		out = append(out, pw)
	}
	return out
}

func (s *Stack) env(svc Service, addr string) []string {
	user := string(svc)
	replicas := 1
	if s.opts.NATSNodes > 1 {
		replicas = 3
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + s.Dir,
		"LOG_FORMAT=json", "LOG_LEVEL=info",
		"NATS_URL=" + s.NATS.URL(), "NATS_USER=" + user, "NATS_PASSWORD_FILE=" + s.files["nats-"+user],
		fmt.Sprintf("NATS_REPLICAS=%d", replicas),
	}
	switch svc {
	case TeleportBridge:
		env = append(env,
			"TELEPORT_BRIDGE_ADDR="+s.Teleport.Addr(),
			"TELEPORT_BRIDGE_IDENTITY_FILE="+s.Teleport.IdentityFile(s.TeleportUser()),
			"TELEPORT_BRIDGE_REFRESH_INTERVAL=1s",
			"TELEPORT_BRIDGE_RECONNECT_BACKOFF_MAX=2s",
			"TELEPORT_BRIDGE_HTTP_ADDR="+addr)
		if p, ok := s.files["reviewers"]; ok {
			env = append(env, "TELEPORT_BRIDGE_DECISION_MODE=review", "TELEPORT_BRIDGE_REVIEWER_MAP_FILE="+p)
		}
	case JiraBridge:
		env = append(env,
			"JIRA_BRIDGE_URL="+s.Jira.URL(),
			"JIRA_BRIDGE_USER="+s.Jira.Bot().Email,
			"JIRA_BRIDGE_API_TOKEN_FILE="+s.Emu.JiraTokenFile,
			"JIRA_BRIDGE_PROJECT="+s.Jira.ProjectKey(),
			"JIRA_BRIDGE_ACK_WAIT=5s",
			"JIRA_BRIDGE_RETRY_MIN=200ms", "JIRA_BRIDGE_RETRY_MAX=3s",
			"JIRA_BRIDGE_JIRA_RETRY_MIN=100ms", "JIRA_BRIDGE_JIRA_RETRY_MAX=5s",
			"JIRA_BRIDGE_RECONCILE_INTERVAL=3s",
			"JIRA_BRIDGE_HTTP_ADDR="+addr)
	case Ingress:
		env = append(env,
			"WEBHOOK_INGRESS_ADDR="+addr,
			"WEBHOOK_INGRESS_INSECURE_NO_TLS=true",
			"WEBHOOK_INGRESS_HMAC_SECRETS_FILE="+s.Emu.SecretFile)
	}
	env = append(env, s.opts.Env...)
	return append(env, s.opts.ServiceEnv[svc]...)
}

// dumpLogsOnFailure shows the end of every log of a failed test, and
// copies the logs to $E2E_KEEP_LOGS/<test> when that is set.
func (s *Stack) dumpLogsOnFailure() {
	if keep := os.Getenv("E2E_KEEP_LOGS"); keep != "" {
		dst := filepath.Join(keep, strings.ReplaceAll(s.TB.Name(), "/", "_"))
		if err := os.MkdirAll(dst, 0o700); err == nil {
			entries, _ := os.ReadDir(s.LogDir)
			for _, e := range entries {
				if b, err := os.ReadFile(filepath.Join(s.LogDir, e.Name())); err == nil {
					_ = os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600)
				}
			}
		}
	}
	if !s.TB.Failed() {
		return
	}
	entries, _ := os.ReadDir(s.LogDir)
	for _, e := range entries {
		s.TB.Logf("--- last lines of %s:\n%s", e.Name(), Tail(filepath.Join(s.LogDir, e.Name()), 15))
	}
}

// TeleportUser is the identity the teleport-bridge runs as.
func (s *Stack) TeleportUser() string {
	if s.opts.ReviewerMap != nil {
		return teleportsim.UserAdmin
	}
	return teleportsim.UserAccessPlugin
}

// Replicas of a service.
func (s *Stack) Replicas(svc Service) []*Proc { return s.procs[svc] }

// Addr is the listen address of a replica's HTTP endpoints.
func (s *Stack) Addr(svc Service, i int) string { return s.addrs[svc][i] }

// StartReplica starts replica i of svc and waits for /readyz.
func (s *Stack) StartReplica(svc Service, i int) error {
	p := s.procs[svc][i]
	if err := p.Start(); err != nil {
		return err
	}
	return s.WaitReady(svc, i, 60*time.Second)
}

// WaitReady polls /readyz of a replica until it answers 200.
func (s *Stack) WaitReady(svc Service, i int, d time.Duration) error {
	p, url := s.procs[svc][i], "http://"+s.addrs[svc][i]+"/readyz"
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(d)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !p.Running() {
			return fmt.Errorf("%s exited before it was ready:\n%s", p.Name, Tail(p.LogFile, 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last: %v):\n%s", p.Name, d, err, Tail(p.LogFile, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopAll stops every replica (SIGTERM).
func (s *Stack) StopAll() {
	for _, svc := range Services {
		for _, p := range s.procs[svc] {
			p.Stop()
		}
	}
}

// KillRandom kill -9s a random replica of a random service and returns it.
func (s *Stack) KillRandom(r *rand.Rand) (Service, int) {
	svc := Services[r.IntN(len(Services))]
	i := r.IntN(len(s.procs[svc]))
	s.procs[svc][i].Kill()
	return svc, i
}

// JetStream is the harness's own (unrestricted) connection.
func (s *Stack) JetStream() jetstream.JetStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.js != nil {
		return s.js
	}
	nc, err := s.Connect(UserHarness)
	if err != nil {
		s.TB.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		s.TB.Fatal(err)
	}
	s.nc, s.js = nc, js
	s.TB.Cleanup(nc.Close)
	return js
}

// Connect opens a NATS connection as one of the users.
func (s *Stack) Connect(user string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.UserInfo(user, s.NATS.Passwords[user]), nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond)}, opts...)
	return nats.Connect(s.NATS.URL(), opts...)
}

// Checker returns an invariant checker over this stack's final state.
func (s *Stack) Checker() *Checker {
	return &Checker{Jira: s.Jira, Teleport: s.Teleport, JS: s.JetStream(), LogDir: s.LogDir, Secrets: s.Secrets()}
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Eventually polls cond every 50ms until it returns nil or d passes; it
// returns the last error.
func Eventually(ctx context.Context, d time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", d, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
