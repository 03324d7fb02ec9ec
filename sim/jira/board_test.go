package jirasim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	jirasim "github.com/accessbridge/accessbridge/sim/jira"
)

// chromium finds Debian's chromium (or another Chrome). When none is
// installed the browser test skips, except in CI (CI=true), where a missing
// browser is a broken environment and fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); the board test needs a real browser in CI")
	}
	t.Skip("skipping the browser test: chromium is not installed (apt-get install -y chromium)")
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

func TestBoardMovesCardInBrowser(t *testing.T) {
	chrome := chromium(t)
	rcv := newReceiver(t)
	s := jirasim.Start(t, jirasim.Options{WebhookURLs: []string{rcv.URL()}, WebhookSecret: "board-secret", InitialStatus: "Pending"})
	if _, err := s.CreateIssue(jirasim.NewIssue{Summary: "alice requested editor", Labels: []string{"teleport-access-request-r1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIssue(jirasim.NewIssue{Summary: "carol requested auditor"}); err != nil {
		t.Fatal(err)
	}
	rcv.waitN(t, 2) // the two jira:issue_created

	// The board is plain HTML served at /.
	resp, err := http.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `id="card-TAR-1"`) || !strings.Contains(string(page), "Requester: alice") {
		t.Fatalf("board page lacks the card:\n%s", page)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 800),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()

	var bob string
	for _, u := range s.Users() {
		if u.Name == "bob" {
			bob = u.AccountID
		}
	}
	var png []byte
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.URL()+"/"),
		chromedp.WaitVisible(`#col-Pending #card-TAR-1`, chromedp.ByQuery),
		chromedp.SetValue(`#as-user`, bob, chromedp.ByQuery),
		chromedp.Click(`#card-TAR-1 button.move[data-status="Approved"]`, chromedp.ByQuery),
		// The page reloads after the move; the card now sits in Approved.
		chromedp.WaitVisible(`#col-Approved #card-TAR-1`, chromedp.ByQuery),
		chromedp.SetValue(`#as-user`, bob, chromedp.ByQuery),
		chromedp.SendKeys(`#card-TAR-1 textarea`, "Reason: approved from the board", chromedp.ByQuery),
		chromedp.Click(`#card-TAR-1 button.comment`, chromedp.ByQuery),
		chromedp.WaitVisible(`#card-TAR-1 .comments li`, chromedp.ByQuery),
		chromedp.FullScreenshot(&png, 100), // quality 100 means PNG
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	shot := filepath.Join(artifactsDir(t), "board.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if err := chromedp.Cancel(browser); err != nil {
		t.Logf("closing the browser: %v", err)
	}

	// The move reached the webhook receiver, signed, as bob.
	var move *received
	eventually(t, 10*time.Second, "the board move webhook", func() bool {
		for _, r := range rcv.all() {
			var p whPayload
			if json.Unmarshal(r.Body, &p) == nil && p.Changelog != nil && p.Issue.Key == "TAR-1" && p.Issue.Fields.Status.Name == "Approved" {
				move = &r
				return true
			}
		}
		return false
	})
	var p whPayload
	_ = json.Unmarshal(move.Body, &p)
	if p.User.AccountID != bob || p.WebhookEvent != jirasim.EventIssueUpdated {
		t.Fatalf("move webhook = %+v", p)
	}
	if move.Header.Get("X-Hub-Signature") != jirasim.Signature("board-secret", move.Body) {
		t.Fatal("board move webhook not signed")
	}
	if cs := s.Comments("TAR-1"); len(cs) != 1 || cs[0].Author != bob || cs[0].Body != "Reason: approved from the board" {
		t.Fatalf("comments = %+v", cs)
	}
	if iss, _ := s.Issue("TAR-2"); iss.Status != "Pending" {
		t.Fatalf("the other card moved: %+v", iss)
	}
}
