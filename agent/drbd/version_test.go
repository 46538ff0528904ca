package drbd

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcDRBD(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		ok   bool
	}{
		{"version: 8.4.11 (api:1/proto:86-101)\nsrcversion: B536C32A3EADA868561EFD9 \n", Version{8, 4, 11}, true},
		{"version: 9.2.12 (api:2/proto:86-122)\nGIT-hash: 1cd2...\n", Version{9, 2, 12}, true},
		{"version: 9.3.0-rc.1 (api:2/proto:86-122)\n", Version{9, 3, 0}, true},
		{"version: 9.1\n", Version{9, 1, 0}, true},
		{"", Version{}, false},
		{"version:\n", Version{}, false},
		{"version: x.y\n", Version{}, false},
		{"version: 9\n", Version{}, false},
		{"version: 9.999.1\n", Version{}, false},
	}
	for _, tt := range tests {
		got, err := ParseProcDRBD([]byte(tt.in))
		assert.False(t, (err == nil) != tt.ok || got != tt.want, "ParseProcDRBD(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
	}
}

// TestParseKernelVersionCode reads real `drbdadm --version` output captured
// in a lab VM (Debian 6.1 kernel, in-tree DRBD 8.4.11, drbd-utils 9.22).
func TestParseKernelVersionCode(t *testing.T) {
	out, err := os.ReadFile("testdata/drbdadm-version-84.txt")
	require.NoError(t, err)
	v, err := ParseKernelVersionCode(out)
	require.False(t, err != nil || v != (Version{8, 4, 11}) || !v.Is84(), "ParseKernelVersionCode = %v, %v; want 8.4.11", v, err)
	for _, bad := range []string{"", "DRBD_KERNEL_VERSION_CODE=0x0\n", "DRBD_KERNEL_VERSION_CODE=zz\n", "DRBD_KERNEL_VERSION_CODE=0x1000000\n"} {
		_, err := ParseKernelVersionCode([]byte(bad))
		assert.Error(t, err, "ParseKernelVersionCode(%q): want error", bad)
	}
	v, _ = ParseKernelVersionCode([]byte("DRBD_KERNEL_VERSION_CODE=0x09020c\n"))
	assert.False(t, v != (Version{9, 2, 12}) || v.Is84(), "9.2.12 parsed as %v", v)
}

func FuzzParseProcDRBD(f *testing.F) {
	f.Add([]byte("version: 8.4.11 (api:1/proto:86-101)\n"))
	f.Add([]byte("version: 9.2.12 (api:2/proto:86-122)\n"))
	f.Add([]byte("version: 9.3.0-rc.1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseProcDRBD(data)
		require.False(t, err == nil && (v.Major < 0 || v.Major > 255 || v.Minor > 255 || v.Patch > 255), "out of range version %v from %q", v, data)
	})
}

func FuzzParseKernelVersionCode(f *testing.F) {
	f.Add([]byte("DRBDADM_API_VERSION=1\nDRBD_KERNEL_VERSION_CODE=0x08040b\n"))
	f.Add([]byte("DRBD_KERNEL_VERSION_CODE=0x09020c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseKernelVersionCode(data)
		require.False(t, err == nil && v == (Version{}), "zero version without error from %q", data)
	})
}
