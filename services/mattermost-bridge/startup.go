package mattermostbridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/mattermost"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/recipients"
)

// checkMattermost runs the start-up checks in order and stops at the first
// failure with one line that says what to fix. Resolving every configured
// recipient also fills the resolver's cache.
func checkMattermost(ctx context.Context, cfg *Config, c *mattermost.Client, log zerolog.Logger) (mattermost.User, *recipients.Resolver, error) {
	if u, err := url.Parse(cfg.URL); err == nil && u.Scheme == "http" && !loopback(u.Hostname()) {
		log.Warn().Str("url", cfg.URL).Msg("MATTERMOST_BRIDGE_URL is plain http: the bot token crosses the network in clear; use https")
	}
	if err := c.Ping(ctx); err != nil {
		return mattermost.User{}, nil, fmt.Errorf("mattermost: %s does not answer as a Mattermost server (%v); check %s", cfg.URL, err, v("URL"))
	}
	me, err := c.Me(ctx)
	if err != nil {
		if mattermost.IsStatus(err, http.StatusUnauthorized, http.StatusForbidden) {
			return me, nil, fmt.Errorf("mattermost: the token was rejected (%v); check %s (the bot account's access token)", err, v("TOKEN"))
		}
		return me, nil, fmt.Errorf("mattermost: GET users/me failed (%v); check %s and %s", err, v("URL"), v("TOKEN"))
	}
	if me.ID == "" {
		return me, nil, fmt.Errorf("mattermost: users/me returned no user id; check %s points at Mattermost", v("URL"))
	}
	if !me.IsBot {
		log.Warn().Str("mattermost_user", me.Username).Msg("the token belongs to a regular user, not a bot account; posts will appear as that user")
	}
	res := recipients.NewResolver(c, me.ID)
	all := cfg.Routing().All()
	if len(all) == 0 {
		log.Warn().Msg("no recipients configured: only suggested reviewers given by email will be messaged (set " + v("RECIPIENTS") + " or " + v("ROLE_TO_RECIPIENTS") + ")")
	}
	for _, rc := range all {
		if _, err := res.Channel(ctx, rc); err != nil {
			if errors.Is(err, recipients.ErrUnknown) {
				return me, nil, fmt.Errorf("mattermost: recipient %s: %v; fix %s / %s", rc, err, v("RECIPIENTS"), v("ROLE_TO_RECIPIENTS"))
			}
			return me, nil, fmt.Errorf("mattermost: recipient %s: %v", rc, err)
		}
	}
	return me, res, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
