package gencert

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// internalStep runs rotateInternal over a controller and the nodes'
// certificates, with the data of the previous step.
type internalState struct {
	ca     map[string][]byte
	leaves map[string]map[string][]byte
}

func leavesFor(st internalState, nodes ...string) []leafSecret {
	out := []leafSecret{{name: "ctl", prof: controllerProfile(), data: st.leaves["ctl"]}}
	for _, n := range nodes {
		out = append(out, leafSecret{name: n, prof: satelliteProfile(n), data: st.leaves[n]})
	}
	return out
}

func internalStep(t *testing.T, now time.Time, st internalState, nodes ...string) (internalState, *internalRotation) {
	t.Helper()
	leaves := leavesFor(st, nodes...)
	r, err := rotateInternal(now, st.ca, leaves, testPolicy())
	require.NoError(t, err)
	next := internalState{ca: r.ca.data, leaves: map[string]map[string][]byte{}}
	for i, l := range leaves {
		next.leaves[l.name] = r.leaves[i].data
	}
	return next, r
}

func changedLeaves(r *internalRotation, st internalState, nodes ...string) []string {
	var out []string
	for i, l := range leavesFor(st, nodes...) {
		if r.leaves[i].changed(l.data) {
			out = append(out, l.name)
		}
	}
	return out
}

func TestRotateInternalFirstPass(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, r := internalStep(t, t0, internalState{}, "node-a", "node-b")
	require.ElementsMatch(t, []string{KeyCACert, KeyCAKey}, keys(st.ca), "the CA Secret holds the CA only")
	ca := casOf(t, st.ca)[0]
	require.Equal(t, InternalCAName, ca.Subject.CommonName)

	ctl := servingOf(t, st.leaves["ctl"])
	require.NoError(t, ctl.CheckSignatureFrom(ca))
	require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, ctl.ExtKeyUsage, "the controller only authenticates")
	require.NotContains(t, keys(st.leaves["ctl"]), KeyCAKey, "no certificate Secret carries the CA key")
	for _, n := range []string{"node-a", "node-b"} {
		c := servingOf(t, st.leaves[n])
		require.Equal(t, n, c.Subject.CommonName)
		require.Equal(t, []string{n}, c.DNSNames)
		require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, c.ExtKeyUsage, "a node's certificate cannot drive another agent")
		require.Equal(t, st.ca[KeyCACert], st.leaves[n][KeyCACert])
	}
	require.Equal(t, t0.Add(60*24*time.Hour), r.next)

	again, r2 := internalStep(t, t0.Add(time.Hour), st, "node-a", "node-b")
	require.False(t, r2.ca.changed(st.ca))
	require.Empty(t, changedLeaves(r2, st, "node-a", "node-b"), "a pass with nothing to do changes nothing")
	require.Equal(t, st, again)
}

func TestRotateInternalDecisions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base, _ := internalStep(t, t0, internalState{}, "node-a", "node-b")
	tests := []struct {
		name    string
		now     time.Time
		nodes   []string
		mutate  func(internalState)
		changed []string
	}{
		{"fresh", t0.Add(time.Hour), []string{"node-a", "node-b"}, nil, nil},
		{"a node joins", t0.Add(time.Hour), []string{"node-a", "node-b", "node-c"}, nil, []string{"node-c"}},
		{"a node leaves: the rest stays", t0.Add(time.Hour), []string{"node-a"}, nil, nil},
		{"all due", t0.Add(61 * 24 * time.Hour), []string{"node-a", "node-b"}, nil, []string{"ctl", "node-a", "node-b"}},
		{"one key lost", t0.Add(time.Hour), []string{"node-a", "node-b"}, func(s internalState) { delete(s.leaves["node-b"], KeyTLSKey) }, []string{"node-b"}},
		{"a certificate of another node", t0.Add(time.Hour), []string{"node-a", "node-b"}, func(s internalState) {
			s.leaves["node-b"][KeyTLSCert], s.leaves["node-b"][KeyTLSKey] = s.leaves["node-a"][KeyTLSCert], s.leaves["node-a"][KeyTLSKey]
		}, []string{"node-b"}},
		{"a serving certificate as the controller's", t0.Add(time.Hour), []string{"node-a", "node-b"}, func(s internalState) {
			s.leaves["ctl"][KeyTLSCert], s.leaves["ctl"][KeyTLSKey] = s.leaves["node-a"][KeyTLSCert], s.leaves["node-a"][KeyTLSKey]
		}, []string{"ctl"}},
		{"bundle edited", t0.Add(time.Hour), []string{"node-a", "node-b"}, func(s internalState) { s.leaves["node-a"][KeyCACert] = []byte("junk") }, []string{"node-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := internalState{ca: cloneData(base.ca), leaves: map[string]map[string][]byte{}}
			for k, v := range base.leaves {
				st.leaves[k] = cloneData(v)
			}
			if tt.mutate != nil {
				tt.mutate(st)
			}
			r, err := rotateInternal(tt.now, st.ca, leavesFor(st, tt.nodes...), testPolicy())
			require.NoError(t, err)
			require.False(t, r.ca.changed(st.ca), "the CA stays")
			require.Equal(t, tt.changed, changedLeaves(r, st, tt.nodes...))
			for _, l := range r.leaves {
				cert := readLeaf(l.data)
				require.NotNil(t, cert)
				require.NoError(t, cert.CheckSignatureFrom(casOf(t, st.ca)[0]))
			}
		})
	}
}

