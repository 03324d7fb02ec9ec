package teleportsim

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gravitational/teleport/api/types"
	apiutils "github.com/gravitational/teleport/api/utils"
	"github.com/gravitational/trace"
	"github.com/jonboulle/clockwork"
)

// Audit event types and codes, as in Teleport's audit log.
const (
	EventAccessRequestCreate = "access_request.create"
	EventAccessRequestUpdate = "access_request.update"
	EventAccessRequestReview = "access_request.review"
	EventAccessRequestDelete = "access_request.delete"
)

var eventCodes = map[string]string{
	EventAccessRequestCreate: "T5000I",
	EventAccessRequestUpdate: "T5001I",
	EventAccessRequestReview: "T5002I",
	EventAccessRequestDelete: "T5003I",
}

// AuditEvent is one entry of the emulator's audit log, with the fields and
// JSON names of Teleport's access request audit events.
type AuditEvent struct {
	Type          string              `json:"event"`
	Code          string              `json:"code"`
	Time          time.Time           `json:"time"`
	RequestID     string              `json:"id"`
	User          string              `json:"user,omitempty"`
	State         string              `json:"state,omitempty"`
	Reason        string              `json:"reason,omitempty"`
	Roles         []string            `json:"roles,omitempty"`
	UpdatedBy     string              `json:"updated_by,omitempty"`
	Delegator     string              `json:"delegator,omitempty"`
	Reviewer      string              `json:"reviewer,omitempty"`
	ProposedState string              `json:"proposed_state,omitempty"`
	Annotations   map[string][]string `json:"annotations,omitempty"`
}

// defaultThreshold is what Teleport uses when a role sets no thresholds.
var defaultThreshold = Threshold{Name: "default", Approve: 1, Deny: 1}

// store holds the cluster state and applies Teleport's rules to it. Every
// mutation emits its watch event while holding mu, so watchers see events in
// the order the changes happened.
type store struct {
	rbac       *rbac
	clock      clockwork.Clock
	requestTTL time.Duration

	mu         sync.Mutex
	requests   map[string]*types.AccessRequestV3
	names      []string // the requests' names, sorted: the default listing order
	pluginData map[string]*types.PluginDataV3
	audit      []AuditEvent
	watchers   map[*watcher]struct{}
	kick       chan struct{} // wakes the expiry loop after an expiry changed
}

func newStore(r *rbac, clock clockwork.Clock, requestTTL time.Duration) *store {
	return &store{
		rbac:       r,
		clock:      clock,
		requestTTL: requestTTL,
		requests:   make(map[string]*types.AccessRequestV3),
		pluginData: make(map[string]*types.PluginDataV3),
		watchers:   make(map[*watcher]struct{}),
		kick:       make(chan struct{}, 1),
	}
}

func (s *store) now() time.Time { return s.clock.Now().UTC() }

func cloneRequest(r *types.AccessRequestV3) *types.AccessRequestV3 {
	return r.Copy().(*types.AccessRequestV3)
}

func (s *store) wakeExpiry() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// record appends an audit event; callers hold mu.
func (s *store) record(ev AuditEvent) {
	ev.Code = eventCodes[ev.Type]
	ev.Time = s.now()
	s.audit = append(s.audit, ev)
}

func (s *store) auditLog() []AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.audit)
}

