package mattermostsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Interactive message buttons, as the server's DoPostAction runs them: a
// client asks POST /api/v4/posts/{post_id}/actions/{action_id}; the server
// finds the button among the post's props.attachments[].actions, POSTs a
// PostActionIntegrationRequest to the button's integration.url (the context
// comes from the stored post, never from the client), and applies the
// integration's answer: update replaces the post's message and props,
// ephemeral_text is shown to the clicking user only.

// ActionRequest is the body Mattermost sends to an integration
// (model.PostActionIntegrationRequest).
type ActionRequest struct {
	UserID      string         `json:"user_id"`
	UserName    string         `json:"user_name"`
	ChannelID   string         `json:"channel_id"`
	ChannelName string         `json:"channel_name"`
	TeamID      string         `json:"team_id"`
	TeamName    string         `json:"team_domain"`
	PostID      string         `json:"post_id"`
	TriggerID   string         `json:"trigger_id"`
	Type        string         `json:"type"`
	DataSource  string         `json:"data_source"`
	Context     map[string]any `json:"context,omitempty"`
}

// ActionResponse is the integration's answer
// (model.PostActionIntegrationResponse).
type ActionResponse struct {
	Update           *Post  `json:"update"`
	EphemeralText    string `json:"ephemeral_text"`
	SkipSlackParsing bool   `json:"skip_slack_parsing"`
}

// Ephemeral is a message shown to one user (ephemeral_text).
type Ephemeral struct {
	UserID    string
	ChannelID string
	Message   string
}

// errAction is the server's answer when the integration fails or answers
// other than 200.
var errAction = appError{ID: "api.post.do_action.action_integration.app_error", Message: "Action integration error.", StatusCode: http.StatusBadRequest}

// maxActionResponse bounds the integration's answer the server reads.
const maxActionResponse = 1 << 20

type action struct {
	ID         string
	URL        string
	Context    map[string]any
	Type       string
	DataSource string
}

// findAction looks the button up in the post's props.attachments.
func findAction(p *Post, actionID string) (action, bool) {
	atts, _ := p.Props["attachments"].([]any)
	for _, a := range atts {
		am, _ := a.(map[string]any)
		acts, _ := am["actions"].([]any)
		for _, x := range acts {
			m, _ := x.(map[string]any)
			if id, _ := m["id"].(string); id != actionID {
				continue
			}
			integ, _ := m["integration"].(map[string]any)
			url, _ := integ["url"].(string)
			ctx, _ := integ["context"].(map[string]any)
			typ, _ := m["type"].(string)
			ds, _ := m["data_source"].(string)
			return action{ID: actionID, URL: url, Context: ctx, Type: typ, DataSource: ds}, url != ""
		}
	}
	return action{}, false
}

func (s *Server) handleDoPostAction(w http.ResponseWriter, r *http.Request) {
	me := callOf(r).user
	s.mu.Lock()
	p := s.posts[r.PathValue("post_id")]
	if p == nil || p.DeleteAt != 0 {
		s.mu.Unlock()
		writeErr(w, r, errNoPost, "")
		return
	}
	c := s.channels[p.ChannelID]
	if c == nil || !s.canReadLocked(me, c) {
		s.mu.Unlock()
		writeErr(w, r, errPermissions, "")
		return
	}
	act, ok := findAction(p, r.PathValue("action_id"))
	if !ok {
		s.mu.Unlock()
		writeErr(w, r, errNotFound404, "action "+r.PathValue("action_id"))
		return
	}
	req := ActionRequest{UserID: me.ID, UserName: me.Username, ChannelID: c.ID, ChannelName: c.Name, TeamID: c.TeamID,
		PostID: p.ID, TriggerID: newID(), Type: act.Type, DataSource: act.DataSource, Context: act.Context}
	if t := s.teams[c.TeamID]; t != nil {
		req.TeamName = t.Name
	}
	s.mu.Unlock()

	// The integration is called without the lock: it may call the API back.
	resp, err := s.callIntegration(r.Context(), act.URL, req)
	if err != nil {
		writeErr(w, r, errAction, err.Error())
		return
	}
	s.mu.Lock()
	if resp.Update != nil {
		if p := s.posts[req.PostID]; p != nil {
			// The server keeps the post's identity and the props it owns.
			props := resp.Update.Props
			if props == nil {
				props = map[string]any{}
			}
			for _, k := range []string{"from_bot", "from_webhook", "override_username", "override_icon_url"} {
				if v, ok := p.Props[k]; ok {
					props[k] = v
				}
			}
			p.Message, p.Props = resp.Update.Message, props
			s.touch(p)
		}
	}
	if resp.EphemeralText != "" {
		s.ephemerals = append(s.ephemerals, Ephemeral{UserID: me.ID, ChannelID: req.ChannelID, Message: resp.EphemeralText})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"status": "OK", "trigger_id": req.TriggerID})
}

func (s *Server) callIntegration(ctx context.Context, url string, req ActionRequest) (ActionResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return ActionResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return ActionResponse{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		return ActionResponse{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxActionResponse))
	if err != nil {
		return ActionResponse{}, err
	}
	if res.StatusCode != http.StatusOK {
		return ActionResponse{}, fmt.Errorf("integration answered %d: %s", res.StatusCode, strings.TrimSpace(string(raw)))
	}
	var out ActionResponse
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return ActionResponse{}, fmt.Errorf("integration answer: %w", err)
		}
	}
	return out, nil
}

// Ephemerals returns the ephemeral messages shown so far.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ephemeral(nil), s.ephemerals...)
}

// ClickError is a refused click: the server's AppError.
type ClickError struct {
	Status int
	Body   string
}

func (e *ClickError) Error() string { return fmt.Sprintf("click answered %d: %s", e.Status, e.Body) }

// Click presses a button of a post as username (with the user's token),
// through the API as the web app does.
func (s *Server) Click(ctx context.Context, postID, actionID, username string) error {
	s.mu.Lock()
	u := s.userByNameLocked(username)
	s.mu.Unlock()
	if u == nil || u.Token == "" {
		return errors.New("mattermostsim: Click: unknown user or user without a token: " + username)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/api/v4/posts/"+postID+"/actions/"+actionID, strings.NewReader("{}"))
	if err != nil {
		return err
	}
	hr.Header.Set("Authorization", "Bearer "+u.Token)
	hr.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return &ClickError{Status: res.StatusCode, Body: string(raw)}
	}
	return nil
}
