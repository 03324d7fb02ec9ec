// Package buildinfo says which build of AccessBridge is running: the
// version and commit stamped at build time by the Makefile
//
//	go build -ldflags "-X github.com/accessbridge/accessbridge/pkg/service/buildinfo.version=$(git describe --tags --always --dirty)
//	                   -X github.com/accessbridge/accessbridge/pkg/service/buildinfo.commit=$(git rev-parse HEAD)"
//
// and, when a binary was built without them (go install, go build), what
// the Go toolchain recorded: the module version and the VCS revision.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the linker (-X); never assigned at run time.
var (
	version string
	commit  string
)

// Info describes one build.
type Info struct {
	// Version is `git describe --tags --always --dirty` at build time, or
	// the module version, or "devel" when neither is known.
	Version string `json:"version"`
	// Commit is the VCS revision, "" when unknown.
	Commit string `json:"commit,omitempty"`
	// Modified is set when the working tree had uncommitted changes (known
	// only from the toolchain's VCS stamp).
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go"`
}

// Get returns the running build's information.
func Get() Info {
	return resolve(version, commit, debug.ReadBuildInfo)
}

// resolve prefers the linker-stamped values and falls back to the build
// information the toolchain embeds.
func resolve(stampedVersion, stampedCommit string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: stampedVersion, Commit: stampedCommit, GoVersion: runtime.Version()}
	bi, ok := read()
	if ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
	}
	if info.Version == "" {
		info.Version = "devel"
		if info.Commit != "" {
			info.Version += "-" + short(info.Commit)
			if info.Modified {
				info.Version += "-dirty"
			}
		}
	}
	return info
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// String is the one-line form `version` prints: "v1.2.3 (commit abc123, go1.26.0)".
func (i Info) String() string {
	var extra []string
	if i.Commit != "" && !strings.Contains(i.Version, i.Commit[:min(7, len(i.Commit))]) {
		extra = append(extra, "commit "+short(i.Commit))
	}
	extra = append(extra, i.GoVersion)
	return fmt.Sprintf("%s (%s)", i.Version, strings.Join(extra, ", "))
}
