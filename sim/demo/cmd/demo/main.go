// Command demo runs the AccessBridge demo: the Teleport and Jira emulators
// in this process, the accessbridge binary as a child process wired to both,
// and a scripted scenario whose every step is checked. Then it keeps running
// and prints where to look, until Ctrl-C. With DEMO_EXIT=1 it exits after the
// scenario: 0 when every step passed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/accessbridge/accessbridge/sim/demo"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

func main() {
	code, last := run()
	if last != "" {
		fmt.Println(last)
	}
	os.Exit(code)
}

// run plays the demo; the string is the line to print once everything it
// started has stopped (its deferred calls ran), empty when nothing is to say.
func run() (int, string) {
	def := demo.DefaultPorts()
	bin := flag.String("bin", "bin/accessbridge", "path of the accessbridge binary")
	dir := flag.String("dir", "tmp/demo", "working directory (identity files, NATS store, logs); wiped at start")
	ports := flag.String("ports", os.Getenv("DEMO_PORTS"), "port overrides (default $DEMO_PORTS): +OFFSET shifts every port (+10000: 8080 → 18080), NAME=PORT sets one ("+strings.Join(demo.PortNames(), ", ")+"); the flags below win over it")
	jiraAddr := flag.String("jira-addr", def.Jira, "listen address of the Jira emulator and its board page")
	tpAddr := flag.String("teleport-addr", def.Teleport, "listen address of the Teleport emulator's gRPC API")
	tpAdmin := flag.String("teleport-admin-addr", def.TeleportAdmin, "admin endpoint of the Teleport emulator (teleport-sim CLI)")
	ingressAddr := flag.String("ingress-addr", def.Ingress, "listen address of AccessBridge's webhook ingress")
	opsAddr := flag.String("ops-addr", def.Ops, "AccessBridge's /status /readyz /metrics address")
	natsAddr := flag.String("nats-addr", def.NATS, "the embedded NATS server's address")
	natsCLI := flag.String("nats-cli", "", "the nats CLI shown in the hints (default: bin/tools/nats beside -bin, installed by make tools)")
	flavor := flag.String("jira-flavor", "cloud", "Jira flavour: cloud or server")
	mmAddr := flag.String("mattermost-addr", def.Mattermost, "listen address of the Mattermost emulator and its page (empty: no Mattermost)")
	up := flag.String("up", "", "instead of starting the binary, run this shell command to start the product (it finds its settings in $DEMO_DIR/product.env)")
	down := flag.String("down", "", "shell command that stops the product started by -up")
	ready := flag.String("ready", "", "comma-separated URLs that must answer 200 before the scenario (default: the all-in-one's /readyz and the ingress /status)")
	flag.Parse()
	p, err := demo.ParsePorts(*ports, def)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 2, ""
	}
	// An explicit flag wins over DEMO_PORTS.
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "jira-addr":
			p.Jira = *jiraAddr
		case "teleport-addr":
			p.Teleport = *tpAddr
		case "teleport-admin-addr":
			p.TeleportAdmin = *tpAdmin
		case "ingress-addr":
			p.Ingress = *ingressAddr
		case "ops-addr":
			p.Ops = *opsAddr
		case "nats-addr":
			p.NATS = *natsAddr
		case "mattermost-addr":
			p.Mattermost = *mmAddr
		}
	})
	// The product's addresses must be known before it starts: port 0 picks
	// a free one here.
	for _, a := range []*string{&p.Ingress, &p.Ops, &p.NATS} {
		if *a, err = resolveZeroPort(*a); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
			return 1, ""
		}
	}
	if *natsCLI == "" {
		*natsCLI = filepath.Join(filepath.Dir(*bin), "tools", "nats")
	}
	exitAfter := os.Getenv("DEMO_EXIT") == "1"

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	if _, err := os.Stat(*bin); err != nil && *up == "" {
		fmt.Fprintf(os.Stderr, "demo: %s not found: run `make build` first (make demo does)\n", *bin)
		return 1, ""
	}
	_ = os.RemoveAll(*dir)
	abs, _ := filepath.Abs(*dir)
	stack, err := demo.Start(demo.Options{
		Dir: abs, JiraAddr: p.Jira, TeleportAddr: p.Teleport, TeleportAdminAddr: p.TeleportAdmin,
		IngressURL: "http://" + p.Ingress + "/webhook", JiraFlavor: *flavor,
		Mattermost: p.Mattermost != "", MattermostAddr: p.Mattermost,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n%s", err, portHint(err.Error()))
		return 1, ""
	}
	defer stack.Close()
	fmt.Printf("Teleport emulator  %s (gRPC, mTLS)   Jira emulator  %s\n", stack.Teleport.Addr(), stack.Jira.URL())
	if stack.Mattermost != nil {
		fmt.Printf("Mattermost emulator  %s\n", stack.Mattermost.URL())
	}

	logPath := filepath.Join(abs, "accessbridge.log")
	env := append(stack.Env(p.Ingress, filepath.Join(abs, "data")), "ACCESSBRIDGE_HTTP_ADDR="+p.Ops, "ACCESSBRIDGE_NATS_LISTEN="+p.NATS)
	exited := make(chan error, 1)
	readyURLs := []string{"http://" + p.Ops + "/readyz", "http://" + p.Ingress + "/status"}
	if *ready != "" {
		readyURLs = strings.Split(*ready, ",")
	}
	if *up != "" {
		if err := os.WriteFile(filepath.Join(abs, "product.env"), []byte(demo.EnvFile(env)), 0o600); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
			return 1, ""
		}
		if err := shell(*up, abs); err != nil {
			fmt.Fprintf(os.Stderr, "demo: -up: %v\n", err)
			if *down != "" {
				_ = shell(*down, abs)
			}
			return 1, ""
		}
		if *down != "" {
			defer func() {
				if err := shell(*down, abs); err != nil {
					fmt.Fprintf(os.Stderr, "demo: -down: %v\n", err)
				}
			}()
		}
		logPath = "(the product's own logs)"
	} else {
		logFile, err := os.Create(logPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
			return 1, ""
		}
		defer logFile.Close()
		cmd := exec.Command(*bin, "start")
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: start %s: %v\n", *bin, err)
			return 1, ""
		}
		done := make(chan struct{})
		go func() {
			err := cmd.Wait()
			close(done)
			exited <- err
		}()
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}()
		fmt.Printf("accessbridge started (pid %d), logs in %s\n", cmd.Process.Pid, logPath)
	}

	start := time.Now()
	if err := waitReady(ctx, exited, readyURLs...); err != nil {
		if ctx.Err() != nil {
			fmt.Println(demo.StoppingLine())
			return 130, demo.StoppedLine(abs)
		}
		last := tail(logPath, 20)
		fmt.Fprintf(os.Stderr, "demo: accessbridge did not become ready: %v\n--- last lines of %s ---\n%s%s", err, logPath, last, portHint(last))
		return 1, ""
	}
	fmt.Printf("accessbridge ready in %.2fs\n\n", time.Since(start).Seconds())

	sc := &demo.Scenario{Stack: stack, Out: os.Stdout}
	steps, err := sc.Run(ctx)
	total := time.Duration(0)
	for _, s := range steps {
		total += s.Took
	}
	if err != nil && ctx.Err() != nil {
		fmt.Println(demo.StoppingLine())
		return 130, demo.StoppedLine(abs)
	}
	if err != nil {
		fmt.Printf("\nscenario FAILED after %d steps (%.2fs)\n--- last lines of %s ---\n%s", len(steps), total.Seconds(), logPath, tail(logPath, 30))
		return 1, ""
	}
	fmt.Printf("\nscenario passed: %d steps in %.2fs\n", len(steps), total.Seconds())
	if exitAfter {
		return 0, ""
	}
	fmt.Print(demo.NextSteps(demo.Hints{
		BoardURL:      stack.Jira.URL() + "/",
		TeleportSim:   filepath.Join(filepath.Dir(*bin), "teleport-sim"),
		AdminURL:      stack.Teleport.AdminURL(),
		NATSCLI:       *natsCLI,
		NATSURL:       "nats://" + p.NATS,
		MetricsURL:    "http://" + p.Ops + "/metrics",
		Requester:     teleportsim.UserRequester,
		LogPath:       logPath,
		CLIInstalled:  fileExists(*natsCLI),
		MattermostURL: mattermostPage(stack),
	}))
	select {
	case <-ctx.Done():
		fmt.Println(demo.StoppingLine())
		return 0, demo.StoppedLine(abs)
	case err := <-exited:
		fmt.Fprintf(os.Stderr, "accessbridge exited: %v\n", err)
		return 1, ""
	}
}

// portHint says how to move the demo's ports when one is taken.
func portHint(msg string) string {
	if !strings.Contains(msg, "address already in use") {
		return ""
	}
	return "a port the demo uses is taken: move them all with `make demo DEMO_PORTS=+10000`, or one with DEMO_PORTS=jira=9080 (names: " +
		strings.Join(demo.PortNames(), ", ") + ")\n"
}

func mattermostPage(s *demo.Stack) string {
	if s.Mattermost == nil {
		return ""
	}
	return s.Mattermost.URL() + "/"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// resolveZeroPort replaces port 0 of a loopback address with a free port.
func resolveZeroPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// shell runs a command with bash, in the repository, with DEMO_DIR set.
func shell(command, dir string) error {
	cmd := exec.Command("bash", "-c", command)
	cmd.Env = append(os.Environ(), "DEMO_DIR="+dir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func waitReady(ctx context.Context, exited <-chan error, urls ...string) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, u := range urls {
		for {
			resp, err := http.Get(u)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("%s answered %s", u, resp.Status)
			}
			if time.Now().After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case e := <-exited:
				return errors.Join(errors.New("accessbridge exited"), e)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := splitLines(string(b))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
