// Package posts applies access request events to Mattermost, effectively
// once: one post per request per recipient, one thread reply per review,
// every post updated with the final status. Before each post or reply the
// intent is recorded (posts.recorded on mattermost.posts.<req>); after it,
// its id. An intent found without an id (a crash or an error between the
// call and its record) is resolved by finding the post through its
// request-id prop before posting again.
package posts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/mattermost"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/message"
	"github.com/accessbridge/accessbridge/services/mattermost-bridge/internal/recipients"
)

// Mattermost is what the poster calls.
type Mattermost interface {
	CreatePost(ctx context.Context, p mattermost.Post) (mattermost.Post, error)
	PatchPost(ctx context.Context, id, msg string, props map[string]any) (mattermost.Post, error)
	PostsSince(ctx context.Context, channelID string, since time.Time) ([]mattermost.Post, error)
}

// Targets resolves recipients to channels.
type Targets interface {
	Targets(ctx context.Context, rcs []recipients.Recipient, log zerolog.Logger) ([]recipients.Target, error)
}

// Store reads and writes the record of a request.
type Store interface {
	Load(ctx context.Context, requestID string) (events.MattermostPosts, uint64, error)
	Save(ctx context.Context, rec *events.MattermostPosts, expect uint64) (uint64, error)
}

// Config of a Poster.
type Config struct {
	BotID     string
	Routing   recipients.Routing
	ProxyAddr string // overrides the proxy address of the events for links
	// RecoverBefore: a request created before this time may have posts
	// whose record was lost (the MATTERMOST stream is younger than the
	// request), so they are searched for before posting.
	RecoverBefore time.Time
	// ClockSkew widens every search back in time (default 5m).
	ClockSkew time.Duration
	Now       func() time.Time
	// Latest returns the newest event of a request in the log and when it
	// was published (nil when unknown). A request the log shows resolved or
	// expired more than OverFor ago (default 15m) is not posted when first
	// seen: a bridge started on an existing log, or back after a long stop,
	// does not announce requests long over; one resolved moments ago is
	// posted and updated at once.
	Latest  func(ctx context.Context, requestID string) (*events.RequestEvent, time.Time, error)
	OverFor time.Duration
	// Buttons returns the props that add the Approve / Deny buttons to the
	// pending post of a request in a channel; nil when buttons are off. A
	// post leaving PENDING is patched without them.
	Buttons func(requestID, channelID string) map[string]any
}

// Metrics counted by the poster; nil funcs are skipped.
type Metrics struct {
	Posted, Replied, Updated, Found, Skipped func()
}

// Poster applies request events.
type Poster struct {
	cfg     Config
	mm      Mattermost
	targets Targets
	store   Store
	m       Metrics
}

// New returns a poster.
func New(cfg Config, mm Mattermost, targets Targets, store Store, m Metrics) *Poster {
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OverFor <= 0 {
		cfg.OverFor = 15 * time.Minute
	}
	return &Poster{cfg: cfg, mm: mm, targets: targets, store: store, m: m}
}

func inc(f func()) {
	if f != nil {
		f()
	}
}

// state is the record being changed by one event.
type state struct {
	p   *Poster
	rec events.MattermostPosts
	seq uint64
	log zerolog.Logger
}

func (s *state) save(ctx context.Context, cause string) error {
	s.rec.Version++
	s.rec.Cause = cause
	seq, err := s.p.store.Save(ctx, &s.rec, s.seq)
	if err != nil {
		s.rec.Version--
		return err
	}
	s.seq = seq
	return nil
}

