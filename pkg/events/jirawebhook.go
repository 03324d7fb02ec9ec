package events

import (
	"errors"
	"fmt"
	"strings"
)

// JiraWebhook is what AccessBridge reads of a Jira webhook body: the one
// parser of that shape, used by the webhook-ingress (to route a delivery)
// and by the jira-bridge (to find the decision in it).
//
// It is strict about the fields it needs — webhookEvent must be a string,
// issue.id digits (a string, or a number as some Jira versions send) — and
// tolerant of type drift everywhere else: ids, the timestamp and custom
// fields may come as strings or numbers, null or a value of another type
// where an object is expected counts as absent, and every field it does
// not need is only checked to be well-formed JSON.
type JiraWebhook struct {
	Event         string // webhookEvent
	EventTypeName string // issue_event_type_name
	// Timestamp is the body's epoch milliseconds (0 when absent or not an
	// integer). It says when Jira says the change happened; nothing checks
	// it, so it is never used as the time of a decision.
	Timestamp int64
	User      *JiraUser
	// Issue is the zero value for events that are not about an issue.
	Issue     JiraIssue
	Changelog *JiraChangelog
	Comment   *JiraComment
}

// JiraUser is a user in a webhook. Cloud identifies users by AccountID;
// Server/Data Center by Key (stable) and Name (renamable); the email may be
// hidden (Cloud privacy) and, on Data Center, users can edit it.
type JiraUser struct {
	AccountID    string
	Key          string
	Name         string
	EmailAddress string
	DisplayName  string
}

// Actor is the user as a decision names it.
func (u JiraUser) Actor() Actor {
	return Actor{AccountID: u.AccountID, Key: u.Key, Name: u.Name, Email: u.EmailAddress, DisplayName: u.DisplayName}
}

// JiraIssue is the issue snapshot of a webhook, reduced to what is read.
type JiraIssue struct {
	ID     string // digits
	Key    string
	Labels []string // issue.fields.labels
	// Fields holds the issue.fields entries asked for by name, when they
	// are strings (or numbers, as their literal).
	Fields map[string]string
}

// JiraChangelog is the change that fired the webhook.
type JiraChangelog struct {
	ID    string // a string or a number in the body
	Items []JiraChangelogItem
}

// JiraChangelogItem is one changed field.
type JiraChangelogItem struct {
	Field, FieldID, FromString, ToString string
}

// JiraComment is the comment of a comment event or a transition screen.
type JiraComment struct {
	ID     string
	Body   string
	Author *JiraUser
}

// JiraStatusChange is a status move found in a changelog.
type JiraStatusChange struct {
	ChangelogID string
	From, To    string
}

// StatusChange returns the status move of the changelog: the item whose
// fieldId is "status", or, without a fieldId (Server), whose field is
// "status" in any case.
func (w *JiraWebhook) StatusChange() (JiraStatusChange, bool) {
	if w.Changelog == nil {
		return JiraStatusChange{}, false
	}
	for _, it := range w.Changelog.Items {
		if it.FieldID == "status" || (it.FieldID == "" && strings.EqualFold(it.Field, "status")) {
			return JiraStatusChange{ChangelogID: w.Changelog.ID, From: it.FromString, To: it.ToString}, true
		}
	}
	return JiraStatusChange{}, false
}

// IsIssueEvent reports whether a webhookEvent is about one issue
// (jira:issue_created, jira:issue_updated, jira:issue_deleted).
func IsIssueEvent(event string) bool { return strings.HasPrefix(event, "jira:issue_") }

// Errors of ParseJiraWebhook; each wraps the detail.
var (
	ErrWebhookNotJSON  = errors.New("body is not a JSON object")
	ErrWebhookNoEvent  = errors.New("not a Jira webhook: no webhookEvent")
	ErrWebhookNoIssue  = errors.New("issue event without issue.id")
	ErrWebhookIssueID  = errors.New("issue.id is not a Jira issue id")
	ErrWebhookTooLarge = errors.New("body over the webhook size limit")
)

// maxIssueIDLen bounds issue.id: Jira ids are 64-bit integers.
const maxIssueIDLen = 20

