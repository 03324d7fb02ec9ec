package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

// world is the two emulators, run in the harness process, and the
// environment that points the product at them.
type world struct {
	dir         string
	tp          *teleportsim.Server
	js          *jirasim.Server
	tap         *jiraTap
	srv         *http.Server
	ingressAddr string
	reviewer    string
	env         []string
}

// newWorld starts the emulators. signed: the Jira emulator signs webhooks
// (HMAC) and the ingress checks them; otherwise the webhook URL carries a
// token and the jira-bridge confirms each move through the API.
func newWorld(dir string, signed bool) (*world, error) {
	return newWorldOpts(dir, signed, hooksRecommended)
}

// hookMode is how the Jira emulator's webhook is configured.
type hookMode int

const (
	// hooksRecommended: as the README recommends, issue updated events
	// only (created and comment events are echoes of the bridge's own
	// writes); the ingress's per-IP limit is lifted (see newWorldOpts).
	hooksRecommended hookMode = iota
	// hooksAll: every issue event (created, updated, deleted), the
	// ingress with its default per-IP limit (a diagnostic: what ignoring
	// the recommendation costs).
	hooksAll
	// hooksNone: no webhook (a diagnostic: no echo at all).
	hooksNone
)

func newWorldOpts(dir string, signed bool, hooks hookMode) (*world, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ingressAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	jl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &world{dir: dir, ingressAddr: ingressAddr}
	secret := randomHex(24)
	webhookURL := "http://" + ingressAddr + "/webhook"
	// The webhook is configured as the README recommends: issue updated
	// events only (created and comment events are echoes of the bridge's
	// own writes).
	jopts := jirasim.Options{
		BaseURL:        "http://" + jl.Addr().String(),
		CustomFields:   []jirasim.CustomField{jirasim.RequestIDField()},
		WebhookBackoff: 100 * time.Millisecond,
	}
	if hooks == hooksRecommended {
		jopts.WebhookEvents = []string{jirasim.EventIssueUpdated}
	}
	if signed {
		jopts.WebhookSecret = secret
	} else {
		webhookURL += "?token=" + secret
	}
	if hooks != hooksNone {
		jopts.WebhookURLs = []string{webhookURL}
	}
	w.js, err = jirasim.New(jopts)
	if err != nil {
		jl.Close()
		return nil, err
	}
	w.tap = newJiraTap(w.js.Handler())
	w.srv = &http.Server{Handler: w.tap, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = w.srv.Serve(jl) }()

	w.tp, err = teleportsim.New(teleportsim.Options{IdentityDir: filepath.Join(dir, "teleport"), RequestTTL: 24 * time.Hour})
	if err != nil {
		w.Close()
		return nil, err
	}
	tokenFile := filepath.Join(dir, "jira-token")
	bot := w.js.Bot()
	if err := os.WriteFile(tokenFile, []byte(bot.Token+"\n"), 0o600); err != nil {
		w.Close()
		return nil, err
	}
	secretFile := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		w.Close()
		return nil, err
	}
	w.reviewer = w.js.Users()[1].AccountID
	w.env = []string{
		"LOG_FORMAT=json",
		"LOG_LEVEL=info",
		"TELEPORT_BRIDGE_ADDR=" + w.tp.Addr(),
		"TELEPORT_BRIDGE_IDENTITY_FILE=" + w.tp.IdentityFile("access-plugin"),
		"TELEPORT_BRIDGE_HTTP_ADDR=127.0.0.1:0",
		"TELEPORT_BRIDGE_RESYNC_INTERVAL=0",
		"JIRA_BRIDGE_URL=" + w.js.URL(),
		"JIRA_BRIDGE_USER=" + bot.Email,
		"JIRA_BRIDGE_API_TOKEN_FILE=" + tokenFile,
		"JIRA_BRIDGE_PROJECT=" + w.js.ProjectKey(),
		"JIRA_BRIDGE_HTTP_ADDR=127.0.0.1:0",
		"JIRA_BRIDGE_RECONCILE_INTERVAL=0",
		"WEBHOOK_INGRESS_ADDR=" + ingressAddr,
		"WEBHOOK_INGRESS_INSECURE_NO_TLS=true",
	}
	if hooks == hooksRecommended {
		// The emulator sends every delivery from one address, where a Jira
		// site sends from several: the per-IP limit (100/s after a burst of
		// 1,000) would answer a burst's echoes with 429 and make Jira retry
		// them, which measures the limit rather than the product.
		w.env = append(w.env, "WEBHOOK_INGRESS_RATE_LIMIT=0")
	}
	if signed {
		w.env = append(w.env, "WEBHOOK_INGRESS_HMAC_SECRETS_FILE="+secretFile)
	} else {
		w.env = append(w.env, "WEBHOOK_INGRESS_TOKENS_FILE="+secretFile)
	}
	return w, nil
}

