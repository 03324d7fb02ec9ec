package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/sim/demo"
	"github.com/chromedp/chromedp"
)

// buildAccessBridge builds the all-in-one binary from this checkout.
func buildAccessBridge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "accessbridge")
	out, err := exec.Command("go", "build", "-C", "../../cmd/accessbridge", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build accessbridge: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); CI needs a real browser")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); the board check needs a real browser")
	return ""
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDemoScenarioAndBoard runs the demo as `make demo` does — the real
// accessbridge binary against both emulators — then opens the Jira board in
// headless Chromium and checks that every demo issue sits in the column of
// its final status. The screenshot is kept as a test artifact.
func TestDemoScenarioAndBoard(t *testing.T) {
	chrome := chromium(t)
	bin := buildAccessBridge(t)
	dir := t.TempDir()
	ingress, opsAddr := freeAddr(t), freeAddr(t)
	stack, err := demo.Start(demo.Options{Dir: dir, IngressURL: "http://" + ingress + "/webhook", Mattermost: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)

	var logs bytes.Buffer
	cmd := exec.Command(bin, "start")
	cmd.Env = append(os.Environ(), stack.Env(ingress, filepath.Join(dir, "data"))...)
	cmd.Env = append(cmd.Env, "ACCESSBRIDGE_HTTP_ADDR="+opsAddr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("accessbridge output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + opsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("accessbridge exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("accessbridge not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var out bytes.Buffer
	sc := &demo.Scenario{Stack: stack, Out: &out}
	steps, err := sc.Run(context.Background())
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	if len(steps) != 10 {
		t.Fatalf("%d steps, want 10 (8, and 2 for Mattermost)", len(steps))
	}

	// Where each demo issue must be on the board.
	want := map[string]string{}
	for _, is := range stack.Jira.Issues() {
		want[is.Key] = is.Status
	}
	statuses := map[string]int{}
	for _, s := range want {
		statuses[s]++
	}
	if statuses["Approved"] != 2 || statuses["Denied"] != 1 || statuses["Expired"] != 1 {
		t.Fatalf("final statuses %v: want 2 Approved, 1 Denied, 1 Expired", statuses)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900))
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	actions := []chromedp.Action{chromedp.Navigate(stack.Jira.URL() + "/")}
	for key, status := range want {
		actions = append(actions, chromedp.WaitVisible(fmt.Sprintf(`#col-%s #card-%s`, status, key), chromedp.ByQuery))
	}
	var png []byte
	var pending string
	actions = append(actions,
		chromedp.Text(`#col-Pending`, &pending, chromedp.ByQuery),
		chromedp.FullScreenshot(&png, 100))
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("board in the browser: %v", err)
	}
	for key := range want {
		if strings.Contains(pending, key) {
			t.Errorf("%s is still shown in Pending", key)
		}
	}
	shot := filepath.Join(artifactsDir(t), "demo-board.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("board screenshot: %s", shot)

	// The Mattermost page shows the four requests, updated.
	var mmText string
	if err := chromedp.Run(ctx, chromedp.Navigate(stack.Mattermost.URL()+"/"), chromedp.WaitVisible(`.post`, chromedp.ByQuery),
		chromedp.Text(`main`, &mmText, chromedp.ByQuery), chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("Mattermost page in the browser: %v", err)
	}
	if strings.Count(mmText, "APPROVED") < 4 || !strings.Contains(mmText, "DENIED") || !strings.Contains(mmText, "EXPIRED") || strings.Contains(mmText, "PENDING") {
		t.Fatalf("Mattermost page:\n%s", mmText)
	}
	shot = filepath.Join(artifactsDir(t), "demo-mattermost.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("Mattermost screenshot: %s", shot)
}
