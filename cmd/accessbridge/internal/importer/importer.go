// Package importer translates the TOML configuration of Teleport's
// teleport-jira and teleport-mattermost plugins into AccessBridge's
// environment variables, and names every key it cannot carry over.
package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Setting is one environment variable of the result.
type Setting struct {
	Name, Value string
	// From is the TOML key it came from: "[jira] url".
	From string
	// Secret marks a value that must not be shown or left world-readable.
	Secret bool
}

// Skipped is a key of the input that has no AccessBridge setting.
type Skipped struct {
	// Key is "[http] public_addr = \"example.com\"" (secrets not shown).
	Key string
	// Why says why, and what to do instead.
	Why string
}

// Result is the translation of one or more files.
type Result struct {
	Settings []Setting
	Skipped  []Skipped
	// ToDo are settings AccessBridge needs that the files do not give,
	// each as {Name, Placeholder, Why}.
	ToDo [][3]string
}

// Options of Translate.
type Options struct {
	// SecretsDir, when set, receives each secret as a file (mode 0600);
	// the result then names the file in the variable's _FILE form instead
	// of carrying the secret itself.
	SecretsDir string
}

// File is one input: its name (for messages) and content.
type File struct {
	Name string
	Data []byte
}

// Translate reads each file (teleport-jira or teleport-mattermost, told
// apart by their [jira] or [mattermost] table) and returns the settings.
func Translate(files []File, opts Options) (*Result, error) {
	t := &translator{opts: opts, byName: map[string]int{}}
	for _, f := range files {
		if err := t.file(f); err != nil {
			return nil, err
		}
	}
	t.todo()
	return &t.res, nil
}

type translator struct {
	opts   Options
	res    Result
	byName map[string]int // index in res.Settings
	kinds  map[string]bool
}

