// Package webhook owns the handling of one Jira webhook delivery: its
// authentication, the little it reads from the body, and the answer, which
// is 200 only once the delivery is recorded. It decides nothing about the
// content; the jira-bridge does.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/accessbridge/accessbridge/pkg/events"
)

// Signature headers: Jira sends X-Hub-Signature with a sha256= value; the
// GitHub-style name is accepted too, for proxies that rename it.
const (
	HeaderSignature    = "X-Hub-Signature"
	HeaderSignature256 = "X-Hub-Signature-256"
)

// Auth holds the configured authentication methods. Every configured method
// must pass (they add up, so a URL token does not weaken a signature); each
// method accepts any of its values, for rotation.
type Auth struct {
	// HMACSecrets: X-Hub-Signature must be sha256=<hex HMAC-SHA256 of the
	// raw body> under one of them.
	HMACSecrets [][]byte
	// Tokens: the query parameter TokenParam must equal one of them.
	Tokens     []string
	TokenParam string
	// Basic: user/password pairs accepted as HTTP basic auth.
	Basic [][2]string
	// MTLS: the TLS layer verified a client certificate.
	MTLS bool
}

// AuthError is a failed authentication. Reason says what was wrong for the
// log line and the answer, never with a secret or the presented value.
type AuthError struct{ Reason string }

func (e *AuthError) Error() string { return "unauthorized: " + e.Reason }

// Configured reports whether any method is set.
func (a *Auth) Configured() bool {
	return len(a.HMACSecrets) > 0 || len(a.Tokens) > 0 || len(a.Basic) > 0 || a.MTLS
}

// CheckRequest checks the methods that need no body (mTLS, token, basic
// auth), so an unauthenticated client is refused before its body is read.
// It returns the methods that passed.
func (a *Auth) CheckRequest(r *http.Request) ([]string, error) {
	var passed []string
	if a.MTLS {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return nil, &AuthError{Reason: "no verified client certificate"}
		}
		passed = append(passed, events.AuthMTLS)
	}
	if len(a.Tokens) > 0 {
		vals := r.URL.Query()[a.TokenParam]
		switch {
		case len(vals) == 0:
			return nil, &AuthError{Reason: "missing token"}
		case len(vals) > 1:
			return nil, &AuthError{Reason: "token given more than once"}
		case !matchAny(vals[0], a.Tokens):
			return nil, &AuthError{Reason: "wrong token"}
		}
		passed = append(passed, events.AuthToken)
	}
	if len(a.Basic) > 0 {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, &AuthError{Reason: "missing basic auth"}
		}
		match := 0
		for _, up := range a.Basic {
			// Both compared, always, so the timing says nothing about which failed.
			match |= equal(user, up[0]) & equal(pass, up[1])
		}
		if match != 1 {
			return nil, &AuthError{Reason: "wrong basic auth"}
		}
		passed = append(passed, events.AuthBasic)
	}
	return passed, nil
}

// CheckSignature verifies the HMAC signature of body when secrets are
// configured; signed reports that it did.
func (a *Auth) CheckSignature(h http.Header, body []byte) (signed bool, err error) {
	sum, err := a.SignatureFromHeader(h)
	if err != nil || sum == nil {
		return false, err
	}
	return a.VerifySignature(sum, body)
}

// SignatureFromHeader returns the signature a delivery presents, checking
// only its presence and shape, so that a delivery without one is refused
// before its body is read. nil, nil when no HMAC secret is configured.
func (a *Auth) SignatureFromHeader(h http.Header) ([]byte, error) {
	if len(a.HMACSecrets) == 0 {
		return nil, nil
	}
	return parseSignature(h)
}

// VerifySignature checks a signature from SignatureFromHeader against body.
func (a *Auth) VerifySignature(got, body []byte) (signed bool, err error) {
	match := 0
	for _, secret := range a.HMACSecrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			match = 1
		}
	}
	if match != 1 {
		return false, &AuthError{Reason: "bad signature"}
	}
	return true, nil
}

func parseSignature(h http.Header) ([]byte, error) {
	vals := h.Values(HeaderSignature)
	if len(vals) == 0 {
		vals = h.Values(HeaderSignature256)
	}
	switch {
	case len(vals) == 0:
		return nil, &AuthError{Reason: "missing signature (" + HeaderSignature + ")"}
	case len(vals) > 1:
		return nil, &AuthError{Reason: "signature header given more than once"}
	}
	alg, hexSum, ok := strings.Cut(strings.TrimSpace(vals[0]), "=")
	if !ok || !strings.EqualFold(alg, "sha256") {
		return nil, &AuthError{Reason: "signature is not sha256=<hex>"}
	}
	if len(hexSum) != 2*sha256.Size {
		return nil, &AuthError{Reason: "signature is not sha256=<hex>"}
	}
	sum, err := hex.DecodeString(hexSum)
	if err != nil {
		return nil, &AuthError{Reason: "signature is not sha256=<hex>"}
	}
	return sum, nil
}

// equal compares in constant time, lengths included (both are hashed).
func equal(a, b string) int {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:])
}

func matchAny(v string, accepted []string) bool {
	match := 0
	for _, a := range accepted {
		match |= equal(v, a)
	}
	return match == 1
}

// IsAuthError reports whether err is an authentication failure.
func IsAuthError(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}
