package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestReadmeConfigReferenceIsCurrent fails when a setting is added, renamed
// or re-described without `make docs`.
func TestReadmeConfigReferenceIsCurrent(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ref := ConfigReference(command(&settings{}, nil, nil))
	want := docsBegin + "\n" + ref + "\n" + docsEnd
	if !bytes.Contains(readme, []byte(want)) {
		t.Fatal("README.md's configuration reference is stale: run `make docs`")
	}
}

var varRef = regexp.MustCompile(`\b(?:LOG|NATS|ACCESSBRIDGE|TELEPORT_BRIDGE|JIRA_BRIDGE|WEBHOOK_INGRESS)_[A-Z0-9_]+\b`)

// notVars are names that look like settings but are documented as something
// else (file names, metrics prefixes).
var notVars = map[string]bool{
	"NATS_BIND": true, "NATS_PORT": true, "NATS_MONITOR_PORT": true, "NATS_IMAGE": true, // compose interpolation
	"TELEPORT_BRIDGE_HTTP_PORT": true, "JIRA_BRIDGE_HTTP_PORT": true, // compose interpolation
}

// TestDocumentedVariablesExist checks every variable named in the README,
// the deployment files and the demo against the code, so a typo in a doc or
// a manifest cannot silently configure nothing.
func TestDocumentedVariablesExist(t *testing.T) {
	known, err := AllVars(command(&settings{}, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, pattern := range []string{"../../README.md", "../../deploy/*/*", "../../deploy/k8s/*/*", "../../deploy/k8s/overlays/*/*", "../../sim/demo/*.go", "../../deploy/compose/.env.example"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d files to check: %v", len(files), files)
	}
	unknown := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a directory
		}
		for _, name := range varRef.FindAllString(string(b), -1) {
			if strings.HasSuffix(name, "_") || known[name] || notVars[name] {
				continue
			}
			unknown[name] = append(unknown[name], filepath.Base(f))
		}
	}
	var names []string
	for n := range unknown {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("%s (in %v) is not a setting of any service", n, unknown[n])
	}
}

func TestConfigureListsEverySetting(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"configure"}, &out, &errb); code != 0 {
		t.Fatalf("configure exited %d: %s", code, errb.String())
	}
	known, err := AllVars(command(&settings{}, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	for name := range known {
		if strings.HasSuffix(name, "_FILE") && known[strings.TrimSuffix(name, "_FILE")] {
			continue // shown as a hint next to the secret
		}
		if !strings.Contains(out.String(), name+"=") {
			t.Errorf("configure does not show %s", name)
		}
	}
}

func TestBadConfigurationExitsWithOneLine(t *testing.T) {
	t.Setenv("TELEPORT_BRIDGE_ADDR", "")
	t.Setenv("JIRA_BRIDGE_URL", "https://jira.example.com")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"start"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	msg := strings.TrimSpace(errb.String())
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "TELEPORT_BRIDGE_ADDR") {
		t.Fatalf("want one line naming TELEPORT_BRIDGE_ADDR, got %q", msg)
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "accessbridge ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "frobnicate") {
		t.Fatalf("unknown command: %d %q", code, errb.String())
	}
}

// TestNothingReadsBesideTheRepository keeps the repository standalone: no
// code, test, script or document may reach ../shared (or any folder beside
// the clone), or `make test` fails for a user who cloned only this
// repository. The real Jira payloads live in testdata/.
func TestNothingReadsBesideTheRepository(t *testing.T) {
	root := "../.."
	var offenders []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "tmp", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if rel == filepath.Join(".ci", "run") || rel == filepath.Join("cmd", "accessbridge", "main_test.go") {
			return nil // .ci/run names ../shared to leave it aside; this test names it to forbid it
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".sh", ".yml", ".yaml", ".lua", ".json", ".toml", ".env", "":
		default:
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 1<<20 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("../shared")) {
			offenders = append(offenders, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(offenders) > 0 {
		t.Fatalf("these files refer to ../shared, outside the repository: %v (use testdata/ or docs/ in the repository)", offenders)
	}
}
