package demo

import (
	"fmt"
	"strings"
)

// Hints are what the demo tells the user to try once the scenario passed.
type Hints struct {
	BoardURL     string // the Jira emulator's board page
	TeleportSim  string // the teleport-sim binary (make build puts it in bin/)
	AdminURL     string // the Teleport emulator's admin endpoint
	NATSCLI      string // the nats CLI (make tools puts it in bin/tools/)
	NATSURL      string // the product's NATS
	MetricsURL   string
	Requester    string // a user the Teleport emulator knows
	LogPath      string
	CLIInstalled bool // whether NATSCLI exists
	// MattermostURL is the Mattermost emulator's page ("": not running).
	MattermostURL string
}

// NextSteps is the text printed after the scenario: how to create a request,
// where to decide it, how to watch the events go by.
func NextSteps(h Hints) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("\nStill running. Try it yourself, in another terminal:\n\n")
	w("  1. Ask for a role, as `tsh request create` would:\n")
	w("       %s request create --admin %s --user %s --roles editor --reason \"try the demo\"\n", h.TeleportSim, h.AdminURL, h.Requester)
	w("       %s request ls --admin %s\n", h.TeleportSim, h.AdminURL)
	w("  2. Open the Jira board and drag the new card to Approved or Denied (pick the reviewer at the top):\n")
	w("       %s\n", h.BoardURL)
	if h.MattermostURL != "" {
		w("     The request is also posted to Mattermost (emulated), and the post follows the decision:\n")
		w("       %s\n", h.MattermostURL)
	}
	w("     or decide in Teleport and watch the card follow:\n")
	w("       %s request approve --admin %s <request id> --reason \"looks fine\"\n", h.TeleportSim, h.AdminURL)
	w("  3. Watch the events on NATS JetStream as they happen:\n")
	w("       %s --server %s sub 'teleport.>'      # requests and decisions from Teleport\n", h.NATSCLI, h.NATSURL)
	w("       %s --server %s sub 'jira.>'          # issues, webhooks and decisions from Jira\n", h.NATSCLI, h.NATSURL)
	w("       %s --server %s stream view TELEPORT  # the history so far\n", h.NATSCLI, h.NATSURL)
	w("       %s --server %s kv ls request-issues  # which issue belongs to which request\n", h.NATSCLI, h.NATSURL)
	if !h.CLIInstalled {
		w("     (the nats CLI is not installed yet: `make tools` installs it into bin/tools)\n")
	}
	w("\n  Metrics %s   logs %s\n", h.MetricsURL, h.LogPath)
	w("\nPress Ctrl-C to stop.\n")
	return b.String()
}

// StoppingLine is printed when Ctrl-C arrives.
func StoppingLine() string {
	return "\nCtrl-C: stopping accessbridge and the emulators…"
}

// StoppedLine is printed once everything the demo started has stopped.
func StoppedLine(dir string) string {
	return fmt.Sprintf("demo stopped: accessbridge and both emulators are down, nothing is left listening; its files stay in %s until the next `make demo`.", dir)
}
