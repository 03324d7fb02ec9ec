package issues

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// MaxSummary is the longest summary the bridge writes (Jira allows 254).
const MaxSummary = 254

// Summary is "<user> requested <roles>", or "<user> requested access to N
// roles" when that would be too long.
func Summary(r events.AccessRequest) string {
	user := oneLine(r.User)
	var s string
	switch {
	case len(r.Roles) > 0:
		s = fmt.Sprintf("%s requested %s", user, strings.Join(r.Roles, ", "))
		if utf8.RuneCountInString(s) > MaxSummary {
			s = fmt.Sprintf("%s requested access to %d roles", user, len(r.Roles))
		}
	default:
		names := make([]string, 0, len(r.RequestedResources))
		for _, res := range r.RequestedResources {
			names = append(names, res.Name)
		}
		s = fmt.Sprintf("%s requested access to %s", user, strings.Join(names, ", "))
		if utf8.RuneCountInString(s) > MaxSummary {
			s = fmt.Sprintf("%s requested access to %d resources", user, len(r.RequestedResources))
		}
	}
	if utf8.RuneCountInString(s) > MaxSummary {
		s = string([]rune(s)[:MaxSummary-1]) + "…"
	}
	return s
}

// Description renders the request in Jira wiki markup (REST v2).
func Description(r events.AccessRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* requested access", escape(r.User))
	if r.Cluster.Name != "" {
		fmt.Fprintf(&b, " in Teleport cluster *%s*", escape(r.Cluster.Name))
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "*User*: %s\n", escape(r.User))
	if len(r.Roles) > 0 {
		fmt.Fprintf(&b, "*Roles*: %s\n", escape(strings.Join(r.Roles, ", ")))
	}
	if len(r.RequestedResources) > 0 {
		b.WriteString("*Requested resources*:\n")
		for _, res := range r.RequestedResources {
			name := res.String()
			if res.FriendlyName != "" {
				name += " (" + res.FriendlyName + ")"
			}
			fmt.Fprintf(&b, "* %s\n", escape(name))
		}
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, "*Reason*:\n{quote}%s{quote}\n", escapeQuote(r.Reason))
	}
	fmt.Fprintf(&b, "*Request ID*: %s\n", escape(r.ID))
	fmt.Fprintf(&b, "*Created*: %s\n", r.Created.UTC().Format(time.RFC3339))
	if !r.Expires.IsZero() {
		fmt.Fprintf(&b, "*Expires*: %s\n", r.Expires.UTC().Format(time.RFC3339))
	}
	if len(r.SuggestedReviewers) > 0 {
		fmt.Fprintf(&b, "*Suggested reviewers*: %s\n", escape(strings.Join(r.SuggestedReviewers, ", ")))
	}
	b.WriteString("\n")
	if link := WebLink(r); link != "" {
		fmt.Fprintf(&b, "[Review the request in Teleport|%s]\n", link)
	} else {
		fmt.Fprintf(&b, "To review in Teleport:\n{noformat}\ntsh request review --approve %s\ntsh request review --deny %s\n{noformat}\n", r.ID, r.ID)
	}
	b.WriteString("Or move this issue to *Approved* or *Denied*; add a comment starting with \"Reason:\" to explain why.\n")
	return b.String()
}

// WebLink is the request in the Teleport web UI, when the cluster has
// advanced workflows (the web UI review page) and its proxy is known.
func WebLink(r events.AccessRequest) string {
	if !r.Cluster.AdvancedWorkflows || r.Cluster.ProxyAddr == "" {
		return ""
	}
	addr := r.Cluster.ProxyAddr
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return ""
	}
	u.Path = "/web/requests/" + url.PathEscape(r.ID)
	return u.String()
}

// ReviewComment is the comment for the n-th review (1-based).
func ReviewComment(r events.AccessRequest, n int) string {
	rv := r.Reviews[n-1]
	verdict := map[events.State]string{events.StateApproved: "approved", events.StateDenied: "denied", events.StatePromoted: "promoted"}[rv.State]
	s := fmt.Sprintf("*%s* reviewed the request at %s: *%s*.", escape(rv.Author), rv.Created.UTC().Format(time.RFC3339), verdict)
	if rv.Reason != "" {
		s += fmt.Sprintf("\nReason: %s", escapeQuote(rv.Reason))
	}
	return s
}

// ResolutionComment is the comment when Teleport resolves the request.
func ResolutionComment(r events.AccessRequest) string {
	s := fmt.Sprintf("Access request has been *%s* in Teleport.", strings.ToLower(string(r.State)))
	if r.ResolveReason != "" {
		s += fmt.Sprintf("\nReason: %s", escapeQuote(r.ResolveReason))
	}
	return s
}

// ExpiryComment is the comment when the request expires (or is deleted)
// while pending.
func ExpiryComment(r events.AccessRequest) string {
	return "Access request has *expired* in Teleport."
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// escape neutralises wiki-markup characters in a short value.
func escape(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "{", "\\{", "}", "\\}", "[", "\\[", "]", "\\]", "|", "\\|", "*", "\\*", "_", "\\_", "\n", " ", "\r", " ")
	return r.Replace(s)
}

// escapeQuote keeps line breaks but stops macros and links.
func escapeQuote(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "{", "\\{", "}", "\\}", "[", "\\[", "]", "\\]")
	return r.Replace(s)
}
