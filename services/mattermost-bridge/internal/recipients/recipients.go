// Package recipients decides who is told about a request (configured
// recipients by role, with "*" as the default, and suggested reviewers who
// are emails) and resolves each to a Mattermost channel: a direct channel
// with the bot for an email, or a team channel found by name or display
// name. Lookups are cached for the life of the process.
package recipients

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"sort"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/mattermost"
)

// Recipient is an email (direct message) or team/channel.
type Recipient struct {
	Email         string
	Team, Channel string
}

func (r Recipient) String() string {
	if r.Email != "" {
		return r.Email
	}
	return r.Team + "/" + r.Channel
}

// Parse reads "user@example.com" or "team/channel" (the channel's name or
// its display name, e.g. "myteam/Town Square").
func Parse(s string) (Recipient, error) {
	s = strings.TrimSpace(s)
	if team, ch, ok := strings.Cut(s, "/"); ok {
		if team == "" || strings.TrimSpace(ch) == "" || strings.Contains(ch, "/") {
			return Recipient{}, fmt.Errorf("recipient %q: want team/channel", s)
		}
		return Recipient{Team: strings.ToLower(team), Channel: strings.TrimSpace(ch)}, nil
	}
	if IsEmail(s) {
		return Recipient{Email: strings.ToLower(s)}, nil
	}
	return Recipient{}, fmt.Errorf("recipient %q is neither an email nor team/channel", s)
}

// IsEmail reports whether s is a bare email address.
func IsEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// Routing maps roles to recipients; "*" is the default for requests whose
// roles have no entry.
type Routing map[string][]Recipient

// For returns the recipients of a request: those of its roles (or of "*"
// when none of its roles has an entry), then its suggested reviewers who
// are emails, without duplicates, in that order.
func (rt Routing) For(r events.AccessRequest) []Recipient {
	var out []Recipient
	seen := map[string]bool{}
	add := func(rc Recipient) {
		if k := strings.ToLower(rc.String()); !seen[k] {
			seen[k] = true
			out = append(out, rc)
		}
	}
	for _, role := range r.Roles {
		for _, rc := range rt[role] {
			add(rc)
		}
	}
	if len(out) == 0 {
		for _, rc := range rt["*"] {
			add(rc)
		}
	}
	for _, s := range r.SuggestedReviewers {
		if IsEmail(s) {
			add(Recipient{Email: strings.ToLower(s)})
		}
	}
	return out
}

// All lists every configured recipient once, sorted, for the start-up checks.
func (rt Routing) All() []Recipient {
	seen := map[string]Recipient{}
	for _, rcs := range rt {
		for _, rc := range rcs {
			seen[strings.ToLower(rc.String())] = rc
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Recipient, len(keys))
	for i, k := range keys {
		out[i] = seen[k]
	}
	return out
}

// ErrUnknown marks a recipient Mattermost does not know (no such user,
// team or channel, or a channel the bot is not in).
var ErrUnknown = errors.New("unknown recipient")

// Client is what the resolver needs from Mattermost.
type Client interface {
	UserByEmail(ctx context.Context, email string) (mattermost.User, error)
	DirectChannel(ctx context.Context, a, b string) (mattermost.Channel, error)
	TeamByName(ctx context.Context, name string) (mattermost.Team, error)
	ChannelByName(ctx context.Context, team, channel string) (mattermost.Channel, error)
	ChannelsForUser(ctx context.Context, userID, teamID string) ([]mattermost.Channel, error)
	ChannelMember(ctx context.Context, channelID, userID string) error
}

// Target is a recipient resolved to a channel.
type Target struct {
	Recipient string
	ChannelID string
}

// Resolver resolves recipients to channels, caching every answer.
type Resolver struct {
	mm    Client
	botID string

	mu       sync.Mutex
	channels map[string]string // recipient (lowercase) → channel id
}

// NewResolver returns a resolver posting as botID.
func NewResolver(mm Client, botID string) *Resolver {
	return &Resolver{mm: mm, botID: botID, channels: map[string]string{}}
}

// Targets resolves the recipients to channels, skipping (with a log line)
// those Mattermost does not know; other errors are returned.
func (r *Resolver) Targets(ctx context.Context, rcs []Recipient, log zerolog.Logger) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for _, rc := range rcs {
		id, err := r.Channel(ctx, rc)
		if errors.Is(err, ErrUnknown) {
			log.Warn().Err(err).Str("recipient", rc.String()).Msg("recipient skipped")
			continue
		}
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, Target{Recipient: rc.String(), ChannelID: id})
		}
	}
	return out, nil
}

