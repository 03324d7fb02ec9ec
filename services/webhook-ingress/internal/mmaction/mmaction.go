// Package mmaction is the webhook-ingress's endpoint for the Approve / Deny
// buttons of the mattermost-bridge's posts. Mattermost's server POSTs a
// click (model.PostActionIntegrationRequest) with the button's context; the
// handler checks the context's HMAC token — bound to the request id, the
// verdict and the channel Mattermost names — in constant time before
// anything else, limits the body, and records the click as
// action.received.v1 on mattermost.actions.<req>. It decides nothing: the
// mattermost-bridge maps the user through its allow-list and the
// teleport-bridge applies the decision.
package mmaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// MaxBody is the default body limit: a click is a few hundred bytes.
const MaxBody = 16 << 10

// Results counted by accessbridge_webhook_ingress_mattermost_actions_total.
const (
	ResultPublished   = "published"
	ResultDuplicate   = "duplicate"
	ResultBadToken    = "bad_token"
	ResultInvalid     = "invalid"
	ResultTooLarge    = "too_large"
	ResultRateLimited = "rate_limited"
	ResultUnavailable = "unavailable"
)

// Publisher records an action; it returns once the stream acknowledged it.
type Publisher interface {
	Publish(ctx context.Context, a *events.MattermostAction) (duplicate bool, err error)
}

// Options of a Handler.
type Options struct {
	// Keys are the button-token keys accepted: the one the mattermost-bridge
	// signs with, and during a rotation the previous one (pending posts
	// keep the tokens they were posted with).
	Keys           [][]byte
	Publisher      Publisher
	Log            zerolog.Logger
	Registry       prometheus.Registerer
	MaxBody        int64
	PublishTimeout time.Duration
	// ClientIP names the caller for logs and the rate limit.
	ClientIP func(*http.Request) string
	// Allow is the per-IP rate limit (nil: none).
	Allow func(ip string) bool
	Now   func() time.Time
}

// Handler serves POST <path>.
type Handler struct {
	o       Options
	results *prometheus.CounterVec
}

// New returns a handler; each key must be at least events.MinButtonKeyLen.
func New(o Options) (*Handler, error) {
	if len(o.Keys) == 0 {
		return nil, errors.New("mattermost button key: none")
	}
	for _, k := range o.Keys {
		if len(k) < events.MinButtonKeyLen {
			return nil, fmt.Errorf("mattermost button key: at least %d bytes", events.MinButtonKeyLen)
		}
	}
	if o.Publisher == nil {
		return nil, errors.New("mmaction: no Publisher")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = MaxBody
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientIP == nil {
		o.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	h := &Handler{o: o, results: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "accessbridge_webhook_ingress_mattermost_actions_total",
		Help: "Mattermost button clicks received, by result (published, duplicate, bad_token, invalid, too_large, rate_limited, unavailable).",
	}, []string{"result"})}
	if o.Registry != nil {
		if err := o.Registry.Register(h.results); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return h, nil
}

// request is the part of Mattermost's PostActionIntegrationRequest read.
type request struct {
	UserID    string `json:"user_id"`
	UserName  string `json:"user_name"`
	ChannelID string `json:"channel_id"`
	TeamID    string `json:"team_id"`
	PostID    string `json:"post_id"`
	TriggerID string `json:"trigger_id"`
	Context   struct {
		RequestID string `json:"request_id"`
		Action    string `json:"action"`
		Token     string `json:"token"`
	} `json:"context"`
}

// answer is Mattermost's PostActionIntegrationResponse.
type answer struct {
	EphemeralText string `json:"ephemeral_text,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := h.o.ClientIP(r)
	log := h.o.Log.With().Str("source_ip", ip).Str("endpoint", "mattermost-actions").Logger()
	if h.o.Allow != nil && !h.o.Allow(ip) {
		h.fail(w, http.StatusTooManyRequests, ResultRateLimited)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		h.fail(w, http.StatusRequestEntityTooLarge, ResultTooLarge)
		return
	}
	if err != nil {
		h.fail(w, http.StatusBadRequest, ResultInvalid)
		return
	}
	// The token first: nothing else of an unauthenticated body is used.
	var in request
	_ = json.Unmarshal(body, &in) // a body that is not JSON has no token
	v := events.Verdict(in.Context.Action)
	if !h.validToken(in.Context.Token, in.Context.RequestID, in.ChannelID, v) {
		log.Warn().Bool("security", true).Str("event", "bad_button_token").
			Msg("SECURITY: a Mattermost action without a valid button token was refused (401)")
		h.fail(w, http.StatusUnauthorized, ResultBadToken)
		return
	}
	a := &events.MattermostAction{
		RequestID: in.Context.RequestID, Verdict: v, UserID: in.UserID, UserName: in.UserName,
		ChannelID: in.ChannelID, PostID: in.PostID, TeamID: in.TeamID, TriggerID: in.TriggerID,
		ReceivedAt: h.o.Now().UTC(), SourceIP: ip,
	}
	if err := a.Validate(); err != nil {
		log.Warn().Err(err).Msg("Mattermost action with a valid token but invalid fields refused (400)")
		h.fail(w, http.StatusBadRequest, ResultInvalid)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.PublishTimeout)
	defer cancel()
	dup, err := h.o.Publisher.Publish(ctx, a)
	if err != nil {
		log.Error().Err(err).Str("request_id", a.RequestID).Msg("could not record a Mattermost action; answered 503")
		w.Header().Set("Retry-After", "5")
		h.fail(w, http.StatusServiceUnavailable, ResultUnavailable)
		return
	}
	res := ResultPublished
	if dup {
		res = ResultDuplicate
	}
	h.results.WithLabelValues(res).Inc()
	log.Info().Str("request_id", a.RequestID).Str("verdict", string(v)).Str("mattermost_user_id", a.UserID).
		Str("post_id", a.PostID).Bool("duplicate", dup).Msg("Mattermost action recorded")
	verb := map[events.Verdict]string{events.VerdictApprove: "approval", events.VerdictDeny: "denial"}[v]
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer{EphemeralText: fmt.Sprintf(
		"Your %s of access request %s was received. Teleport applies it only if you are an allowed reviewer; the post shows the outcome.", verb, a.RequestID)})
}

// validToken checks the token under every key, each in constant time, and
// always all of them (the time does not tell which key matched).
func (h *Handler) validToken(tok, requestID, channelID string, v events.Verdict) bool {
	ok := false
	for _, k := range h.o.Keys {
		if events.CheckButtonToken(k, tok, requestID, channelID, v) {
			ok = true
		}
	}
	return ok
}

func (h *Handler) fail(w http.ResponseWriter, status int, result string) {
	h.results.WithLabelValues(result).Inc()
	http.Error(w, http.StatusText(status), status)
}
