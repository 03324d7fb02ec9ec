package teleportsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gravitational/teleport/api/constants"
	"github.com/gravitational/teleport/api/identityfile"
	"golang.org/x/crypto/ssh"
)

// authority is the emulated cluster's certificate authorities: a TLS CA that
// signs the server and client certificates, and SSH user and host CAs for the
// SSH half of identity files (the api client refuses identity files without
// an SSH certificate, even when it only talks TLS to the Auth Service).
type authority struct {
	clusterName string
	tlsKey      *ecdsa.PrivateKey
	tlsCert     *x509.Certificate
	tlsCertPEM  []byte
	sshUserCA   ssh.Signer
	sshHostCA   ssh.Signer
}

func newAuthority(clusterName string, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: clusterName, Organization: []string{clusterName}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	userCA, err := newSSHSigner()
	if err != nil {
		return nil, err
	}
	hostCA, err := newSSHSigner()
	if err != nil {
		return nil, err
	}
	return &authority{
		clusterName: clusterName,
		tlsKey:      key,
		tlsCert:     cert,
		tlsCertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		sshUserCA:   userCA,
		sshHostCA:   hostCA,
	}, nil
}

func newSSHSigner() (ssh.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate SSH CA key: %w", err)
	}
	return ssh.NewSignerFromKey(key)
}

func newSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	return n
}

func (a *authority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.tlsCert)
	return p
}

// serverCert is the Auth Service certificate: valid for the SNI every api
// client sends (teleport.cluster.local), the cluster name, and loopback.
func (a *authority) serverCert(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: constants.APIDomain, Organization: []string{"Auth"}},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			constants.APIDomain, "*." + constants.APIDomain,
			a.clusterName, "localhost",
		},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.tlsCert, &key.PublicKey, a.tlsKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sign server cert: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, a.tlsCert.Raw}, PrivateKey: key}, nil
}

// issuedIdentity is one issued user identity.
type issuedIdentity struct {
	user     string
	serial   *big.Int
	notAfter time.Time
	keyPEM   []byte
	certPEM  []byte
	sshCert  []byte
}

// issue signs a client identity. As in Teleport's tlsca encoding, the
// subject CN is the user name and Organization holds the user's roles.
func (a *authority) issue(user string, roles []string, now time.Time, ttl time.Duration) (*issuedIdentity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate user key: %w", err)
	}
	serial := newSerial()
	notAfter := now.Add(ttl)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: user, Organization: roles},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.tlsCert, &key.PublicKey, a.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("sign user cert: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode user key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("ssh public key: %w", err)
	}
	sshCert := &ssh.Certificate{
		Key:             sshPub,
		Serial:          serial.Uint64(),
		CertType:        ssh.UserCert,
		KeyId:           user,
		ValidPrincipals: []string{user, "-teleport-internal-join"},
		ValidAfter:      uint64(now.Add(-time.Minute).Unix()),
		ValidBefore:     uint64(notAfter.Unix()),
		Permissions: ssh.Permissions{Extensions: map[string]string{
			"permit-port-forwarding": "",
			"permit-pty":             "",
		}},
	}
	if err := sshCert.SignCert(rand.Reader, a.sshUserCA); err != nil {
		return nil, fmt.Errorf("sign ssh cert: %w", err)
	}
	return &issuedIdentity{
		user:     user,
		serial:   serial,
		notAfter: notAfter,
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		sshCert:  ssh.MarshalAuthorizedKey(sshCert),
	}, nil
}

// knownHostsLine is the host CA entry identity files carry.
func (a *authority) knownHostsLine() []byte {
	key := ssh.MarshalAuthorizedKey(a.sshHostCA.PublicKey())
	return fmt.Appendf(nil, "@cert-authority %s,*.%s %s type=host\n",
		a.clusterName, a.clusterName, key[:len(key)-1])
}

// Paths of one user's files under the identity directory.
type identityPaths struct {
	Identity string // tctl auth sign --format=file
	Cert     string // tctl auth sign --format=tls: auth.crt
	Key      string // auth.key
	CAs      string // auth.cas
}

func pathsFor(dir, user string) identityPaths {
	base := filepath.Join(dir, user)
	return identityPaths{
		Identity: filepath.Join(base, "identity"),
		Cert:     filepath.Join(base, "auth.crt"),
		Key:      filepath.Join(base, "auth.key"),
		CAs:      filepath.Join(base, "auth.cas"),
	}
}

// write stores the identity file and the TLS triple. Each file is replaced
// atomically so that a client reloading mid-rotation never reads half a file.
func (a *authority) write(dir string, c *issuedIdentity) (identityPaths, error) {
	p := pathsFor(dir, c.user)
	if err := os.MkdirAll(filepath.Dir(p.Identity), 0o700); err != nil {
		return p, fmt.Errorf("identity dir: %w", err)
	}
	id, err := identityfile.Encode(&identityfile.IdentityFile{
		PrivateKey: c.keyPEM,
		Certs:      identityfile.Certs{SSH: c.sshCert, TLS: c.certPEM},
		CACerts: identityfile.CACerts{
			SSH: [][]byte{a.knownHostsLine()},
			TLS: [][]byte{a.tlsCertPEM},
		},
	})
	if err != nil {
		return p, fmt.Errorf("encode identity file: %w", err)
	}
	for path, data := range map[string][]byte{
		p.Identity: id, p.Cert: c.certPEM, p.Key: c.keyPEM, p.CAs: a.tlsCertPEM,
	} {
		if err := writeAtomic(path, data); err != nil {
			return p, err
		}
	}
	return p, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
