package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// What the client learns about the workflow as it goes, so that the
// steady state makes no read: the initial status of each (project, issue
// type), the transition ids out of each status, whether the site honours a
// transition in the create call (Jira Cloud documents it; Data Center
// ignores it), and whether transition screens accept a comment.

// WorkflowKey names the transitions out of one status.
type WorkflowKey struct {
	Project, IssueType, From string
}

func (k WorkflowKey) norm() WorkflowKey {
	return WorkflowKey{strings.ToUpper(k.Project), strings.ToLower(k.IssueType), strings.ToLower(k.From)}
}

type typeKey struct{ project, issueType string }

// tristate is unknown until learned.
type tristate int

const (
	unknown tristate = iota
	yes
	no
)

type workflow struct {
	mu          sync.Mutex
	initial     map[typeKey]string
	transitions map[WorkflowKey]map[string]string // target status (lower case) → transition id
	// createTransition: does a create call carrying a transition land the
	// issue in its target status (Cloud)? misses counts the checks that
	// read the issue elsewhere: Jira Cloud's reads lag its writes, so one
	// stale read does not settle it.
	createTransition tristate
	misses           int
	// commentOnTransition: does a transition accept a comment?
	commentOnTransition tristate
	users               map[string]userEntry
}

type userEntry struct {
	user  User
	found bool
	at    time.Time
}

func (w *workflow) init() {
	if w.initial == nil {
		w.initial = map[typeKey]string{}
		w.transitions = map[WorkflowKey]map[string]string{}
		w.users = map[string]userEntry{}
	}
}

func (w *workflow) transitionID(k WorkflowKey, to string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	id, ok := w.transitions[k.norm()][strings.ToLower(to)]
	return id, ok
}

func (w *workflow) learnTransitions(k WorkflowKey, ts []Transition) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	m := map[string]string{}
	for _, t := range ts {
		if _, dup := m[strings.ToLower(t.To.Name)]; !dup {
			m[strings.ToLower(t.To.Name)] = t.ID
		}
	}
	w.transitions[k.norm()] = m
}

func (w *workflow) forget(k WorkflowKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	delete(w.transitions, k.norm())
}

// InitialStatus returns the status new issues of a project and type start
// in, once learned.
func (c *Client) InitialStatus(project, issueType string) (string, bool) {
	w := &c.wf
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	s, ok := w.initial[typeKey{strings.ToUpper(project), strings.ToLower(issueType)}]
	return s, ok
}

func (c *Client) learnInitial(project, issueType, status string) {
	w := &c.wf
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	w.initial[typeKey{strings.ToUpper(project), strings.ToLower(issueType)}] = status
}

func (c *Client) setCreateTransition(v tristate) {
	c.wf.mu.Lock()
	c.wf.createTransition = v
	c.wf.mu.Unlock()
}

func (c *Client) createTransitionState() tristate {
	c.wf.mu.Lock()
	defer c.wf.mu.Unlock()
	return c.wf.createTransition
}

// TransitionComments reports whether transitions are known to refuse a
// comment (learned from the first refusal).
func (c *Client) TransitionCommentsRefused() bool {
	c.wf.mu.Lock()
	defer c.wf.mu.Unlock()
	return c.wf.commentOnTransition == no
}

// IssueState is an issue's status with the transitions available from it.
type IssueState struct {
	Status      string
	Transitions []Transition
}

// ReadState reads an issue's status and available transitions in one call
// (GET issue with expand=transitions) and learns the transitions out of
// that status for the project and issue type.
func (c *Client) ReadState(ctx context.Context, idOrKey, project, issueType string) (IssueState, error) {
	q := url.Values{"fields": {"status"}, "expand": {"transitions"}}
	var j struct {
		Fields struct {
			Status *struct {
				Name string `json:"name"`
			} `json:"status"`
		} `json:"fields"`
		Transitions []Transition `json:"transitions"`
	}
	if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"?"+q.Encode(), nil, &j); err != nil {
		return IssueState{}, err
	}
	st := IssueState{Transitions: j.Transitions}
	if j.Fields.Status != nil {
		st.Status = j.Fields.Status.Name
	}
	if st.Status != "" && project != "" {
		c.wf.learnTransitions(WorkflowKey{project, issueType, st.Status}, j.Transitions)
	}
	return st, nil
}

// NewIssue is what Create needs.
type NewIssue struct {
	Project, IssueType string
	Fields             map[string]any
	Properties         map[string]any
	// Target is the status the issue should reach (Pending). Where the
	// site honours a transition in the create call and the transition from
	// the initial status is known, the create carries it.
	Target string
}

