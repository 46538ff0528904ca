package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Files names a certificate, its key and the CA bundle that signs the peers.
type Files struct {
	Cert string
	Key  string
	CA   string
}

// InDir returns the files of a Secret mounted as the folder dir.
func InDir(dir string) Files {
	return Files{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key"), CA: filepath.Join(dir, "ca.crt")}
}

// Snapshot is what the files held at one read.
type Snapshot struct {
	Cert  *tls.Certificate
	Roots *x509.CertPool
}

// Read reads the key pair and the CA bundle (every CERTIFICATE block: during
// a CA rotation the old and the new CA are both trusted).
func (f Files) Read() (*Snapshot, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return nil, errors.New("certificate, key and CA files are all required")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", f.Cert, err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("load CA bundle: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("load CA bundle %s: no PEM certificate found", f.CA)
	}
	return &Snapshot{Cert: &cert, Roots: roots}, nil
}

// Reloader rereads Files at each call of Current and falls back to the last
// good snapshot while the files are unreadable (a Secret update half seen).
type Reloader struct {
	files Files
	log   *slog.Logger

	mu   sync.Mutex
	last *Snapshot
}

// NewReloader reads the files once: a missing or broken file is an error
// at start, not at the first handshake.
func NewReloader(files Files, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := files.Read()
	if err != nil {
		return nil, err
	}
	return &Reloader{files: files, log: log, last: s}, nil
}

// Current returns the files as they are now, or the last good snapshot.
func (r *Reloader) Current() *Snapshot {
	s, err := r.files.Read()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.log.Warn("TLS files unreadable; using the last good ones", "cert", r.files.Cert, "err", err)
		return r.last
	}
	r.last = s
	return s
}

// ServerConfig requires every client to present a certificate for client
// authentication signed by a CA of the bundle; certificate and bundle are
// those of the files at each handshake.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s := r.Current()
			return &tls.Config{
				Certificates: []tls.Certificate{*s.Cert},
				ClientCAs:    s.Roots,
				ClientAuth:   tls.RequireAndVerifyClientCert,
				MinVersion:   tls.VersionTLS13,
			}, nil
		},
	}
}

// ClientConfig presents the files' certificate and checks the server with
// verify against the bundle as it is at the handshake. Go's own name check
// is replaced by verify (InsecureSkipVerify only turns that off).
func (r *Reloader) ClientConfig(verify func(cs tls.ConnectionState, roots *x509.CertPool) error) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verify below
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.Current().Cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verify(cs, r.Current().Roots)
		},
	}
}
