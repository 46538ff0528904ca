package gencert

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var testNames = ServiceSANs("svc", "ns", []string{"127.0.0.1"})

func testPolicy() Policy {
	p := DefaultPolicy()
	p.Grace = time.Minute
	return p
}

func always(*x509.Certificate) bool { return true }

// step runs rotate and returns the new data, failing on error.
func step(t *testing.T, now time.Time, data map[string][]byte, published func(*x509.Certificate) bool) *rotation {
	t.Helper()
	r, err := rotate(now, data, testNames, published, testPolicy())
	require.NoError(t, err)
	return r
}

func casOf(t *testing.T, data map[string][]byte) []*x509.Certificate {
	t.Helper()
	cas, err := ParseCerts(data[KeyCACert])
	require.NoError(t, err)
	return cas
}

func servingOf(t *testing.T, data map[string][]byte) *x509.Certificate {
	t.Helper()
	certs, err := ParseCerts(data[KeyTLSCert])
	require.NoError(t, err)
	return certs[0]
}

func TestRotateFirstPassAndIdempotence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := step(t, t0, nil, always)
	require.Len(t, r.changes, 2, "CA and serving certificate: %q", r.changes)
	require.ElementsMatch(t, []string{KeyCACert, KeyCAKey, KeyTLSCert, KeyTLSKey}, keys(r.data))
	cas := casOf(t, r.data)
	require.Len(t, cas, 1)
	cert := servingOf(t, r.data)
	require.NoError(t, cert.CheckSignatureFrom(cas[0]))
	require.ElementsMatch(t, []string{"svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local"}, cert.DNSNames)
	require.Equal(t, "127.0.0.1", cert.IPAddresses[0].String())
	require.Equal(t, t0.Add(90*24*time.Hour), cert.NotAfter)
	require.Equal(t, t0.Add(60*24*time.Hour), r.next, "next pass when the serving certificate is due")

	again := step(t, t0.Add(time.Hour), r.data, always)
	require.Empty(t, again.changes)
	require.False(t, again.changed(r.data), "a pass with nothing to do changes nothing")
}

func TestRotateCAInThreeSteps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := step(t, t0, nil, always).data
	oldCA := casOf(t, first)[0]
	// Day 240: the serving certificate has been renewed by the old CA.
	first = step(t, t0.Add(240*24*time.Hour), first, always).data
	require.Len(t, casOf(t, first), 1)

	// The CA is due (four months left): the new CA joins the bundle, the
	// serving certificate stays with the old CA.
	t1 := t0.Add(244 * 24 * time.Hour)
	r1 := step(t, t1, first, always)
	cas := casOf(t, r1.data)
	require.Len(t, cas, 2, "old and new CA both trusted")
	require.True(t, cas[1].Equal(oldCA), "new CA first, old CA second")
	require.Equal(t, first[KeyTLSCert], r1.data[KeyTLSCert], "serving certificate unchanged in the first step")
	require.Equal(t, t1.Add(time.Minute), r1.next, "look again after the grace period")

	// Not yet published, or within the grace period: nothing moves.
	require.False(t, step(t, t1.Add(2*time.Minute), r1.data, func(*x509.Certificate) bool { return false }).changed(r1.data))
	require.False(t, step(t, t1.Add(30*time.Second), r1.data, always).changed(r1.data))

	// Published and the grace period over: the serving certificate moves.
	t2 := t1.Add(2 * time.Minute)
	r2 := step(t, t2, r1.data, always)
	require.Len(t, casOf(t, r2.data), 2, "old CA kept while Pods pick up the new certificate")
	require.NoError(t, servingOf(t, r2.data).CheckSignatureFrom(cas[0]))
	require.Equal(t, r1.data[KeyCACert], r2.data[KeyCACert])

	// After another grace period the old CA leaves.
	r3 := step(t, t2.Add(30*time.Second), r2.data, always)
	require.False(t, r3.changed(r2.data), "old CA stays during the grace period")
	r4 := step(t, t2.Add(2*time.Minute), r2.data, always)
	require.Len(t, casOf(t, r4.data), 1)
	require.True(t, casOf(t, r4.data)[0].Equal(cas[0]))
	require.Equal(t, r2.data[KeyTLSCert], r4.data[KeyTLSCert])
}

