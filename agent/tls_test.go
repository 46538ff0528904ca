package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// serverTLS returns the agent's TLS files in a Secret-like directory.
func serverTLS(t *testing.T, ca *testpki.CA) TLSFiles {
	dir := ca.WriteServerDir(t)
	return TLSFiles{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key"), CA: filepath.Join(dir, "ca.crt")}
}

func TestServerTLSRequiresFiles(t *testing.T) {
	_, err := ServerTLS(TLSFiles{})
	assert.Error(t, err, "want error without TLS files: mutual TLS is mandatory")
	files := serverTLS(t, testpki.NewCA(t, "ca"))
	bad := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(bad, []byte("not pem"), 0o600))
	files.CA = bad
	_, err = ServerTLS(files)
	assert.Error(t, err, "want error for a CA file without certificates")
	_, err = ServerTLS(TLSFiles{Cert: files.Cert, Key: files.Cert, CA: files.CA})
	assert.Error(t, err, "want error for a key that is not a key")
}
