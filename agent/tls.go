package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles names the agent's certificate, key and the cluster CA that
// signs the clients (the controller) it accepts.
type TLSFiles struct {
	Cert string
	Key  string
	CA   string
}

// ServerTLS returns a TLS configuration that requires every client to
// present a certificate signed by the CA: there is no plain-text or
// unauthenticated mode.
func ServerTLS(files TLSFiles) (*tls.Config, error) {
	if files.Cert == "" || files.Key == "" || files.CA == "" {
		return nil, errors.New("mutual TLS is mandatory: --tls-cert, --tls-key and --tls-ca (or --tls-dir) are required")
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return nil, fmt.Errorf("load agent certificate %s: %w", files.Cert, err)
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		return nil, fmt.Errorf("load cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("load cluster CA %s: no PEM certificate found", files.CA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