// create stores a new pending request for req.Spec.User, created by caller.
func (s *store) create(caller User, req *types.AccessRequestV3, ttl time.Duration) (*types.AccessRequestV3, error) {
	if req == nil {
		return nil, trace.BadParameter("missing access request")
	}
	req = cloneRequest(req)
	if req.GetUser() != caller.Name {
		if err := s.rbac.checkAction(caller, types.KindAccessRequest, types.VerbCreate); err != nil {
			return nil, trace.Wrap(err)
		}
	}
	requester, err := s.rbac.user(req.GetUser())
	if err != nil {
		return nil, trace.Wrap(err)
	}
	for _, role := range req.GetRoles() {
		if !s.rbac.canRequest(requester, role) {
			return nil, trace.AccessDenied("user %q can not request role %q", requester.Name, role)
		}
	}
	if !req.GetState().IsNone() && !req.GetState().IsPending() {
		return nil, trace.BadParameter("new access requests must be in state PENDING, got %s", req.GetState())
	}
	if req.GetName() == "" {
		req.SetName(uuid.NewString())
	}
	if ttl <= 0 {
		ttl = s.requestTTL
	}

	now := s.now()
	expires := now.Add(ttl)
	if e := req.Expiry(); !e.IsZero() && e.After(now) && e.Before(expires) {
		expires = e.UTC()
	}
	req.Spec.State = types.RequestState_PENDING
	req.Spec.Reviews = nil
	req.Spec.ResolveReason = ""
	req.Spec.ResolveAnnotations = nil
	req.SetCreationTime(now)
	req.SetExpiry(expires)
	req.SetAccessExpiry(expires)
	req.SetSessionTLL(expires)
	req.SetMaxDuration(expires)
	thresholds, rtm := s.thresholdsFor(requester, req.GetRoles())
	req.SetThresholds(thresholds)
	req.SetRoleThresholdMapping(rtm)
	for _, r := range s.rbac.suggestedReviewers(requester, req.GetRoles()) {
		if !slices.Contains(req.Spec.SuggestedReviewers, r) {
			req.Spec.SuggestedReviewers = append(req.Spec.SuggestedReviewers, r)
		}
	}
	if err := req.CheckAndSetDefaults(); err != nil {
		return nil, trace.Wrap(err)
	}
	req.SetRevision(uuid.NewString())

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[req.GetName()]; ok {
		return nil, trace.AlreadyExists("access request %q already exists", req.GetName())
	}
	s.requests[req.GetName()] = req
	i, _ := slices.BinarySearch(s.names, req.GetName())
	s.names = slices.Insert(s.names, i, req.GetName())
	s.record(AuditEvent{
		Type: EventAccessRequestCreate, RequestID: req.GetName(), User: req.GetUser(),
		State: req.GetState().String(), Reason: req.GetRequestReason(), Roles: req.GetRoles(),
	})
	s.emit(types.Event{Type: types.OpPut, Resource: cloneRequest(req)})
	s.wakeExpiry()
	return cloneRequest(req), nil
}

// thresholdsFor builds the request's thresholds and role→threshold mapping
// from the requester's roles: each role that allows a requested role adds one
// threshold set (its own thresholds, or the default one).
func (s *store) thresholdsFor(requester User, roles []string) ([]types.AccessReviewThreshold, map[string]types.ThresholdIndexSets) {
	var out []types.AccessReviewThreshold
	index := make(map[Threshold]uint32)
	add := func(t Threshold) uint32 {
		if i, ok := index[t]; ok {
			return i
		}
		i := uint32(len(out))
		index[t] = i
		out = append(out, types.AccessReviewThreshold{Name: t.Name, Approve: t.Approve, Deny: t.Deny})
		return i
	}
	rtm := make(map[string]types.ThresholdIndexSets, len(roles))
	for _, want := range roles {
		var sets []types.ThresholdIndexSet
		for _, held := range s.rbac.userRoles(requester) {
			if held.Request == nil || !matches(held.Request.Roles, want) {
				continue
			}
			list := held.Request.Thresholds
			if len(list) == 0 {
				list = []Threshold{defaultThreshold}
			}
			var set types.ThresholdIndexSet
			for _, t := range list {
				set.Indexes = append(set.Indexes, add(t))
			}
			sets = append(sets, set)
		}
		if len(sets) == 0 { // e.g. the built-in admin requesting for itself
			sets = []types.ThresholdIndexSet{{Indexes: []uint32{add(defaultThreshold)}}}
		}
		rtm[want] = types.ThresholdIndexSets{Sets: sets}
	}
	if len(out) == 0 {
		add(defaultThreshold)
	}
	return out, rtm
}

