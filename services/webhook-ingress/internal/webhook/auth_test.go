package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCheckSignature(t *testing.T) {
	body := []byte(`{"webhookEvent":"jira:issue_updated"}`)
	a := &Auth{HMACSecrets: [][]byte{[]byte("secret-a-0123456789"), []byte("secret-b-0123456789")}}
	cases := []struct {
		name   string
		header http.Header
		signed bool
		ok     bool
	}{
		{"first secret", http.Header{"X-Hub-Signature": {signature("secret-a-0123456789", body)}}, true, true},
		{"second secret", http.Header{"X-Hub-Signature": {signature("secret-b-0123456789", body)}}, true, true},
		{"upper-case algorithm", http.Header{"X-Hub-Signature": {"SHA256=" + signature("secret-a-0123456789", body)[7:]}}, true, true},
		{"-256 header", http.Header{"X-Hub-Signature-256": {signature("secret-a-0123456789", body)}}, true, true},
		{"other secret", http.Header{"X-Hub-Signature": {signature("secret-c-0123456789", body)}}, false, false},
		{"missing", http.Header{}, false, false},
		{"sha1", http.Header{"X-Hub-Signature": {"sha1=" + signature("secret-a-0123456789", body)[7:]}}, false, false},
		{"no algorithm", http.Header{"X-Hub-Signature": {signature("secret-a-0123456789", body)[7:]}}, false, false},
		{"short", http.Header{"X-Hub-Signature": {"sha256=abcd"}}, false, false},
		{"not hex", http.Header{"X-Hub-Signature": {"sha256=" + string(make([]byte, 64))}}, false, false},
		{"twice", http.Header{"X-Hub-Signature": {signature("secret-a-0123456789", body), signature("secret-a-0123456789", body)}}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			signed, err := a.CheckSignature(c.header, body)
			if signed != c.signed || (err == nil) != c.ok {
				t.Fatalf("signed %v err %v", signed, err)
			}
			if err != nil && !IsAuthError(err) {
				t.Fatalf("not an AuthError: %v", err)
			}
		})
	}
	if signed, err := (&Auth{}).CheckSignature(http.Header{}, body); signed || err != nil {
		t.Fatalf("no secrets configured: %v %v", signed, err)
	}
}

func TestCheckRequest(t *testing.T) {
	a := &Auth{Tokens: []string{"tok-0123456789abcdef"}, TokenParam: "t", Basic: [][2]string{{"jira", "pass-0123456789"}}}
	req := func(target, user, pass string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, nil)
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		return r
	}
	cases := []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{"both", req("/w?t=tok-0123456789abcdef", "jira", "pass-0123456789"), true},
		{"no token", req("/w", "jira", "pass-0123456789"), false},
		{"token in another parameter", req("/w?token=tok-0123456789abcdef", "jira", "pass-0123456789"), false},
		{"wrong user", req("/w?t=tok-0123456789abcdef", "admin", "pass-0123456789"), false},
		{"wrong password", req("/w?t=tok-0123456789abcdef", "jira", "pass-012345678"), false},
		{"no basic", req("/w?t=tok-0123456789abcdef", "", ""), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			passed, err := a.CheckRequest(c.r)
			if (err == nil) != c.ok {
				t.Fatalf("err %v", err)
			}
			if c.ok && len(passed) != 2 {
				t.Fatalf("passed %v", passed)
			}
		})
	}
	m := &Auth{MTLS: true}
	if _, err := m.CheckRequest(req("/w", "", "")); err == nil {
		t.Fatal("mTLS without a TLS connection passed")
	}
	r := req("/w", "", "")
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}}
	if passed, err := m.CheckRequest(r); err != nil || passed[0] != "mtls" {
		t.Fatalf("verified client: %v %v", passed, err)
	}
}