// Created is a created issue and the status it is known to be in.
type Created struct {
	IssueRef
	// Status is the issue's status after the create: Target when the
	// create carried the transition, else the workflow's initial status.
	Status string
}

// Create creates an issue. The first create of a project and issue type
// reads the new issue once (GET with its transitions) to learn the
// workflow's initial status and the transitions out of it; on Jira Cloud,
// the first create that carries a transition is read once to learn whether
// the site honours it. After that, a create is one call.
func (c *Client) Create(ctx context.Context, in NewIssue) (Created, error) {
	fields := in.Fields
	fields["project"] = map[string]string{"key": in.Project}
	fields["issuetype"] = map[string]string{"name": in.IssueType}
	initial, known := c.InitialStatus(in.Project, in.IssueType)
	transitionID := ""
	if known && in.Target != "" && !strings.EqualFold(initial, in.Target) && c.deployment == DeploymentCloud && c.createTransitionState() != no {
		transitionID, _ = c.wf.transitionID(WorkflowKey{in.Project, in.IssueType, initial}, in.Target)
	}
	ref, err := c.createIssue(ctx, fields, in.Properties, transitionID)
	if transitionID != "" && IsStatus(err, http.StatusBadRequest) {
		// A 400 creates nothing: try again without the transition, and do
		// not offer it again.
		c.setCreateTransition(no)
		transitionID = ""
		ref, err = c.createIssue(ctx, fields, in.Properties, "")
	}
	if err != nil {
		return Created{}, err
	}
	out := Created{IssueRef: ref, Status: initial}
	switch {
	case transitionID != "" && c.createTransitionState() == yes:
		out.Status = in.Target
	case !known:
		// Learn the initial status.
		st, err := c.ReadState(ctx, ref.ID, in.Project, in.IssueType)
		if err != nil {
			// The issue exists; its status stays unknown ("") and is read
			// when it matters.
			return Created{IssueRef: ref}, nil
		}
		out.Status = st.Status
		c.learnInitial(in.Project, in.IssueType, st.Status)
	case transitionID != "":
		// Learn whether the site honours the transition.
		out.Status = c.createdStatus(ctx, ref, in, initial)
	}
	return out, nil
}

// maxCreateTransitionMisses is how many checks must find a create's
// transition not applied before the bridge stops offering it.
const maxCreateTransitionMisses = 3

// createReadLag bounds how long a create's transition is looked for:
// Jira's reads may show the issue in its initial status for a few seconds
// after a create that moved it.
const createReadLag = 10 * time.Second