// ParseJiraWebhook reads a webhook body in one pass that also checks the
// whole body is one well-formed JSON object. fields names issue.fields
// entries to keep in Issue.Fields (a custom field, say). An event that is
// not about an issue (project, user, sprint…) comes back with an empty
// Issue.ID and no error; an issue event (jira:issue_*) without one is
// ErrWebhookNoIssue.
func ParseJiraWebhook(body []byte, fields ...string) (JiraWebhook, error) {
	var w JiraWebhook
	if len(body) > MaxWebhookBody {
		return w, fmt.Errorf("%w: %d bytes", ErrWebhookTooLarge, len(body))
	}
	s := scanner{b: body}
	if c := s.peek(); c != '{' {
		if s.i >= len(s.b) {
			return w, fmt.Errorf("%w: empty", ErrWebhookNotJSON)
		}
		if err := s.skip(); err != nil {
			return w, fmt.Errorf("%w: %v", ErrWebhookNotJSON, err)
		}
		return w, ErrWebhookNotJSON
	}
	p := webhookParser{s: &s, w: &w, fields: fields}
	var eventKind kind
	err := s.object(func(key []byte, esc bool) error {
		switch {
		case keyIs(key, esc, "webhookEvent"):
			var err error
			w.Event, eventKind, err = s.flexString()
			return err
		case keyIs(key, esc, "issue_event_type_name"):
			v, _, err := s.flexString()
			w.EventTypeName = v
			return err
		case keyIs(key, esc, "timestamp"):
			var err error
			w.Timestamp, err = s.flexInt()
			return err
		case keyIs(key, esc, "user"):
			var err error
			w.User, err = p.user()
			return err
		case keyIs(key, esc, "issue"):
			return p.issue()
		case keyIs(key, esc, "changelog"):
			return p.changelog()
		case keyIs(key, esc, "comment"):
			return p.comment()
		}
		return s.skip()
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return JiraWebhook{}, fmt.Errorf("%w: %v", ErrWebhookNotJSON, err)
	}
	if eventKind != kindString || w.Event == "" {
		return JiraWebhook{}, ErrWebhookNoEvent
	}
	if p.idErr != nil {
		return JiraWebhook{}, p.idErr
	}
	if w.Issue.ID == "" && IsIssueEvent(w.Event) {
		return JiraWebhook{}, ErrWebhookNoIssue
	}
	return w, nil
}

type webhookParser struct {
	s      *scanner
	w      *JiraWebhook
	fields []string
	idErr  error
}

func (p *webhookParser) user() (*JiraUser, error) {
	s := p.s
	if ok, err := s.isObject(); !ok || err != nil {
		return nil, err
	}
	var u JiraUser
	err := s.object(func(key []byte, esc bool) error {
		var dst *string
		switch {
		case keyIs(key, esc, "accountId"):
			dst = &u.AccountID
		case keyIs(key, esc, "key"):
			dst = &u.Key
		case keyIs(key, esc, "name"):
			dst = &u.Name
		case keyIs(key, esc, "emailAddress"):
			dst = &u.EmailAddress
		case keyIs(key, esc, "displayName"):
			dst = &u.DisplayName
		default:
			return s.skip()
		}
		v, _, err := s.flexString()
		*dst = v
		return err
	})
	return &u, err
}

func (p *webhookParser) issue() error {
	s := p.s
	p.w.Issue, p.idErr = JiraIssue{}, nil
	if ok, err := s.isObject(); !ok || err != nil {
		return err
	}
	is := &p.w.Issue
	return s.object(func(key []byte, esc bool) error {
		switch {
		case keyIs(key, esc, "id"):
			v, k, err := s.flexString()
			if err != nil {
				return err
			}
			is.ID, p.idErr = "", nil
			switch {
			case k == kindAbsent:
			case (k == kindString || k == kindNumber) && isDigits(v) && len(v) <= maxIssueIDLen:
				is.ID = v
			default:
				p.idErr = fmt.Errorf("%w: %.40q", ErrWebhookIssueID, v)
			}
			return nil
		case keyIs(key, esc, "key"):
			v, _, err := s.flexString()
			is.Key = v
			return err
		case keyIs(key, esc, "fields"):
			return p.issueFields()
		}
		return s.skip()
	})
}

func (p *webhookParser) issueFields() error {
	s := p.s
	is := &p.w.Issue
	is.Labels, is.Fields = nil, nil
	if ok, err := s.isObject(); !ok || err != nil {
		return err
	}
	return s.object(func(key []byte, esc bool) error {
		if keyIs(key, esc, "labels") {
			is.Labels = nil
			if ok, err := s.isArray(); !ok || err != nil {
				return err
			}
			return s.array(func() error {
				v, k, err := s.flexString()
				if k == kindString {
					is.Labels = append(is.Labels, v)
				}
				return err
			})
		}
		for _, f := range p.fields {
			if keyIs(key, esc, f) {
				v, k, err := s.flexString()
				if err != nil {
					return err
				}
				if is.Fields == nil {
					is.Fields = make(map[string]string, len(p.fields))
				}
				if k == kindString || k == kindNumber {
					is.Fields[f] = v
				} else {
					delete(is.Fields, f)
				}
				return nil
			}
		}
		return s.skip()
	})
}

func (p *webhookParser) changelog() error {
	s := p.s
	p.w.Changelog = nil
	if ok, err := s.isObject(); !ok || err != nil {
		return err
	}
	c := &JiraChangelog{}
	p.w.Changelog = c
	return s.object(func(key []byte, esc bool) error {
		switch {
		case keyIs(key, esc, "id"):
			v, _, err := s.flexString()
			c.ID = v
			return err
		case keyIs(key, esc, "items"):
			c.Items = nil
			if ok, err := s.isArray(); !ok || err != nil {
				return err
			}
			return s.array(func() error {
				if ok, err := s.isObject(); !ok || err != nil {
					return err
				}
				var it JiraChangelogItem
				err := s.object(func(key []byte, esc bool) error {
					var dst *string
					switch {
					case keyIs(key, esc, "field"):
						dst = &it.Field
					case keyIs(key, esc, "fieldId"):
						dst = &it.FieldID
					case keyIs(key, esc, "fromString"):
						dst = &it.FromString
					case keyIs(key, esc, "toString"):
						dst = &it.ToString
					default:
						return s.skip()
					}
					v, _, err := s.flexString()
					*dst = v
					return err
				})
				c.Items = append(c.Items, it)
				return err
			})
		}
		return s.skip()
	})
}

func (p *webhookParser) comment() error {
	s := p.s
	p.w.Comment = nil
	if ok, err := s.isObject(); !ok || err != nil {
		return err
	}
	c := &JiraComment{}
	p.w.Comment = c
	return s.object(func(key []byte, esc bool) error {
		switch {
		case keyIs(key, esc, "id"):
			v, _, err := s.flexString()
			c.ID = v
			return err
		case keyIs(key, esc, "body"):
			v, _, err := s.flexString()
			c.Body = v
			return err
		case keyIs(key, esc, "author"):
			var err error
			c.Author, err = p.user()
			return err
		}
		return s.skip()
	})
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
