package agent

import (
	"crypto/tls"
	"errors"
	"log/slog"

	"github.com/piraeusctl/piraeusctl/internal/tlsfiles"
)

// TLSFiles names the agent's certificate, key and the cluster CA bundle
// that signs the clients (the controller) it accepts.
type TLSFiles = tlsfiles.Files

// ServerTLS returns a TLS configuration that requires every client to
// present a certificate signed by a CA of the bundle: there is no
// plain-text or unauthenticated mode. The files are read again at every
// handshake, so a renewed certificate or CA bundle (gencert rotates them
// in the mounted Secret) serves new connections while open ones go on;
// unreadable files are logged and the last good ones kept.
func ServerTLS(files TLSFiles) (*tls.Config, error) {
	if files.Cert == "" || files.Key == "" || files.CA == "" {
		return nil, errors.New("mutual TLS is mandatory: --tls-cert, --tls-key and --tls-ca (or --tls-dir) are required")
	}
	r, err := tlsfiles.NewReloader(files, slog.Default())
	if err != nil {
		return nil, err
	}
	return r.ServerConfig(), nil
}
