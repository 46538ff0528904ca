package drbd

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func BenchmarkRender(b *testing.B) {
	f := threeReplicas()
	for b.Loop() {
		_, err := Render(f)
		require.NoError(b, err)
	}
}

func BenchmarkParseStatusJSON(b *testing.B) {
	one, err := os.ReadFile("testdata/status-3node.json")
	require.NoError(b, err)
	// 100 resources, as a busy node reports them.
	body := bytes.TrimSuffix(bytes.TrimPrefix(bytes.TrimSpace(one), []byte("[")), []byte("]"))
	parts := make([][]byte, 50)
	for i := range parts {
		parts[i] = body
	}
	in := append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_, err := ParseStatusJSON(in)
		require.NoError(b, err)
	}
}

func BenchmarkParseEvents2(b *testing.B) {
	in, err := os.ReadFile("testdata/events2-follow.txt")
	require.NoError(b, err)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_, err := ParseEvents2(bytes.NewReader(in))
		require.NoError(b, err)
	}
}
