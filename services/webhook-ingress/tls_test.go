package webhookingress

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
)

var serial atomic.Int64

// testCA signs server and client certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for a server (127.0.0.1) or a
// client.
func (ca *testCA) issue(t *testing.T, cn string, client bool) (certPEM, keyPEM []byte, serialNo int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serialNo = serial.Add(1)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialNo),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), serialNo
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	// Write then rename, as cert-manager and certbot do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestTLSServesTheRenewedCertificateWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	certPEM, keyPEM, first := ca.issue(t, "ingress", false)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)

	cfg := baseConfig()
	cfg.InsecureNoTls = false
	cfg.TlsCert, cfg.TlsKey = certFile, keyFile
	h := startIngress(t, cfg)
	h.svc.tls.CheckInterval = 0 // look at the files on every handshake

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	h.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}
	served := func() int64 {
		resp, _ := h.post(delivery{method: http.MethodGet, path: "/status"})
		if resp.StatusCode != 200 {
			t.Fatalf("/status over TLS: %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	if got := served(); got != first {
		t.Fatalf("serial %d, want %d", got, first)
	}
	if resp, b := h.post(delivery{body: loadSamples(t)[0].body, secret: secretNew}); resp.StatusCode != 200 {
		t.Fatalf("delivery over TLS: %d %s", resp.StatusCode, b)
	}

	certPEM, keyPEM, second := ca.issue(t, "ingress", false)
	writeFile(t, keyFile, keyPEM)
	writeFile(t, certFile, certPEM)
	eventually(t, 10*time.Second, "the renewed certificate is served", func() bool { return served() == second })

	// A broken renewal keeps the last good certificate.
	writeFile(t, certFile, []byte("not a certificate"))
	if got := served(); got != second {
		t.Fatalf("after a broken renewal: serial %d, want %d", got, second)
	}
	mustContain(t, h.logs.String(), "TLS certificate reloaded")

	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(h.url, "https://"), old)
	if err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "other CA")
	certPEM, keyPEM, _ := serverCA.issue(t, "ingress", false)
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "client-ca.crt")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	writeFile(t, caFile, clientCA.pem)

	cfg := Config{Addr: "127.0.0.1:0", TlsCert: certFile, TlsKey: keyFile, TlsClientCa: caFile}
	h := startIngress(t, cfg)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(serverCA.pem)
	clientWith := func(ca *testCA) *http.Client {
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if ca != nil {
			c, k, _ := ca.issue(t, "jira", true)
			pair, err := tls.X509KeyPair(c, k)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	}
	body := loadSamples(t)[0].body
	postWith := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	if _, err := postWith(clientWith(nil)); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if _, err := postWith(clientWith(otherCA)); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	resp, err := postWith(clientWith(clientCA))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("client certificate: %v %v", resp, err)
	}
	got := h.published()
	if len(got) != 1 {
		t.Fatalf("published %d", len(got))
	}
	if w := got[0].Payload.(*events.Webhook); w.Signed || strings.Join(w.Auth, ",") != events.AuthMTLS {
		t.Fatalf("signed %v auth %v", w.Signed, w.Auth)
	}
}
