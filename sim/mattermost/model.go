package mattermostsim

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// Channel types, as Mattermost names them.
const (
	ChannelOpen    = "O"
	ChannelPrivate = "P"
	ChannelDirect  = "D"
)

// MaxMessageRunes is the longest post message the server accepts
// (model.PostMessageMaxRunesV2).
const MaxMessageRunes = 16383

// maxPropsBytes bounds the encoded props of one post (the server's limit is
// 800,000 runes; this is of the same order).
const maxPropsBytes = 800000

// User is a Mattermost account. Token is its personal access token (a bot's
// token), never shown by the API.
type User struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Nickname  string `json:"nickname"`
	IsBot     bool   `json:"is_bot"`
	Roles     string `json:"roles"`
	Token     string `json:"-"`
}

// Team is a Mattermost team.
type Team struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Type        string `json:"type"`
}

// Channel is a channel; Members holds user ids.
type Channel struct {
	ID          string
	TeamID      string
	Name        string
	DisplayName string
	Type        string
	CreatorID   string
	CreateAt    int64
	UpdateAt    int64
	LastPostAt  int64
	Members     map[string]bool
	seq         int // creation order
}

// Post is a message, as stored.
type Post struct {
	ID        string         `json:"id"`
	CreateAt  int64          `json:"create_at"`
	UpdateAt  int64          `json:"update_at"`
	EditAt    int64          `json:"edit_at"`
	DeleteAt  int64          `json:"delete_at"`
	IsPinned  bool           `json:"is_pinned"`
	UserID    string         `json:"user_id"`
	ChannelID string         `json:"channel_id"`
	RootID    string         `json:"root_id"`
	Message   string         `json:"message"`
	Type      string         `json:"type"`
	Props     map[string]any `json:"props"`
}

// newID returns a 26-character Mattermost id (lowercase base32).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	return s[:26]
}

// validID reports whether s looks like a Mattermost id (model.IsValidId).
func validID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// dmName is the name of the direct channel of two users: their ids, sorted,
// joined by "__" (model.GetDMNameFromIds).
func dmName(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "__" + b
}
