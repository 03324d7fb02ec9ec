package events

import (
	"fmt"
	"strconv"
	"time"
)

// The mattermost-bridge's log (DESIGN.md §11): stream MATTERMOST, subjects
// mattermost.posts.<req>, declared by the mattermost-bridge.
const (
	StreamMattermost       = "MATTERMOST"
	SubjectMattermostPosts = "mattermost.posts"
)

// MattermostStream holds mattermost.> (the bridge's post records).
func MattermostStream() StreamSpec {
	return StreamSpec{Name: StreamMattermost, Subjects: []string{"mattermost.>"}}
}

// MattermostPostsSubject is mattermost.posts.<req>.
func MattermostPostsSubject(requestID string) string {
	return SubjectMattermostPosts + "." + requestID
}

// Mattermost post statuses beyond the request states.
const (
	// MattermostStatusExpired is shown on the posts of an expired request.
	MattermostStatusExpired = "EXPIRED"
)

// MattermostPosts is the payload of posts.recorded.v1: the full record of
// the Mattermost posts of one request after a change (an intent before a
// post or reply, the post ids after it, the status written into the posts).
// The last event of mattermost.posts.<req> is the current record; Version
// counts the changes (1, 2, …) and makes the event id.
type MattermostPosts struct {
	RequestID string           `json:"request_id"`
	Version   int              `json:"version"`
	Cause     string           `json:"cause"`
	Posts     []MattermostPost `json:"posts"`
}

// MattermostPost is the post of a request to one recipient.
type MattermostPost struct {
	// Recipient is the configured or suggested recipient: an email (direct
	// message) or team/channel.
	Recipient string `json:"recipient"`
	ChannelID string `json:"channel_id"`
	// PostID is empty while only the intent is on record.
	PostID string `json:"post_id,omitempty"`
	// IntentAt is when the intent was recorded: a post made after a crash
	// that lost its id is searched from this time.
	IntentAt time.Time `json:"intent_at"`
	// Status is the request status the post shows (PENDING, APPROVED,
	// DENIED, PROMOTED, EXPIRED).
	Status  string            `json:"status,omitempty"`
	Replies []MattermostReply `json:"replies,omitempty"`
}

// MattermostReply is the thread reply for one review.
type MattermostReply struct {
	Review   int       `json:"review"`
	PostID   string    `json:"post_id,omitempty"`
	IntentAt time.Time `json:"intent_at"`
}

// NewMattermostPosts builds the record event of a change.
func NewMattermostPosts(requestID string, version int, cause string, posts []MattermostPost) *MattermostPosts {
	return &MattermostPosts{RequestID: requestID, Version: version, Cause: cause, Posts: posts}
}

// EventType implements Payload.
func (*MattermostPosts) EventType() Type { return PostsRecorded }

// Subject implements Payload.
func (m *MattermostPosts) Subject() string { return MattermostPostsSubject(m.RequestID) }

// DedupID implements Payload: <req>:posts:<version>.
func (m *MattermostPosts) DedupID() string {
	return m.RequestID + ":posts:" + strconv.Itoa(m.Version)
}

// Validate implements Payload.
func (m *MattermostPosts) Validate() error {
	if err := token("request_id", m.RequestID); err != nil {
		return err
	}
	if m.Version < 1 {
		return fmt.Errorf("version: %d is not positive", m.Version)
	}
	if err := required("cause", m.Cause, MaxNameLen); err != nil {
		return err
	}
	if len(m.Posts) > MaxListLen {
		return fmt.Errorf("posts: %d entries, over %d", len(m.Posts), MaxListLen)
	}
	for i, p := range m.Posts {
		f := fmt.Sprintf("posts[%d]", i)
		if err := required(f+".recipient", p.Recipient, MaxNameLen); err != nil {
			return err
		}
		if err := token(f+".channel_id", p.ChannelID); err != nil {
			return err
		}
		if p.PostID != "" {
			if err := token(f+".post_id", p.PostID); err != nil {
				return err
			}
		}
		if p.IntentAt.IsZero() {
			return fmt.Errorf("%s.intent_at: must be set", f)
		}
		if err := checkLen(f+".status", p.Status, MaxNameLen); err != nil {
			return err
		}
		if len(p.Replies) > MaxListLen {
			return fmt.Errorf("%s.replies: %d entries, over %d", f, len(p.Replies), MaxListLen)
		}
		for j, r := range p.Replies {
			rf := fmt.Sprintf("%s.replies[%d]", f, j)
			if r.Review < 1 {
				return fmt.Errorf("%s.review: %d is not positive", rf, r.Review)
			}
			if r.PostID != "" {
				if err := token(rf+".post_id", r.PostID); err != nil {
					return err
				}
			}
			if r.IntentAt.IsZero() {
				return fmt.Errorf("%s.intent_at: must be set", rf)
			}
		}
	}
	return nil
}
