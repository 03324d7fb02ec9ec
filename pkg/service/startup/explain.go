package startup

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// explain says in words what kind of network failure err is — refused,
// name resolution, TLS, no answer, reset, unreachable — and whether it
// recognised one. Typed errors (net.OpError, *net.DNSError, x509 and tls
// errors, context deadlines) are matched first; then the text, because
// some clients (gRPC) flatten the cause into a message.
func explain(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	var pe *probeError
	stage, addr := "", ""
	if errors.As(err, &pe) {
		stage, addr = pe.stage, pe.addr
	}
	if stage == "address" {
		return pe.err.Error(), true
	}
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fmt.Sprintf("the name %q does not resolve (DNS: no such host)", dnsErr.Name), true
		}
		return fmt.Sprintf("the name %q could not be resolved (DNS: %s)", dnsErr.Name, dnsErr.Err), true
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused(addr), true
	case errors.As(err, &unknownCA):
		return "TLS: the server's certificate is signed by an unknown authority (self-signed or a private CA); install that CA in the system trust store, or point SSL_CERT_FILE at it", true
	case errors.As(err, &hostErr):
		return fmt.Sprintf("TLS: the server's certificate is not valid for that name (%s)", hostErr.Error()), true
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "TLS: the server's certificate has expired or is not valid yet (" + invalid.Error() + ")", true
		}
		return "TLS: the server's certificate is not valid (" + invalid.Error() + ")", true
	case errors.As(err, &verifyErr):
		return "TLS: the server's certificate could not be verified (" + verifyErr.Err.Error() + ")", true
	case errors.As(err, &recordErr):
		return "TLS: the server does not speak TLS on that port (plain HTTP? use an http:// URL or the TLS port)", true
	case errors.Is(err, syscall.ECONNRESET), stage == "tls" && errors.Is(err, io.EOF):
		return "the server closed the connection (during the TLS handshake: it may expect plain HTTP or a client certificate)", true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "the network or host is unreachable (routing, VPN or firewall)", true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		switch stage {
		case "connect":
			return "the connection was not accepted within " + timeoutMark + " (a firewall dropping packets, or a wrong address)", true
		case "tls":
			return "connected, but no answer to the TLS handshake within " + timeoutMark + " (is it a TLS port?)", true
		}
		return "connected, but no answer within " + timeoutMark + " (the server accepts connections and does not respond)", true
	}
	return fromText(err.Error(), addr)
}

func refused(addr string) string {
	if addr == "" {
		return "connection refused (nothing listens on that port)"
	}
	return fmt.Sprintf("connection refused (nothing listens on %s)", addr)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// textual are the causes recognised in a flattened message, most specific
// first (a gRPC dial error lists the transport's error inside its own).
var textual = []struct{ needle, what string }{
	{"certificate signed by unknown authority", "TLS: the server's certificate is signed by an unknown authority (a different cluster, or a TLS-terminating proxy in between)"},
	{"certificate has expired", "TLS: a certificate has expired (the server's, or the client identity's: renew it)"},
	{"certificate is valid for", "TLS: the server's certificate is not valid for that name"},
	{"certificate is not valid for", "TLS: the server's certificate is not valid for that name"},
	{"first record does not look like a TLS handshake", "TLS: the server does not speak TLS on that port"},
	{"bad certificate", "TLS: the server rejected the client certificate (an identity of another cluster?)"},
	{"certificate required", "TLS: the server asks for a client certificate the identity does not provide"},
	{"connection refused", "connection refused (nothing listens on that port)"},
	{"no such host", "the name does not resolve (DNS: no such host)"},
	{"server misbehaving", "the name could not be resolved (DNS server failure)"},
	{"network is unreachable", "the network or host is unreachable (routing, VPN or firewall)"},
	{"no route to host", "the network or host is unreachable (routing, VPN or firewall)"},
	{"connection reset", "the server closed the connection"},
	{"i/o timeout", "no answer within " + timeoutMark},
	{"context deadline exceeded", "no answer within " + timeoutMark},
	{"timed out", "no answer within " + timeoutMark},
}

func fromText(msg, addr string) (string, bool) {
	lower := strings.ToLower(msg)
	for _, t := range textual {
		if strings.Contains(lower, t.needle) {
			if t.needle == "connection refused" {
				return refused(addr), true
			}
			return t.what, true
		}
	}
	return "", false
}
