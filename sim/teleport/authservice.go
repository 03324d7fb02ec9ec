package teleportsim

import (
	"context"
	"fmt"

	"github.com/gravitational/teleport/api/client/proto"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/emptypb"
)

// authService implements the part of Teleport's AuthService that access
// request plugins call. Handlers return trace errors; the server's error
// interceptor turns them into gRPC statuses the api client turns back.
type authService struct {
	proto.UnimplementedAuthServiceServer
	srv *Server
}

// caller is the user named by the verified client certificate, as in
// Teleport where the identity comes from the certificate subject.
func (a *authService) caller(ctx context.Context) (User, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return User{}, trace.AccessDenied("missing peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return User{}, trace.AccessDenied("a client certificate signed by the cluster CA is required")
	}
	name := info.State.VerifiedChains[0][0].Subject.CommonName
	u, err := a.srv.rbac.user(name)
	if err != nil {
		return User{}, trace.AccessDenied("user %q is not known to the cluster", name)
	}
	return u, nil
}

func (a *authService) Ping(ctx context.Context, _ *proto.PingRequest) (*proto.PingResponse, error) {
	if _, err := a.caller(ctx); err != nil {
		return nil, trace.Wrap(err)
	}
	ent := a.srv.opts.Edition == EditionEnterprise
	var remote string
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	return &proto.PingResponse{
		ClusterName:     a.srv.opts.ClusterName,
		ServerVersion:   a.srv.opts.ServerVersion,
		ProxyPublicAddr: a.srv.opts.ProxyPublicAddr,
		RemoteAddr:      remote,
		ServerFeatures: &proto.Features{
			Kubernetes:              true,
			App:                     true,
			DB:                      true,
			Desktop:                 true,
			AccessControls:          ent,
			AdvancedAccessWorkflows: ent,
			OIDC:                    ent,
			SAML:                    ent,
			AccessRequests:          &proto.AccessRequestsFeature{},
		},
		SignatureAlgorithmSuite: types.SignatureAlgorithmSuite_SIGNATURE_ALGORITHM_SUITE_BALANCED_V1,
	}, nil
}

func (a *authService) WatchEvents(w *proto.Watch, stream proto.AuthService_WatchEventsServer) error {
	caller, err := a.caller(stream.Context())
	if err != nil {
		return trace.Wrap(err)
	}
	wt, err := a.srv.store.watch(caller, w.Kinds, w.AllowPartialSuccess)
	if err != nil {
		return trace.Wrap(err)
	}
	defer a.srv.store.unwatch(wt)
	for {
		select {
		case ev := <-wt.events:
			out, err := eventToGRPC(ev)
			if err != nil {
				return trace.Wrap(err)
			}
			if err := stream.Send(out); err != nil {
				return trace.Wrap(err)
			}
		case <-wt.done:
			return wt.err
		case <-stream.Context().Done():
			return nil
		}
	}
}

func eventToGRPC(ev types.Event) (*proto.Event, error) {
	out := &proto.Event{}
	switch ev.Type {
	case types.OpInit:
		out.Type = proto.Operation_INIT
	case types.OpPut:
		out.Type = proto.Operation_PUT
	case types.OpDelete:
		out.Type = proto.Operation_DELETE
	default:
		return nil, trace.BadParameter("unsupported event type %v", ev.Type)
	}
	switch r := ev.Resource.(type) {
	case *types.WatchStatusV1:
		out.Resource = &proto.Event_WatchStatus{WatchStatus: r}
	case *types.AccessRequestV3:
		out.Resource = &proto.Event_AccessRequest{AccessRequest: r}
	case *types.ResourceHeader:
		out.Resource = &proto.Event_ResourceHeader{ResourceHeader: r}
	default:
		return nil, trace.BadParameter("unsupported resource %T", ev.Resource)
	}
	return out, nil
}

