package mattermostbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/message"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/metrics"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/posts"
)

// ConsumerActions is the durable consumer of mattermost.actions.> (button
// clicks the webhook-ingress authenticated), created when buttons are on.
const ConsumerActions = "mattermost-bridge-actions"

// buttonUsers is the allow-list: Mattermost user id, or lowercase
// username, → Teleport user.
type buttonUsers map[string]string

// maxButtonUsers bounds the allow-list.
const maxButtonUsers = 10000

// checkButtons validates the button settings when buttons are on.
func (c *Config) checkButtons() error {
	if !c.Buttons {
		return nil
	}
	u, err := url.Parse(c.ButtonURL)
	if c.ButtonURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: %q is not an http(s) URL; with %s=true it must be the webhook-ingress's /mattermost/actions as Mattermost reaches it",
			v("BUTTON_URL"), c.ButtonURL, v("BUTTONS"))
	}
	if strings.Contains(c.ButtonKey.Value(), ",") {
		return fmt.Errorf("%s: must not contain a comma (the webhook-ingress takes comma-separated keys during a rotation)", v("BUTTON_KEY"))
	}
	if len(c.ButtonKey.Value()) < events.MinButtonKeyLen {
		return fmt.Errorf("%s (or %s_FILE): must be at least %d bytes (the webhook-ingress holds the same key)", v("BUTTON_KEY"), v("BUTTON_KEY"), events.MinButtonKeyLen)
	}
	var raw map[string]string
	if err := json.Unmarshal([]byte(c.ButtonUsers), &raw); err != nil {
		return fmt.Errorf("%s: not a JSON object of Mattermost user id or username → Teleport user: %v", v("BUTTON_USERS"), err)
	}
	if len(raw) == 0 {
		return fmt.Errorf("%s: the allow-list is empty; with %s=true nobody could decide", v("BUTTON_USERS"), v("BUTTONS"))
	}
	if len(raw) > maxButtonUsers {
		return fmt.Errorf("%s: %d entries, over %d", v("BUTTON_USERS"), len(raw), maxButtonUsers)
	}
	c.buttons = buttonUsers{}
	for k, tu := range raw {
		k, tu = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(tu)
		if k == "" || tu == "" || len(k) > events.MaxNameLen || len(tu) > events.MaxNameLen {
			return fmt.Errorf("%s: empty or over-long Mattermost user or Teleport user in %q: %q", v("BUTTON_USERS"), k, tu)
		}
		c.buttons[k] = tu
	}
	return nil
}

// buttonProps gives the poster the buttons of a pending post: each carries
// the HMAC token of its request, channel and verdict.
func (c *Config) buttonProps() func(requestID, channelID string) map[string]any {
	if !c.Buttons {
		return nil
	}
	key := []byte(c.ButtonKey.Value())
	return func(requestID, channelID string) map[string]any {
		return message.Buttons(c.ButtonURL, requestID, func(v events.Verdict) string {
			return events.ButtonToken(key, requestID, channelID, v)
		})
	}
}

// teleportUser maps the clicking user through the allow-list: by id first
// (stable), then by username.
func (b buttonUsers) teleportUser(a *events.MattermostAction) (string, bool) {
	if tu, ok := b[strings.ToLower(a.UserID)]; ok {
		return tu, true
	}
	if a.UserName != "" {
		if tu, ok := b[strings.ToLower(a.UserName)]; ok {
			return tu, true
		}
	}
	return "", false
}

// actions turns authenticated clicks into decisions.
type actions struct {
	users buttonUsers
	store posts.Store
	m     *metrics.Metrics
}

// decide handles one mattermost.actions.<req> event: an allow-listed user's
// click on one of the request's own posts becomes decision.requested on
// mattermost.decisions.<req> (published by the consume loop); anything else
// is refused, logged as a security event, and produces nothing.
func (a *actions) decide(ctx context.Context, d bus.Delivery) ([]events.Payload, error) {
	act, ok := d.Event.Payload.(*events.MattermostAction)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected %s on %s", errUnexpected, d.Event.Type, d.Subject)
	}
	log := d.Log.With().Str("request_id", act.RequestID).Str("verdict", string(act.Verdict)).
		Str("mattermost_user_id", act.UserID).Str("mattermost_user", act.UserName).Str("post_id", act.PostID).
		Str("source_ip", act.SourceIP).Logger()
	tu, ok := a.users.teleportUser(act)
	if !ok {
		a.m.Actions.WithLabelValues("unmapped_user").Inc()
		log.Error().Bool("security", true).Str("event", "unmapped_mattermost_user").
			Msg("SECURITY: a Mattermost user who is not on the button allow-list (MATTERMOST_BRIDGE_BUTTON_USERS) clicked Approve/Deny; refused")
		return nil, nil
	}
	rec, _, err := a.store.Load(ctx, act.RequestID)
	if err != nil {
		return nil, err
	}
	ours, pending := false, false
	for _, p := range rec.Posts {
		switch {
		case p.PostID == act.PostID && p.ChannelID == act.ChannelID:
			ours = true
		case p.PostID == "" && p.ChannelID == act.ChannelID:
			pending = true // posted, its id not recorded yet
		}
	}
	if !ours && pending {
		// Retried (transient): a repeated click would be a duplicate of
		// this one, so it must not be dropped while the record catches up.
		return nil, fmt.Errorf("post %s of %s in channel %s is not recorded yet", act.PostID, act.RequestID, act.ChannelID)
	}
	if !ours {
		a.m.Actions.WithLabelValues("unknown_post").Inc()
		log.Error().Bool("security", true).Str("event", "unknown_post").Str("channel_id", act.ChannelID).
			Msg("SECURITY: a button click names a post that is not a recorded post of its request; refused")
		return nil, nil
	}
	a.m.Actions.WithLabelValues("decided").Inc()
	log.Info().Str("teleport_user", tu).Msg("button click: decision requested")
	return []events.Payload{events.NewMattermostDecision(act, tu, act.ReceivedAt)}, nil
}
