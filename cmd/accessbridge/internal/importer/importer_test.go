package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../../../testdata/teleport-plugin-configs"

func load(t *testing.T, names ...string) []File {
	t.Helper()
	var out []File
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(fixtures, n))
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
		out = append(out, File{Name: n, Data: b})
	}
	return out
}

func settings(r *Result) map[string]string {
	m := map[string]string{}
	for _, s := range r.Settings {
		m[s.Name] = s.Value
	}
	return m
}

// The examples of Teleport's guides translate completely: every key is
// either carried over or named with the reason.
func TestGuideExamples(t *testing.T) {
	cases := []struct {
		file     string
		want     map[string]string
		skipped  []string
		todo     []string
		noSecret bool
	}{
		{"jira-cloud-identity.toml", map[string]string{
			"TELEPORT_BRIDGE_ADDR": "myinstance.teleport.sh:443", "TELEPORT_BRIDGE_IDENTITY_FILE": "/var/lib/teleport/plugins/jira/identity",
			"TELEPORT_BRIDGE_REFRESH_IDENTITY": "true", "JIRA_BRIDGE_URL": "https://[my-jira].atlassian.net", "JIRA_BRIDGE_USER": "bot@example.com",
			"JIRA_BRIDGE_API_TOKEN": "token", "JIRA_BRIDGE_PROJECT": "TAR", "WEBHOOK_INGRESS_TLS_KEY": "/var/lib/teleport/plugins/jira/server.key",
			"WEBHOOK_INGRESS_TLS_CERT": "/var/lib/teleport/plugins/jira/server.crt", "LOG_LEVEL": "info",
		}, []string{`[http] public_addr = "example.com"`}, []string{"WEBHOOK_INGRESS_HMAC_SECRETS_FILE"}, false},
		{"jira-auth-tls.toml", map[string]string{
			"TELEPORT_BRIDGE_ADDR": "example.com:3025", "TELEPORT_BRIDGE_CLIENT_KEY": "/var/lib/teleport/plugins/jira/auth.key",
			"TELEPORT_BRIDGE_CLIENT_CERT": "/var/lib/teleport/plugins/jira/auth.crt", "TELEPORT_BRIDGE_ROOT_CAS": "/var/lib/teleport/plugins/jira/auth.cas",
			"JIRA_BRIDGE_URL": "https://example.com/jira", "JIRA_BRIDGE_PROJECT": "MYPROJ", "LOG_LEVEL": "info",
		}, nil, []string{"WEBHOOK_INGRESS_HMAC_SECRETS_FILE"}, false},
		{"jira-cloud-identity-pem.toml", map[string]string{
			"TELEPORT_BRIDGE_IDENTITY_FILE": "/var/lib/teleport/plugins/jira/auth.pem", "JIRA_BRIDGE_USER": "bot@example.com",
		}, nil, []string{"WEBHOOK_INGRESS_HMAC_SECRETS_FILE"}, false},
		{"mattermost.toml", map[string]string{
			"TELEPORT_BRIDGE_ADDR": "myinstance.teleport.sh:443", "TELEPORT_BRIDGE_IDENTITY_FILE": "/var/lib/teleport/plugins/mattermost/identity",
			"MATTERMOST_BRIDGE_URL": "https://mattermost.example.com", "MATTERMOST_BRIDGE_TOKEN": "api-token",
			"MATTERMOST_BRIDGE_RECIPIENTS": "myteam/general,alice@example.com", "LOG_LEVEL": "info",
		}, nil, nil, false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res, err := Translate(load(t, c.file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := settings(res)
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			var skipped []string
			for _, s := range res.Skipped {
				skipped = append(skipped, s.Key)
			}
			if strings.Join(skipped, "|") != strings.Join(c.skipped, "|") {
				t.Errorf("skipped %q, want %q", skipped, c.skipped)
			}
			var todo []string
			for _, td := range res.ToDo {
				todo = append(todo, td[0])
			}
			if strings.Join(todo, "|") != strings.Join(c.todo, "|") {
				t.Errorf("to do %q, want %q", todo, c.todo)
			}
			env := res.EnvFile([]string{c.file}, "test")
			for k := range c.want {
				if !strings.Contains(env, "\n"+k+"=") {
					t.Errorf("env file lacks %s:\n%s", k, env)
				}
			}
		})
	}
}

// Every key the importer does not know is named, not dropped; secrets are
// never shown in those lines; tokens given as a path become *_FILE.
func TestUnknownKeysAreNamedAndSecretsKept(t *testing.T) {
	in := `
disable_webhook = true
[teleport]
addr = "teleport.example.com:443"
auth_server = "old.example.com:3025"
identity = "/id"
refresh_identity_interval = "30s"
[jira]
url = "https://jira.example.com"
username = "bot"
api_token = "/etc/teleport-jira/token"
issue_type = "Bug"
priority = "High"
[http]
listen_addr = ":8443"
insecure = true
[http.basic_auth]
user = "jira"
password = "hunter2-s3cret"
[http.tls]
verify_client_cert = true
[log]
output = "/var/log/teleport-jira.log"
severity = "WARNING"
format = "json"
`
	res, err := Translate([]File{{Name: "x.toml", Data: []byte(in)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := settings(res)
	for k, v := range map[string]string{
		"TELEPORT_BRIDGE_ADDR": "teleport.example.com:443", "TELEPORT_BRIDGE_REFRESH_INTERVAL": "30s",
		"JIRA_BRIDGE_API_TOKEN_FILE": "/etc/teleport-jira/token", "JIRA_BRIDGE_ISSUE_TYPE": "Bug",
		"WEBHOOK_INGRESS_ADDR": ":8443", "WEBHOOK_INGRESS_INSECURE_NO_TLS": "true", "WEBHOOK_INGRESS_BASIC_AUTH": "jira:hunter2-s3cret",
		"LOG_LEVEL": "warn", "LOG_FORMAT": "json",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	env := res.EnvFile([]string{"x.toml"}, "test")
	for _, want := range []string{
		"# disable_webhook = true: not needed",
		`# [teleport] auth_server = "old.example.com:3025": teleport-jira uses addr`,
		`# [jira] priority = "High": AccessBridge has no such Jira setting`,
		"# [http.tls] verify_client_cert = true: set WEBHOOK_INGRESS_TLS_CLIENT_CA",
		`# [log] output = "/var/log/teleport-jira.log": AccessBridge logs to standard error`,
	} {
		if !strings.Contains(env, want) {
			t.Errorf("env file lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "WEBHOOK_INGRESS_HMAC_SECRETS_FILE") {
		t.Errorf("basic auth was carried over, yet a webhook secret is still asked for:\n%s", env)
	}
	if strings.Count(env, "hunter2") != 1 || !res.HasSecrets() {
		t.Errorf("the basic-auth password must appear once, as the setting's value:\n%s", env)
	}
}

func TestSecretsDirKeepsSecretsOutOfTheEnvFile(t *testing.T) {
	dir := t.TempDir()
	res, err := Translate(load(t, "jira-cloud-identity.toml", "mattermost.toml"), Options{SecretsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	env := res.EnvFile(nil, "test")
	if res.HasSecrets() || strings.Contains(env, "=token\n") || strings.Contains(env, "=api-token\n") {
		t.Fatalf("a secret is in the env file:\n%s", env)
	}
	for name, want := range map[string]string{"jira-api-token": "token\n", "mattermost-token": "api-token\n"} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil || string(b) != want {
			t.Fatalf("%s: %q, %v", name, b, err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", name, fi.Mode().Perm())
		}
		if !strings.Contains(env, "_FILE="+path+"\n") {
			t.Errorf("env file does not name %s:\n%s", path, env)
		}
	}
	// The two files name different identities: one Teleport connection
	// serves both bridges, so the second is reported, not silently lost.
	if !strings.Contains(env, "[teleport] identity = \"/var/lib/teleport/plugins/mattermost/identity\": differs from [teleport] identity") {
		t.Errorf("the conflicting identity is not reported:\n%s", env)
	}
}

func TestRoleToRecipients(t *testing.T) {
	in := `
[teleport]
addr = "teleport.example.com:443"
identity = "/id"
[mattermost]
url = "https://mm.example.com"
token = "t"
[role_to_recipients]
"*" = "admin@example.com"
"dev" = ["devs/requests", "bob@example.com"]
`
	res, err := Translate([]File{{Name: "mm.toml", Data: []byte(in)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"*":["admin@example.com"],"dev":["devs/requests","bob@example.com"]}`
	if got := settings(res)["MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS"]; got != want {
		t.Fatalf("ROLE_TO_RECIPIENTS = %s, want %s", got, want)
	}
	if env := res.EnvFile(nil, "test"); !strings.Contains(env, "MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS='"+want+"'\n") {
		t.Fatalf("the JSON is not single-quoted for the env file readers:\n%s", env)
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"[jira]\nurl = \"x\"\nproject = \n", "bad.toml: line 3"},
		{"[teleport]\naddr = \"x:1\"\n", "neither a teleport-jira file"},
	} {
		_, err := Translate([]File{{Name: "bad.toml", Data: []byte(c.in)}}, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                  "plain",
		"https://x/y?a=b":        "'https://x/y?a=b'",
		"myteam/Town Square,a@b": "'myteam/Town Square,a@b'",
		"it's":                   `"it's"`,
		`a"b$c'`:                 `"a\"b\$c'"`,
		"":                       "''",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}