func (a *authService) ListAccessRequests(ctx context.Context, req *proto.ListAccessRequestsRequest) (*proto.ListAccessRequestsResponse, error) {
	caller, err := a.caller(ctx)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	var filter types.AccessRequestFilter
	if req.Filter != nil {
		filter = *req.Filter
	}
	// Like Teleport's backend, a page key names a position in the sort
	// order, not an offset: requests deleted or created between two pages
	// never make the listing skip one that exists throughout.
	var key func(r *types.AccessRequestV3) string
	switch req.Sort {
	case proto.AccessRequestSort_DEFAULT:
		// By name: the store keeps the names sorted.
	case proto.AccessRequestSort_CREATED:
		key = func(r *types.AccessRequestV3) string {
			return fmt.Sprintf("%020d/%s", r.GetCreationTime().UnixNano(), r.GetName())
		}
	case proto.AccessRequestSort_STATE:
		key = func(r *types.AccessRequestV3) string { return r.GetState().String() + "/" + r.GetName() }
	case proto.AccessRequestSort_USER:
		key = func(r *types.AccessRequestV3) string { return r.GetUser() + "/" + r.GetName() }
	default:
		return nil, trace.BadParameter("unsupported sort order %v", req.Sort)
	}
	limit := int(req.Limit)
	if limit <= 0 || limit > a.srv.opts.MaxPageSize {
		limit = a.srv.opts.MaxPageSize
	}
	page, next := a.srv.store.page(caller, filter, key, req.Descending, req.StartKey, limit)
	return &proto.ListAccessRequestsResponse{AccessRequests: page, NextKey: next}, nil
}

func (a *authService) GetAccessRequestsV2(f *types.AccessRequestFilter, stream proto.AuthService_GetAccessRequestsV2Server) error {
	caller, err := a.caller(stream.Context())
	if err != nil {
		return trace.Wrap(err)
	}
	var filter types.AccessRequestFilter
	if f != nil {
		filter = *f
	}
	for _, r := range a.srv.store.list(caller, filter) {
		if err := stream.Send(r); err != nil {
			return trace.Wrap(err)
		}
	}
	return nil
}

func (a *authService) CreateAccessRequestV2(ctx context.Context, req *types.AccessRequestV3) (*types.AccessRequestV3, error) {
	caller, err := a.caller(ctx)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	out, err := a.srv.store.create(caller, req, 0)
	return out, trace.Wrap(err)
}

func (a *authService) DeleteAccessRequest(ctx context.Context, id *proto.RequestID) (*emptypb.Empty, error) {
	caller, err := a.caller(ctx)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	if err := a.srv.store.remove(&caller, id.ID); err != nil {
		return nil, trace.Wrap(err)
	}
	return &emptypb.Empty{}, nil
}

func (a *authService) SetAccessRequestState(ctx context.Context, req *proto.RequestStateSetter) (*emptypb.Empty, error) {
	caller, err := a.caller(ctx)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	err = a.srv.store.setState(caller, types.AccessRequestUpdate{
		RequestID:       req.ID,
		State:           req.State,
		Reason:          req.Reason,
		Annotations:     req.Annotations,
		Roles:           req.Roles,
		AssumeStartTime: req.AssumeStartTime,
	}, req.Delegator)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	return &emptypb.Empty{}, nil
}

func (a *authService) SubmitAccessReview(ctx context.Context, sub *types.AccessReviewSubmission) (*types.AccessRequestV3, error) {
	caller, err := a.caller(ctx)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	out, err := a.srv.store.submitReview(caller, *sub)
	return out, trace.Wrap(err)
}

func (a *authService) GetPluginData(ctx context.Context, filter *types.PluginDataFilter) (*proto.PluginDataSeq, error) {
	caller, err := a.caller(ctx)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	data, err := a.srv.store.getPluginData(caller, *filter)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	return &proto.PluginDataSeq{PluginData: data}, nil
}

func (a *authService) UpdatePluginData(ctx context.Context, params *types.PluginDataUpdateParams) (*emptypb.Empty, error) {
	caller, err := a.caller(ctx)
	if err != nil {
		return nil, trace.Wrap(err)
	}
	if err := a.srv.store.updatePluginData(caller, *params); err != nil {
		return nil, trace.Wrap(err)
	}
	return &emptypb.Empty{}, nil
}
