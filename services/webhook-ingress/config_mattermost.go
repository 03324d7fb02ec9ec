package webhookingress

import (
	"fmt"
	"strings"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// checkMattermost validates the Mattermost button endpoint's settings;
// webhookPaths are the Jira paths it must not take.
func (c *Config) checkMattermost(fail func(error), webhookPaths map[string]bool) {
	v := func(name string) string { return EnvPrefix + "_" + name }
	if c.MattermostButtonKey == "" {
		return
	}
	if len(c.MattermostButtonKey.Value()) < events.MinButtonKeyLen {
		fail(fmt.Errorf("%s (or %s_FILE): must be at least %d bytes, the same as MATTERMOST_BRIDGE_BUTTON_KEY",
			v("MATTERMOST_BUTTON_KEY"), v("MATTERMOST_BUTTON_KEY"), events.MinButtonKeyLen))
	}
	if c.MattermostActionsPath == "" {
		c.MattermostActionsPath = "/mattermost/actions"
	}
	p := c.MattermostActionsPath
	switch {
	case !strings.HasPrefix(p, "/") || p == "/" || strings.ContainsAny(p, "{}*?# "):
		fail(fmt.Errorf("%s: %q must be a plain path under /", v("MATTERMOST_ACTIONS_PATH"), p))
	case isOpsPath(p) || webhookPaths[p]:
		fail(fmt.Errorf("%s: %q is already an operations or Jira webhook path (%s)", v("MATTERMOST_ACTIONS_PATH"), p, v("PATHS")))
	}
}

// mattermostButtons reports whether the button endpoint is served.
func (c *Config) mattermostButtons() bool { return c.MattermostButtonKey != "" }
