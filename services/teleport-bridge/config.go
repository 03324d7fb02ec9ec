// Package teleportbridge is the AccessBridge service that holds the Teleport
// identity. It watches Teleport access requests and publishes their state as
// request events on teleport.requests.<id> (DESIGN.md §3–§4), and applies the
// decisions the jira-bridge publishes on jira.decisions.<id> — as a state
// change with a delegator (state mode) or a review by the mapped Teleport
// user (review mode) — publishing each outcome on teleport.decisions.<id>.
// It never publishes on jira.*.
//
// Its own main (cmd/teleport-bridge) and the all-in-one binary call New and
// Run; everything else stays under internal/.
package teleportbridge

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/decide"
)

// EnvPrefix is the prefix of the service's environment variables.
const EnvPrefix = "TELEPORT_BRIDGE"

// Source is the CloudEvents source of the events the service publishes.
const Source = "accessbridge/teleport-bridge"

// DecisionsConsumer is the durable consumer of jira.decisions.>.
const DecisionsConsumer = "teleport-bridge-decisions"

// Config is the service's configuration, read from TELEPORT_BRIDGE_*.
type Config struct {
	Addr            string        `split_words:"true" desc:"Required. Teleport Auth Service (host:3025) or Proxy (host:443 or host:3080) address."`
	IdentityFile    string        `split_words:"true" desc:"Identity file of the bridge's Teleport user (tctl auth sign --format=file, or a tbot output). Set it, or the CLIENT_CERT/CLIENT_KEY/ROOT_CAS triple."`
	RefreshIdentity bool          `split_words:"true" default:"true" desc:"Re-read the identity file periodically (Machine ID/tbot renews it)."`
	RefreshInterval time.Duration `split_words:"true" default:"1m" desc:"How often the identity file is re-read."`
	ClientCert      string        `split_words:"true" desc:"TLS client certificate (tctl auth sign --format=tls: auth.crt), instead of an identity file."`
	ClientKey       string        `split_words:"true" desc:"TLS client key (auth.key)."`
	RootCas         string        `split_words:"true" desc:"Teleport cluster CA certificates (auth.cas)."`
	DialTimeout     time.Duration `split_words:"true" default:"15s" desc:"Timeout of the connection to Teleport and of the start-up checks."`

	DecisionMode             string        `split_words:"true" default:"state" desc:"How Jira decisions are applied: state (SetAccessRequestState with delegator jira:<actor>, like teleport-jira) or review (SubmitAccessReview by the mapped Teleport user; Teleport Enterprise, respects thresholds)."`
	ReviewerMapFile          string        `split_words:"true" desc:"Review mode: JSON file mapping Jira users to Teleport users by account id (Cloud) or user key / user name (Data Center), e.g. {\"5b10ac8d82e05b22cc7d4ef5\": \"alice\", \"JIRAUSER10100\": \"bob\"}; email keys need REVIEWER_MATCH_EMAIL."`
	ReviewerMatchEmail       bool          `split_words:"true" default:"false" desc:"Review mode: also map actors by the emails in REVIEWER_MAP_FILE (after account id, key and name). Risky on Data Center, where users can edit their own email: one who sets a mapped colleague's email reviews as that colleague."`
	ReviewerEmailIsUser      bool          `split_words:"true" default:"false" desc:"Review mode: an actor not in the map whose email Jira shows reviews as the Teleport user named by that email (the same risk as REVIEWER_MATCH_EMAIL)."`
	LinkWait                 time.Duration `split_words:"true" default:"2m" desc:"How long a decision for a request with no linked issue is retried (the jira-bridge may lag) before it is rejected as forged."`
	MigrateTeleportJira      bool          `split_words:"true" default:"true" desc:"Carry the issue that teleport-jira recorded on each request (plugin data issue_id/issue_key) so the jira-bridge adopts it instead of creating a duplicate."`
	LegacyPluginName         string        `split_words:"true" default:"jira" desc:"Plugin data name teleport-jira wrote (its default is jira)."`
	ResyncInterval           time.Duration `split_words:"true" default:"5m" desc:"Relist all requests this often, besides after every reconnect (0 disables)."`
	ListLag                  time.Duration `split_words:"true" default:"30s" desc:"How long a listing may lag behind the watch (Teleport reads through a cache); a pending request missing from listings for longer counts as deleted."`
	ReconnectBackoffMin      time.Duration `split_words:"true" default:"500ms" desc:"Minimum delay before re-watching Teleport after the stream dropped."`
	ReconnectBackoffMax      time.Duration `split_words:"true" default:"30s" desc:"Maximum delay before re-watching Teleport."`
	DecisionConcurrency      int           `split_words:"true" default:"16" desc:"Decisions handled at once by this replica."`
	DecisionMaxAttempts      int           `split_words:"true" default:"10" desc:"Attempts at a decision before a transient failure may dead-letter it (once TELEPORT_BRIDGE_DECISION_RETRY_WINDOW has passed too)."`
	DecisionRetryWindow      time.Duration `split_words:"true" default:"24h" desc:"How long after it was made a decision that fails transiently (Teleport unreachable) is still retried; only then is it dead-lettered."`
	MattermostDecisions      bool          `split_words:"true" default:"false" desc:"Apply the Approve / Deny clicks of the mattermost-bridge's buttons (mattermost.decisions.>, stream MATTERMOST) like Jira decisions; off by default. See the mattermost-bridge README before enabling."`
	MattermostStateReviewers []string      `split_words:"true" desc:"State mode: the Teleport users (as mapped by MATTERMOST_BRIDGE_BUTTON_USERS) whose Mattermost clicks may set a request's state, comma-separated; required with MATTERMOST_DECISIONS in state mode. Review mode needs none: Teleport checks each reviewer and the thresholds."`
	HTTPAddr                 string        `split_words:"true" default:":8091" desc:"Listen address of /status /healthz /readyz /metrics (standalone binary only; empty disables)."`

	reviewers map[string]string
}

