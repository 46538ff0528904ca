package drbd

import (
	"bytes"
	"os"
	"testing"
)

func BenchmarkRender(b *testing.B) {
	f := threeReplicas()
	for b.Loop() {
		if _, err := Render(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStatusJSON(b *testing.B) {
	one, err := os.ReadFile("testdata/status-3node.json")
	if err != nil {
		b.Fatal(err)
	}
	// 100 resources, as a busy node reports them.
	body := bytes.TrimSuffix(bytes.TrimPrefix(bytes.TrimSpace(one), []byte("[")), []byte("]"))
	parts := make([][]byte, 50)
	for i := range parts {
		parts[i] = body
	}
	in := append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ParseStatusJSON(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEvents2(b *testing.B) {
	in, err := os.ReadFile("testdata/events2-follow.txt")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ParseEvents2(bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}