func TestRotateServingCertificate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := step(t, t0, nil, always).data
	tests := []struct {
		name    string
		now     time.Time
		names   SANs
		mutate  func(map[string][]byte)
		reissue bool
		reason  string
	}{
		{"fresh", t0.Add(24 * time.Hour), testNames, nil, false, ""},
		{"due", t0.Add(61 * 24 * time.Hour), testNames, nil, true, "serving certificate expires"},
		{"names changed", t0.Add(time.Hour), ServiceSANs("other", "ns", nil), nil, true, "serving certificate names changed"},
		{"key missing", t0.Add(time.Hour), testNames, func(d map[string][]byte) { delete(d, KeyTLSKey) }, true, "no valid serving certificate"},
		{"key of another certificate", t0.Add(time.Hour), testNames, func(d map[string][]byte) { d[KeyTLSKey] = d[KeyCAKey] }, true, "no valid serving certificate"},
		{"garbage", t0.Add(time.Hour), testNames, func(d map[string][]byte) { d[KeyTLSCert] = []byte("junk") }, true, "no valid serving certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := cloneData(first)
			if tt.mutate != nil {
				tt.mutate(data)
			}
			r, err := rotate(tt.now, data, tt.names, always, testPolicy())
			require.NoError(t, err)
			require.Equal(t, tt.reissue, string(r.data[KeyTLSCert]) != string(first[KeyTLSCert]))
			require.Equal(t, first[KeyCACert], r.data[KeyCACert], "the CA stays")
			if tt.reason != "" {
				require.Len(t, r.changes, 1)
				require.Contains(t, r.changes[0], tt.reason)
				require.NoError(t, servingOf(t, r.data).CheckSignatureFrom(casOf(t, r.data)[0]))
			}
		})
	}
}

func TestRotateLostCAKeyStartsOver(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := step(t, t0, nil, always).data
	data := cloneData(first)
	delete(data, KeyCAKey)
	r := step(t, t0.Add(time.Hour), data, always)
	require.Len(t, casOf(t, r.data), 2, "a new CA joins; the old one stays trusted")
	require.Equal(t, first[KeyTLSCert], r.data[KeyTLSCert], "the valid serving certificate stays until the new CA is published")
}

func TestPolicyValidate(t *testing.T) {
	require.NoError(t, DefaultPolicy().Validate())
	p := DefaultPolicy()
	p.CARenewBefore = p.CertRenewBefore - time.Hour
	require.ErrorContains(t, p.Validate(), "renewed on every pass")
	p = DefaultPolicy()
	p.CertRenewBefore = p.CertValidity
	require.ErrorContains(t, p.Validate(), "--renew-before")
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func cloneData(m map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		out[k] = append([]byte(nil), v...)
	}
	return out
}

// FuzzRotate: whatever the Secret holds, a pass yields a Secret whose
// serving certificate verifies against its CA bundle for the service names.
func FuzzRotate(f *testing.F) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good, err := rotate(t0, nil, testNames, always, testPolicy())
	require.NoError(f, err)
	f.Add(good.data[KeyCACert], good.data[KeyCAKey], good.data[KeyTLSCert], good.data[KeyTLSKey])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte{}, []byte("junk"), good.data[KeyCAKey])
	f.Add(good.data[KeyTLSCert], good.data[KeyTLSKey], good.data[KeyCACert], good.data[KeyCAKey])
	f.Fuzz(func(t *testing.T, caCert, caKey, tlsCert, tlsKey []byte) {
		data := map[string][]byte{KeyCACert: caCert, KeyCAKey: caKey, KeyTLSCert: tlsCert, KeyTLSKey: tlsKey}
		r, err := rotate(t0.Add(time.Hour), data, testNames, always, testPolicy())
		require.NoError(t, err)
		s, cert := readCA(t0.Add(time.Hour), r.data), readLeaf(r.data)
		require.False(t, s.signing == nil || cert == nil, "no usable CA or serving certificate after a pass: %v", r.changes)
		require.NotNil(t, issuerOf(cert, s.cas), "the serving certificate is not signed by a CA in the bundle")
	})
}
