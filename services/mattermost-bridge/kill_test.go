package mattermostbridge_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

// process is a mattermost-bridge binary running as a child process.
type process struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{}
}

func buildBridge(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mattermost-bridge")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/mattermost-bridge").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func (e *env) spawn(t testing.TB, bin, tokenFile string) *process {
	t.Helper()
	cmd := exec.Command(bin, "start")
	cmd.Env = append(os.Environ(),
		"NATS_URL="+e.nats.URL(), "LOG_LEVEL=warn", "LOG_FORMAT=json",
		"MATTERMOST_BRIDGE_URL="+e.mm.URL(), "MATTERMOST_BRIDGE_TOKEN_FILE="+tokenFile,
		"MATTERMOST_BRIDGE_RECIPIENTS=alice@example.com,myteam/Town Square",
		"MATTERMOST_BRIDGE_HTTP_ADDR=127.0.0.1:0", "MATTERMOST_BRIDGE_ACK_WAIT=3s", "NATS_PINNED_TTL=2s",
		"MATTERMOST_BRIDGE_RETRY_MIN=20ms", "MATTERMOST_BRIDGE_RETRY_MAX=300ms",
		"MATTERMOST_BRIDGE_CALL_RETRY_MIN=5ms", "MATTERMOST_BRIDGE_CALL_RETRY_MAX=200ms")
	p := &process{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", bin, p.logs.String())
		}
	})
	return p
}

// TestKill9DuringBurstWithTwoReplicas: 500 requests, two bridge processes,
// one killed with SIGKILL in the middle and a new one started: exactly one
// post per recipient per request, one reply per review, every post updated.
func TestKill9DuringBurstWithTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the kill -9 test builds the binary and runs 500 requests")
	}
	e := newEnv(t, mmsim.Options{})
	bin := buildBridge(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(mmsim.DefaultBotToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	victim := e.spawn(t, bin, tokenFile)
	e.spawn(t, bin, tokenFile)

	const n = 500
	var reviewed, approved []string
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			r := request(fmt.Sprintf("req-kill-%03d", i))
			if i%5 == 0 {
				e.lifecycle(r, events.StateDenied)
				continue
			}
			e.publish(events.NewRequestCreated(r))
			r.State = events.StateApproved
			e.publish(events.NewRequestResolved(r))
		}
	})
	for i := range n {
		id := fmt.Sprintf("req-kill-%03d", i)
		if i%5 == 0 {
			reviewed = append(reviewed, id)
		} else {
			approved = append(approved, id)
		}
	}
	eventually(t, 120*time.Second, "a third of the posts", func() bool { return e.mm.PostCount() > n*2/3 })
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	t.Logf("killed one replica with SIGKILL after %d posts", e.mm.PostCount())
	e.spawn(t, bin, tokenFile)
	wg.Wait()

	dm := e.mm.DirectChannelID(e.mm.Bot().Email, "alice@example.com")
	town := e.mm.ChannelID("myteam", "town-square")
	e.settled(240*time.Second, reviewed, []string{dm, town}, "❌ DENIED", 1)
	e.settled(60*time.Second, approved, []string{dm, town}, "✅ APPROVED", 0)
	t.Logf("%d Mattermost calls: %v", len(e.mm.Requests()), e.mm.CallsByRoute())
}

// BenchmarkProcessMemory runs the mattermost-bridge binary over b.N
// lifecycles (one email, one channel, a review every fifth request) and
// reports its resident memory: the peak (VmHWM) and at the end (VmRSS).
func BenchmarkProcessMemory(b *testing.B) {
	e := newEnv(b, mmsim.Options{})
	bin := buildBridge(b)
	tokenFile := filepath.Join(b.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(mmsim.DefaultBotToken+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	p := e.spawn(b, bin, tokenFile)
	eventually(b, 30*time.Second, "the bridge's start-up checks", func() bool {
		return e.mm.DirectChannelID(e.mm.Bot().Email, "alice@example.com") != ""
	})
	dm, town := e.channels()
	b.ResetTimer()
	ids := make([]string, b.N)
	for i := range b.N {
		r := request(fmt.Sprintf("req-mem-%d-%d", b.N, i))
		ids[i] = r.ID
		e.lifecycle(r, events.StateApproved)
	}
	e.settled(time.Duration(b.N)*100*time.Millisecond+60*time.Second, ids, []string{dm, town}, "APPROVED", 1)
	b.StopTimer()
	for _, field := range []string{"VmHWM", "VmRSS"} {
		kb, err := procStatus(p.cmd.Process.Pid, field)
		if err != nil {
			b.Logf("memory not measured: %v", err)
			return
		}
		b.ReportMetric(float64(kb)/1024, field+"-MiB")
	}
}

// procStatus reads one "Field: N kB" line of /proc/<pid>/status (Linux).
func procStatus(pid int, field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
