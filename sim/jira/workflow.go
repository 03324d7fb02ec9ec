package jirasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StatusChange is one status transition of an issue, from its changelog.
type StatusChange struct {
	HistoryID string    `json:"historyId"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Author    string    `json:"author"` // accountId
	At        time.Time `json:"at"`
}

// availableTransitions lists the transitions available from a status.
func (s *Server) availableTransitions(from string) []Transition {
	var out []Transition
	if s.opts.Transitions == nil {
		for i, st := range s.opts.Statuses {
			if !strings.EqualFold(st.Name, from) {
				out = append(out, Transition{ID: strconv.Itoa(11 + 10*i), Name: st.Name, To: st.Name})
			}
		}
		return out
	}
	for _, t := range s.opts.Transitions {
		if strings.EqualFold(t.To, from) && len(t.From) == 0 {
			continue
		}
		if len(t.From) == 0 || containsFold(t.From, from) {
			out = append(out, t)
		}
	}
	return out
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

func (s *Server) transitionsJSON(from string) []any {
	out := []any{}
	for _, t := range s.availableTransitions(from) {
		st, _ := s.status(t.To)
		out = append(out, map[string]any{
			"id": t.ID, "name": t.Name, "to": s.statusJSON(st),
			"hasScreen": false, "isGlobal": len(t.From) == 0, "isInitial": false,
			"isAvailable": true, "isConditional": false, "isLooped": false,
		})
	}
	return out
}

// Transitions returns the status changes of an issue, oldest first.
func (s *Server) Transitions(idOrKey string) []StatusChange {
	var out []StatusChange
	for _, h := range s.History(idOrKey) {
		for _, it := range h.Items {
			if it.FieldID == "status" {
				out = append(out, StatusChange{HistoryID: h.ID, From: it.FromString, To: it.ToString, Author: h.Author, At: h.Created})
			}
		}
	}
	return out
}

// Move transitions an issue to status as asUser, as a reviewer dragging the
// card on a board would: it needs a transition available from the current
// status, writes the changelog, adds the comment if any, and sends the
// webhook.
func (s *Server) Move(idOrKey, status, asUser, comment string) error {
	actor, ok := s.findUser(asUser)
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, asUser)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(idOrKey)
	if iss == nil {
		return fmt.Errorf("%w: issue %q", ErrNotFound, idOrKey)
	}
	for _, t := range s.availableTransitions(iss.status) {
		if strings.EqualFold(t.To, status) || strings.EqualFold(t.Name, status) {
			s.transitionLocked(iss, t, actor, comment)
			return nil
		}
	}
	return fmt.Errorf("jirasim: no transition from %q to %q for %s", iss.status, status, iss.key)
}

// transitionLocked moves an issue along t and emits jira:issue_updated.
func (s *Server) transitionLocked(iss *issue, t Transition, actor *User, commentBody string) {
	from, _ := s.status(iss.status)
	to, _ := s.status(t.To)
	now := s.opts.Now()
	statusItem := ChangeItem{Field: "status", FieldType: "jira", FieldID: "status", From: from.ID, FromString: from.Name, To: to.ID, ToString: to.Name}
	var resItem *ChangeItem
	switch {
	case to.Category == CategoryDone && !iss.resolved:
		resItem = &ChangeItem{Field: "resolution", FieldType: "jira", FieldID: "resolution", To: "10000", ToString: "Done"}
		iss.resolved, iss.resolvedAt = true, now
	case to.Category != CategoryDone && iss.resolved:
		resItem = &ChangeItem{Field: "resolution", FieldType: "jira", FieldID: "resolution", From: "10000", FromString: "Done"}
		iss.resolved = false
	}
	// Item order as in the captured payloads: Cloud lists the resolution
	// first, Server the status first.
	items := []ChangeItem{statusItem}
	if resItem != nil {
		if s.opts.Flavor == FlavorCloud {
			items = []ChangeItem{*resItem, statusItem}
		} else {
			items = append(items, *resItem)
		}
	}
	iss.prevStatus, iss.status, iss.statusChangedAt = iss.status, to.Name, now
	h := s.recordLocked(iss, actor, items)
	var c *comment
	if strings.TrimSpace(commentBody) != "" {
		c = s.commentLocked(iss, actor, commentBody, false)
	}
	eventType := "issue_generic"
	if s.opts.Flavor == FlavorServer && resItem != nil && iss.resolved {
		eventType = "issue_resolved"
	}
	s.emitLocked(EventIssueUpdated, eventType, iss, actor, h, c)
}

func (s *Server) handleGetTransitions(w http.ResponseWriter, r *http.Request) {
	lag := s.Faults().ReadLag
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"expand": "transitions", "transitions": s.transitionsJSON(s.visibleStatus(iss, lag))})
}

// transitionRequest is the body of POST /issue/{id}/transitions.
type transitionRequest struct {
	Transition *struct {
		ID string `json:"id"`
	} `json:"transition"`
	Fields map[string]json.RawMessage `json:"fields"`
	Update struct {
		Comment []struct {
			Add struct {
				Body string `json:"body"`
			} `json:"add"`
		} `json:"comment"`
	} `json:"update"`
}

func (s *Server) handleDoTransition(w http.ResponseWriter, r *http.Request) {
	var req transitionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Transition == nil || req.Transition.ID == "" {
		writeError(w, http.StatusBadRequest, []string{"Missing 'transition' identifier"}, nil)
		return
	}
	for k := range req.Fields {
		if k != "resolution" {
			writeError(w, http.StatusBadRequest, nil, map[string]string{k: fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)})
			return
		}
	}
	actor := caller(r)
	if !s.hasPermission(actor, "TRANSITION_ISSUES") {
		writeError(w, http.StatusBadRequest, []string{"You do not have permission to transition this issue."}, nil)
		return
	}
	var comments []string
	for _, c := range req.Update.Comment {
		if strings.TrimSpace(c.Add.Body) != "" {
			comments = append(comments, c.Add.Body)
		}
	}
	if len(comments) > 0 && s.opts.TransitionScreensRefuseComments {
		writeError(w, http.StatusBadRequest, nil, map[string]string{"comment": "Field 'comment' cannot be set. It is not on the appropriate screen, or unknown."})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.findIssueLocked(r.PathValue("issueIdOrKey"))
	if iss == nil {
		issueNotFound(w)
		return
	}
	for _, t := range s.availableTransitions(iss.status) {
		if t.ID == req.Transition.ID {
			s.transitionLocked(iss, t, actor, strings.Join(comments, "\n\n"))
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, http.StatusBadRequest, []string{fmt.Sprintf("Transition id '%s' is not valid for this issue.", req.Transition.ID)}, nil)
}
