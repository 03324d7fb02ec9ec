package jirasim

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Flavours of Jira the emulator can behave as.
const (
	FlavorCloud  = "cloud"
	FlavorServer = "server" // Jira Server / Data Center
)

// Status categories, as Jira's statusCategory.key.
const (
	CategoryNew        = "new"
	CategoryInProgress = "indeterminate"
	CategoryDone       = "done"
)

// Webhook event names (webhookEvent).
const (
	EventIssueCreated = "jira:issue_created"
	EventIssueUpdated = "jira:issue_updated"
	EventIssueDeleted = "jira:issue_deleted"
)

// Options configure a Server. The zero value is usable: New fills the defaults
// documented on each field.
type Options struct {
	// Addr is the listen address for Start (default "127.0.0.1:0").
	Addr string
	// BaseURL overrides the URL used in "self" links and the board (default
	// http://<listen address>).
	BaseURL string
	// Flavor is FlavorCloud (default) or FlavorServer; it selects auth, search
	// endpoints, user shapes and webhook shapes.
	Flavor string

	// ProjectKey is the only project (default "TAR"); ProjectName its name
	// (default "Teleport Access Requests").
	ProjectKey  string
	ProjectName string
	// IssueTypes available in the project (default ["Task"]).
	IssueTypes []string
	// Statuses of the workflow in board order (default DefaultStatuses()).
	Statuses []Status
	// InitialStatus is where created issues start (default: the first status).
	InitialStatus string
	// Transitions of the workflow. Nil means "every status can move to every
	// other status", each transition named like its target status, as a
	// team-managed board allows.
	Transitions []Transition
	// CustomFields of the project (default none); see RequestIDField().
	CustomFields []CustomField
	// TransitionScreensRefuseComments makes every transition refuse a
	// comment in its update (400 with an error on the comment field), as a
	// Jira whose transitions have no screen with the comment field does.
	TransitionScreensRefuseComments bool

	// Users known to the emulator (default DefaultUsers()). Bot names the
	// user whose credentials the bridge uses (default: the first user).
	Users []User
	Bot   string

	// WebhookURLs receive every webhook event in WebhookEvents (default the
	// created, updated and deleted issue events). WebhookSecret, when set,
	// signs each body: X-Hub-Signature: sha256=<hex HMAC-SHA256>.
	WebhookURLs   []string
	WebhookEvents []string
	WebhookSecret string
	// WebhookTimeout bounds one delivery attempt (default 10s).
	WebhookTimeout time.Duration
	// WebhookMaxRetries after the first attempt (default 5, as Jira Cloud).
	// A negative value disables retries.
	WebhookMaxRetries int
	// WebhookBackoff is the first retry delay, doubled on each retry with
	// jitter, capped at 30s (default 200ms; Jira's real delays are minutes).
	WebhookBackoff time.Duration
	// WebhookWorkers deliver in parallel (default 4). Deliveries for one issue
	// always go through the same worker, in order, unless Faults reorder them.
	WebhookWorkers int

	// Faults injected from the start; change them with SetFaults.
	Faults Faults
	// Seed of the random source used by faults and ids (default: time based).
	Seed uint64

	// Now is the clock (default time.Now); tests may freeze it.
	Now func() time.Time
	// Logger receives the emulator's log lines (default: none).
	Logger zerolog.Logger
}

// Status is one workflow status.
type Status struct {
	Name     string `json:"name"`
	ID       string `json:"id,omitempty"`       // default 10000+index
	Category string `json:"category,omitempty"` // CategoryNew, CategoryInProgress or CategoryDone
}

// Transition is one workflow transition. From lists the statuses it is
// available from; empty means from any status other than To.
type Transition struct {
	ID   string   `json:"id,omitempty"` // default "11", "21", ... as Jira numbers them
	Name string   `json:"name"`
	From []string `json:"from,omitempty"`
	To   string   `json:"to"`
}

// CustomField is a project custom field. ID has the form customfield_NNNNN.
type CustomField struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is "string" (text field, default) or "number".
	Type string `json:"type,omitempty"`
}

