// Package deploy_test validates the deployment files offline: the kustomize
// builds decode strictly into Kubernetes API types, the compose file passes
// `docker-compose config`, and the systemd units pass `systemd-analyze
// verify`.
package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// tool finds a command on PATH or in ../bin/tools. In CI a missing tool is a
// failure; elsewhere the test is skipped, saying what to install.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("..", "bin", "tools", name))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (CI installs it: %s)", name, install)
	}
	t.Skipf("%s is not installed; run %s", name, install)
	return ""
}

func TestKustomizeBuildsDecodeStrictly(t *testing.T) {
	kustomize := tool(t, "kustomize", "make tools")
	for _, dir := range []string{"k8s/base", "k8s/overlays/example"} {
		t.Run(dir, func(t *testing.T) {
			out, err := exec.Command(kustomize, "build", dir).Output()
			if err != nil {
				t.Fatalf("kustomize build %s: %v", dir, err)
			}
			kinds := map[string]int{}
			for i, doc := range bytes.Split(out, []byte("\n---\n")) {
				var meta struct{ Kind string }
				if err := yaml.Unmarshal(doc, &meta); err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				kinds[meta.Kind]++
				if err := decodeStrict(meta.Kind, doc); err != nil {
					t.Fatalf("document %d (%s): %v\n%s", i, meta.Kind, err, doc)
				}
			}
			if kinds["Deployment"] != 4 || kinds["ServiceAccount"] != 4 || kinds["Service"] != 1 || kinds["ConfigMap"] != 1 {
				t.Fatalf("kinds %v: want 4 Deployments, 4 ServiceAccounts, 1 Service, 1 ConfigMap", kinds)
			}
		})
	}
}

func decodeStrict(kind string, doc []byte) error {
	switch kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			return err
		}
		return checkDeployment(d)
	case "Service":
		return yaml.UnmarshalStrict(doc, &corev1.Service{})
	case "ServiceAccount":
		return yaml.UnmarshalStrict(doc, &corev1.ServiceAccount{})
	case "ConfigMap":
		return yaml.UnmarshalStrict(doc, &corev1.ConfigMap{})
	case "Namespace":
		return yaml.UnmarshalStrict(doc, &corev1.Namespace{})
	}
	return fmt.Errorf("unexpected kind %q", kind)
}

// checkDeployment holds every Deployment to the hardening the issue asks for.
func checkDeployment(d appsv1.Deployment) error {
	spec := d.Spec.Template.Spec
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		return fmt.Errorf("%s: pod must run as non-root", d.Name)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			return fmt.Errorf("%s/%s: needs a read-only root filesystem and no privilege escalation", d.Name, c.Name)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			return fmt.Errorf("%s/%s: readiness probe must GET /readyz", d.Name, c.Name)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			return fmt.Errorf("%s/%s: liveness probe must GET /healthz", d.Name, c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			return fmt.Errorf("%s/%s: needs resource requests and a memory limit", d.Name, c.Name)
		}
		if len(c.EnvFrom) == 0 {
			return fmt.Errorf("%s/%s: needs its settings from the ConfigMap", d.Name, c.Name)
		}
	}
	return nil
}

