package message

import "github.com/accessbridge/accessbridge/pkg/events"

// Context keys of a button's integration context (sent back by Mattermost's
// server on a click, from the stored post).
const (
	ContextRequestID = "request_id"
	ContextAction    = "action"
	ContextToken     = "token"
)

// Buttons are the props that put Approve and Deny buttons (interactive
// message actions in a message attachment) on a pending request post. url
// is where Mattermost's server sends a click (the webhook-ingress); token
// gives each button's HMAC token.
func Buttons(url, requestID string, token func(events.Verdict) string) map[string]any {
	button := func(v events.Verdict, name, style string) map[string]any {
		return map[string]any{
			"id": string(v), "name": name, "type": "button", "style": style,
			"integration": map[string]any{"url": url, "context": map[string]any{
				ContextRequestID: requestID, ContextAction: string(v), ContextToken: token(v),
			}},
		}
	}
	return map[string]any{"attachments": []any{map[string]any{
		"text": "Decide here if you are an allowed reviewer; Teleport applies the decision and this post shows the outcome.",
		"actions": []any{
			button(events.VerdictApprove, "Approve", "good"),
			button(events.VerdictDeny, "Deny", "danger"),
		},
	}}}
}
