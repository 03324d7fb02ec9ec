// Package harness runs AccessBridge as in production — each service a
// separate process, several replicas, a real nats-server with per-service
// users — against the Jira and Teleport emulators in-process; it kills and
// restarts processes, injects faults, and checks the invariants of
// DESIGN.md §5 over the final state of Teleport, Jira and the streams.
package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Service names a product binary.
type Service string

// The binaries the suite runs.
const (
	TeleportBridge Service = "teleport-bridge"
	JiraBridge     Service = "jira-bridge"
	Ingress        Service = "webhook-ingress"
	AllInOne       Service = "accessbridge"
)

// Services are the three services, in start order.
var Services = []Service{JiraBridge, TeleportBridge, Ingress}

var commandDirs = map[Service]string{
	TeleportBridge: "services/teleport-bridge/cmd/teleport-bridge",
	JiraBridge:     "services/jira-bridge/cmd/jira-bridge",
	Ingress:        "services/webhook-ingress/cmd/webhook-ingress",
	AllInOne:       "cmd/accessbridge",
}

// Binaries is a directory holding the built commands.
type Binaries struct{ Dir string }

// Path of a service's binary.
func (b Binaries) Path(s Service) string { return filepath.Join(b.Dir, string(s)) }

// Build compiles the four commands into dir (once per test binary: call it
// from TestMain).
func Build(dir string) (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	for s, rel := range commandDirs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, string(s)), ".")
		cmd.Dir = filepath.Join(root, rel)
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", rel, err, out)
		}
	}
	return Binaries{Dir: dir}, nil
}

// RepoRoot is the nearest directory above the working directory holding go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory")
		}
		dir = parent
	}
}