// setState is SetAccessRequestState with Teleport's checks: the caller needs
// update on access_request and may not resolve its own request; a denied
// request stays denied (Teleport lets a denial overwrite an approval, not the
// reverse).
func (s *store) setState(caller User, upd types.AccessRequestUpdate, delegator string) error {
	if err := s.rbac.checkAction(caller, types.KindAccessRequest, types.VerbUpdate); err != nil {
		return trace.Wrap(err)
	}
	if err := upd.Check(); err != nil {
		return trace.Wrap(err)
	}
	if !upd.State.IsApproved() && !upd.State.IsDenied() {
		return trace.BadParameter("cannot set request state to %s (expected APPROVED or DENIED)", upd.State)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.requests[upd.RequestID]
	if !ok {
		return trace.NotFound("cannot set state of access request %q (not found)", upd.RequestID)
	}
	if cur.GetUser() == caller.Name {
		return trace.AccessDenied("directly updating the state of your own access requests is not permitted")
	}
	req := cloneRequest(cur)
	if err := req.SetState(upd.State); err != nil {
		return trace.Wrap(err)
	}
	req.SetResolveReason(upd.Reason)
	req.SetResolveAnnotations(upd.Annotations)
	if len(upd.Roles) > 0 {
		for _, role := range upd.Roles {
			if !slices.Contains(req.GetRoles(), role) {
				return trace.BadParameter("role %q not in original request, overrides must be a subset of original role list", role)
			}
		}
		req.SetRoles(upd.Roles)
	}
	if upd.AssumeStartTime != nil {
		req.SetAssumeStartTime(*upd.AssumeStartTime)
	}
	if upd.State.IsApproved() {
		req.SetExpiry(req.GetAccessExpiry())
	}
	req.SetRevision(uuid.NewString())
	s.requests[req.GetName()] = req
	s.record(AuditEvent{
		Type: EventAccessRequestUpdate, RequestID: req.GetName(), State: upd.State.String(),
		Reason: upd.Reason, Roles: upd.Roles, UpdatedBy: caller.Name, Delegator: delegator,
		Annotations: upd.Annotations,
	})
	s.emit(types.Event{Type: types.OpPut, Resource: cloneRequest(req)})
	s.wakeExpiry()
	return nil
}

// submitReview is SubmitAccessReview. Authorship follows Teleport: the author
// defaults to the caller and must equal it, except for the built-in admin; the
// author must hold review_requests covering every requested role and may not
// review its own request or review twice.
func (s *store) submitReview(caller User, sub types.AccessReviewSubmission) (*types.AccessRequestV3, error) {
	rev := sub.Review
	if rev.ProposedState.IsPromoted() {
		return nil, trace.BadParameter("state promoted can be only set when promoting to access list")
	}
	if rev.Author == "" {
		rev.Author = caller.Name
	}
	if !caller.BuiltinAdmin {
		if rev.Author != caller.Name {
			return nil, trace.AccessDenied("user %q cannot submit reviews on behalf of %q", caller.Name, rev.Author)
		}
		if !s.rbac.hasReviewDirectives(caller) {
			return nil, trace.AccessDenied("user %q cannot submit reviews", caller.Name)
		}
	}
	sub.Review = rev
	if err := sub.Check(); err != nil {
		return nil, trace.Wrap(err)
	}
	author, err := s.rbac.user(rev.Author)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	if !s.rbac.hasReviewDirectives(author) {
		return nil, trace.AccessDenied("user %q cannot submit reviews", author.Name)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.requests[sub.RequestID]
	if !ok {
		return nil, trace.NotFound("cannot apply review to access request %q (not found)", sub.RequestID)
	}
	if !s.rbac.canReview(author, cur.GetUser(), cur.GetOriginalRoles()) {
		return nil, trace.AccessDenied("user %q cannot review request %q", author.Name, sub.RequestID)
	}
	if !rev.ProposedState.IsApproved() && !rev.ProposedState.IsDenied() {
		return nil, trace.BadParameter("invalid state proposal: %s (expected approval/denial)", rev.ProposedState)
	}
	if len(cur.GetThresholds()) == 0 {
		return nil, trace.BadParameter("request is uninitialized or does not support reviews")
	}
	for _, existing := range cur.GetReviews() {
		if existing.Author == rev.Author {
			return nil, trace.AccessDenied("user %q has already reviewed this request", rev.Author)
		}
	}
	if len(rev.Annotations) != 0 {
		return nil, trace.NotImplemented("annotations are not yet supported in reviews, try omitting annotations field")
	}
	switch {
	case cur.GetState().IsApproved():
		return nil, trace.AccessDenied("the access request has been already approved")
	case cur.GetState().IsDenied():
		return nil, trace.AccessDenied("the access request has been already denied")
	}

	req := cloneRequest(cur)
	if rev.Created.IsZero() {
		rev.Created = s.now()
	}
	rev.ThresholdIndexes = nil // the emulator has no threshold filters: every review counts for all
	for i := range req.GetThresholds() {
		rev.ThresholdIndexes = append(rev.ThresholdIndexes, uint32(i))
	}
	req.SetReviews(append(req.GetReviews(), rev))
	if state, ok := resolution(req); ok {
		if err := req.SetState(state); err != nil {
			return nil, trace.Wrap(err)
		}
		req.SetResolveReason(rev.Reason)
		req.SetExpiry(req.GetAccessExpiry())
	}
	req.SetRevision(uuid.NewString())
	s.requests[req.GetName()] = req
	s.record(AuditEvent{
		Type: EventAccessRequestReview, RequestID: req.GetName(), State: req.GetState().String(),
		Reason: rev.Reason, Reviewer: rev.Author, ProposedState: rev.ProposedState.String(),
		UpdatedBy: caller.Name,
	})
	s.emit(types.Event{Type: types.OpPut, Resource: cloneRequest(req)})
	return cloneRequest(req), nil
}

// resolution decides whether the reviews so far resolve the request. The last
// review triggers the transition: a denial when any threshold's deny count is
// reached, an approval when every requested role has, in each of its
// threshold sets, a threshold whose approve count is reached.
func resolution(req *types.AccessRequestV3) (types.RequestState, bool) {
	var approvals, denials uint32
	reviews := req.GetReviews()
	for _, r := range reviews {
		switch {
		case r.ProposedState.IsApproved():
			approvals++
		case r.ProposedState.IsDenied():
			denials++
		}
	}
	if len(reviews) == 0 {
		return types.RequestState_NONE, false
	}
	thresholds := req.GetThresholds()
	met := func(i uint32) bool {
		t := thresholds[i]
		return t.Approve != 0 && approvals >= t.Approve
	}
	last := reviews[len(reviews)-1]
	if last.ProposedState.IsDenied() {
		for _, t := range thresholds {
			if t.Deny != 0 && denials >= t.Deny {
				return types.RequestState_DENIED, true
			}
		}
		return types.RequestState_NONE, false
	}
	rtm := req.GetRoleThresholdMapping()
	if len(rtm) == 0 {
		for i := range thresholds {
			if met(uint32(i)) {
				return types.RequestState_APPROVED, true
			}
		}
		return types.RequestState_NONE, false
	}
	for _, sets := range rtm {
		for _, set := range sets.Sets {
			if !slices.ContainsFunc(set.Indexes, met) {
				return types.RequestState_NONE, false
			}
		}
	}
	return types.RequestState_APPROVED, true
}

// list returns the requests matching filter, sorted by id. Callers without
// list and read on access_request see only their own requests.
func (s *store) list(caller User, filter types.AccessRequestFilter) []*types.AccessRequestV3 {
	shows := s.listing(caller, filter)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*types.AccessRequestV3
	for _, r := range s.requests {
		if shows(r) {
			out = append(out, cloneRequest(r))
		}
	}
	slices.SortFunc(out, func(a, b *types.AccessRequestV3) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}

// listing reports which requests caller's listing with filter shows: its
// own only, unless it may list and read every request.
func (s *store) listing(caller User, filter types.AccessRequestFilter) func(*types.AccessRequestV3) bool {
	filter.Requester = caller.Name
	own := !(s.rbac.allowed(caller, types.KindAccessRequest, types.VerbList) &&
		s.rbac.allowed(caller, types.KindAccessRequest, types.VerbRead))
	return func(r *types.AccessRequestV3) bool { return (!own || r.GetUser() == caller.Name) && filter.Match(r) }
}

// page is one page of a listing in the order of key (every key names one
// request; nil: by name), descending when asked: the requests from the
// first whose key is at or after start (at or before, descending), at most
// limit of them, and the key of the request after them ("" at the end).
// Only the page is copied, and the default order reads the sorted names
// from start, as Teleport's backend reads its keys: a listing of n requests
// in pages costs n copies, not n per page.
func (s *store) page(caller User, filter types.AccessRequestFilter, key func(*types.AccessRequestV3) string,
	descending bool, start string, limit int) (page []*types.AccessRequestV3, next string) {
	shows := s.listing(caller, filter)
	type keyed struct {
		key string
		r   *types.AccessRequestV3
	}
	order := cmp.Compare[string]
	if descending {
		order = func(x, y string) int { return cmp.Compare(y, x) }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []keyed // in listing order
	if key == nil {
		names := s.names
		if descending {
			names = slices.Clone(names)
			slices.Reverse(names)
		}
		from := 0
		if start != "" {
			from, _ = slices.BinarySearchFunc(names, start, order)
		}
		for _, name := range names[from:] {
			if r := s.requests[name]; shows(r) {
				all = append(all, keyed{name, r})
				if len(all) > limit { // one more: the next page's key
					break
				}
			}
		}
	} else {
		for _, r := range s.requests {
			if shows(r) {
				all = append(all, keyed{key(r), r})
			}
		}
		slices.SortFunc(all, func(x, y keyed) int { return order(x.key, y.key) })
		if start != "" {
			from, _ := slices.BinarySearchFunc(all, start, func(k keyed, start string) int { return order(k.key, start) })
			all = all[from:]
		}
	}
	end := min(limit, len(all))
	for _, k := range all[:end] {
		page = append(page, cloneRequest(k.r))
	}
	if end < len(all) {
		next = all[end].key
	}
	return page, next
}

func (s *store) get(id string) (*types.AccessRequestV3, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return nil, trace.NotFound("access request %q not found", id)
	}
	return cloneRequest(r), nil
}

// remove deletes a request and emits OpDelete. caller is nil for expiry,
// which, as a backend TTL in Teleport, writes no audit event.
func (s *store) remove(caller *User, id string) error {
	if caller != nil {
		if err := s.rbac.checkAction(*caller, types.KindAccessRequest, types.VerbDelete); err != nil {
			return trace.Wrap(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[id]; !ok {
		return trace.NotFound("cannot delete access request %q (not found)", id)
	}
	delete(s.requests, id)
	if i, ok := slices.BinarySearch(s.names, id); ok {
		s.names = slices.Delete(s.names, i, i+1)
	}
	if caller != nil {
		s.record(AuditEvent{Type: EventAccessRequestDelete, RequestID: id, User: caller.Name})
	}
	s.emit(types.Event{Type: types.OpDelete, Resource: &types.ResourceHeader{
		Kind: types.KindAccessRequest, Version: types.V3, Metadata: types.Metadata{Name: id},
	}})
	return nil
}

// nextExpiry is the earliest request or plugin data expiry (zero if none).
func (s *store) nextExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, r := range s.requests {
		consider(r.Expiry())
	}
	for _, d := range s.pluginData {
		consider(d.Expiry())
	}
	return next
}

// expireDue deletes what has expired, emitting OpDelete for requests.
func (s *store) expireDue() {
	now := s.now()
	s.mu.Lock()
	var due []string
	for id, r := range s.requests {
		if e := r.Expiry(); !e.IsZero() && !e.After(now) {
			due = append(due, id)
		}
	}
	for id, d := range s.pluginData {
		if e := d.Expiry(); !e.IsZero() && !e.After(now) {
			delete(s.pluginData, id)
		}
	}
	s.mu.Unlock()
	slices.Sort(due)
	for _, id := range due {
		_ = s.remove(nil, id) // NotFound only if deleted concurrently
	}
}

func (s *store) checkPluginDataAccess(caller User, verbs ...string) error {
	for _, verb := range verbs {
		if s.rbac.allowed(caller, types.KindAccessPluginData, verb) {
			continue
		}
		if err := s.rbac.checkAction(caller, types.KindAccessRequest, verb); err != nil {
			return trace.Wrap(err)
		}
	}
	return nil
}

func (s *store) getPluginData(caller User, filter types.PluginDataFilter) ([]*types.PluginDataV3, error) {
	if filter.Kind != types.KindAccessRequest {
		return nil, trace.BadParameter("unsupported resource kind %q", filter.Kind)
	}
	if err := s.checkPluginDataAccess(caller, types.VerbList, types.VerbRead); err != nil {
		return nil, trace.Wrap(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*types.PluginDataV3
	for _, d := range s.pluginData {
		if filter.Match(d) {
			out = append(out, apiutils.CloneProtoMsg(d))
		}
	}
	slices.SortFunc(out, func(a, b *types.PluginDataV3) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

// updatePluginData applies params with compare-and-swap on params.Expect.
// New plugin data needs an existing request and outlives it by an hour, so
// plugins can still read it when handling the request's OpDelete.
func (s *store) updatePluginData(caller User, params types.PluginDataUpdateParams) error {
	if params.Kind != types.KindAccessRequest {
		return trace.BadParameter("unsupported resource kind %q", params.Kind)
	}
	if err := s.checkPluginDataAccess(caller, types.VerbUpdate); err != nil {
		return trace.Wrap(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var data *types.PluginDataV3
	if cur, ok := s.pluginData[params.Resource]; ok {
		data = apiutils.CloneProtoMsg(cur)
	} else {
		req, ok := s.requests[params.Resource]
		if !ok {
			return trace.NotFound("access request %q not found", params.Resource)
		}
		created, err := types.NewPluginData(params.Resource, types.KindAccessRequest)
		if err != nil {
			return trace.Wrap(err)
		}
		data = created.(*types.PluginDataV3)
		data.SetExpiry(req.GetAccessExpiry().Add(time.Hour))
	}
	if err := data.Update(params); err != nil {
		return trace.Wrap(err)
	}
	if err := data.CheckAndSetDefaults(); err != nil {
		return trace.Wrap(err)
	}
	data.SetRevision(uuid.NewString())
	s.pluginData[params.Resource] = data
	return nil
}
