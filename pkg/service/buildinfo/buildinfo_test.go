package buildinfo

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	withVCS := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"},
		}}, true
	}
	for _, c := range []struct {
		name, version, commit string
		read                  func() (*debug.BuildInfo, bool)
		want                  string
	}{
		{"stamped", "v1.2.3-4-gabcdef0", "fedcba9876", withVCS, "v1.2.3-4-gabcdef0 (commit fedcba9876, go1.26.0)"},
		{"commit already in the version", "v1.2.3-4-gabcdef0", "abcdef0123", withVCS, "v1.2.3-4-gabcdef0 (go1.26.0)"},
		{"toolchain VCS only", "", "", withVCS, "devel-0123456789ab-dirty (go1.26.0)"},
		{"module version", "", "", func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.4.0"}}, true
		}, "v0.4.0 (go1.26.0)"},
		{"nothing known", "", "", func() (*debug.BuildInfo, bool) { return nil, false }, "devel ("},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := resolve(c.version, c.commit, c.read).String()
			if !strings.HasPrefix(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// The Makefile's -ldflags reach the variables: build a tiny binary with
// them and run it.
func TestLdflagsStampTheVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "stamp")
	pkg := "github.com/accessbridge/accessbridge/pkg/service/buildinfo"
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X "+pkg+".version=v9.8.7-3-gfeedbee-dirty -X "+pkg+".commit=0123456789abcdef0123456789abcdef01234567", "./testdata/stamp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "v9.8.7-3-gfeedbee-dirty (commit 0123456789ab, go1.") {
		t.Fatalf("stamped binary says %q", got)
	}
}
