package deploy_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the Helm golden files (helm/testdata/*.golden.yaml)")

// helmCase is one `helm template` of a chart with a values file, compared
// with helm/testdata/<name>.golden.yaml.
type helmCase struct {
	name, chart, values string
	kinds               map[string]int
}

var helmCases = []helmCase{
	{"accessbridge-embedded", "accessbridge", "accessbridge-embedded.yaml",
		map[string]int{"StatefulSet": 1, "Service": 1, "ServiceAccount": 1, "Ingress": 1}},
	{"accessbridge-external-nats", "accessbridge", "accessbridge-external-nats.yaml",
		map[string]int{"StatefulSet": 1, "Service": 1, "ServiceAccount": 1, "Secret": 1}},
	{"teleport-bridge", "teleport-bridge", "teleport-bridge.yaml",
		map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1}},
	{"jira-bridge", "jira-bridge", "jira-bridge.yaml",
		map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "Secret": 1}},
	{"webhook-ingress", "webhook-ingress", "webhook-ingress.yaml",
		map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1}},
	{"mattermost-bridge", "mattermost-bridge", "mattermost-bridge.yaml",
		map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1}},
}

var charts = []string{"accessbridge", "teleport-bridge", "jira-bridge", "webhook-ingress", "mattermost-bridge"}

// chartCopy copies a chart into a temporary directory without its NATS
// dependency: the official NATS chart cannot be downloaded here (it would be
// with `helm dependency update`), and helm refuses a chart whose declared
// dependency is missing from charts/, even a disabled one. The chart's own
// templates are what the golden files hold; TestChartsDeclareNATS checks the
// declaration.
func chartCopy(t *testing.T, chart string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), chart)
	src := filepath.Join("helm", chart)
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			if rel == "charts" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "Chart.yaml" {
			b = withoutDependencies(b)
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// withoutDependencies drops the top-level dependencies: block of a Chart.yaml.
func withoutDependencies(b []byte) []byte {
	var out []string
	skip := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "dependencies:") {
			skip = true
			continue
		}
		if skip && (line == "" || line[0] == ' ' || line[0] == '#' || line[0] == '-') {
			continue
		}
		skip = false
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

func runHelm(t *testing.T, helm string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm, args...)
	// No repositories, caches or plugins of the user's: the test is offline.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// TestHelmChartsLintAndRenderGolden lints every chart and renders it with the
// values of helm/testdata against the golden files (`go test ./... -update` or
// `make helm` rewrites them). Each rendered object decodes strictly into
// its Kubernetes type and holds to the same hardening as the kustomize base;
// every environment variable it sets is a setting the README documents.
func TestHelmChartsLintAndRenderGolden(t *testing.T) {
	helm := tool(t, "helm", "make tools")
	known := documentedSettings(t)
	for _, c := range helmCases {
		t.Run(c.name, func(t *testing.T) {
			chart := chartCopy(t, c.chart)
			values := filepath.Join("helm", "testdata", c.values)
			if out, err := runHelm(t, helm, "lint", "--strict", chart, "-f", values); err != nil {
				t.Fatalf("lint: %v", err)
			} else if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("lint output:\n%s", out)
			}
			out, err := runHelm(t, helm, "template", c.chart, chart, "--namespace", "accessbridge", "-f", values)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("helm", "testdata", c.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with: go test ./... -run Helm -update)", err)
			}
			if string(want) != out {
				t.Errorf("helm template %s -f %s differs from %s (rewrite it with: go test ./... -run Helm -update):\n%s",
					c.chart, c.values, golden, firstDiff(string(want), out))
			}
			kinds := map[string]int{}
			for i, doc := range strings.Split(out, "\n---\n") {
				var meta struct{ Kind string }
				if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				if meta.Kind == "" {
					continue
				}
				kinds[meta.Kind]++
				if err := decodeChartObject(meta.Kind, []byte(doc), known); err != nil {
					t.Fatalf("document %d (%s): %v\n%s", i, meta.Kind, err, doc)
				}
			}
			if fmt.Sprint(kinds) != fmt.Sprint(c.kinds) {
				t.Fatalf("kinds %v, want %v", kinds, c.kinds)
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n golden:   %q\n rendered: %q", i+1, x, y)
		}
	}
	return "(equal)"
}

// documentedSettings are the variables of the README's configuration reference.
func documentedSettings(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		known[m[1]] = true
		known[m[1]+"_FILE"] = true // every setting may come from a file
	}
	if len(known) < 40 {
		t.Fatalf("found %d settings in the README's configuration reference", len(known))
	}
	// The mattermost-bridge (issue 18) lands on its own branch; until the
	// README documents any MATTERMOST_BRIDGE_ setting, its chart's names are
	// taken from its compose and kustomize files, and checked once it does.
	if !strings.Contains(string(b), "`MATTERMOST_BRIDGE_") {
		for _, n := range []string{"URL", "TOKEN", "RECIPIENTS", "ROLE_TO_RECIPIENTS", "TELEPORT_PROXY_ADDR", "HTTP_ADDR"} {
			known["MATTERMOST_BRIDGE_"+n] = true
			known["MATTERMOST_BRIDGE_"+n+"_FILE"] = true
		}
	}
	return known
}

func decodeChartObject(kind string, doc []byte, known map[string]bool) error {
	switch kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			return err
		}
		return checkPod(d.Name, d.Spec.Template.Spec, known)
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := yaml.UnmarshalStrict(doc, &s); err != nil {
			return err
		}
		return checkPod(s.Name, s.Spec.Template.Spec, known)
	case "Service":
		return yaml.UnmarshalStrict(doc, &corev1.Service{})
	case "ServiceAccount":
		return yaml.UnmarshalStrict(doc, &corev1.ServiceAccount{})
	case "Secret":
		return yaml.UnmarshalStrict(doc, &corev1.Secret{})
	case "Ingress":
		return yaml.UnmarshalStrict(doc, &networkingv1.Ingress{})
	}
	return fmt.Errorf("unexpected kind %q", kind)
}

// checkPod holds a chart's pod to the kustomize base's hardening, and checks
// that each *_FILE setting points into a mounted volume.
func checkPod(name string, spec corev1.PodSpec, known map[string]bool) error {
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		return fmt.Errorf("%s: pod must run as non-root", name)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			return fmt.Errorf("%s/%s: needs a read-only root filesystem and no privilege escalation", name, c.Name)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			return fmt.Errorf("%s/%s: readiness probe must GET /readyz", name, c.Name)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			return fmt.Errorf("%s/%s: liveness probe must GET /healthz", name, c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			return fmt.Errorf("%s/%s: needs resource requests and a memory limit", name, c.Name)
		}
		mounts := map[string]bool{}
		for _, m := range c.VolumeMounts {
			mounts[m.MountPath] = true
		}
		var unknown []string
		for _, e := range c.Env {
			if !known[e.Name] {
				unknown = append(unknown, e.Name)
			}
			if strings.HasSuffix(e.Name, "_FILE") || strings.HasSuffix(e.Name, "_CERT") || strings.HasSuffix(e.Name, "_KEY") {
				if !mounts[filepath.Dir(e.Value)] {
					return fmt.Errorf("%s/%s: %s=%s is not in a mounted volume (%v)", name, c.Name, e.Name, e.Value, mounts)
				}
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("%s/%s: settings the README does not document: %v", name, c.Name, unknown)
		}
	}
	return nil
}

// TestHelmChartsRequireTheirSettings: rendered with no values, each chart
// stops with one message naming every value to set, and how.
func TestHelmChartsRequireTheirSettings(t *testing.T) {
	helm := tool(t, "helm", "make tools")
	teleport := []string{"teleport.address: set the Teleport Auth", "teleport.identitySecretName: name the Secret"}
	jira := []string{"jira.url: set the Jira base URL", "jira.apiTokenFromSecret: name the Secret"}
	webhook := []string{"webhook.secretFromSecret: name the Secret", "http.tlsFromSecret: name the TLS Secret"}
	nats := []string{"nats.url: set the NATS server's URL"}
	want := map[string][]string{
		"accessbridge":    append(append(append([]string{}, teleport...), jira...), webhook...),
		"teleport-bridge": append(append([]string{}, nats...), teleport...),
		"jira-bridge":     append(append([]string{}, nats...), jira...),
		"webhook-ingress": append(append([]string{}, nats...), webhook...),
		"mattermost-bridge": append(append([]string{}, nats...),
			"mattermost.url: set the Mattermost server URL", "mattermost.tokenFromSecret: name the Secret"),
	}
	for _, chart := range charts {
		t.Run(chart, func(t *testing.T) {
			out, err := runHelm(t, helm, "template", chart, chartCopy(t, chart))
			if err == nil {
				t.Fatalf("helm template without values succeeded:\n%s", out)
			}
			for _, msg := range want[chart] {
				if !strings.Contains(out, msg) {
					t.Errorf("want %q in:\n%s", msg, out)
				}
			}
			if strings.Count(out, "Error:") != 1 {
				t.Errorf("want one error listing every problem:\n%s", out)
			}
		})
	}
	// Contradictions are named too.
	out, err := runHelm(t, helm, "template", "w", chartCopy(t, "webhook-ingress"), "-f", filepath.Join("helm", "testdata", "webhook-ingress.yaml"),
		"--set", "http.insecureNoTLS=true")
	if err == nil || !strings.Contains(out, "either TLS or plain HTTP") {
		t.Errorf("TLS and insecureNoTLS together: err=%v\n%s", err, out)
	}
	out, err = runHelm(t, helm, "template", "t", chartCopy(t, "teleport-bridge"), "-f", filepath.Join("helm", "testdata", "teleport-bridge.yaml"),
		"--set", "teleport.decisionMode=vote")
	if err == nil || !strings.Contains(out, `teleport.decisionMode: "vote" is neither state nor review`) {
		t.Errorf("decisionMode vote: err=%v\n%s", err, out)
	}
}

// TestChartsDeclareNATS: each chart takes NATS from the official chart as an
// optional dependency, and the helpers every chart copies are identical.
func TestChartsDeclareNATS(t *testing.T) {
	common, err := os.ReadFile(filepath.Join("helm", "_common.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, chart := range charts {
		b, err := os.ReadFile(filepath.Join("helm", chart, "Chart.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Name         string
			Dependencies []struct{ Name, Version, Repository, Condition string }
		}
		if err := yaml.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Name != chart || len(meta.Dependencies) != 1 {
			t.Fatalf("%s: %+v", chart, meta)
		}
		d := meta.Dependencies[0]
		if d.Name != "nats" || d.Repository != "https://nats-io.github.io/k8s/helm/charts/" || d.Condition != "nats.enabled" || d.Version == "" {
			t.Errorf("%s: dependency %+v, want the official nats chart with condition nats.enabled", chart, d)
		}
		copyOf, err := os.ReadFile(filepath.Join("helm", chart, "templates", "_common.tpl"))
		if err != nil || !bytes.Equal(copyOf, common) {
			t.Errorf("%s/templates/_common.tpl differs from helm/_common.tpl (make helm copies it): %v", chart, err)
		}
	}
}

// TestHelmNATSDependencyWiring renders the all-in-one with nats.enabled and a
// stand-in for the official NATS chart in charts/ (the real one comes from
// `helm dependency update`; its Service is named like the stand-in's release
// naming rule, <release>-nats): AccessBridge connects to that Service, the
// streams are replicated as asked, and no embedded store is claimed.
func TestHelmNATSDependencyWiring(t *testing.T) {
	helm := tool(t, "helm", "make tools")
	dst := filepath.Join(t.TempDir(), "accessbridge")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("helm", "accessbridge"))); err != nil {
		t.Fatal(err)
	}
	// Whatever `helm dependency update` downloaded is replaced by the stand-in.
	_ = os.Remove(filepath.Join(dst, "Chart.lock"))
	if err := os.RemoveAll(filepath.Join(dst, "charts")); err != nil {
		t.Fatal(err)
	}
	stub := filepath.Join(dst, "charts", "nats")
	if err := os.MkdirAll(stub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stub, "Chart.yaml"), []byte("apiVersion: v2\nname: nats\nversion: 1.2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runHelm(t, helm, "template", "prod", dst, "-f", filepath.Join("helm", "testdata", "accessbridge-embedded.yaml"),
		"--set", "nats.enabled=true", "--set", "nats.streamReplicas=3", "--set", "replicaCount=2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"value: \"nats://prod-nats:4222\"", "- name: NATS_REPLICAS\n              value: \"3\"", "replicas: 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered all-in-one lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "volumeClaimTemplates") {
		t.Error("with the NATS chart the all-in-one still claims a volume for an embedded store")
	}
}
