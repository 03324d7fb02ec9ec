package webhook

import "net/http"

// ClientIP is the address the rate limit and the logs see (the peer's, or
// the one a trusted proxy set), for the other endpoints of the ingress.
func (h *Handler) ClientIP(r *http.Request) string { return h.clientIP(r) }