func (w *world) Close() {
	if w.srv != nil {
		_ = w.srv.Close()
	}
	if w.js != nil {
		w.js.Close()
	}
	if w.tp != nil {
		_ = w.tp.Close()
	}
}

// product is the AccessBridge processes of one layout.
type product struct {
	layout string
	names  []string
	cmds   []*exec.Cmd
	pids   map[string]int
	// natsMonitor is the HTTP monitoring address of the external
	// nats-server (split layout only): its /varz counts every message the
	// services send.
	natsMonitor string
}

const (
	layoutAllInOne = "all-in-one"
	layoutSplit    = "split"
)

// startProduct starts the all-in-one binary (embedded NATS), or
// nats-server and the three service binaries.
func startProduct(layout, binDir, natsServer string, w *world, dir string) (*product, error) {
	p := &product{layout: layout, pids: map[string]int{}}
	base := append(os.Environ(), w.env...)
	start := func(name, path string, env []string, args ...string) error {
		return p.start(dir, name, path, env, args...)
	}
	switch layout {
	case layoutAllInOne:
		env := append(base, "ACCESSBRIDGE_DATA_DIR="+filepath.Join(dir, "data"),
			"ACCESSBRIDGE_NATS_LISTEN=127.0.0.1:0", "ACCESSBRIDGE_HTTP_ADDR=127.0.0.1:0")
		if err := start("accessbridge", filepath.Join(binDir, "accessbridge"), env); err != nil {
			return nil, err
		}
	case layoutSplit:
		if natsServer == "" {
			return nil, errors.New("no nats-server binary (make tools)")
		}
		natsAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		monAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		host, port, _ := net.SplitHostPort(natsAddr)
		_, monPort, _ := net.SplitHostPort(monAddr)
		if err := start("nats-server", natsServer, base, "-js", "-sd", filepath.Join(dir, "nats"), "-a", host, "-p", port, "-m", monPort); err != nil {
			return nil, err
		}
		p.natsMonitor = monAddr
		if err := waitTCP(natsAddr, 20*time.Second); err != nil {
			p.Stop()
			return nil, fmt.Errorf("nats-server: %w", err)
		}
		env := append(base, "NATS_URL=nats://"+natsAddr)
		for _, s := range []string{"teleport-bridge", "jira-bridge", "webhook-ingress"} {
			if err := start(s, filepath.Join(binDir, s), env); err != nil {
				p.Stop()
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unknown layout %q", layout)
	}
	if err := waitTCP(w.ingressAddr, 30*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: the webhook ingress never listened (logs in %s): %w", layout, dir, err)
	}
	return p, nil
}

// start runs one process, its output in dir/<name>.log.
func (p *product) start(dir, name, path string, env []string, args ...string) error {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p.names = append(p.names, name)
	p.cmds = append(p.cmds, cmd)
	p.pids[name] = cmd.Process.Pid
	go func() { _ = cmd.Wait(); logf.Close() }()
	return nil
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }

// Stop terminates the processes, services first, nats-server last.
func (p *product) Stop() {
	for i := len(p.cmds) - 1; i >= 0; i-- {
		c := p.cmds[i]
		_ = c.Process.Signal(syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && syscall.Kill(c.Process.Pid, 0) == nil {
			if st, err := os.ReadFile("/proc/" + strconv.Itoa(c.Process.Pid) + "/stat"); err != nil || bytesContainsZombie(st) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = c.Process.Kill()
	}
}

func bytesContainsZombie(stat []byte) bool {
	for i := len(stat) - 1; i > 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && stat[i+2] == 'Z'
		}
	}
	return false
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitTCP(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
