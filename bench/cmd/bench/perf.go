package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProfileEntry is one symbol (or package) and its share of CPU samples.
type ProfileEntry struct {
	Name    string  `json:"name"`
	Percent float64 `json:"percent"`
}

// Profile is the CPU profile of P3, from perf.
type Profile struct {
	Command   string         `json:"command"`
	Skipped   string         `json:"skipped,omitempty"`
	Process   string         `json:"process"`
	Self      []ProfileEntry `json:"self_top"`     // flat: where the CPU is spent
	Inclusive []ProfileEntry `json:"children_top"` // with callees
	Packages  []ProfileEntry `json:"self_by_package"`
	File      string         `json:"file,omitempty"`
}

// perfRecorder samples the given processes with perf until stopped.
type perfRecorder struct {
	cmd  *exec.Cmd
	file string
	buf  bytes.Buffer
}

func startPerf(pids []int, file string) (*perfRecorder, error) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return nil, fmt.Errorf("perf is not installed")
	}
	var ps []string
	for _, p := range pids {
		ps = append(ps, strconv.Itoa(p))
	}
	r := &perfRecorder{file: file}
	r.cmd = exec.Command(perf, "record", "-F", "499", "-g", "-o", file, "-p", strings.Join(ps, ","))
	r.cmd.Stdout, r.cmd.Stderr = &r.buf, &r.buf
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	if r.cmd.ProcessState != nil {
		return nil, fmt.Errorf("perf record exited: %s", r.buf.String())
	}
	return r, nil
}

func (r *perfRecorder) Stop() error {
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		return fmt.Errorf("perf record did not stop")
	}
	return nil
}

var perfLine = regexp.MustCompile(`^\s*([\d.]+)%\s+(?:([\d.]+)%\s+)?.*?\[([.k])\]\s+(.+?)(?:\s+-\s+-)?\s*$`)

// report reads the profile: top symbols by self time and by inclusive
// time, and self time by Go package.
func (r *perfRecorder) report(top int) (self, incl, pkgs []ProfileEntry, err error) {
	run := func(args ...string) (string, error) {
		out, err := exec.Command("perf", append([]string{"report", "-i", r.file, "--stdio", "-g", "none", "--sort", "symbol"}, args...)...).Output()
		return string(out), err
	}
	out, err := run("--no-children", "--percent-limit", "0.05")
	if err != nil {
		return nil, nil, nil, err
	}
	byPkg := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m := perfLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		p, _ := strconv.ParseFloat(m[1], 64)
		if len(self) < top {
			self = append(self, ProfileEntry{Name: m[4], Percent: p})
		}
		if m[3] == "k" {
			byPkg["[kernel]"] += p
		} else {
			byPkg[goPackage(m[4])] += p
		}
	}
	out, err = run("--children", "--percent-limit", "1")
	if err == nil {
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			m := perfLine.FindStringSubmatch(line)
			if m == nil || len(incl) >= top+5 || !interesting(m[4]) {
				continue
			}
			p, _ := strconv.ParseFloat(m[1], 64)
			incl = append(incl, ProfileEntry{Name: m[4], Percent: p})
		}
	}
	for _, k := range sortedKeys(byPkg) {
		pkgs = append(pkgs, ProfileEntry{Name: k, Percent: byPkg[k]})
	}
	sortEntries(pkgs)
	if len(pkgs) > top {
		pkgs = pkgs[:top]
	}
	return self, incl, pkgs, nil
}

// interestingRE picks the frames that name a cost in the inclusive view:
// AccessBridge's own functions, JSON, hashing, the NATS server's message
// paths, HTTP serving and the garbage collector; wrappers are left out.
var interestingRE = regexp.MustCompile(`accessbridge/|^encoding/json\.(Unmarshal|Marshal|Compact|Valid|HTMLEscape)$|^crypto/(hmac|sha256)\.|nats-server/v2/server\.\(\*(client\)\.processInboundClientMsg|stream\)\.processJetStreamMsg|fileStore\)\.(storeRawMsg|writeMsgRecord))|nats-io/nats\.go\.\(\*Conn\)\.(publish|processMsg)|^runtime\.(gcBgMarkWorker|mallocgc)$|^net/http\.\(\*conn\)\.serve$|^syscall\.Syscall$`)

func interesting(sym string) bool {
	if strings.HasSuffix(sym, "-fm") || strings.Contains(sym, "gowrap") || strings.Contains(sym, "ServeHTTP") {
		return false
	}
	return interestingRE.MatchString(sym)
}

// goPackage is the import path of a Go symbol.
func goPackage(sym string) string {
	if strings.HasPrefix(sym, "0x") || !strings.Contains(sym, ".") {
		return "[other]"
	}
	// path/to/pkg.Func or path/to/pkg.(*T).Method
	slash := strings.LastIndexByte(sym, '/')
	dot := strings.IndexByte(sym[slash+1:], '.')
	if dot < 0 {
		return sym
	}
	return sym[:slash+1+dot]
}

func sortEntries(e []ProfileEntry) {
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && e[j].Percent > e[j-1].Percent; j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
}
