package gencert

import (
	"crypto/x509"
	"fmt"
	"time"
)

// InternalCAName is the common name of the internal CA.
const InternalCAName = "linstor-internal-ca"

// ControllerClientName is the common name of the controller's client
// certificate for the agents.
const ControllerClientName = "linstor-controller"

// controllerProfile is the controller's client certificate: it
// authenticates to the agents and can serve nothing.
func controllerProfile() profile {
	return profile{what: "controller client certificate", commonName: ControllerClientName, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

// satelliteProfile is an agent's serving certificate, naming its node (the
// controller checks the node name, not the address it dials). It cannot
// authenticate as a client, so one node's certificate cannot drive another
// node's agent.
func satelliteProfile(node string) profile {
	return profile{what: "certificate of node " + node, commonName: node, names: SANs{DNS: []string{node}}, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
}

// leafSecret is one certificate Secret signed by the internal CA.
type leafSecret struct {
	name string
	prof profile
	// data is what the Secret holds now (nil when it does not exist).
	data map[string][]byte
}

// internalRotation is the decision of one pass over the internal TLS: the
// CA Secret (ca.crt bundle, ca.key) and each certificate Secret (tls.crt,
// tls.key and the same ca.crt bundle), in the order given.
type internalRotation struct {
	ca     *rotation
	leaves []*rotation
	next   time.Time
}

// rotateInternal decides one pass over the internal CA and its
// certificates. A CA rotation takes the webhook's three steps, counted over
// all certificates: the new CA joins every bundle; once every Secret's
// bundle holds it and the grace period has passed, certificates are
// reissued by it; once the last was reissued a grace period ago, the old CA
// leaves the bundles. Both sides of every connection trust old and new CA
// throughout, so no handshake fails on the way.
func rotateInternal(now time.Time, caData map[string][]byte, leaves []leafSecret, p Policy) (*internalRotation, error) {
	p.CAName = InternalCAName
	ca := readCA(now, caData)
	out := &internalRotation{ca: newRotation(now, caData, p)}
	if err := out.ca.ensureCA(now, &ca, p); err != nil {
		return nil, err
	}
	published := func(c *x509.Certificate) bool {
		for _, l := range leaves {
			if !bundleHas(l.data[KeyCACert], c) {
				return false
			}
		}
		return true
	}
	certs := make([]*x509.Certificate, len(leaves))
	for i, l := range leaves {
		r := newRotation(now, l.data, p)
		cert, err := r.ensureLeaf(now, readLeaf(l.data), &ca, l.prof, published, p)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", l.name, err)
		}
		certs[i] = cert
		out.leaves = append(out.leaves, r)
	}
	out.ca.retireCAs(now, &ca, certs, p)
	bundle := encodeCerts(ca.cas...)
	out.ca.set(KeyCACert, bundle, "")
	out.next = out.ca.next
	for _, r := range out.leaves {
		r.set(KeyCACert, bundle, "")
		if r.next.Before(out.next) {
			out.next = r.next
		}
	}
	return out, nil
}