// Channel returns the channel of one recipient, checking that the bot can
// post there. Answers are cached; failures are not.
func (r *Resolver) Channel(ctx context.Context, rc Recipient) (string, error) {
	key := strings.ToLower(rc.String())
	r.mu.Lock()
	id, ok := r.channels[key]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	var err error
	if rc.Email != "" {
		id, err = r.direct(ctx, rc.Email)
	} else {
		id, err = r.teamChannel(ctx, rc.Team, rc.Channel)
	}
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.channels[key] = id
	r.mu.Unlock()
	return id, nil
}

func notFound(err error) bool { return mattermost.IsStatus(err, http.StatusNotFound) }

func (r *Resolver) direct(ctx context.Context, email string) (string, error) {
	u, err := r.mm.UserByEmail(ctx, email)
	if notFound(err) {
		return "", fmt.Errorf("%w: no Mattermost user has the email %s", ErrUnknown, email)
	}
	if err != nil {
		return "", err
	}
	if u.DeleteAt != 0 {
		return "", fmt.Errorf("%w: the Mattermost user %s (%s) is deactivated", ErrUnknown, u.Username, email)
	}
	ch, err := r.mm.DirectChannel(ctx, r.botID, u.ID)
	if err != nil {
		return "", err
	}
	return ch.ID, nil
}

// FindChannel finds team/channel by channel name, else by display name
// among the bot's channels of the team (the guide's "myteam/Town Square"
// names the channel town-square).
func (r *Resolver) FindChannel(ctx context.Context, team, channel string) (mattermost.Channel, error) {
	ch, err := r.mm.ChannelByName(ctx, team, channel)
	if err == nil {
		return ch, nil
	}
	if !notFound(err) {
		return mattermost.Channel{}, err
	}
	t, err := r.mm.TeamByName(ctx, team)
	if notFound(err) {
		return mattermost.Channel{}, fmt.Errorf("%w: no Mattermost team is named %q", ErrUnknown, team)
	}
	if mattermost.IsStatus(err, http.StatusForbidden) {
		return mattermost.Channel{}, fmt.Errorf("%w: the bot is not a member of the team %q; add it to the team", ErrUnknown, team)
	}
	if err != nil {
		return mattermost.Channel{}, err
	}
	chs, err := r.mm.ChannelsForUser(ctx, r.botID, t.ID)
	if err != nil {
		return mattermost.Channel{}, err
	}
	for _, c := range chs {
		if c.TeamID == t.ID && c.DeleteAt == 0 && strings.EqualFold(c.DisplayName, channel) {
			return c, nil
		}
	}
	return mattermost.Channel{}, fmt.Errorf("%w: no channel named or displayed %q in team %q that the bot is a member of; check the name and invite the bot (/invite @<bot>)", ErrUnknown, channel, team)
}

func (r *Resolver) teamChannel(ctx context.Context, team, channel string) (string, error) {
	ch, err := r.FindChannel(ctx, team, channel)
	if err != nil {
		return "", err
	}
	err = r.mm.ChannelMember(ctx, ch.ID, r.botID)
	if notFound(err) || mattermost.IsStatus(err, http.StatusForbidden) {
		return "", fmt.Errorf("%w: the bot is not a member of %s/%s; invite it (/invite @<bot>)", ErrUnknown, team, ch.Name)
	}
	if err != nil {
		return "", err
	}
	return ch.ID, nil
}