func (t *translator) file(f File) error {
	var doc map[string]any
	md, err := toml.Decode(string(f.Data), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s: line %d: %s", f.Name, pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	kind := ""
	switch {
	case doc["jira"] != nil:
		kind = "jira"
	case doc["mattermost"] != nil:
		kind = "mattermost"
	default:
		return fmt.Errorf("%s: neither a teleport-jira file (no [jira] table) nor a teleport-mattermost file (no [mattermost] table)", f.Name)
	}
	if t.kinds == nil {
		t.kinds = map[string]bool{}
	}
	t.kinds[kind] = true

	// Every leaf key, in file order, so that nothing is dropped unseen.
	handled := map[string]bool{}
	var basicUser, basicPassword string
	for _, k := range md.Keys() {
		path := k.String()
		v, isLeaf := lookup(doc, k)
		if !isLeaf || handled[path] {
			continue
		}
		table, key := "", path
		if len(k) > 1 {
			table, key = strings.Join(k[:len(k)-1], "."), k[len(k)-1]
		}
		from := fmt.Sprintf("[%s] %s", table, key)
		if table == "" {
			from = key
		}
		skip := func(why string) {
			shown := fmt.Sprintf("%s = %s", from, show(v, secretKey(path)))
			t.res.Skipped = append(t.res.Skipped, Skipped{Key: shown, Why: why})
		}
		switch {
		case table == "teleport":
			t.teleport(key, v, from, doc, skip)
		case table == "log":
			t.log(key, v, from, skip)
		case kind == "jira" && table == "jira":
			t.jira(key, v, from, skip)
		case kind == "jira" && table == "http":
			t.http(key, v, from, skip)
		case kind == "jira" && path == "http.basic_auth.user":
			basicUser = str(v)
		case kind == "jira" && path == "http.basic_auth.password":
			basicPassword = str(v)
		case kind == "jira" && path == "http.tls.verify_client_cert":
			if b, _ := v.(bool); b {
				skip("set WEBHOOK_INGRESS_TLS_CLIENT_CA to the PEM file of the CA that signs the client certificates (teleport-jira used the system roots)")
			}
		case kind == "jira" && path == "disable_webhook":
			skip("not needed: AccessBridge always takes Jira's webhooks, and its reconciler (JIRA_BRIDGE_RECONCILE_INTERVAL) catches moves whose webhook was lost")
		case kind == "mattermost" && table == "mattermost":
			t.mattermost(key, v, from, skip)
		case kind == "mattermost" && len(k) == 2 && k[0] == "role_to_recipients":
			// handled as a whole below
		default:
			skip("AccessBridge has no such setting")
		}
		handled[path] = true
	}
	if basicUser != "" || basicPassword != "" {
		if basicUser == "" || basicPassword == "" || strings.Contains(basicUser, ":") || strings.Contains(basicUser, ",") {
			t.res.Skipped = append(t.res.Skipped, Skipped{Key: "[http.basic_auth] user, password", Why: "incomplete, or a user name with ':' or ','; set WEBHOOK_INGRESS_BASIC_AUTH=user:password by hand"})
		} else {
			t.set("WEBHOOK_INGRESS_BASIC_AUTH", basicUser+":"+basicPassword, "[http.basic_auth] user, password", true)
		}
	}
	if kind == "mattermost" {
		if r, ok := doc["role_to_recipients"].(map[string]any); ok {
			t.roleToRecipients(r)
		}
	}
	return nil
}

func (t *translator) teleport(key string, v any, from string, doc map[string]any, skip func(string)) {
	switch key {
	case "addr", "auth_server":
		if key == "auth_server" {
			if tp, _ := doc["teleport"].(map[string]any); tp != nil && tp["addr"] != nil {
				if str(tp["addr"]) != str(v) {
					skip("teleport-jira uses addr when both are set; so does this import")
				}
				return
			}
		}
		t.set("TELEPORT_BRIDGE_ADDR", str(v), from, false)
	case "identity":
		t.set("TELEPORT_BRIDGE_IDENTITY_FILE", str(v), from, false)
	case "refresh_identity":
		t.set("TELEPORT_BRIDGE_REFRESH_IDENTITY", fmt.Sprint(v), from, false)
	case "refresh_identity_interval":
		d, ok := duration(v)
		if !ok {
			skip("not a duration; set TELEPORT_BRIDGE_REFRESH_INTERVAL by hand, e.g. 1m")
			return
		}
		t.set("TELEPORT_BRIDGE_REFRESH_INTERVAL", d, from, false)
	case "client_crt":
		t.set("TELEPORT_BRIDGE_CLIENT_CERT", str(v), from, false)
	case "client_key":
		t.set("TELEPORT_BRIDGE_CLIENT_KEY", str(v), from, false)
	case "root_cas":
		t.set("TELEPORT_BRIDGE_ROOT_CAS", str(v), from, false)
	default:
		skip("AccessBridge has no such Teleport setting")
	}
}

func (t *translator) jira(key string, v any, from string, skip func(string)) {
	switch key {
	case "url":
		t.set("JIRA_BRIDGE_URL", str(v), from, false)
	case "username":
		t.set("JIRA_BRIDGE_USER", str(v), from, false)
	case "api_token":
		t.secret("JIRA_BRIDGE_API_TOKEN", str(v), from, "jira-api-token")
	case "project":
		t.set("JIRA_BRIDGE_PROJECT", str(v), from, false)
	case "issue_type":
		t.set("JIRA_BRIDGE_ISSUE_TYPE", str(v), from, false)
	default:
		skip("AccessBridge has no such Jira setting")
	}
}

func (t *translator) http(key string, v any, from string, skip func(string)) {
	switch key {
	case "listen_addr":
		t.set("WEBHOOK_INGRESS_ADDR", str(v), from, false)
	case "public_addr":
		skip("not needed: it is the address you give Jira; point the Jira webhook at https://<that address>/webhook (or keep its URL: the path / is accepted too)")
	case "https_cert_file":
		t.set("WEBHOOK_INGRESS_TLS_CERT", str(v), from, false)
	case "https_key_file":
		t.set("WEBHOOK_INGRESS_TLS_KEY", str(v), from, false)
	case "insecure":
		if b, _ := v.(bool); b {
			t.set("WEBHOOK_INGRESS_INSECURE_NO_TLS", "true", from, false)
		}
	default:
		skip("AccessBridge has no such webhook setting")
	}
}

func (t *translator) log(key string, v any, from string, skip func(string)) {
	switch key {
	case "severity":
		level := strings.ToLower(str(v))
		switch level {
		case "warning":
			level = "warn"
		case "trace", "debug", "info", "warn", "error":
		default:
			skip("not a level AccessBridge knows (trace, debug, info, warn, error); LOG_LEVEL stays info")
			return
		}
		t.set("LOG_LEVEL", level, from, false)
	case "output":
		if o := strings.ToLower(str(v)); o != "stderr" && o != "" {
			skip("AccessBridge logs to standard error; capture it with journald (systemd), docker logs or a redirection")
		}
	case "format":
		switch strings.ToLower(str(v)) {
		case "json":
			t.set("LOG_FORMAT", "json", from, false)
		case "text":
			t.set("LOG_FORMAT", "console", from, false)
		default:
			skip("not json or text; LOG_FORMAT stays auto")
		}
	default:
		skip("AccessBridge has no such log setting")
	}
}

func (t *translator) mattermost(key string, v any, from string, skip func(string)) {
	switch key {
	case "url":
		t.set("MATTERMOST_BRIDGE_URL", str(v), from, false)
	case "token":
		t.secret("MATTERMOST_BRIDGE_TOKEN", str(v), from, "mattermost-token")
	case "recipients":
		list, ok := strings_(v)
		if !ok {
			skip("not a list of strings")
			return
		}
		for _, r := range list {
			if strings.Contains(r, ",") {
				skip("a recipient contains a comma, which MATTERMOST_BRIDGE_RECIPIENTS cannot hold; put it in MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS under \"*\"")
				return
			}
		}
		t.set("MATTERMOST_BRIDGE_RECIPIENTS", strings.Join(list, ","), from, false)
	default:
		skip("AccessBridge has no such Mattermost setting")
	}
}

// roleToRecipients carries [role_to_recipients] as the JSON object the
// mattermost-bridge reads: role → list of recipients, "*" for the rest.
func (t *translator) roleToRecipients(m map[string]any) {
	out := map[string][]string{}
	for role, v := range m {
		if s, ok := v.(string); ok {
			out[role] = []string{s}
			continue
		}
		list, ok := strings_(v)
		if !ok {
			t.res.Skipped = append(t.res.Skipped, Skipped{Key: fmt.Sprintf("[role_to_recipients] %q", role), Why: "not a string or a list of strings"})
			continue
		}
		out[role] = list
	}
	if len(out) == 0 {
		return
	}
	b, _ := json.Marshal(out) // map keys come out sorted
	t.set("MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS", string(b), "[role_to_recipients]", false)
}

// secret sets NAME, or NAME_FILE when the value is a path (teleport-jira
// reads a token starting with / from that file) or when SecretsDir is set.
func (t *translator) secret(name, value, from, fileName string) {
	if strings.HasPrefix(value, "/") {
		t.set(name+"_FILE", value, from+" (a file)", false)
		return
	}
	if t.opts.SecretsDir != "" {
		path := filepath.Join(t.opts.SecretsDir, fileName)
		if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
			t.res.Skipped = append(t.res.Skipped, Skipped{Key: from, Why: fmt.Sprintf("could not write %s (%v); set %s_FILE by hand", path, err, name)})
			return
		}
		abs, _ := filepath.Abs(path)
		t.set(name+"_FILE", abs, from+" (written to that file)", false)
		return
	}
	t.set(name, value, from, true)
}

