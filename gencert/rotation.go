package gencert

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Policy says how long certificates live and when gencert replaces them.
type Policy struct {
	// CAValidity is the lifetime of a new CA.
	CAValidity time.Duration
	// CARenewBefore: a new CA is made when the signing CA has less left.
	CARenewBefore time.Duration
	// CertValidity is the lifetime of a new serving certificate (never
	// beyond its CA's).
	CertValidity time.Duration
	// CertRenewBefore: the serving certificate is reissued when it has less left.
	CertRenewBefore time.Duration
	// Grace is how long a new CA sits in the caBundle before it signs the
	// serving certificate, and how long the new serving certificate is out
	// before the old CA leaves the bundle: time for the API server to see
	// the bundle and for the kubelet to refresh the mounted Secret.
	Grace time.Duration
	// CAName is the CA's common name.
	CAName string
}

// DefaultPolicy: a CA for a year, renewed with four months left; serving
// certificates for 90 days, renewed with 30 left; five minutes of grace.
func DefaultPolicy() Policy {
	return Policy{
		CAValidity:      365 * 24 * time.Hour,
		CARenewBefore:   122 * 24 * time.Hour,
		CertValidity:    90 * 24 * time.Hour,
		CertRenewBefore: 30 * 24 * time.Hour,
		Grace:           5 * time.Minute,
		CAName:          "piraeus-operator-webhook-ca",
	}
}

// Validate rejects policies that would renew in a loop.
func (p Policy) Validate() error {
	switch {
	case p.CAValidity <= 0 || p.CertValidity <= 0:
		return errors.New("certificate validities must be positive")
	case p.CARenewBefore <= 0 || p.CARenewBefore >= p.CAValidity:
		return fmt.Errorf("--ca-renew-before (%s) must be positive and less than --ca-validity (%s)", p.CARenewBefore, p.CAValidity)
	case p.CertRenewBefore <= 0 || p.CertRenewBefore >= p.CertValidity:
		return fmt.Errorf("--renew-before (%s) must be positive and less than --cert-validity (%s)", p.CertRenewBefore, p.CertValidity)
	case p.CARenewBefore < p.CertRenewBefore:
		return fmt.Errorf("--ca-renew-before (%s) must not be less than --renew-before (%s), or a serving certificate capped by its CA's expiry would be renewed on every pass", p.CARenewBefore, p.CertRenewBefore)
	case p.Grace < 0:
		return errors.New("--rotation-grace must not be negative")
	}
	return nil
}

// rotation is the outcome of one decision for one Secret: the data to
// store, what changed (for logs; never key material) and when to look again.
type rotation struct {
	data    map[string][]byte
	changes []string
	next    time.Time
}

func newRotation(now time.Time, current map[string][]byte, p Policy) *rotation {
	r := &rotation{data: maps.Clone(current), next: now.Add(p.CAValidity)}
	if r.data == nil {
		r.data = map[string][]byte{}
	}
	return r
}

// caState is the parsed CA part of a Secret: trusted CAs (unexpired,
// newest first once ensureCA has run) and the signing CA with its key.
type caState struct {
	cas     []*x509.Certificate
	signing *x509.Certificate
	caKey   crypto.Signer
}

func readCA(now time.Time, data map[string][]byte) caState {
	var s caState
	cas, _ := ParseCerts(data[KeyCACert])
	for _, c := range cas {
		if c.IsCA && now.Before(c.NotAfter) {
			s.cas = append(s.cas, c)
		}
	}
	if key, err := parseKey(data[KeyCAKey]); err == nil {
		for _, c := range s.cas {
			if keyMatches(c, key) {
				s.signing, s.caKey = c, key
				break
			}
		}
	}
	return s
}

// readLeaf returns the Secret's certificate, nil when missing, unparsable
// or not matching its key.
func readLeaf(data map[string][]byte) *x509.Certificate {
	certs, err := ParseCerts(data[KeyTLSCert])
	key, keyErr := parseKey(data[KeyTLSKey])
	if err == nil && keyErr == nil && keyMatches(certs[0], key) {
		return certs[0]
	}
	return nil
}