// User is a Jira account. On Cloud, users are identified by AccountID and log
// in with Email + Token; on Server by Name (and Key) and log in with Name +
// Token (a password or token). PAT is a Data Center personal access token
// accepted as "Authorization: Bearer <PAT>" (Server flavour only, as on real
// Jira Cloud, where bearer tokens are OAuth tokens).
type User struct {
	AccountID   string `json:"accountId,omitempty"`
	Name        string `json:"name,omitempty"`
	Key         string `json:"key,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Email       string `json:"email,omitempty"`
	// HideEmail hides emailAddress from everyone but the user (Cloud privacy).
	HideEmail bool   `json:"hideEmail,omitempty"`
	Token     string `json:"token,omitempty"`
	PAT       string `json:"pat,omitempty"`
	TimeZone  string `json:"timeZone,omitempty"`
	// DeniedPermissions lists project permissions (e.g. TRANSITION_ISSUES)
	// this user lacks; every other permission is granted.
	DeniedPermissions []string `json:"deniedPermissions,omitempty"`
}

// DefaultStatuses returns the AccessBridge workflow: Backlog (initial),
// Pending, Approved, Denied, Expired, Promoted.
func DefaultStatuses() []Status {
	return []Status{
		{Name: "Backlog", Category: CategoryNew},
		{Name: "Pending", Category: CategoryInProgress},
		{Name: "Approved", Category: CategoryDone},
		{Name: "Denied", Category: CategoryDone},
		{Name: "Expired", Category: CategoryDone},
		{Name: "Promoted", Category: CategoryDone},
	}
}

// DefaultUsers returns the demo users: the bridge's bot and two reviewers.
// Their tokens are well known; use them only for tests and demos.
func DefaultUsers() []User {
	return []User{
		{AccountID: "5b10ac8d82e05b22cc7d4ef5", Name: "accessbridge", DisplayName: "AccessBridge", Email: "accessbridge@example.com", Token: "accessbridge-token", PAT: "accessbridge-pat"},
		{AccountID: "5b10a2844c20165700ede21g", Name: "alice", DisplayName: "Alice Reviewer", Email: "alice@example.com", Token: "alice-token", PAT: "alice-pat"},
		{AccountID: "5b10a0effa615349cb016cd8", Name: "bob", DisplayName: "Bob Reviewer", Email: "bob@example.com", Token: "bob-token", PAT: "bob-pat", HideEmail: true},
	}
}

// RequestIDField returns the teleportAccessRequestId text custom field with
// the id customfield_10050.
func RequestIDField() CustomField {
	return CustomField{ID: "customfield_10050", Name: "teleportAccessRequestId", Type: "string"}
}

// checkAndSetDefaults fills defaults and validates; errors name the option.
func (o *Options) checkAndSetDefaults() error {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	switch o.Flavor = strings.ToLower(o.Flavor); o.Flavor {
	case "":
		o.Flavor = FlavorCloud
	case FlavorCloud, FlavorServer:
	case "datacenter", "dc":
		o.Flavor = FlavorServer
	default:
		return fmt.Errorf("invalid Flavor %q: want %q or %q", o.Flavor, FlavorCloud, FlavorServer)
	}
	if o.ProjectKey == "" {
		o.ProjectKey = "TAR"
	}
	if o.ProjectName == "" {
		o.ProjectName = "Teleport Access Requests"
	}
	if len(o.IssueTypes) == 0 {
		o.IssueTypes = []string{"Task"}
	}
	if err := o.checkWorkflow(); err != nil {
		return err
	}
	for i, cf := range o.CustomFields {
		if !strings.HasPrefix(cf.ID, "customfield_") || cf.ID == "customfield_" {
			return fmt.Errorf("invalid CustomFields[%d].ID %q: want customfield_NNNNN", i, cf.ID)
		}
		if cf.Name == "" {
			return fmt.Errorf("missing CustomFields[%d].Name", i)
		}
		if cf.Type == "" {
			o.CustomFields[i].Type = "string"
		} else if cf.Type != "string" && cf.Type != "number" {
			return fmt.Errorf("invalid CustomFields[%d].Type %q: want string or number", i, cf.Type)
		}
	}
	if err := o.checkUsers(); err != nil {
		return err
	}
	if len(o.WebhookEvents) == 0 {
		o.WebhookEvents = []string{EventIssueCreated, EventIssueUpdated, EventIssueDeleted}
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	if o.WebhookMaxRetries == 0 {
		o.WebhookMaxRetries = 5
	} else if o.WebhookMaxRetries < 0 {
		o.WebhookMaxRetries = 0
	}
	if o.WebhookBackoff <= 0 {
		o.WebhookBackoff = 200 * time.Millisecond
	}
	if o.WebhookWorkers <= 0 {
		o.WebhookWorkers = 4
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o.Faults.check()
}

func (o *Options) checkWorkflow() error {
	if len(o.Statuses) == 0 {
		o.Statuses = DefaultStatuses()
	}
	seen := map[string]bool{}
	for i := range o.Statuses {
		s := &o.Statuses[i]
		if s.Name == "" {
			return fmt.Errorf("missing Statuses[%d].Name", i)
		}
		if seen[strings.ToLower(s.Name)] {
			return fmt.Errorf("duplicate status %q in Statuses", s.Name)
		}
		seen[strings.ToLower(s.Name)] = true
		if s.ID == "" {
			s.ID = fmt.Sprint(10000 + i)
		}
		switch s.Category {
		case "":
			s.Category = CategoryInProgress
		case CategoryNew, CategoryInProgress, CategoryDone:
		default:
			return fmt.Errorf("invalid Statuses[%d].Category %q", i, s.Category)
		}
	}
	if o.InitialStatus == "" {
		o.InitialStatus = o.Statuses[0].Name
	} else if !seen[strings.ToLower(o.InitialStatus)] {
		return fmt.Errorf("InitialStatus %q is not one of Statuses", o.InitialStatus)
	}
	for i := range o.Transitions {
		t := &o.Transitions[i]
		if !seen[strings.ToLower(t.To)] {
			return fmt.Errorf("Transitions[%d].To %q is not one of Statuses", i, t.To)
		}
		for _, f := range t.From {
			if !seen[strings.ToLower(f)] {
				return fmt.Errorf("Transitions[%d].From %q is not one of Statuses", i, f)
			}
		}
		if t.Name == "" {
			t.Name = t.To
		}
		if t.ID == "" {
			t.ID = fmt.Sprint(11 + 10*i)
		}
	}
	return nil
}

func (o *Options) checkUsers() error {
	if len(o.Users) == 0 {
		o.Users = DefaultUsers()
	}
	for i := range o.Users {
		u := &o.Users[i]
		if u.AccountID == "" && u.Name == "" && u.Email == "" {
			return fmt.Errorf("option Users[%d] needs an accountId, a name or an email", i)
		}
		if u.Name == "" {
			u.Name, _, _ = strings.Cut(u.Email, "@")
			if u.Name == "" {
				u.Name = u.AccountID
			}
		}
		if u.Key == "" {
			u.Key = strings.ToLower(u.Name)
		}
		if u.AccountID == "" {
			u.AccountID = fmt.Sprintf("557058:%08x-sim", i+1)
		}
		if u.DisplayName == "" {
			u.DisplayName = u.Name
		}
		if u.TimeZone == "" {
			u.TimeZone = "UTC"
		}
	}
	if o.Bot == "" {
		o.Bot = o.Users[0].AccountID
	}
	botFound := false
	for _, u := range o.Users {
		for _, id := range []string{u.AccountID, u.Name, u.Key, u.Email} {
			botFound = botFound || strings.EqualFold(id, o.Bot)
		}
	}
	if !botFound {
		return fmt.Errorf("Bot %q is not one of Users", o.Bot)
	}
	ids := map[string]bool{}
	for _, u := range o.Users {
		own := map[string]bool{}
		for _, id := range []string{u.AccountID, u.Name, u.Email} {
			id = strings.ToLower(id)
			if id == "" || own[id] {
				continue
			}
			if ids[id] {
				return errors.New("duplicate user " + id + " in Users")
			}
			own[id], ids[id] = true, true
		}
	}
	return nil
}
