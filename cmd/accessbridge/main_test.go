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

	"github.com/accessbridge/accessbridge/pkg/service/config"
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
	"TELEPORT_BRIDGE_HTTP_PORT": true, "JIRA_BRIDGE_HTTP_PORT": true, "NATS_PUBLISH": true, // compose interpolation
	"JIRA_BRIDGE_PROJCT": true, "NATS_URLS": true, // the README's examples of typos
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
	for _, pattern := range []string{"../../README.md", "../../deploy/*/*", "../../deploy/k8s/*/*", "../../deploy/k8s/overlays/*/*", "../../sim/demo/*.go", "../../deploy/compose/.env.example", "../../docs/*.md"} {
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

// A new user's first `start` lists everything to fix, not one setting per
// run: missing settings, a value without a unit, a negative duration, a
// misspelled variable — each with its fix, none in library jargon.
func TestFirstStartListsEveryProblem(t *testing.T) {
	for _, name := range []string{"TELEPORT_BRIDGE_ADDR", "TELEPORT_BRIDGE_IDENTITY_FILE", "JIRA_BRIDGE_URL", "JIRA_BRIDGE_USER", "JIRA_BRIDGE_API_TOKEN", "NATS_URL"} {
		t.Setenv(name, "")
	}
	t.Setenv("JIRA_BRIDGE_RECONCILE_INTERVAL", "5")
	t.Setenv("JIRA_BRIDGE_RECONCILE_WINDOW", "-1s")
	t.Setenv("JIRA_BRIDGE_PROJCT", "OPS")
	t.Setenv("ACCESSBRIDGE_NATS", "sideways")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"start"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	msg := errb.String()
	for _, want := range []string{
		"accessbridge: 11 problems to fix:\n",
		`JIRA_BRIDGE_RECONCILE_INTERVAL="5": not a duration; write it with a unit, e.g. 5m`,
		`JIRA_BRIDGE_RECONCILE_WINDOW="-1s": must not be negative`,
		"JIRA_BRIDGE_PROJCT is not a setting (a typo?); did you mean JIRA_BRIDGE_PROJECT?",
		`ACCESSBRIDGE_NATS="sideways": write embedded, external or auto`,
		"TELEPORT_BRIDGE_ADDR: missing; set it to",
		"TELEPORT_BRIDGE_IDENTITY_FILE: missing; set it to",
		"JIRA_BRIDGE_URL: missing; set it to the Jira base URL",
		"JIRA_BRIDGE_USER: missing",
		"JIRA_BRIDGE_API_TOKEN: missing; set JIRA_BRIDGE_API_TOKEN_FILE",
		"WEBHOOK_INGRESS_TLS_CERT and WEBHOOK_INGRESS_TLS_KEY are required",
		"no webhook authentication: set WEBHOOK_INGRESS_HMAC_SECRETS_FILE",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	for _, jargon := range []string{"envconfig", "assigning", "converting", "time.Duration", "strconv"} {
		if strings.Contains(msg, jargon) {
			t.Errorf("library jargon %q in:\n%s", jargon, msg)
		}
	}
}

func TestNATSModeIsExplicit(t *testing.T) {
	for _, c := range []struct {
		mode, url string
		embedded  bool
		err       string
	}{
		{"auto", "", true, ""},
		{"", "", true, ""},
		{"auto", "nats://nats:4222", false, ""},
		{"embedded", "", true, ""},
		{"embedded", "nats://nats:4222", false, "unset NATS_URL, or set ACCESSBRIDGE_NATS=external"},
		{"external", "nats://nats:4222", false, ""},
		{"external", "", false, "set NATS_URL to your NATS server"},
		{"both", "", false, "write embedded, external or auto"},
	} {
		embedded, why, err := natsMode(c.mode, c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("natsMode(%q, %q) = %v, want an error with %q", c.mode, c.url, err, c.err)
			}
			continue
		}
		if err != nil || embedded != c.embedded || why == "" {
			t.Errorf("natsMode(%q, %q) = %v, %q, %v; want embedded=%v and a reason", c.mode, c.url, embedded, why, err, c.embedded)
		}
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
// code, test, script or document may reach the shared folder that sits
// beside the developers' checkouts, or `make test` fails for a user who
// cloned only this repository. The real Jira payloads live in testdata/.
func TestNothingReadsBesideTheRepository(t *testing.T) {
	besideTheClone := filepath.Join("..", "shared") // spelled so that this file does not match itself
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
		if rel == filepath.Join(".ci", "run") {
			return nil // it names the folder to leave it aside
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
		if bytes.Contains(b, []byte(besideTheClone)) {
			offenders = append(offenders, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(offenders) > 0 {
		t.Fatalf("these files refer to %s, outside the repository: %v (use testdata/ or docs/ in the repository)", besideTheClone, offenders)
	}
}

// `accessbridge import` on the guides' examples writes an env file whose
// every variable is a setting (MATTERMOST_BRIDGE_* belong to the
// mattermost-bridge) and whose values parse; it names what it left out.
func TestImportTheGuidesExamples(t *testing.T) {
	known, err := AllVars(command(&settings{}, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	mattermost := map[string]bool{"MATTERMOST_BRIDGE_URL": true, "MATTERMOST_BRIDGE_TOKEN": true, "MATTERMOST_BRIDGE_TOKEN_FILE": true,
		"MATTERMOST_BRIDGE_RECIPIENTS": true, "MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS": true}
	files, _ := filepath.Glob("../../testdata/teleport-plugin-configs/*.toml")
	if len(files) < 4 {
		t.Fatalf("fixtures: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "accessbridge.env")
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), []string{"import", "-o", out, f}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("env file: %v %v", fi, err)
			}
			if !strings.Contains(stderr.String(), "settings carried over to "+out) {
				t.Errorf("stderr: %s", stderr.String())
			}
			b, _ := os.ReadFile(out)
			vars := 0
			for _, line := range strings.Split(string(b), "\n") {
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				name, value, ok := strings.Cut(line, "=")
				if !ok {
					t.Errorf("not KEY=VALUE: %q", line)
					continue
				}
				vars++
				if !known[name] && !mattermost[name] {
					t.Errorf("%s is not a setting", name)
				}
				if known[name] {
					t.Setenv(name, strings.Trim(value, "'"))
				}
			}
			if vars < 6 {
				t.Fatalf("only %d settings:\n%s", vars, b)
			}
			// The values parse: loading reports missing files at most.
			err := command(&settings{}, nil, &bytes.Buffer{}).Load()
			for _, p := range config.List(err) {
				msg := p.Error()
				if strings.Contains(msg, "not a setting") || strings.Contains(msg, "not a duration") || strings.Contains(msg, "not a whole number") ||
					strings.Contains(msg, "write true or false") || strings.Contains(msg, "must not be negative") || strings.Contains(msg, "must be more than") {
					t.Errorf("imported settings do not load: %v", p)
				}
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"import", "--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "usage: accessbridge import") {
		t.Errorf("import --help: %d %q", code, stdout.String())
	}
	if code := run(context.Background(), []string{"import", "/nonexistent/teleport-jira.toml"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no such file") {
		t.Errorf("missing file: %d %q", code, stderr.String())
	}
}
