package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPickDistinctOutsideEphemeralRange(t *testing.T) {
	p, err := New()
	require.NoError(t, err)
	low, high, err := ephemeralRange(ephemeralRangeFile)
	require.NoError(t, err)
	seen := map[int]bool{}
	for range 200 {
		port, err := p.Pick()
		require.NoError(t, err)
		assert.False(t, seen[port], "port %d handed out twice", port)
		assert.True(t, port < low || port > high, "port %d lies in the ephemeral range %d-%d", port, low, high)
		seen[port] = true
	}
}

func TestPickSkipsListeningPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	// A range of the busy port and one more: every pick must be the other.
	p := newPicker(busy, busy+1)
	if !free(busy + 1) {
		t.Skipf("port %d is taken too", busy+1)
	}
	port, err := p.Pick()
	require.NoError(t, err)
	assert.Equal(t, busy+1, port)
	_, err = p.Pick()
	assert.ErrorContains(t, err, "no free loopback port in "+strconv.Itoa(busy)+"-"+strconv.Itoa(busy+1))
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in        string
		low, high int
		err       string
	}{
		{in: "32768\t60999\n", low: 32768, high: 60999},
		{in: "1024 65535", low: 1024, high: 65535},
		{in: "32768", err: `want two port numbers "low high", got "32768"`},
		{in: "a 60999", err: `parsing "a"`},
		{in: "60999 32768", err: "range 60999-32768 is not"},
		{in: "0 70000", err: "range 0-70000 is not"},
	} {
		low, high, err := parseRange("f", tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, [2]int{tc.low, tc.high}, [2]int{low, high}, tc.in)
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add("32768\t60999\n")
	f.Add("1 2 3")
	f.Fuzz(func(t *testing.T, s string) {
		low, high, err := parseRange("f", s)
		if err == nil && (low < 1 || high > 65535 || low > high) {
			t.Fatalf("accepted %q as %d-%d", s, low, high)
		}
	})
}
