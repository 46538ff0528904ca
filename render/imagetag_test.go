package render

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestImageTag(t *testing.T) {
	for ref, want := range map[string]string{
		"quay.io/piraeusdatastore/piraeusctl:v0.1.0":                                                                     "v0.1.0",
		"registry.example.com:5000/piraeusctl:v1.2.3":                                                                    "v1.2.3",
		"registry.example.com:5000/piraeusctl":                                                                           "",
		"registry.example.com/piraeusctl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef":        "",
		"registry.example.com/piraeusctl:v1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "v1.2.3",
		"127.0.0.1:5000/piraeusctl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef":              "",
	} {
		got := imageTag(ref)
		assert.Equal(t, want, got, "imageTag(%q) = %q, want %q", ref, got, want)
	}
}
