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
	if len(c.mattermostButtonKeys()) == 0 {
		fail(fmt.Errorf("%s: no key", v("MATTERMOST_BUTTON_KEY")))
	}
	for i, k := range c.mattermostButtonKeys() {
		if len(k) < events.MinButtonKeyLen {
			fail(fmt.Errorf("%s (or %s_FILE): key %d must be at least %d bytes, the same as MATTERMOST_BRIDGE_BUTTON_KEY",
				v("MATTERMOST_BUTTON_KEY"), v("MATTERMOST_BUTTON_KEY"), i+1, events.MinButtonKeyLen))
		}
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

// mattermostButtonKeys splits MATTERMOST_BUTTON_KEY: comma-separated keys
// during a rotation.
func (c *Config) mattermostButtonKeys() [][]byte {
	var out [][]byte
	for _, k := range strings.Split(c.MattermostButtonKey.Value(), ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, []byte(k))
		}
	}
	return out
}

// mattermostButtons reports whether the button endpoint is served.
func (c *Config) mattermostButtons() bool { return c.MattermostButtonKey != "" }