func TestComposeConfigValidates(t *testing.T) {
	compose := tool(t, "docker-compose", "apt-get install docker-compose")
	dir := t.TempDir()
	for _, f := range []string{"teleport-identity", "jira-api-token", "webhook-secret", "mattermost-token"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("placeholder"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(compose, "-f", "compose/docker-compose.yml", "-f", "compose/docker-compose.ports.yml", "--env-file", "compose/.env.example", "config")
	cmd.Env = append(os.Environ(), "SECRETS_DIR="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, stderr.String())
	}
	// Every service on the stack's own network (service DNS), none on the
	// host's or Docker's default bridge, and each service reads its secret.
	var cfg struct {
		Services map[string]struct {
			NetworkMode string         `json:"network_mode"`
			Networks    map[string]any `json:"networks"`
			Secrets     []any          `json:"secrets"`
			Environment map[string]any `json:"environment"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("compose config output: %v\n%s", err, out)
	}
	for _, name := range []string{"nats", "teleport-bridge", "jira-bridge", "webhook-ingress"} {
		if _, ok := cfg.Services[name]; !ok {
			t.Fatalf("services %v: %s is missing", cfg.Services, name)
		}
	}
	for name, svc := range cfg.Services {
		if svc.NetworkMode != "" {
			t.Errorf("%s: network_mode %q; the services must share a user-defined network", name, svc.NetworkMode)
		}
		if _, ok := svc.Networks["accessbridge"]; !ok {
			t.Errorf("%s: networks %v, want accessbridge", name, svc.Networks)
		}
		if name == "nats" {
			continue
		}
		if svc.Environment["NATS_URL"] != "nats://nats:4222" {
			t.Errorf("%s: NATS_URL %v, want the service name nats://nats:4222", name, svc.Environment["NATS_URL"])
		}
		if len(svc.Secrets) != 1 {
			t.Errorf("%s: secrets %v, want one", name, svc.Secrets)
		}
	}
	// Without the required addresses, compose refuses with a message that
	// names them.
	cmd = exec.Command(compose, "-f", "compose/docker-compose.yml", "config", "-q")
	cmd.Env = append(os.Environ(), "SECRETS_DIR="+dir)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "TELEPORT_ADDR") {
		t.Fatalf("compose without TELEPORT_ADDR: err=%v\n%s", err, out)
	}
}

func TestSystemdUnitsVerify(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "apt-get install systemd")
	units, err := filepath.Glob("systemd/*.service")
	if err != nil || len(units) != 5 {
		t.Fatalf("units %v, %v: want 5", units, err)
	}
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, want := range []string{"Restart=on-failure", "EnvironmentFile=", "NoNewPrivileges=yes", "ProtectSystem=strict"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %s", u, want)
			}
		}
		// verify checks that ExecStart exists; point it at a real binary.
		s = strings.ReplaceAll(s, "/usr/local/bin/", "/bin/true #")
		dst := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", "--man=no", dst).CombinedOutput()
		// Outside a booted systemd (containers, CI) verify may print
		// environment warnings; fail only on problems with the unit itself.
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, filepath.Base(u)) && !strings.Contains(line, "nats-server.service") {
				t.Errorf("systemd-analyze verify %s: %s (exit %v)", u, line, err)
			}
		}
	}
}

// TestSecretsScript runs compose/secrets.sh as the README tells a user to and
// checks what the containers' uid 65532 needs: files readable by others
// (0444) in a directory only the owner reaches (0700), a generated webhook
// secret, and a refusal naming what is missing.
func TestSecretsScript(t *testing.T) {
	bash := tool(t, "bash", "apt-get install bash")
	src := t.TempDir()
	identity, token := filepath.Join(src, "identity"), filepath.Join(src, "token")
	if err := os.WriteFile(identity, []byte("IDENTITY"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte("TOKEN"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "secrets")
	out, err := exec.Command(bash, "compose/secrets.sh", "--dir", dir, "--identity", identity, "--jira-token-file", token).CombinedOutput()
	if err != nil {
		t.Fatalf("secrets.sh: %v\n%s", err, out)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory %v %v: want 0700", fi.Mode(), err)
	}
	want := map[string]string{"teleport-identity": "IDENTITY", "jira-api-token": "TOKEN"}
	for _, name := range []string{"teleport-identity", "jira-api-token", "webhook-secret"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o444 {
			t.Errorf("%s: mode %v, want 0444 (uid 65532 reads it through the bind mount)", name, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		if w, ok := want[name]; ok && string(b) != w {
			t.Errorf("%s holds %q, want %q", name, b, w)
		}
		if name == "webhook-secret" {
			if len(b) != 64 || strings.Trim(string(b), "0123456789abcdef") != "" {
				t.Errorf("generated webhook secret %q: want 64 hex characters", b)
			}
		}
	}
	// A second run keeps what exists.
	secret, _ := os.ReadFile(filepath.Join(dir, "webhook-secret"))
	if out, err := exec.Command(bash, "compose/secrets.sh", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "webhook-secret")); string(again) != string(secret) {
		t.Error("a second run replaced the webhook secret without --force")
	}
	// Without the identity and token, it fails and says which flags give them.
	out, err = exec.Command(bash, "compose/secrets.sh", "--dir", filepath.Join(t.TempDir(), "s")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--identity FILE") || !strings.Contains(string(out), "--jira-token-file FILE") {
		t.Fatalf("secrets.sh without inputs: err=%v\n%s", err, out)
	}
}
