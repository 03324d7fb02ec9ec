package teleportsim

import (
	"fmt"
	"os"
	"slices"

	"github.com/gravitational/trace"
	"gopkg.in/yaml.v3"
)

// Edition selects which Teleport edition the emulator behaves like.
type Edition string

const (
	// EditionOSS is Teleport Community Edition: roles may not carry
	// review_requests or request thresholds, so reviews can never succeed, and
	// Ping reports advanced access workflows as false.
	EditionOSS Edition = "oss"
	// EditionEnterprise supports reviews and thresholds.
	EditionEnterprise Edition = "enterprise"
)

// ParseEdition parses "oss" or "enterprise" ("" means enterprise).
func ParseEdition(s string) (Edition, error) {
	switch Edition(s) {
	case "", EditionEnterprise:
		return EditionEnterprise, nil
	case EditionOSS:
		return EditionOSS, nil
	}
	return "", trace.BadParameter("unknown edition %q (want oss or enterprise)", s)
}

// Model is the static set of users and roles the emulator knows. It is a
// small subset of Teleport's role spec: resource rules, which roles a user may
// request (with thresholds) and which roles a user may review.
type Model struct {
	Users []User `yaml:"users" json:"users"`
	Roles []Role `yaml:"roles" json:"roles"`
}

// User is a Teleport user. BuiltinAdmin marks the identity that acts like
// Teleport's built-in Admin role (tctl on the auth host): every action is
// allowed, and it may submit reviews on behalf of other users.
type User struct {
	Name         string   `yaml:"name" json:"name"`
	Roles        []string `yaml:"roles" json:"roles"`
	BuiltinAdmin bool     `yaml:"builtin_admin,omitempty" json:"builtin_admin,omitempty"`
}

// Role is a Teleport role, reduced to what access requests need.
type Role struct {
	Name string `yaml:"name" json:"name"`
	// Rules grant verbs on resources, e.g. access_request: list, read, update.
	Rules []Rule `yaml:"rules,omitempty" json:"rules,omitempty"`
	// Request is allow.request: the roles holders may request.
	Request *RequestConditions `yaml:"request,omitempty" json:"request,omitempty"`
	// ReviewRequests is allow.review_requests (enterprise only).
	ReviewRequests *ReviewConditions `yaml:"review_requests,omitempty" json:"review_requests,omitempty"`
}

// Rule grants verbs on resources; "*" matches any.
type Rule struct {
	Resources []string `yaml:"resources" json:"resources"`
	Verbs     []string `yaml:"verbs" json:"verbs"`
}