// issuerOf returns the CA among cas that signed cert, or nil.
func issuerOf(cert *x509.Certificate, cas []*x509.Certificate) *x509.Certificate {
	if cert == nil {
		return nil
	}
	for _, ca := range cas {
		if cert.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}

// rotate decides one pass of the webhook's Secret, which holds the CA and
// the serving certificate: it returns the Secret data that should be
// stored now. published reports whether the webhook configuration's
// caBundle already trusts a CA.
func rotate(now time.Time, current map[string][]byte, names SANs, published func(*x509.Certificate) bool, p Policy) (*rotation, error) {
	ca := readCA(now, current)
	r := newRotation(now, current, p)
	if err := r.ensureCA(now, &ca, p); err != nil {
		return nil, err
	}
	cert, err := r.ensureLeaf(now, readLeaf(current), &ca, servingProfile(names), published, p)
	if err != nil {
		return nil, err
	}
	r.retireCAs(now, &ca, []*x509.Certificate{cert}, p)
	r.set(KeyCACert, encodeCerts(ca.cas...), "")
	return r, nil
}

// ensureCA makes a new CA when there is no usable one or it is due; older
// CAs stay in the bundle.
func (r *rotation) ensureCA(now time.Time, s *caState, p Policy) error {
	reason := ""
	switch {
	case s.signing == nil:
		reason = "no usable CA"
	case !now.Before(s.signing.NotAfter.Add(-p.CARenewBefore)):
		reason = fmt.Sprintf("CA expires %s", s.signing.NotAfter.UTC().Format(time.RFC3339))
	}
	if reason == "" {
		r.wake(s.signing.NotAfter.Add(-p.CARenewBefore))
		s.orderCAs()
		return nil
	}
	ca, key, err := newCA(now, p.CAValidity, p.CAName)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	s.signing, s.caKey = ca, key
	s.cas = append([]*x509.Certificate{ca}, s.cas...)
	r.set(KeyCAKey, keyPEM, fmt.Sprintf("new CA (serial %x, valid until %s): %s", ca.SerialNumber, ca.NotAfter.UTC().Format(time.RFC3339), reason))
	r.wake(ca.NotAfter.Add(-p.CARenewBefore))
	return nil
}

// orderCAs puts the signing CA first.
func (s *caState) orderCAs() {
	out := []*x509.Certificate{s.signing}
	for _, c := range s.cas {
		if c != s.signing {
			out = append(out, c)
		}
	}
	s.cas = out
}

// ensureLeaf reissues the Secret's certificate when it is missing,
// expired, untrusted, for other names or due, and moves it to the signing
// CA once that CA has been published for the grace period. It returns the
// certificate the Secret holds afterwards.
func (r *rotation) ensureLeaf(now time.Time, cert *x509.Certificate, s *caState, prof profile, published func(*x509.Certificate) bool, p Policy) (*x509.Certificate, error) {
	issuer := issuerOf(cert, s.cas)
	reason, urgent := "", false
	switch {
	case cert == nil:
		reason, urgent = "no valid "+prof.what, true
	case !now.Before(cert.NotAfter):
		reason, urgent = prof.what+" expired", true
	case issuer == nil:
		reason, urgent = prof.what+" not signed by a trusted CA", true
	case !prof.matches(cert):
		reason = prof.what + " names changed"
	case !now.Before(cert.NotAfter.Add(-p.CertRenewBefore)):
		reason = fmt.Sprintf("%s expires %s", prof.what, cert.NotAfter.UTC().Format(time.RFC3339))
	case issuer != s.signing:
		reason = "moving the " + prof.what + " to the new CA"
	}
	if reason == "" {
		r.wake(cert.NotAfter.Add(-p.CertRenewBefore))
		return cert, nil
	}
	if !urgent && issuer != s.signing {
		ready := born(s.signing).Add(p.Grace)
		if !published(s.signing) || now.Before(ready) {
			r.wake(ready) // the old CA keeps signing until the new one is trusted everywhere
			return cert, nil
		}
	}
	cert, key, err := newLeafCert(now, p.CertValidity, prof, s.signing, s.caKey)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	r.set(KeyTLSCert, encodeCerts(cert), fmt.Sprintf("new %s (serial %x, valid until %s): %s", prof.what, cert.SerialNumber, cert.NotAfter.UTC().Format(time.RFC3339), reason))
	r.set(KeyTLSKey, keyPEM, "")
	r.wake(cert.NotAfter.Add(-p.CertRenewBefore))
	return cert, nil
}

// retireCAs drops the older CAs once every certificate of certs comes from
// the signing CA and the last of them has been out for the grace period.
func (r *rotation) retireCAs(now time.Time, s *caState, certs []*x509.Certificate, p Policy) {
	if len(s.cas) < 2 {
		return
	}
	var newest time.Time
	for _, c := range certs {
		if issuerOf(c, s.cas) != s.signing {
			for _, old := range s.cas[1:] {
				r.wake(old.NotAfter)
			}
			return
		}
		if b := born(c); b.After(newest) {
			newest = b
		}
	}
	if ready := newest.Add(p.Grace); now.Before(ready) {
		r.wake(ready)
		return
	}
	r.changes = append(r.changes, fmt.Sprintf("retired %d old CA(s) from the bundle", len(s.cas)-1))
	s.cas = s.cas[:1]
}

// set stores value under key when it differs, noting why.
func (r *rotation) set(key string, value []byte, why string) {
	if bytes.Equal(r.data[key], value) {
		return
	}
	r.data[key] = value
	if why != "" {
		r.changes = append(r.changes, why)
	} else if key == KeyCACert && len(r.changes) == 0 {
		r.changes = append(r.changes, "CA bundle updated")
	}
}

func (r *rotation) wake(t time.Time) {
	if t.Before(r.next) {
		r.next = t
	}
}

// changed reports whether the Secret data differs from current.
func (r *rotation) changed(current map[string][]byte) bool {
	return !maps.EqualFunc(r.data, current, bytes.Equal)
}
