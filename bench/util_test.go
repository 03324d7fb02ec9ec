package bench

import (
	"bytes"
	"encoding/json"
	"net/http"
)

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

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
