package startup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// silentListener accepts connections and never answers (nor closes them
// before the test ends).
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(done)
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// getStatus is the check function of the tests: one HTTP GET.
func getStatus(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func TestCheckSaysWhatWentWrong(t *testing.T) {
	silent := silentListener(t)
	closed := closedPort(t)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(plain.Close)

	cases := []struct {
		name, addr string
		want       []string
		timeout    time.Duration // long where the answer is prompt: a busy machine must not turn it into a timeout
		slowest    time.Duration
	}{
		{"accepts but never answers (HTTP)", "http://" + silent, []string{"Jira at http://" + silent + ": connected, but no answer within 400ms", "check JIRA_BRIDGE_URL (or raise JIRA_BRIDGE_CHECK_TIMEOUT if it is only slow)"}, 400 * time.Millisecond, 5 * time.Second},
		{"accepts but never answers (TLS)", "https://" + silent, []string{"no answer to the TLS handshake within 400ms"}, 400 * time.Millisecond, 5 * time.Second},
		{"closed port", "http://" + closed, []string{"connection refused (nothing listens on " + closed + ")", "check JIRA_BRIDGE_URL"}, time.Minute, 5 * time.Second},
		{"unresolvable host", "https://jira.accessbridge-test.invalid", []string{`the name "jira.accessbridge-test.invalid"`, "DNS"}, time.Minute, 20 * time.Second},
		{"self-signed certificate", tlsSrv.URL, []string{"TLS: the server's certificate is signed by an unknown authority"}, time.Minute, 10 * time.Second},
		{"plain HTTP on an https URL", strings.Replace(plain.URL, "http://", "https://", 1), []string{"TLS: the server does not speak TLS on that port"}, time.Minute, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			start := time.Now()
			err := Check(context.Background(), zerolog.New(&logs), Target{
				Name: "Jira", Addr: c.addr, Setting: "JIRA_BRIDGE_URL", Timeout: c.timeout, TimeoutSetting: "JIRA_BRIDGE_CHECK_TIMEOUT",
			}, getStatus(c.addr))
			took := time.Since(start)
			if err == nil {
				t.Fatal("the check passed")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") || len(err.Error()) > 400 {
				t.Errorf("not one short line: %q", err)
			}
			if !strings.Contains(logs.String(), `"message":"checking Jira at `+c.addr+`"`) {
				t.Errorf("no progress line: %s", logs.String())
			}
			if took > c.slowest {
				t.Errorf("took %s, more than %s", took, c.slowest)
			}
		})
	}
}

func TestCheckPassesAndReportsIt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	if err := Check(context.Background(), zerolog.New(&logs), Target{Name: "Jira", Addr: srv.URL}, getStatus(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "checking Jira at "+srv.URL) || !strings.Contains(logs.String(), "Jira at "+srv.URL+": ok") {
		t.Fatalf("progress lines: %s", logs.String())
	}
}

// A readable error of the check itself is kept; a gRPC dump is cut to one
// line that says what happened.
func TestCheckKeepsReadableErrorsAndSummarisesDumps(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	own := errors.New("TELEPORT_BRIDGE_IDENTITY_FILE: the certificate expired at 2026-01-01T00:00:00Z; renew it")
	tgt := Target{Name: "Teleport", Addr: addr, Setting: "TELEPORT_BRIDGE_ADDR", Fix: "set TELEPORT_BRIDGE_ADDR to the Proxy (host:443) or Auth Service (host:3025)"}
	if err := Check(context.Background(), zerolog.Nop(), tgt, func(context.Context) error { return own }); err != own {
		t.Fatalf("a readable error was rewritten: %v", err)
	}
	dump := errors.New(`TELEPORT_BRIDGE_ADDR: cannot connect to Teleport at ` + addr + `: all connection methods failed: [failed to connect to addr ` + addr + ` as an auth server: rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of \"crypto/rsa: verification error\" while trying to verify candidate authority certificate \"teleport.example.com\")", failed to connect to addr ` + addr + ` as a reverse tunnel proxy: ssh: handshake failed: EOF, failed to connect to addr ` + addr + ` as a web proxy: Get "https://` + addr + `/webapi/find": http: server gave HTTP response to HTTPS client] ` + strings.Repeat("retrying ", 100))
	err := Check(context.Background(), zerolog.Nop(), tgt, func(context.Context) error { return dump })
	want := "Teleport at " + addr + ": TLS: the server's certificate is signed by an unknown authority (a different cluster, or a TLS-terminating proxy in between); set TELEPORT_BRIDGE_ADDR to the Proxy (host:443) or Auth Service (host:3025)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		addr, hostport string
		tls            bool
		err            string
	}{
		{"https://x.atlassian.net", "x.atlassian.net:443", true, ""},
		{"http://jira:8080/jira", "jira:8080", false, ""},
		{"nats://nats", "nats:4222", false, ""},
		{"tls://nats:4443", "nats:4443", false, ""},
		{"teleport.example.com:443", "teleport.example.com:443", false, ""},
		{"teleport.example.com", "", false, "is not host:port"},
		{"ftp://x", "", false, "scheme must be http or https"},
	} {
		hp, tls, err := split(c.addr)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("split(%q) err = %v, want %q", c.addr, err, c.err)
			}
			continue
		}
		if err != nil || hp != c.hostport || tls != c.tls {
			t.Errorf("split(%q) = %q, %v, %v; want %q, %v", c.addr, hp, tls, err, c.hostport, c.tls)
		}
	}
}