// CheckAndSetDefaults fills defaults and checks every setting; errors name
// the variable to fix. It reads the files the settings name, so a missing
// identity or a bad reviewer map is reported before any connection.
func (c *Config) CheckAndSetDefaults() error {
	var errs []error
	fail := func(err error) { errs = append(errs, err) }
	if c.Addr == "" {
		fail(errors.New("TELEPORT_BRIDGE_ADDR: missing; set it to the Auth Service (host:3025) or Proxy (host:443) address"))
	}
	triple := c.ClientCert != "" || c.ClientKey != "" || c.RootCas != ""
	switch {
	case c.IdentityFile != "" && triple:
		fail(errors.New("TELEPORT_BRIDGE_IDENTITY_FILE: set it or TELEPORT_BRIDGE_CLIENT_CERT/CLIENT_KEY/ROOT_CAS, not both"))
	case c.IdentityFile != "":
		if err := readable(c.IdentityFile); err != nil {
			fail(fmt.Errorf("TELEPORT_BRIDGE_IDENTITY_FILE: %v; write it with `tctl auth sign --user=access-plugin --format=file --out=<path>` or point tbot at it", err))
		}
	case triple:
		for name, path := range map[string]string{"TELEPORT_BRIDGE_CLIENT_CERT": c.ClientCert, "TELEPORT_BRIDGE_CLIENT_KEY": c.ClientKey, "TELEPORT_BRIDGE_ROOT_CAS": c.RootCas} {
			if path == "" {
				fail(fmt.Errorf("%s: missing; the TLS credentials need CLIENT_CERT, CLIENT_KEY and ROOT_CAS (tctl auth sign --format=tls)", name))
				continue
			}
			if err := readable(path); err != nil {
				fail(fmt.Errorf("%s: %v", name, err))
			}
		}
	default:
		fail(errors.New("TELEPORT_BRIDGE_IDENTITY_FILE: missing; set it to the bridge user's identity file (or set TELEPORT_BRIDGE_CLIENT_CERT/CLIENT_KEY/ROOT_CAS)"))
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = time.Minute
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 15 * time.Second
	}
	switch c.DecisionMode {
	case "":
		c.DecisionMode = events.ModeState
	case events.ModeState, events.ModeReview:
	default:
		fail(fmt.Errorf("TELEPORT_BRIDGE_DECISION_MODE: %q is not %q or %q", c.DecisionMode, events.ModeState, events.ModeReview))
	}
	c.reviewers = nil
	if c.ReviewerMapFile != "" {
		m, err := decide.LoadReviewerMap(c.ReviewerMapFile)
		if err != nil {
			fail(fmt.Errorf("TELEPORT_BRIDGE_REVIEWER_MAP_FILE: %v", err))
		}
		c.reviewers = m
		if emails := decide.EmailKeys(m); len(emails) > 0 && !c.ReviewerMatchEmail {
			return fmt.Errorf("TELEPORT_BRIDGE_REVIEWER_MAP_FILE: %q (and %d more) is an email: map the account id (Cloud) or user key (Data Center), which the user cannot change, or set TELEPORT_BRIDGE_REVIEWER_MATCH_EMAIL=true knowing that Data Center users can edit their own email", emails[0], len(emails)-1)
		}
	}
	if c.DecisionMode == events.ModeReview && len(c.reviewers) == 0 && !c.ReviewerEmailIsUser {
		fail(errors.New("TELEPORT_BRIDGE_REVIEWER_MAP_FILE: review mode needs a map of Jira users to Teleport users (or TELEPORT_BRIDGE_REVIEWER_EMAIL_IS_USER=true)"))
	}
	if c.LinkWait < 0 {
		fail(errors.New("TELEPORT_BRIDGE_LINK_WAIT: must not be negative"))
	}
	if c.MigrateTeleportJira && c.LegacyPluginName == "" {
		c.LegacyPluginName = "jira"
	}
	if c.ResyncInterval < 0 {
		fail(errors.New("TELEPORT_BRIDGE_RESYNC_INTERVAL: must not be negative"))
	}
	if c.ListLag <= 0 {
		c.ListLag = 30 * time.Second
	}
	if c.ReconnectBackoffMin <= 0 {
		c.ReconnectBackoffMin = 500 * time.Millisecond
	}
	if c.ReconnectBackoffMax < c.ReconnectBackoffMin {
		fail(fmt.Errorf("TELEPORT_BRIDGE_RECONNECT_BACKOFF_MAX: %s is below TELEPORT_BRIDGE_RECONNECT_BACKOFF_MIN (%s)", c.ReconnectBackoffMax, c.ReconnectBackoffMin))
	}
	if c.DecisionConcurrency <= 0 {
		c.DecisionConcurrency = 16
	}
	if c.DecisionMaxAttempts <= 0 {
		c.DecisionMaxAttempts = 10
	}
	if c.DecisionRetryWindow <= 0 {
		c.DecisionRetryWindow = 24 * time.Hour
	}
	c.checkMattermost(fail)
	return errors.Join(errs...)
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read it: %w", err)
	}
	return f.Close()
}

// RequiredSettings are the settings a user must provide, with placeholders,
// for the top of `configure`.
func RequiredSettings() []config.Hint {
	return []config.Hint{
		{Name: EnvPrefix + "_ADDR", Placeholder: "teleport.example.com:443", Note: "Teleport Proxy (host:443, or mytenant.teleport.sh:443) or Auth Service (host:3025) address."},
		{Name: EnvPrefix + "_IDENTITY_FILE", Placeholder: "/var/lib/accessbridge/identity", Note: "Identity file of the bridge's Teleport user (tbot output, or tctl auth sign --format=file); or set CLIENT_CERT, CLIENT_KEY and ROOT_CAS instead."},
	}
}