// createdStatus reads a new issue created with a transition until it shows
// a status other than the workflow's initial one, for createReadLag at
// most, and learns from it whether the site honours the transition. A read
// that still shows the initial status may be stale: acting on it — moving
// the issue "from" there — could move a card a reviewer has meanwhile
// moved on, since a transition to Pending is usually available from every
// status. Only after createReadLag is the initial status believed (a miss).
// It returns "" when the status stays unknown.
func (c *Client) createdStatus(ctx context.Context, ref IssueRef, in NewIssue, initial string) string {
	deadline := time.Now().Add(createReadLag)
	wait := 250 * time.Millisecond
	for {
		st, err := c.ReadState(ctx, ref.ID, in.Project, in.IssueType)
		switch {
		case err != nil:
			return ""
		case strings.EqualFold(st.Status, in.Target):
			c.setCreateTransition(yes)
			return st.Status
		case !strings.EqualFold(st.Status, initial):
			return st.Status // moved on already (a reviewer): nothing learnt
		case time.Now().After(deadline):
			// The site ignores the transition: after three such
			// issues, stop offering it.
			c.wf.mu.Lock()
			if c.wf.misses++; c.wf.misses >= maxCreateTransitionMisses {
				c.wf.createTransition = no
			}
			c.wf.mu.Unlock()
			return st.Status
		}
		if err := sleepCtx(ctx, min(wait, time.Until(deadline)+time.Millisecond)); err != nil {
			return ""
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// ErrCommentRefused: the transition screen does not take a comment; the
// caller comments separately.
var ErrCommentRefused = errors.New("the transition does not accept a comment")

// Move transitions an issue to the status to, from the status key.From the
// caller knows it in, by the cached transition id (one call). On a cache
// miss, or when Jira refuses the cached id (400: the id went stale, or the
// issue is not where the caller thinks), it reads the issue with its
// transitions, learns them, and moves from the status read, unless allow
// (given that status) says no. It returns the status the issue was in
// before and whether it moved: (to, false) when the issue was already
// there. A comment, when given, travels in the transition; a site whose
// transitions refuse it gets ErrCommentRefused (learned once).
func (c *Client) Move(ctx context.Context, idOrKey string, key WorkflowKey, to, comment string, allow func(from string) bool) (string, bool, error) {
	if comment != "" && c.TransitionCommentsRefused() {
		return "", false, ErrCommentRefused
	}
	if key.From != "" && !strings.EqualFold(key.From, to) {
		if id, ok := c.wf.transitionID(key, to); ok {
			err := c.doTransition(ctx, idOrKey, id, comment)
			if err == nil {
				return key.From, true, nil
			}
			if !IsStatus(err, http.StatusBadRequest) && !IsStatus(err, http.StatusConflict) {
				return "", false, err
			}
			if commentRefused(err) {
				return "", false, c.refuseComments(err)
			}
			c.wf.forget(key)
		}
	}
	st, err := c.ReadState(ctx, idOrKey, key.Project, key.IssueType)
	if err != nil {
		return "", false, err
	}
	if strings.EqualFold(st.Status, to) {
		return st.Status, false, nil
	}
	if allow != nil && !allow(st.Status) {
		return st.Status, false, nil
	}
	var id string
	var names []string
	for _, t := range st.Transitions {
		names = append(names, t.To.Name)
		if id == "" && strings.EqualFold(t.To.Name, to) {
			id = t.ID
		}
	}
	if id == "" {
		return st.Status, false, fmt.Errorf("%w from %q to status %q on %s (available: %s)", ErrNoTransition, st.Status, to, idOrKey, strings.Join(names, ", "))
	}
	if err := c.doTransition(ctx, idOrKey, id, comment); err != nil {
		if commentRefused(err) {
			return "", false, c.refuseComments(err)
		}
		return st.Status, false, err
	}
	return st.Status, true, nil
}

func (c *Client) refuseComments(err error) error {
	c.wf.mu.Lock()
	c.wf.commentOnTransition = no
	c.wf.mu.Unlock()
	return fmt.Errorf("%w: %v", ErrCommentRefused, err)
}

// commentRefused reports whether a 400 names the comment field.
func commentRefused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.fieldErrors["comment"]
}

func (c *Client) doTransition(ctx context.Context, idOrKey, id, comment string) error {
	body := map[string]any{"transition": map[string]string{"id": id}}
	if comment != "" {
		body["update"] = map[string]any{"comment": []any{map[string]any{"add": map[string]string{"body": comment}}}}
	}
	return c.do(ctx, http.MethodPost, "rest/api/2/issue/"+url.PathEscape(idOrKey)+"/transitions", body, nil)
}

// FindUserByEmailCached is FindUserByEmail behind a cache: a found user is
// kept for a day, a miss for ten minutes (a user created meanwhile is found
// then).
func (c *Client) FindUserByEmailCached(ctx context.Context, email string) (User, bool, error) {
	key := strings.ToLower(email)
	c.wf.mu.Lock()
	c.wf.init()
	e, ok := c.wf.users[key]
	c.wf.mu.Unlock()
	ttl := 10 * time.Minute
	if e.found {
		ttl = 24 * time.Hour
	}
	if ok && time.Since(e.at) < ttl {
		return e.user, e.found, nil
	}
	u, found, err := c.FindUserByEmail(ctx, email)
	if err != nil {
		return u, found, err
	}
	c.wf.mu.Lock()
	if len(c.wf.users) >= 10000 {
		clear(c.wf.users)
	}
	c.wf.users[key] = userEntry{user: u, found: found, at: time.Now()}
	c.wf.mu.Unlock()
	return u, found, nil
}

func (c *Client) createIssue(ctx context.Context, fields, properties map[string]any, transitionID string) (IssueRef, error) {
	type prop struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	}
	body := map[string]any{"fields": fields}
	var props []prop
	for k, v := range properties {
		props = append(props, prop{k, v})
	}
	if len(props) > 0 {
		body["properties"] = props
	}
	if transitionID != "" {
		body["transition"] = map[string]string{"id": transitionID}
	}
	var ref IssueRef
	err := c.do(ctx, http.MethodPost, "rest/api/2/issue", body, &ref)
	return ref, err
}

// fieldNames reads the keys of Jira's "errors" object.
func fieldNames(raw []byte) map[string]bool {
	var e struct {
		Errors map[string]json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(raw, &e) != nil || len(e.Errors) == 0 {
		return nil
	}
	m := make(map[string]bool, len(e.Errors))
	for k := range e.Errors {
		m[k] = true
	}
	return m
}
