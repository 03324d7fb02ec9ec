// Package startup runs the dependency checks a service makes before it
// starts (Jira, Teleport, …): each announced on its own progress line, each
// under its own timeout, and each failure said in words an operator can act
// on — connection refused, a name that does not resolve, a TLS problem, or
// no answer — with the setting to fix, on one line.
package startup

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// DefaultTimeout bounds a check whose Target sets none.
const DefaultTimeout = 15 * time.Second

// Target is one dependency checked at start-up.
type Target struct {
	// Name is what the dependency is called in messages: "Jira", "Teleport".
	Name string
	// Addr is the address as configured: a URL (http, https) or host:port.
	Addr string
	// Setting is the variable that holds Addr, named in the fix.
	Setting string
	// Timeout bounds the whole check (network probe and Check's function).
	Timeout time.Duration
	// TimeoutSetting is the variable that sets Timeout, named when the
	// dependency does not answer in time.
	TimeoutSetting string
	// Fix is said after a network failure; by default "check <Setting>".
	Fix string
	// SkipProbe runs fn without probing Addr first (an address list).
	SkipProbe bool
}

// Check announces the check on log ("checking Jira at https://…"), probes
// the network path (name resolution, TCP connection and, for https URLs, the
// TLS handshake), then runs fn, all within t.Timeout. A failure comes back
// as one line: "Jira at https://…: connection refused (nothing listens on
// jira:443); check JIRA_BRIDGE_URL". An error of fn that is already one
// readable line is returned as it is; a long or multi-line one (a gRPC
// dial error) is summarised.
func Check(ctx context.Context, log zerolog.Logger, t Target, fn func(ctx context.Context) error) error {
	if t.Timeout <= 0 {
		t.Timeout = DefaultTimeout
	}
	log.Info().Str("timeout", t.Timeout.String()).Msgf("checking %s at %s", t.Name, t.Addr)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	if !t.SkipProbe {
		if err := Probe(ctx, t.Addr); err != nil {
			return t.fail(ctx, err, false)
		}
	}
	if err := fn(ctx); err != nil {
		return t.fail(ctx, err, true)
	}
	log.Info().Str("took", time.Since(start).Round(time.Millisecond).String()).Msgf("%s at %s: ok", t.Name, t.Addr)
	return nil
}

// fail words err for the operator; connected says the probe reached the
// dependency, so a timeout after it means it does not answer.
func (t Target) fail(ctx context.Context, err error, connected bool) error {
	fix := t.Fix
	if fix == "" && t.Setting != "" {
		fix = "check " + t.Setting
	}
	what, known := explain(err)
	if !known && ctx.Err() != nil {
		what, known = "no answer within "+timeoutMark, true
	}
	if known {
		if connected && strings.HasPrefix(what, "no answer") {
			what = "connected, but " + what + " (the server accepts connections and does not respond)"
		}
		if strings.Contains(what, timeoutMark) {
			what = strings.ReplaceAll(what, timeoutMark, t.Timeout.String())
			if t.TimeoutSetting != "" {
				fix += fmt.Sprintf(" (or raise %s if it is only slow)", t.TimeoutSetting)
			}
		}
		if fix != "" {
			return fmt.Errorf("%s at %s: %s; %s", t.Name, t.Addr, what, fix)
		}
		return fmt.Errorf("%s at %s: %s", t.Name, t.Addr, what)
	}
	msg := err.Error()
	if len(msg) > maxLine || strings.Contains(msg, "\n") {
		return fmt.Errorf("%s at %s: %s", t.Name, t.Addr, shorten(msg))
	}
	return err
}

// timeoutMark stands for the check's timeout in Explain's words.
const timeoutMark = "{timeout}"

// maxLine is the longest error printed as it is.
const maxLine = 400

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Probe resolves addr's host, connects to it and, for an https URL,
// completes a TLS handshake, returning the first failure. A nats:// or
// tls:// URL is only connected to: NATS negotiates TLS after its greeting.
func Probe(ctx context.Context, addr string) error {
	hostport, useTLS, err := split(addr)
	if err != nil {
		return &probeError{stage: "address", err: err}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return &probeError{stage: "connect", addr: hostport, err: err}
	}
	defer conn.Close()
	if !useTLS {
		return nil
	}
	host, _, _ := net.SplitHostPort(hostport)
	tc := tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		return &probeError{stage: "tls", addr: hostport, err: err}
	}
	return nil
}

// split returns the host:port to dial for addr and whether it speaks TLS.
func split(addr string) (string, bool, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" {
			return "", false, fmt.Errorf("%q is not a URL", addr)
		}
		port := u.Port()
		switch {
		case port != "":
		case u.Scheme == "https":
			port = "443"
		case u.Scheme == "http":
			port = "80"
		case u.Scheme == "nats" || u.Scheme == "tls":
			port = "4222"
		default:
			return "", false, fmt.Errorf("%q: the scheme must be http or https", addr)
		}
		return net.JoinHostPort(u.Hostname(), port), u.Scheme == "https", nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", false, fmt.Errorf("%q is not host:port", addr)
	}
	return addr, false, nil
}

// probeError is a network failure of Probe, with the stage it failed at.
type probeError struct {
	stage, addr string
	err         error
}

func (e *probeError) Error() string { return e.stage + " " + e.addr + ": " + e.err.Error() }
func (e *probeError) Unwrap() error { return e.err }