func (t *translator) set(name, value, from string, secret bool) {
	s := Setting{Name: name, Value: value, From: from, Secret: secret}
	if i, ok := t.byName[name]; ok {
		prev := t.res.Settings[i]
		if prev.Value != value {
			t.res.Skipped = append(t.res.Skipped, Skipped{
				Key: fmt.Sprintf("%s = %s", from, show(value, secret)),
				Why: fmt.Sprintf("differs from %s, already used for %s; AccessBridge has one Teleport connection for all its bridges", prev.From, name),
			})
		}
		return
	}
	t.byName[name] = len(t.res.Settings)
	t.res.Settings = append(t.res.Settings, s)
}

// todo lists what AccessBridge needs and the files did not give.
func (t *translator) todo() {
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := t.byName[n]; ok {
				return true
			}
		}
		return false
	}
	add := func(name, placeholder, why string) {
		t.res.ToDo = append(t.res.ToDo, [3]string{name, placeholder, why})
	}
	if !has("TELEPORT_BRIDGE_ADDR") {
		add("TELEPORT_BRIDGE_ADDR", "teleport.example.com:443", "the Teleport Proxy (host:443) or Auth Service (host:3025) address")
	}
	if !has("TELEPORT_BRIDGE_IDENTITY_FILE", "TELEPORT_BRIDGE_CLIENT_CERT") {
		add("TELEPORT_BRIDGE_IDENTITY_FILE", "/var/lib/accessbridge/identity", "the identity file of the bridge's Teleport user")
	}
	if !t.kinds["jira"] {
		return
	}
	if !has("WEBHOOK_INGRESS_BASIC_AUTH") {
		add("WEBHOOK_INGRESS_HMAC_SECRETS_FILE", "/etc/accessbridge/webhook-secret",
			"teleport-jira took unsigned webhooks; AccessBridge wants them signed: generate a secret (openssl rand -hex 32), set it on the Jira webhook, and put it in this file")
	}
	if !has("WEBHOOK_INGRESS_TLS_CERT", "WEBHOOK_INGRESS_INSECURE_NO_TLS") {
		add("WEBHOOK_INGRESS_TLS_CERT", "/etc/accessbridge/tls.crt", "the webhook's certificate and WEBHOOK_INGRESS_TLS_KEY its key, or WEBHOOK_INGRESS_INSECURE_NO_TLS=true behind a TLS proxy")
	}
	if !has("JIRA_BRIDGE_API_TOKEN", "JIRA_BRIDGE_API_TOKEN_FILE") {
		add("JIRA_BRIDGE_API_TOKEN_FILE", "/etc/accessbridge/jira-api-token", "a file holding the Jira API token")
	}
}

