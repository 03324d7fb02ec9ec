package mattermostsim_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

// chromium finds Debian's chromium (or another Chrome). Without one the
// browser test skips, except in CI (CI=true), where a missing browser is a
// broken environment.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); the page test needs a real browser in CI")
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

// seedPosts posts a request, a review reply and an update, as the bridge does.
func seedPosts(t *testing.T, s *mmsim.Server, bot client) (rootID string) {
	t.Helper()
	town := s.ChannelID("myteam", "town-square")
	var p map[string]any
	a := bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "message": "**Access request** from alice\nRoles: editor\nStatus: ⏳ PENDING",
		"props": map[string]any{"teleport_request_id": "req-1"}})
	a.decode(t, &p)
	if a.status != 201 {
		t.Fatalf("post %d %s", a.status, a.body)
	}
	rootID = p["id"].(string)
	bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": town, "root_id": rootID, "message": "bob approved: looks fine"})
	bot.do("PUT", "/api/v4/posts/"+rootID+"/patch", map[string]any{"message": "**Access request** from alice\nRoles: editor\nStatus: ✅ APPROVED"})
	return rootID
}

func TestPageListsChannelsAndPosts(t *testing.T) {
	s, bot := start(t)
	root := seedPosts(t, s, bot)
	bot.do("POST", "/api/v4/posts", map[string]any{"channel_id": s.ChannelID("myteam", "off-topic"), "message": "<script>alert(1)</script> [x](javascript:alert(2))"})
	resp, err := http.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`id="post-` + root + `"`, "Status: ✅ APPROVED", "<b>Access request</b> from alice", "bob approved: looks fine", "myteam / Town Square (~town-square)", `data-request-id="req-1"`, "(edited)"} {
		if !strings.Contains(string(page), want) {
			t.Fatalf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(string(page), "<script>alert") || strings.Contains(string(page), `href="javascript`) {
		t.Fatalf("the page renders a post's markup:\n%s", page)
	}
	if strings.Contains(string(page), mmsim.DefaultBotToken) {
		t.Fatal("the page shows the bot token")
	}
}

func TestPageInBrowser(t *testing.T) {
	chrome := chromium(t)
	s, bot := start(t)
	root := seedPosts(t, s, bot)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
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

	var message, reply string
	var png []byte
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.URL()+"/"),
		chromedp.WaitVisible(`#post-`+root+` .message`, chromedp.ByQuery),
		chromedp.Text(`#post-`+root+` > .message`, &message, chromedp.ByQuery),
		chromedp.Text(`#post-`+root+` .replies .reply .message`, &reply, chromedp.ByQuery),
		chromedp.FullScreenshot(&png, 100),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if !strings.Contains(message, "APPROVED") || !strings.Contains(reply, "bob approved") {
		t.Fatalf("rendered post %q, reply %q", message, reply)
	}
	shot := filepath.Join(artifactsDir(t), "mattermost.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if err := chromedp.Cancel(browser); err != nil {
		t.Logf("closing the browser: %v", err)
	}
}
