package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects the demo's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDemoPortsAndStop runs `make demo`'s binary as a user would, with every
// port moved by DEMO_PORTS: the scenario passes against the emulators and the
// accessbridge binary on those ports, the hints name them, the board answers
// on the chosen port, and Ctrl-C (SIGINT) stops everything with a clear line,
// leaving the ports free.
func TestDemoPortsAndStop(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for pkg, out := range map[string]string{"../../../../cmd/accessbridge": "accessbridge", ".": "demo"} {
		if b, err := exec.Command("go", "build", "-o", filepath.Join(bin, out), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	names := []string{"jira", "teleport", "teleport-admin", "ingress", "ops", "nats"}
	ports := map[string]int{}
	var spec []string
	for _, n := range names {
		ports[n] = freePort(t)
		spec = append(spec, fmt.Sprintf("%s=%d", n, ports[n]))
	}
	cmd := exec.Command(filepath.Join(bin, "demo"), "-bin", filepath.Join(bin, "accessbridge"), "-dir", filepath.Join(dir, "demo"))
	cmd.Env = append(os.Environ(), "DEMO_PORTS="+strings.Join(spec, ","), "DEMO_EXIT=")
	var out lockedBuffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		_, _ = io.Copy(&out, bufio.NewReader(stdout))
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	})

	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop.") {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("demo exited before the scenario finished: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo did not finish its scenario within 3 minutes")
		}
	}
	text := out.String()
	for _, want := range []string{
		"scenario passed",
		fmt.Sprintf("request create --admin http://127.0.0.1:%d --user myuser", ports["teleport-admin"]),
		fmt.Sprintf("http://127.0.0.1:%d/", ports["jira"]),
		fmt.Sprintf("--server nats://127.0.0.1:%d sub 'teleport.>'", ports["nats"]),
		fmt.Sprintf("http://127.0.0.1:%d/metrics", ports["ops"]),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports["ops"]))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("accessbridge /readyz on the chosen ops port: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports["jira"]))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("board on the chosen Jira port: %v %v", resp, err)
	}
	resp.Body.Close()

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("demo exited with %v after Ctrl-C, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30s of Ctrl-C")
	}
	text = out.String()
	stopping := strings.Index(text, "Ctrl-C: stopping accessbridge and the emulators")
	done := strings.Index(text, "demo stopped: accessbridge and both emulators are down")
	if stopping < 0 || done < stopping {
		t.Fatalf("want the stopping line, then the stopped line, at the end:\n%s", text[max(0, len(text)-600):])
	}
	for _, n := range names {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[n]))
		if err != nil {
			t.Errorf("port %s (%d) still in use after the demo stopped: %v", n, ports[n], err)
			continue
		}
		ln.Close()
	}
}

// TestDemoSaysHowToMovePorts: a taken port ends the demo with the way out.
func TestDemoSaysHowToMovePorts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bin := filepath.Join(t.TempDir(), "demo")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	fake := filepath.Join(t.TempDir(), "accessbridge")
	if err := os.WriteFile(fake, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-bin", fake, "-dir", filepath.Join(t.TempDir(), "demo"), "-ports", "teleport=0,teleport-admin=0,jira="+fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "address already in use") || !strings.Contains(string(out), "make demo DEMO_PORTS=+10000") {
		t.Fatalf("demo with the Jira port taken: err=%v\n%s", err, out)
	}
}