// EnvFile renders the result as an environment file in the syntax that
// systemd's EnvironmentFile= and docker compose's env_file both read.
func (r *Result) EnvFile(sources []string, version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# AccessBridge settings imported from %s by `accessbridge import` (%s).\n", strings.Join(sources, ", "), version)
	b.WriteString("# Review them, fill in the settings under \"Still to set\", then run `accessbridge start`.\n")
	b.WriteString("# KEY=VALUE lines, quoted as systemd's EnvironmentFile= and docker compose's env_file read them.\n\n")
	for _, s := range r.Settings {
		fmt.Fprintf(&b, "# from %s\n%s=%s\n", s.From, s.Name, quote(s.Value))
	}
	if len(r.ToDo) > 0 {
		b.WriteString("\n# ===== Still to set: AccessBridge needs these, and the file had no equivalent =====\n")
		for _, td := range r.ToDo {
			fmt.Fprintf(&b, "\n# %s\n%s=%s\n", td[2], td[0], td[1])
		}
	}
	if len(r.Skipped) > 0 {
		b.WriteString("\n# ===== Not carried over =====\n")
		for _, s := range r.Skipped {
			fmt.Fprintf(&b, "# %s: %s\n", s.Key, s.Why)
		}
	}
	return b.String()
}

// HasSecrets says whether the env file holds a secret itself.
func (r *Result) HasSecrets() bool {
	for _, s := range r.Settings {
		if s.Secret {
			return true
		}
	}
	return false
}

// quote leaves plain values bare and single-quotes the others (both
// readers strip the quotes); a value with a single quote is double-quoted
// with \" and \\ escaped.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\"'`$\\#;{}[]()*?&|<>!~") {
		return v
	}
	if !strings.Contains(v, "'") {
		return "'" + v + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(v) + `"`
}

func lookup(doc map[string]any, k toml.Key) (any, bool) {
	var cur any = doc
	for _, part := range k {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur = m[part]
	}
	switch cur.(type) {
	case map[string]any, []map[string]any:
		return nil, false
	}
	return cur, true
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func strings_(v any) ([]string, bool) {
	items, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func duration(v any) (string, bool) {
	switch d := v.(type) {
	case string:
		if _, err := time.ParseDuration(d); err != nil {
			return "", false
		}
		return d, true
	case int64:
		return time.Duration(d).String(), d > 0
	}
	return "", false
}

func secretKey(path string) bool {
	return strings.Contains(path, "token") || strings.Contains(path, "password") || strings.Contains(path, "secret")
}

func show(v any, secret bool) string {
	if secret {
		return "(secret, not shown)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// SortedNames lists the setting names, for tests and messages.
func (r *Result) SortedNames() []string {
	var out []string
	for _, s := range r.Settings {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}
