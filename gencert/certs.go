package gencert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Keys of the kubernetes.io/tls Secret gencert maintains.
const (
	KeyTLSCert = "tls.crt" // serving certificate
	KeyTLSKey  = "tls.key" // its private key
	KeyCACert  = "ca.crt"  // every CA clients should trust, newest first
	KeyCAKey   = "ca.key"  // private key of the newest CA, which signs
)

// backdate is how far before "now" certificates become valid, so that a
// clock a little behind ours still accepts them. Ages are measured from
// NotBefore+backdate.
const backdate = time.Minute

// newKey returns a fresh ECDSA P-256 key.
func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// newCA creates a self-signed CA certificate and its key.
func newCA(now time.Time, validity time.Duration, name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	return issue("CA", &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"piraeusctl"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, nil, nil)
}

// profile is what a leaf certificate must be: its subject, names and use.
type profile struct {
	// what names the certificate in logs ("serving certificate").
	what       string
	commonName string
	names      SANs
	usage      []x509.ExtKeyUsage
}

// servingProfile is the webhook's serving certificate for the names.
func servingProfile(names SANs) profile {
	return profile{what: "serving certificate", commonName: names.commonName(), names: names, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
}

// matches reports whether cert has the profile's subject, names and uses.
func (p profile) matches(cert *x509.Certificate) bool {
	return cert.Subject.CommonName == p.commonName && p.names.coveredBy(cert) && slices.Equal(cert.ExtKeyUsage, p.usage)
}

// newLeafCert creates a certificate of the profile, signed by ca. It never
// outlives the CA.
func newLeafCert(now time.Time, validity time.Duration, prof profile, ca *x509.Certificate, caKey crypto.Signer) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	return issue(prof.what, &x509.Certificate{
		Subject:     pkix.Name{CommonName: prof.commonName},
		NotBefore:   now.Add(-backdate),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: prof.usage,
		DNSNames:    prof.names.DNS,
		IPAddresses: prof.names.IPs,
	}, ca, caKey)
}

// issue gives tmpl a fresh key and serial number and signs it by parent
// with signer, or by itself when parent is nil.
func issue(what string, tmpl, parent *x509.Certificate, signer crypto.Signer) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s key: %w", what, err)
	}
	if tmpl.SerialNumber, err = serialNumber(); err != nil {
		return nil, nil, fmt.Errorf("%s serial number: %w", what, err)
	}
	if parent == nil {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("sign %s certificate: %w", what, err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// SANs are the names a serving certificate must cover.
type SANs struct {
	DNS []string
	IPs []net.IP
}

// ServiceSANs returns the DNS names of a Service as clients in the cluster
// spell them, plus extra names or IP addresses.
func ServiceSANs(service, namespace string, extra []string) SANs {
	s := SANs{DNS: []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}}
	for _, e := range extra {
		if ip := net.ParseIP(e); ip != nil {
			s.IPs = append(s.IPs, ip)
		} else {
			s.DNS = append(s.DNS, e)
		}
	}
	return s
}

func (s SANs) commonName() string {
	if len(s.DNS) > 2 {
		return s.DNS[2] // svc.ns.svc
	}
	if len(s.DNS) > 0 {
		return s.DNS[0]
	}
	return "piraeusctl-webhook"
}

// coveredBy reports whether cert names exactly these SANs (in any order).
func (s SANs) coveredBy(cert *x509.Certificate) bool {
	if !sameSet(s.DNS, cert.DNSNames) {
		return false
	}
	want := make([]string, len(s.IPs))
	for i, ip := range s.IPs {
		want[i] = ip.String()
	}
	got := make([]string, len(cert.IPAddresses))
	for i, ip := range cert.IPAddresses {
		got[i] = ip.String()
	}
	return sameSet(want, got)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// encodeCerts returns the certificates as PEM, in order.
func encodeCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// encodeKey returns the key as PKCS#8 PEM.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCerts reads every CERTIFICATE block of a PEM bundle.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate found")
	}
	return out, nil
}

// parseKey reads a PKCS#8, SEC 1 (EC) or PKCS#1 (RSA) private key.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return signer, nil
}

// keyMatches reports whether key is the private half of cert's public key.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// born is when a certificate was made (NotBefore without the backdate).
func born(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(backdate)
}
