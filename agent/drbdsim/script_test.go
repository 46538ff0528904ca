package drbdsim

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

func TestParseScript(t *testing.T) {
	out := "drbdsetup new-resource r 0 --quorum=majority\n\n" +
		"drbdsetup new-peer r 1 --_name=node-b --shared-secret='a b'\n" +
		"/usr/sbin/drbdmeta 1000 v09 /dev/loop3 internal apply-al\n"
	got, err := ParseScript([]byte(out))
	require.NoError(t, err)
	want := []hostexec.Cmd{
		{Name: "drbdsetup", Args: []string{"new-resource", "r", "0", "--quorum=majority"}, Mutating: true},
		{Name: "drbdsetup", Args: []string{"new-peer", "r", "1", "--_name=node-b", "--shared-secret=a b"}, Mutating: true},
		{Name: "drbdmeta", Args: []string{"1000", "v09", "/dev/loop3", "internal", "apply-al"}, Mutating: true},
	}
	assert.True(t, slices.EqualFunc(got, want, func(a, b hostexec.Cmd) bool { return a.String() == b.String() }), "got %v, want %v", got, want)
	for _, bad := range []string{"rm -rf /\n", "drbdsetup 'open\n", "drbdsetup\n"} {
		_, err := ParseScript([]byte(bad))
		assert.Error(t, err, "%q: want an error", bad)
	}
}

func TestParseAdm(t *testing.T) {
	tests := []struct {
		args []string
		want admArgs
	}{
		{[]string{"-c", "/x.res", "up", "r"}, admArgs{conf: "/x.res", verb: "up", target: "r"}},
		{[]string{"-c", "/x.res", "--dry-run", "adjust", "r"}, admArgs{conf: "/x.res", verb: "adjust", target: "r", dryRun: true}},
		{[]string{"-c", "/x.res", "--max-peers=7", "--", "--force", "create-md", "r/0"}, admArgs{conf: "/x.res", verb: "create-md", target: "r/0"}},
		{[]string{"--config-file=/y.res", "primary", "--force", "r"}, admArgs{conf: "/y.res", verb: "primary", target: "r"}},
		{[]string{"--version"}, admArgs{}},
	}
	for _, tt := range tests {
		got := parseAdm(tt.args)
		assert.Equal(t, tt.want, got, "parseAdm(%q) = %+v, want %+v", tt.args, got, tt.want)
	}
}

// TestUsableBytesIsDrbdmetas: the data area left by internal metadata, as
// the real drbdmeta 9.22 laid it out (`dump-md`'s bm_offset) on loop devices.
func TestUsableBytesIsDrbdmetas(t *testing.T) {
	for _, tt := range []struct {
		dev      uint64
		maxPeers int
		want     uint64
	}{
		{64 << 20, 7, 67055616},
		{1 << 30, 7, 1073475584},
		{100 << 20, 1, 104816640},
		{64 << 20, 31, 67006464},
		{10000 << 10, 3, 10199040},
		{1049088 << 10, 7, 1073995776},
		{32 << 10, 1, 0},
	} {
		got := usableBytes(tt.dev, tt.maxPeers)
		assert.Equal(t, tt.want, got, "usableBytes(%d, %d) = %d, want %d", tt.dev, tt.maxPeers, got, tt.want)
	}
}

func FuzzParseScript(f *testing.F) {
	f.Add([]byte("drbdsetup new-resource r 0 --quorum=majority\ndrbdmeta 1000 v09 /dev/x internal apply-al\n"))
	f.Add([]byte("drbdsetup new-path r 1 ipv4:10.0.0.1:7000 'ipv4:10.0.0.2:7000'\n"))
	f.Add([]byte("\"drbdsetup\" \"\" x\n"))
	f.Add([]byte("drbdsetup \"a'b\" c\\ d\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, err := ParseScript(data)
		if err != nil {
			return
		}
		again, err := ParseScript([]byte(scriptText(cmds)))
		require.NoError(t, err, "re-parse of %q", scriptText(cmds))
		require.True(t, slices.EqualFunc(cmds, again, func(a, b hostexec.Cmd) bool { return slices.Equal(a.Args, b.Args) && a.Name == b.Name }), "round trip changed %q into %q", cmds, again)
		for _, c := range cmds {
			_ = splitSetup(c.Args)
		}
	})
}
