// Package message renders the Mattermost posts of an access request: the
// request post (updated in place with its status) and one thread reply per
// review. Everything fits Mattermost's message limit.
package message

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// MaxRunes is Mattermost's message limit (model.PostMessageMaxRunesV2).
const MaxRunes = 16383

// Field limits inside one post, so that the whole stays under MaxRunes.
const (
	maxReasonRunes = 4000
	maxListRunes   = 2000
)

// Prop keys on the bridge's posts; a post is found by them after a crash.
const (
	PropRequestID = "teleport_request_id"
	PropKind      = "accessbridge_kind"
	PropStatus    = "accessbridge_status"
	PropReview    = "accessbridge_review"

	KindRequest = "request"
	KindReview  = "review"
)

// Status is what a post shows: the request state, or EXPIRED.
func Status(ev *events.RequestEvent) string {
	if ev.Kind == events.RequestExpired {
		return events.MattermostStatusExpired
	}
	return string(ev.Request.State)
}

func statusLine(status string) string {
	icon := map[string]string{"PENDING": "⏳", "APPROVED": "✅", "DENIED": "❌", "PROMOTED": "🎉", events.MattermostStatusExpired: "⌛"}[status]
	if icon == "" {
		return status
	}
	return icon + " " + status
}

// Link is the request's page in the Teleport web UI, or "" when the proxy
// address is unknown. override (configuration) wins over the address the
// teleport-bridge learned from Ping.
func Link(r events.AccessRequest, override string) string {
	addr := override
	if addr == "" {
		addr = r.Cluster.ProxyAddr
	}
	if addr == "" {
		return ""
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	return strings.TrimRight(addr, "/") + "/web/requests/" + r.ID
}

// Request renders the request post with the given status.
func Request(r events.AccessRequest, status, proxyAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### Teleport access request\n")
	fmt.Fprintf(&b, "**User**: %s\n", escape(r.User))
	if len(r.Roles) > 0 {
		fmt.Fprintf(&b, "**Roles**: %s\n", truncate(escape(strings.Join(r.Roles, ", ")), maxListRunes))
	}
	if len(r.RequestedResources) > 0 {
		names := make([]string, len(r.RequestedResources))
		for i, res := range r.RequestedResources {
			names[i] = res.String()
			if res.FriendlyName != "" {
				names[i] += " (" + res.FriendlyName + ")"
			}
		}
		fmt.Fprintf(&b, "**Resources**: %s\n", truncate(escape(strings.Join(names, ", ")), maxListRunes))
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, "**Reason**: %s\n", quote(r.Reason))
	}
	fmt.Fprintf(&b, "**Request ID**: `%s`\n", r.ID)
	if !r.Expires.IsZero() {
		fmt.Fprintf(&b, "**Expires**: %s\n", r.Expires.UTC().Format(time.RFC1123))
	}
	fmt.Fprintf(&b, "**Status**: %s\n", statusLine(status))
	if r.ResolveReason != "" && status != "PENDING" {
		fmt.Fprintf(&b, "**Resolution reason**: %s\n", quote(r.ResolveReason))
	}
	if link := Link(r, proxyAddr); link != "" {
		fmt.Fprintf(&b, "[Open the request in Teleport](%s)\n", link)
	}
	return truncate(strings.TrimRight(b.String(), "\n"), MaxRunes)
}

// Review renders the thread reply of one review.
func Review(rv events.Review) string {
	s := fmt.Sprintf("**%s** reviewed the request: %s", escape(rv.Author), statusLine(string(rv.State)))
	if rv.Reason != "" {
		s += "\n**Reason**: " + quote(rv.Reason)
	}
	return truncate(s, MaxRunes)
}

// RequestProps are the props of the request post.
func RequestProps(requestID, status string) map[string]any {
	return map[string]any{PropRequestID: requestID, PropKind: KindRequest, PropStatus: status}
}

// ReviewProps are the props of a review reply.
func ReviewProps(requestID string, review int) map[string]any {
	return map[string]any{PropRequestID: requestID, PropKind: KindReview, PropReview: fmt.Sprint(review)}
}

// escape keeps user-controlled names from turning into markdown.
func escape(s string) string {
	r := strings.NewReplacer("*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "#", `\#`, "@", "@\u200b", "<", "&lt;", ">", "&gt;", "\n", " ")
	return r.Replace(s)
}

// quote renders free text as an indented code-free block on one field.
func quote(s string) string {
	s = truncate(s, maxReasonRunes)
	lines := strings.Split(strings.ReplaceAll(s, "\r", ""), "\n")
	if len(lines) == 1 {
		return escape(lines[0])
	}
	for i, l := range lines {
		lines[i] = "> " + escape(l)
	}
	return "\n" + strings.Join(lines, "\n")
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	const mark = " … (truncated)"
	keep := n - utf8.RuneCountInString(mark)
	i := 0
	for pos := range s {
		if i == keep {
			return s[:pos] + mark
		}
		i++
	}
	return s
}