// ApplyRequest brings Mattermost to the state of one request event. It may
// be called more than once for the same event.
func (p *Poster) ApplyRequest(ctx context.Context, ev *events.RequestEvent, log zerolog.Logger) error {
	r := ev.Request
	rec, seq, err := p.store.Load(ctx, r.ID)
	if err != nil {
		return err
	}
	s := &state{p: p, rec: rec, seq: seq, log: log}
	status := message.Status(ev)

	// Intents that were on record before this attempt have no known post
	// yet: search for them before posting.
	searchFrom := map[*events.MattermostPost]time.Time{}
	if len(s.rec.Posts) == 0 {
		over, why, err := p.over(ctx, ev, status)
		if err != nil {
			return err
		}
		if over {
			log.Info().Str("why", why).Msg("request already over when first seen; nothing posted")
			inc(p.m.Skipped)
			return nil
		}
		rcs := p.cfg.Routing.For(r)
		targets, err := p.targets.Targets(ctx, rcs, log)
		if err != nil {
			return err
		}
		if len(targets) == 0 {
			log.Info().Strs("roles", r.Roles).Msg("request skipped: no recipient (configure MATTERMOST_BRIDGE_RECIPIENTS or a role in MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS, or suggest a reviewer by email)")
			inc(p.m.Skipped)
			return nil
		}
		if len(targets) > events.MaxListLen {
			log.Warn().Int("recipients", len(targets)).Int("kept", events.MaxListLen).Msg("too many recipients for one request; the first ones are kept")
			targets = targets[:events.MaxListLen]
		}
		now := p.cfg.Now().UTC()
		for _, t := range targets {
			s.rec.Posts = append(s.rec.Posts, events.MattermostPost{Recipient: t.Recipient, ChannelID: t.ChannelID, IntentAt: now})
		}
		if err := s.save(ctx, "intent:post"); err != nil {
			return err
		}
		if r.Created.Before(p.cfg.RecoverBefore) {
			for i := range s.rec.Posts {
				searchFrom[&s.rec.Posts[i]] = r.Created
			}
		}
	} else {
		for i := range s.rec.Posts {
			if post := &s.rec.Posts[i]; post.PostID == "" {
				searchFrom[post] = post.IntentAt
			}
		}
	}

	// A recipient Mattermost refuses (bot removed from the channel, user
	// deactivated) does not hold back the others: every step goes on with
	// the posts that exist, and the first error is returned at the end so
	// that the event is retried. A server in trouble stops everything.
	var refused error
	for _, step := range []func() error{
		func() error { return p.post(ctx, s, r, status, searchFrom) },
		func() error { return p.reply(ctx, s, r) },
		func() error { return p.update(ctx, s, r, status) },
	} {
		if err := step(); err != nil {
			if !recipientLevel(err) {
				return err
			}
			if refused == nil {
				refused = err
			}
		}
	}
	return refused
}

// note keeps the error that stops the work: the first refused recipient, or
// a server error, which ends the loop (it returns false).
func note(failed *error, err error) (goOn bool) {
	if recipientLevel(err) {
		if *failed == nil {
			*failed = err
		}
		return true
	}
	*failed = err
	return false
}

// recipientLevel reports whether err concerns one post only: a 4xx answer
// other than 429 (which is a RateLimitError), never a conflict of the record.
func recipientLevel(err error) bool {
	var ae *mattermost.APIError
	return !errors.Is(err, ErrConflict) && errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500
}

// over reports whether a request seen for the first time is already over:
// resolved or expired in this event, past its expiry, or resolved or
// expired in a later event of the log published more than OverFor ago.
func (p *Poster) over(ctx context.Context, ev *events.RequestEvent, status string) (bool, string, error) {
	if status != string(events.StatePending) {
		return true, "the event says " + status, nil
	}
	if exp := ev.Request.Expires; !exp.IsZero() && exp.Before(p.cfg.Now()) {
		return true, "expired at " + exp.UTC().Format(time.RFC3339), nil
	}
	if p.cfg.Latest == nil {
		return false, "", nil
	}
	latest, at, err := p.cfg.Latest(ctx, ev.Request.ID)
	if err != nil || latest == nil {
		return false, "", err
	}
	if s := message.Status(latest); s != string(events.StatePending) && p.cfg.Now().Sub(at) > p.cfg.OverFor {
		return true, "the log says " + s + " since " + at.UTC().Format(time.RFC3339), nil
	}
	return false, "", nil
}

// post makes the missing request posts.
func (p *Poster) post(ctx context.Context, s *state, r events.AccessRequest, status string, searchFrom map[*events.MattermostPost]time.Time) error {
	changed := false
	var failed error
	for i := range s.rec.Posts {
		post := &s.rec.Posts[i]
		if post.PostID != "" {
			continue
		}
		if from, ok := searchFrom[post]; ok {
			found, err := p.find(ctx, post.ChannelID, from, r.ID, "", 0)
			if err != nil {
				if note(&failed, err) {
					continue
				}
				break
			}
			if found != nil {
				post.PostID = found.ID
				post.Status, _ = found.Props[message.PropStatus].(string)
				changed = true
				inc(p.m.Found)
				s.log.Info().Str("recipient", post.Recipient).Str("post_id", found.ID).Msg("found the post of an unrecorded intent; not posting again")
				continue
			}
		}
		created, err := p.mm.CreatePost(ctx, mattermost.Post{ChannelID: post.ChannelID,
			Message: message.Request(r, status, p.cfg.ProxyAddr), Props: p.requestProps(r.ID, post.ChannelID, status)})
		if err != nil {
			err = fmt.Errorf("post to %s: %w", post.Recipient, err)
			if note(&failed, err) {
				continue
			}
			break
		}
		post.PostID, post.Status = created.ID, status
		changed = true
		inc(p.m.Posted)
		s.log.Info().Str("recipient", post.Recipient).Str("post_id", created.ID).Msg("request posted")
	}
	return p.settle(ctx, s, changed, "posted", failed)
}

// settle records what was done, then reports the failure that stopped it.
func (p *Poster) settle(ctx context.Context, s *state, changed bool, cause string, failed error) error {
	if changed {
		if err := s.save(ctx, cause); err != nil {
			return errors.Join(failed, err)
		}
	}
	return failed
}