// RequestConditions is allow.request of a role.
type RequestConditions struct {
	Roles []string `yaml:"roles" json:"roles"`
	// Thresholds (enterprise only). None means Teleport's default: one
	// approval or one denial resolves the request.
	Thresholds         []Threshold `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
	SuggestedReviewers []string    `yaml:"suggested_reviewers,omitempty" json:"suggested_reviewers,omitempty"`
}

// Threshold is one review threshold; 0 means "never by this threshold".
type Threshold struct {
	Name    string `yaml:"name,omitempty" json:"name,omitempty"`
	Approve uint32 `yaml:"approve" json:"approve"`
	Deny    uint32 `yaml:"deny" json:"deny"`
}

// ReviewConditions is allow.review_requests of a role.
type ReviewConditions struct {
	Roles []string `yaml:"roles" json:"roles"`
}

// Names of the users and roles in DefaultModel.
const (
	UserAccessPlugin = "access-plugin"
	UserAdmin        = "admin"
	UserRequester    = "myuser"
	UserReviewer     = "reviewer"
	UserReviewer2    = "reviewer2"
	// UserStrictRequester requests through a role needing two approvals
	// (enterprise; in oss it is a plain requester).
	UserStrictRequester = "bob"
)

// DefaultModel returns the users and roles of the Teleport Jira plugin guide:
// myuser and alice request editor, reviewer and reviewer2 review it
// (enterprise), bob needs two approvals (enterprise), access-plugin has the
// plugin's rules, admin is the built-in admin.
func DefaultModel(edition Edition) Model {
	pluginRole := Role{
		Name: "access-plugin",
		Rules: []Rule{
			{Resources: []string{"access_request"}, Verbs: []string{"list", "read", "update"}},
			{Resources: []string{"access_plugin_data"}, Verbs: []string{"update"}},
		},
	}
	roles := []Role{
		{Name: "editor"},
		{Name: "editor-requester", Request: &RequestConditions{Roles: []string{"editor"}}},
		{Name: "editor-reviewer"},
		pluginRole,
	}
	strictRole := "editor-requester"
	if edition == EditionEnterprise {
		roles[2].ReviewRequests = &ReviewConditions{Roles: []string{"editor"}}
		roles = append(roles, Role{
			Name: "editor-requester-strict",
			Request: &RequestConditions{
				Roles:      []string{"editor"},
				Thresholds: []Threshold{{Name: "two approvals", Approve: 2, Deny: 1}},
			},
		})
		strictRole = "editor-requester-strict"
	}
	return Model{
		Roles: roles,
		Users: []User{
			{Name: UserRequester, Roles: []string{"editor-requester"}},
			{Name: "alice", Roles: []string{"editor-requester"}},
			{Name: UserStrictRequester, Roles: []string{strictRole}},
			{Name: UserReviewer, Roles: []string{"editor-reviewer"}},
			{Name: UserReviewer2, Roles: []string{"editor-reviewer"}},
			{Name: UserAccessPlugin, Roles: []string{"access-plugin"}},
			{Name: UserAdmin, Roles: []string{"editor"}, BuiltinAdmin: true},
		},
	}
}

// LoadModel reads users and roles from a YAML or JSON file.
func LoadModel(path string) (Model, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Model{}, fmt.Errorf("read model: %w", err)
	}
	var m Model
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return Model{}, fmt.Errorf("parse model %s: %w", path, err)
	}
	return m, nil
}

// Validate checks names and references, and refuses enterprise-only role
// features in the oss edition, as Teleport Community Edition does.
func (m Model) Validate(edition Edition) error {
	roles := make(map[string]bool, len(m.Roles))
	for _, r := range m.Roles {
		if r.Name == "" {
			return trace.BadParameter("role without name")
		}
		if roles[r.Name] {
			return trace.BadParameter("duplicate role %q", r.Name)
		}
		roles[r.Name] = true
		if edition == EditionOSS {
			if r.ReviewRequests != nil {
				return trace.BadParameter("role %q: review_requests is only available in Teleport Enterprise (edition oss)", r.Name)
			}
			if r.Request != nil && len(r.Request.Thresholds) > 0 {
				return trace.BadParameter("role %q: request.thresholds is only available in Teleport Enterprise (edition oss)", r.Name)
			}
		}
	}
	users := make(map[string]bool, len(m.Users))
	for _, u := range m.Users {
		if u.Name == "" {
			return trace.BadParameter("user without name")
		}
		if users[u.Name] {
			return trace.BadParameter("duplicate user %q", u.Name)
		}
		users[u.Name] = true
		for _, r := range u.Roles {
			if !roles[r] {
				return trace.BadParameter("user %q has unknown role %q", u.Name, r)
			}
		}
	}
	return nil
}

// rbac answers permission questions about a validated Model.
type rbac struct {
	users map[string]User
	roles map[string]Role
}

func newRBAC(m Model) *rbac {
	r := &rbac{users: make(map[string]User), roles: make(map[string]Role)}
	for _, u := range m.Users {
		r.users[u.Name] = u
	}
	for _, role := range m.Roles {
		r.roles[role.Name] = role
	}
	return r
}

func (r *rbac) user(name string) (User, error) {
	u, ok := r.users[name]
	if !ok {
		return User{}, trace.NotFound("user %q is not found", name)
	}
	return u, nil
}

func (r *rbac) userRoles(u User) []Role {
	out := make([]Role, 0, len(u.Roles))
	for _, name := range u.Roles {
		out = append(out, r.roles[name])
	}
	return out
}

func matches(list []string, v string) bool {
	return slices.Contains(list, v) || slices.Contains(list, "*")
}

// allowed reports whether user may perform verb on resource.
func (r *rbac) allowed(u User, resource, verb string) bool {
	if u.BuiltinAdmin {
		return true
	}
	for _, role := range r.userRoles(u) {
		for _, rule := range role.Rules {
			if matches(rule.Resources, resource) && matches(rule.Verbs, verb) {
				return true
			}
		}
	}
	return false
}

// checkAction returns Teleport's access-denied error for a missing verb.
func (r *rbac) checkAction(u User, resource, verb string) error {
	if r.allowed(u, resource, verb) {
		return nil
	}
	return trace.AccessDenied("access denied to perform action %q on %q", verb, resource)
}

func (r *rbac) canRequest(u User, role string) bool {
	if u.BuiltinAdmin {
		return true
	}
	for _, held := range r.userRoles(u) {
		if held.Request != nil && matches(held.Request.Roles, role) {
			return true
		}
	}
	return false
}

func (r *rbac) hasReviewDirectives(u User) bool {
	for _, held := range r.userRoles(u) {
		if held.ReviewRequests != nil && len(held.ReviewRequests.Roles) > 0 {
			return true
		}
	}
	return false
}

// canReview reports whether u may review a request for roles by requester.
// As in Teleport, nobody reviews their own request, and every requested role
// must be covered by the reviewer's review_requests.
func (r *rbac) canReview(u User, requester string, roles []string) bool {
	if u.Name == requester {
		return false
	}
	for _, want := range roles {
		ok := false
		for _, held := range r.userRoles(u) {
			if held.ReviewRequests != nil && matches(held.ReviewRequests.Roles, want) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// suggestedReviewers collects the suggested reviewers of the requester's roles.
func (r *rbac) suggestedReviewers(u User, roles []string) []string {
	var out []string
	for _, held := range r.userRoles(u) {
		if held.Request == nil {
			continue
		}
		for _, want := range roles {
			if matches(held.Request.Roles, want) {
				for _, s := range held.Request.SuggestedReviewers {
					if !slices.Contains(out, s) {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}
