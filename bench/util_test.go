package bench

import (
	"bytes"
	"encoding/json"
)

// compactJSON is the body as the webhook-ingress puts it on the wire
// (compact, HTML-escaped by encoding/json).
func compactJSON(body []byte) []byte {
	var c, e bytes.Buffer
	if err := json.Compact(&c, body); err != nil {
		return body
	}
	json.HTMLEscape(&e, c.Bytes())
	return e.Bytes()
}