// reply makes one thread reply per review under every post.
func (p *Poster) reply(ctx context.Context, s *state, r events.AccessRequest) error {
	if len(r.Reviews) == 0 {
		return nil
	}
	searchFrom := map[[2]int]time.Time{}
	now := p.cfg.Now().UTC()
	intents := false
	for i := range s.rec.Posts {
		post := &s.rec.Posts[i]
		if post.PostID == "" {
			continue
		}
		have := map[int]bool{}
		for j, rp := range post.Replies {
			have[rp.Review] = true
			if rp.PostID == "" {
				searchFrom[[2]int{i, j}] = rp.IntentAt
			}
		}
		for n := 1; n <= len(r.Reviews); n++ {
			if !have[n] {
				post.Replies = append(post.Replies, events.MattermostReply{Review: n, IntentAt: now})
				intents = true
			}
		}
	}
	if intents {
		if err := s.save(ctx, "intent:review:"+strconv.Itoa(len(r.Reviews))); err != nil {
			return err
		}
	}
	changed := false
	var failed error
loop:
	for i := range s.rec.Posts {
		post := &s.rec.Posts[i]
		for j := range post.Replies {
			rp := &post.Replies[j]
			if rp.PostID != "" || rp.Review > len(r.Reviews) {
				continue
			}
			if from, ok := searchFrom[[2]int{i, j}]; ok {
				found, err := p.find(ctx, post.ChannelID, from, r.ID, post.PostID, rp.Review)
				if err != nil {
					if note(&failed, err) {
						continue loop
					}
					break loop
				}
				if found != nil {
					rp.PostID = found.ID
					changed = true
					inc(p.m.Found)
					continue
				}
			}
			created, err := p.mm.CreatePost(ctx, mattermost.Post{ChannelID: post.ChannelID, RootID: post.PostID,
				Message: message.Review(r.Reviews[rp.Review-1]), Props: message.ReviewProps(r.ID, rp.Review)})
			if err != nil {
				if note(&failed, fmt.Errorf("reply to %s: %w", post.Recipient, err)) {
					continue loop
				}
				break loop
			}
			rp.PostID = created.ID
			changed = true
			inc(p.m.Replied)
		}
	}
	return p.settle(ctx, s, changed, "replied:"+strconv.Itoa(len(r.Reviews)), failed)
}

// update writes the status into every post that shows another one.
func (p *Poster) update(ctx context.Context, s *state, r events.AccessRequest, status string) error {
	changed := false
	var failed error
	for i := range s.rec.Posts {
		post := &s.rec.Posts[i]
		// A final status is never changed: an older event (a redelivered
		// request.created) must not bring a resolved post back to PENDING.
		if post.PostID == "" || post.Status == status || final(post.Status) {
			continue
		}
		if _, err := p.mm.PatchPost(ctx, post.PostID, message.Request(r, status, p.cfg.ProxyAddr), p.requestProps(r.ID, post.ChannelID, status)); err != nil {
			if note(&failed, fmt.Errorf("update the post to %s: %w", post.Recipient, err)) {
				continue
			}
			break
		}
		post.Status = status
		changed = true
		inc(p.m.Updated)
	}
	if changed {
		s.log.Info().Str("status", status).Msg("posts updated")
	}
	return p.settle(ctx, s, changed, "status:"+status, failed)
}

// requestProps are the props of a request post, with the buttons while it
// is pending and buttons are on.
func (p *Poster) requestProps(requestID, channelID, status string) map[string]any {
	props := message.RequestProps(requestID, status)
	if p.cfg.Buttons != nil && status == string(events.StatePending) {
		for k, v := range p.cfg.Buttons(requestID, channelID) {
			props[k] = v
		}
	}
	return props
}

func final(status string) bool {
	return status != "" && status != string(events.StatePending)
}

// find looks for the bot's post of a request in a channel since a time:
// the request post (rootID "") or the reply of review n under rootID.
func (p *Poster) find(ctx context.Context, channelID string, since time.Time, requestID, rootID string, review int) (*mattermost.Post, error) {
	posts, err := p.mm.PostsSince(ctx, channelID, since.Add(-p.cfg.ClockSkew))
	if err != nil {
		return nil, fmt.Errorf("search channel %s for the post of %s: %w", channelID, requestID, err)
	}
	for i := range posts {
		q := &posts[i]
		if q.UserID != p.cfg.BotID || q.DeleteAt != 0 || q.RootID != rootID || q.Props[message.PropRequestID] != requestID {
			continue
		}
		if rootID == "" && q.Props[message.PropKind] == message.KindRequest {
			return q, nil
		}
		if rootID != "" && q.Props[message.PropKind] == message.KindReview && q.Props[message.PropReview] == strconv.Itoa(review) {
			return q, nil
		}
	}
	return nil, nil
}
