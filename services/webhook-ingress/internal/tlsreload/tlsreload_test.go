package tlsreload

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func selfSigned(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnChangeKeepsTheLastGoodPair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c"), filepath.Join(dir, "k")
	c1, k1 := selfSigned(t, 1)
	write(t, certFile, c1)
	write(t, keyFile, k1)
	var logs strings.Builder
	r, err := New(Files{Cert: certFile, Key: keyFile}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 { return r.Certificate().Leaf.SerialNumber.Int64() }
	if serial() != 1 {
		t.Fatalf("serial %d", serial())
	}

	// Throttled: a change within CheckInterval is not looked at yet.
	r.CheckInterval = time.Hour
	c2, k2 := selfSigned(t, 2)
	write(t, certFile, c2)
	if serial() != 1 {
		t.Fatal("looked at the files within the interval")
	}

	// The new certificate without its key does not load: keep serving 1.
	r.CheckInterval = 0
	if serial() != 1 || !strings.Contains(logs.String(), "do not load") {
		t.Fatalf("half-renewed pair: serial %d, logs %s", serial(), logs.String())
	}
	write(t, keyFile, k2)
	if serial() != 2 {
		t.Fatalf("after the key arrived: serial %d", serial())
	}
	if cfg := r.TLSConfig(); cfg.MinVersion != 0x0303 {
		t.Fatalf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
}

func TestNewNamesTheBadFile(t *testing.T) {
	dir := t.TempDir()
	c, k := selfSigned(t, 1)
	certFile, keyFile, caFile := filepath.Join(dir, "c"), filepath.Join(dir, "k"), filepath.Join(dir, "ca")
	write(t, certFile, c)
	write(t, keyFile, k)
	write(t, caFile, []byte("garbage"))
	if _, err := New(Files{Cert: certFile, Key: filepath.Join(dir, "missing")}, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := New(Files{Cert: certFile, Key: keyFile, ClientCA: caFile}, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), caFile) {
		t.Fatalf("bad client CA: %v", err)
	}
}
