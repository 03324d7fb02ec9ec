package teleport

import (
	"context"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/gravitational/teleport/api/types"
)

// LegacyPlugin is the plugin data name Teleport's teleport-jira uses.
const LegacyPlugin = "jira"

// LegacyIssue reads the issue that teleport-jira recorded on a request
// (plugin data issue_id and issue_key), or nil when there is none.
func LegacyIssue(ctx context.Context, c Client, requestID, plugin string) (*events.IssueRef, error) {
	data, err := c.GetPluginData(ctx, types.PluginDataFilter{
		Kind: types.KindAccessRequest, Resource: requestID, Plugin: plugin,
	})
	if err != nil {
		return nil, err
	}
	for _, d := range data {
		if ref := legacyRef(d, plugin); ref != nil {
			return ref, nil
		}
	}
	return nil, nil
}

// LegacyIssues reads, in one call, the issues teleport-jira recorded on
// every access request that has its plugin data (a filter without a
// resource matches them all), by request id.
func LegacyIssues(ctx context.Context, c Client, plugin string) (map[string]*events.IssueRef, error) {
	data, err := c.GetPluginData(ctx, types.PluginDataFilter{Kind: types.KindAccessRequest, Plugin: plugin})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*events.IssueRef, len(data))
	for _, d := range data {
		if ref := legacyRef(d, plugin); ref != nil {
			out[d.GetName()] = ref
		}
	}
	return out, nil
}

// legacyRef is the issue in one plugin data entry, or nil when it has none
// that could travel in an event.
func legacyRef(d types.PluginData, plugin string) *events.IssueRef {
	entry := d.Entries()[plugin]
	if entry == nil {
		return nil
	}
	ref := events.IssueRef{ID: entry.Data["issue_id"], Key: entry.Data["issue_key"]}
	if ref.ID == "" || ref.Key == "" || events.ValidToken(ref.ID) != nil || len(ref.Key) > events.MaxNameLen {
		return nil
	}
	return &ref
}

// GetRequest returns one request, or nil when Teleport does not have it.
func GetRequest(ctx context.Context, c Client, id string) (types.AccessRequest, error) {
	reqs, err := c.GetAccessRequests(ctx, types.AccessRequestFilter{ID: id})
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if r.GetName() == id {
			return r, nil
		}
	}
	return nil, nil
}
