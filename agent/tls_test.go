package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// serverTLS returns the agent's TLS files in a Secret-like directory.
func serverTLS(t *testing.T, ca *testpki.CA) TLSFiles {
	dir := ca.WriteServerDir(t)
	return TLSFiles{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key"), CA: filepath.Join(dir, "ca.crt")}
}

func TestServerTLSRequiresFiles(t *testing.T) {
	if _, err := ServerTLS(TLSFiles{}); err == nil {
		t.Error("want error without TLS files: mutual TLS is mandatory")
	}
	files := serverTLS(t, testpki.NewCA(t, "ca"))
	bad := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	files.CA = bad
	if _, err := ServerTLS(files); err == nil {
		t.Error("want error for a CA file without certificates")
	}
	if _, err := ServerTLS(TLSFiles{Cert: files.Cert, Key: files.Cert, CA: files.CA}); err == nil {
		t.Error("want error for a key that is not a key")
	}
}
