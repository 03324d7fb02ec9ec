// Package tlsreload serves a certificate and key (and optionally a client
// CA for mutual TLS) from files and picks up new versions when the files
// change, so a renewed certificate (cert-manager, certbot) needs no restart.
package tlsreload

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Files are the PEM files to serve.
type Files struct {
	Cert, Key string
	// ClientCA, when set, requires and verifies client certificates.
	ClientCA string
}

// Reloader holds the current TLS material; safe for concurrent use.
type Reloader struct {
	files Files
	log   zerolog.Logger
	// CheckInterval bounds how often the files are looked at (default 1s;
	// 0 after New means every handshake, for tests).
	CheckInterval time.Duration

	mu        sync.Mutex
	lastCheck time.Time
	stamp     string
	config    *tls.Config // the per-handshake config
}

// New loads the files once; an error names the file.
func New(files Files, log zerolog.Logger) (*Reloader, error) {
	r := &Reloader{files: files, log: log, CheckInterval: time.Second}
	stamp, err := r.stampFiles()
	if err != nil {
		return nil, err
	}
	cfg, err := r.load()
	if err != nil {
		return nil, err
	}
	r.stamp, r.config, r.lastCheck = stamp, cfg, time.Now()
	return r, nil
}

// TLSConfig is the server configuration: TLS 1.2 or later, with the
// current files chosen at every handshake.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.current(), nil },
	}
}

// Certificate returns the certificate now served.
func (r *Reloader) Certificate() *tls.Certificate { return &r.current().Certificates[0] }

func (r *Reloader) current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.lastCheck) < r.CheckInterval {
		return r.config
	}
	r.lastCheck = now
	stamp, err := r.stampFiles()
	if err != nil || stamp == r.stamp {
		if err != nil {
			r.log.Error().Err(err).Msg("TLS files unreadable; serving the previous certificate")
		}
		return r.config
	}
	cfg, err := r.load()
	if err != nil {
		// Half-written files (cert renewed before key) land here; the next
		// check retries, since the stamp is not advanced.
		r.log.Error().Err(err).Msg("TLS files changed but do not load; serving the previous certificate")
		return r.config
	}
	r.stamp, r.config = stamp, cfg
	r.log.Info().Str("cert", r.files.Cert).Str("not_after", cfg.Certificates[0].Leaf.NotAfter.UTC().Format(time.RFC3339)).Msg("TLS certificate reloaded")
	return r.config
}

// stampFiles identifies the files' versions by a hash of their content:
// modification times are too coarse to tell two quick writes apart, and the
// files are small.
func (r *Reloader) stampFiles() (string, error) {
	h := sha256.New()
	for _, p := range []string{r.files.Cert, r.files.Key, r.files.ClientCA} {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("TLS file: %w", err)
		}
		sum := sha256.Sum256(b)
		h.Write(sum[:])
	}
	return string(h.Sum(nil)), nil
}

func (r *Reloader) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", r.files.Cert, r.files.Key, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse TLS certificate %s: %w", r.files.Cert, err)
		}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// HTTP/1.1 is what Jira speaks; no h2 on the per-handshake config.
		NextProtos: []string{"http/1.1"},
	}
	if r.files.ClientCA != "" {
		pem, err := os.ReadFile(r.files.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s holds no PEM certificate", r.files.ClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