// TestRotateInternalCAInThreeSteps: through a CA rotation every pair of
// certificates in use at any moment verifies against every bundle in use.
func TestRotateInternalCAInThreeSteps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	nodes := []string{"node-a", "node-b"}
	st, _ := internalStep(t, t0, internalState{}, nodes...)
	oldCA := casOf(t, st.ca)[0]
	st, _ = internalStep(t, t0.Add(240*24*time.Hour), st, nodes...) // renewed by the old CA

	// Step 1: the new CA joins every bundle; certificates stay.
	t1 := t0.Add(244 * 24 * time.Hour)
	s1, r1 := internalStep(t, t1, st, nodes...)
	cas := casOf(t, s1.ca)
	require.Len(t, cas, 2)
	require.True(t, cas[1].Equal(oldCA))
	for _, n := range append([]string{"ctl"}, nodes...) {
		require.Equal(t, s1.ca[KeyCACert], s1.leaves[n][KeyCACert], "%s trusts both CAs", n)
		require.Equal(t, st.leaves[n][KeyTLSCert], s1.leaves[n][KeyTLSCert], "%s keeps its certificate", n)
	}
	require.Equal(t, t1.Add(time.Minute), r1.next)

	// A node whose Secret lacks the new CA holds everyone back.
	held := internalState{ca: s1.ca, leaves: map[string]map[string][]byte{}}
	for k, v := range s1.leaves {
		held.leaves[k] = cloneData(v)
	}
	held.leaves["node-b"][KeyCACert] = st.leaves["node-b"][KeyCACert]
	_, rh := internalStep(t, t1.Add(2*time.Minute), held, nodes...)
	require.Equal(t, []string{"node-b"}, changedLeaves(rh, held, nodes...), "only the bundle of node-b is written")
	require.Equal(t, held.leaves["node-a"][KeyTLSCert], rh.leaves[1].data[KeyTLSCert])

	// Step 2: after the grace period every certificate moves to the new CA.
	t2 := t1.Add(2 * time.Minute)
	s2, _ := internalStep(t, t2, s1, nodes...)
	for _, n := range append([]string{"ctl"}, nodes...) {
		require.NoError(t, servingOf(t, s2.leaves[n]).CheckSignatureFrom(cas[0]), n)
		require.Len(t, casOf(t, s2.leaves[n]), 2, "%s still trusts the old CA", n)
	}
	// Every certificate of steps 1 and 2 verifies against every bundle of steps 1 and 2.
	for _, bundle := range [][]byte{s1.ca[KeyCACert], s2.ca[KeyCACert]} {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(bundle)
		for _, s := range []internalState{s1, s2} {
			for _, n := range nodes {
				_, err := servingOf(t, s.leaves[n]).Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t2, DNSName: n})
				require.NoError(t, err)
			}
			_, err := servingOf(t, s.leaves["ctl"]).Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t2, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			require.NoError(t, err)
		}
	}

	// Step 3: a grace period later the old CA leaves every bundle.
	s3, _ := internalStep(t, t2.Add(30*time.Second), s2, nodes...)
	require.Len(t, casOf(t, s3.ca), 2)
	s4, _ := internalStep(t, t2.Add(2*time.Minute), s2, nodes...)
	require.Len(t, casOf(t, s4.ca), 1)
	for _, n := range append([]string{"ctl"}, nodes...) {
		require.Equal(t, s4.ca[KeyCACert], s4.leaves[n][KeyCACert])
		require.Equal(t, s2.leaves[n][KeyTLSCert], s4.leaves[n][KeyTLSCert])
	}
}

// FuzzRotateInternal: whatever a node's Secret holds, a pass yields a
// certificate for that node signed by a CA of the bundle it carries.
func FuzzRotateInternal(f *testing.F) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good, err := rotateInternal(t0, nil, []leafSecret{{name: "n", prof: satelliteProfile("n")}}, testPolicy())
	require.NoError(f, err)
	d := good.leaves[0].data
	f.Add(d[KeyCACert], d[KeyTLSCert], d[KeyTLSKey], good.ca.data[KeyCAKey])
	f.Add([]byte("junk"), d[KeyCACert], good.ca.data[KeyCAKey], []byte{})
	f.Fuzz(func(t *testing.T, caCert, tlsCert, tlsKey, caKey []byte) {
		ca := map[string][]byte{KeyCACert: caCert, KeyCAKey: caKey}
		leaf := map[string][]byte{KeyCACert: caCert, KeyTLSCert: tlsCert, KeyTLSKey: tlsKey}
		r, err := rotateInternal(t0.Add(time.Hour), ca, []leafSecret{{name: "n", prof: satelliteProfile("n"), data: leaf}}, testPolicy())
		require.NoError(t, err)
		cert := readLeaf(r.leaves[0].data)
		require.NotNil(t, cert)
		cas, err := ParseCerts(r.leaves[0].data[KeyCACert])
		require.NoError(t, err)
		require.NotNil(t, issuerOf(cert, cas))
		require.Equal(t, "n", cert.Subject.CommonName)
	})
}
