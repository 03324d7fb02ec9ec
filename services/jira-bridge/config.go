package jirabridge

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/accessbridge/accessbridge/pkg/service/startup"
)

// EnvPrefix prefixes every jira-bridge environment variable.
const EnvPrefix = "JIRA_BRIDGE"

// Config is the jira-bridge's configuration (environment, prefix
// JIRA_BRIDGE_).
type Config struct {
	URL      string        `split_words:"true" desc:"Jira base URL, e.g. https://example.atlassian.net (required)."`
	User     string        `split_words:"true" desc:"Jira login for Basic auth: the account email on Cloud, the user name on Server/Data Center."`
	APIToken config.Secret `split_words:"true" desc:"Jira Cloud API token (or Server password) for Basic auth with JIRA_BRIDGE_USER."`
	PAT      config.Secret `split_words:"true" desc:"Data Center personal access token, sent as Bearer; use instead of USER/API_TOKEN."`

	Project     string            `split_words:"true" default:"TAR" desc:"Key of the Jira project that receives access requests."`
	ProjectMap  map[string]string `split_words:"true" desc:"Role to project routing, role:PROJECT pairs separated by commas; the first role of a request with an entry wins, else JIRA_BRIDGE_PROJECT."`
	IssueType   string            `split_words:"true" default:"Task" desc:"Issue type of created issues."`
	LabelPrefix string            `split_words:"true" default:"teleport-access-request" desc:"Label on every issue; <prefix>-<request id> identifies the request."`
	Labels      []string          `split_words:"true" desc:"Extra labels on created issues, comma-separated."`
	SetReporter bool              `split_words:"true" default:"true" desc:"Make the requester the reporter when a Jira user with the requester's email exists."`

	StatusPending  string `split_words:"true" default:"Pending" desc:"Status of open requests; new issues are moved there when the workflow starts elsewhere."`
	StatusApproved string `split_words:"true" default:"Approved" desc:"Status that approves a request (and that approved requests are moved to)."`
	StatusDenied   string `split_words:"true" default:"Denied" desc:"Status that denies a request (and that denied requests are moved to)."`
	StatusExpired  string `split_words:"true" default:"Expired" desc:"Status of requests that expired while pending."`
	StatusPromoted string `split_words:"true" default:"Promoted" desc:"Status of requests promoted to an access list."`

	RebuildProjection bool          `split_words:"true" default:"false" desc:"Merge the request-issues projection with the JIRA stream's issue and decision events at start. It is rebuilt automatically when the bucket is empty."`
	ReconcileInterval time.Duration `split_words:"true" default:"5m" desc:"How often open issues are compared with the projection to catch lost webhooks (0 disables)."`
	ReconcileWindow   time.Duration `split_words:"true" default:"1h" desc:"The reconciler examines issues updated within this window."`
	ReconcileGrace    time.Duration `split_words:"true" default:"30s" desc:"The reconciler leaves an issue changed less than this long ago to its webhook (0: no grace)."`
	ConfirmWindow     time.Duration `split_words:"true" default:"2m" desc:"How long the status of an unsigned webhook is re-checked through the API (Jira read lag) before it is dropped."`

	JiraTimeout     time.Duration `split_words:"true" default:"30s" desc:"Timeout of one Jira HTTP attempt."`
	JiraConcurrency int           `split_words:"true" default:"8" desc:"Jira calls in flight at most (per process)."`
	JiraMaxRetries  int           `split_words:"true" default:"5" min:"0" desc:"Retries of one Jira call on 429, 5xx and network errors before the event is redelivered later."`
	JiraRetryMin    time.Duration `split_words:"true" default:"500ms" desc:"Minimum back-off between Jira retries (jittered, doubled each time) when Jira gives no Retry-After."`
	JiraRetryMax    time.Duration `split_words:"true" default:"30s" desc:"Maximum back-off between Jira retries, and the longest Retry-After slept in-process."`

	MaxAttempts int           `split_words:"true" default:"10" desc:"Deliveries of an event before a failure dead-letters it: a transition the workflow refuses after these alone, a transient failure only once JIRA_BRIDGE_RETRY_WINDOW has passed too."`
	RetryWindow time.Duration `split_words:"true" default:"24h" desc:"How long after its publication an event that fails transiently (Jira down, 5xx, 429) is still retried; only then is it dead-lettered."`
	RetryMin    time.Duration `split_words:"true" default:"1s" desc:"Minimum redelivery delay of an event after a transient error."`
	RetryMax    time.Duration `split_words:"true" default:"5m" desc:"Maximum redelivery delay of an event after a transient error."`
	Concurrency int           `split_words:"true" default:"16" desc:"Events handled at once per consumer (different requests; one request is always serial)."`
	AckWait     time.Duration `split_words:"true" default:"30s" desc:"How long JetStream waits for a handler's ack before redelivering (a replica that died mid-event is taken over after it)."`

	HTTPAddr string `split_words:"true" default:":8092" desc:"Listen address of /status, /healthz, /readyz and /metrics (standalone binary only)."`

	CheckTimeout time.Duration `split_words:"true" default:"15s" desc:"How long the start-up checks of Jira (address, credentials, project, permissions, statuses) may take in all."`
}

