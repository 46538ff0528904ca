package tlsfiles

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

func leafOf(t *testing.T, s *Snapshot) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(s.Cert.Certificate[0])
	require.NoError(t, err)
	return c
}

// TestReloaderFollowsTheFiles: each read sees the files of the moment; a
// half-written Secret falls back to the last good files; broken files at
// start are an error.
func TestReloaderFollowsTheFiles(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	dir := ca.WriteServerDir(t)
	r, err := NewReloader(InDir(dir), nil)
	require.NoError(t, err)
	first := leafOf(t, r.Current())

	renewed := ca.WriteServerDir(t)
	for _, k := range []string{"tls.crt", "tls.key"} {
		data, err := os.ReadFile(filepath.Join(renewed, k))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, k), data, 0o600))
	}
	second := leafOf(t, r.Current())
	require.NotEqual(t, first.SerialNumber, second.SerialNumber, "the renewed certificate is read")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), []byte("half"), 0o600))
	require.Equal(t, second.SerialNumber, leafOf(t, r.Current()).SerialNumber, "the last good files stay in use")

	_, err = NewReloader(InDir(dir), nil)
	require.ErrorContains(t, err, "tls.crt")
	_, err = NewReloader(Files{}, nil)
	require.Error(t, err)
}