// CheckAndSetDefaults validates the configuration and fills defaults left
// empty by a caller that did not go through envconfig. Errors name the
// variable to fix.
func (c *Config) CheckAndSetDefaults() error {
	var errs []error
	fail := func(err error) { errs = append(errs, err) }
	v := func(name string) string { return EnvPrefix + "_" + name }
	if c.URL == "" {
		fail(fmt.Errorf("%s: missing; set it to the Jira base URL, e.g. https://your-site.atlassian.net", v("URL")))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail(fmt.Errorf("%s: %q is not an http(s) URL; write it like https://your-site.atlassian.net", v("URL"), c.URL))
	}
	c.URL = strings.TrimRight(c.URL, "/")
	if c.PAT != "" && (c.User != "" || c.APIToken != "") {
		fail(fmt.Errorf("%s and %s/%s: set a PAT or a user and API token, not both", v("PAT"), v("USER"), v("API_TOKEN")))
	}
	if c.PAT == "" && c.User == "" {
		fail(fmt.Errorf("%s: missing; set it to the bridge's Jira login (the account email on Cloud), or set %s_FILE on Data Center", v("USER"), v("PAT")))
	}
	if c.PAT == "" && c.APIToken == "" {
		fail(fmt.Errorf("%s: missing; set %s_FILE to a file holding the Jira API token (or the password on Server)", v("API_TOKEN"), v("API_TOKEN")))
	}
	def := func(p *string, d string) {
		if strings.TrimSpace(*p) == "" {
			*p = d
		}
	}
	def(&c.Project, "TAR")
	def(&c.IssueType, "Task")
	def(&c.LabelPrefix, "teleport-access-request")
	def(&c.StatusPending, "Pending")
	def(&c.StatusApproved, "Approved")
	def(&c.StatusDenied, "Denied")
	def(&c.StatusExpired, "Expired")
	def(&c.StatusPromoted, "Promoted")
	def(&c.HTTPAddr, ":8092")
	for _, l := range append([]string{c.LabelPrefix}, c.Labels...) {
		if l == "" || strings.ContainsAny(l, " \t\r\n") {
			fail(fmt.Errorf("%s/%s: label %q must be non-empty and without spaces", v("LABEL_PREFIX"), v("LABELS"), l))
		}
	}
	for role, p := range c.ProjectMap {
		if role == "" || p == "" {
			fail(fmt.Errorf("%s: entry %q:%q needs a role and a project key", v("PROJECT_MAP"), role, p))
		}
	}
	seen := map[string]string{}
	for name, s := range map[string]string{"STATUS_PENDING": c.StatusPending, "STATUS_APPROVED": c.StatusApproved, "STATUS_DENIED": c.StatusDenied, "STATUS_EXPIRED": c.StatusExpired, "STATUS_PROMOTED": c.StatusPromoted} {
		if other, dup := seen[strings.ToLower(s)]; dup {
			fail(fmt.Errorf("%s and %s: both are %q; each status must differ", v(name), v(other), s))
		}
		seen[strings.ToLower(s)] = name
	}
	durDef := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	if c.ReconcileInterval < 0 {
		fail(fmt.Errorf("%s: must not be negative (0 disables)", v("RECONCILE_INTERVAL")))
	}
	if c.ReconcileGrace < 0 {
		return fmt.Errorf("%s: must not be negative (0: no grace)", v("RECONCILE_GRACE"))
	}
	durDef(&c.ReconcileWindow, time.Hour)
	durDef(&c.ConfirmWindow, 2*time.Minute)
	durDef(&c.JiraTimeout, 30*time.Second)
	durDef(&c.JiraRetryMin, 500*time.Millisecond)
	durDef(&c.JiraRetryMax, 30*time.Second)
	durDef(&c.RetryWindow, 24*time.Hour)
	durDef(&c.RetryMin, time.Second)
	durDef(&c.RetryMax, 5*time.Minute)
	durDef(&c.AckWait, 30*time.Second)
	durDef(&c.CheckTimeout, startup.DefaultTimeout)
	if c.JiraRetryMax < c.JiraRetryMin {
		fail(fmt.Errorf("%s: %s is below %s %s", v("JIRA_RETRY_MAX"), c.JiraRetryMax, v("JIRA_RETRY_MIN"), c.JiraRetryMin))
	}
	if c.JiraConcurrency <= 0 {
		c.JiraConcurrency = 8
	}
	if c.JiraMaxRetries < 0 {
		fail(fmt.Errorf("%s: must not be negative", v("JIRA_MAX_RETRIES")))
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	return errors.Join(errs...)
}

// Projects returns the default project and every routed one, without
// duplicates.
func (c *Config) Projects() []string {
	out := []string{c.Project}
	routed := make([]string, 0, len(c.ProjectMap))
	for _, p := range c.ProjectMap {
		routed = append(routed, p)
	}
	sort.Strings(routed)
	for _, p := range routed {
		dup := false
		for _, q := range out {
			dup = dup || strings.EqualFold(p, q)
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out
}

// RequiredSettings are the settings a user must provide, with placeholders,
// for the top of `configure`.
func RequiredSettings() []config.Hint {
	return []config.Hint{
		{Name: EnvPrefix + "_URL", Placeholder: "https://your-site.atlassian.net", Note: "Jira base URL (Cloud or Data Center)."},
		{Name: EnvPrefix + "_USER", Placeholder: "bot@example.com", Note: "Jira login: the account email on Cloud, the user name on Data Center (with a PAT, leave USER and API_TOKEN out)."},
		{Name: EnvPrefix + "_API_TOKEN_FILE", Placeholder: "/etc/accessbridge/jira-api-token", Note: "File holding the Jira API token; on Data Center, JIRA_BRIDGE_PAT_FILE=<file holding a personal access token> instead."},
	}
}
