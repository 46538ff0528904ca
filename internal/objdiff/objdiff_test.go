package objdiff

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnifiedDiff(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"a\nb\nc\n", "a\nB\nc\n", "--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"", "a\n", "--- x\n+++ y\n@@ -0,0 +1 @@\n+a\n"},
		{"a\n", "", "--- x\n+++ y\n@@ -1 +0,0 @@\n-a\n"},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n",
			"--- x\n+++ y\n@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n@@ -8,5 +8,5 @@\n 8\n 9\n 10\n-11\n+Y\n 12\n"},
		{"a", "b", "--- x\n+++ y\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"},
	}
	for _, tc := range cases {
		got := unified("x", "y", tc.a, tc.b)
		assert.Equal(t, tc.want, got, "unified(%q, %q):\n%s\nwant:\n%s", tc.a, tc.b, got, tc.want)
	}
}

func TestCompare(t *testing.T) {
	sides := Sides{From: "old", To: "new"}
	assert.Equal(t, ObjectDiff{ID: "a", Action: Unchanged}, Compare("a", sides, []byte("x\n"), []byte("x\n")))
	added := Compare("a", sides, nil, []byte("x\n"))
	assert.Equal(t, ObjectDiff{ID: "a", Action: Added, Unified: "--- /dev/null\n+++ new/a\n@@ -0,0 +1 @@\n+x\n"}, added)
	removed := Compare("a", sides, []byte("x\n"), nil)
	assert.Equal(t, ObjectDiff{ID: "a", Action: Removed, Unified: "--- old/a\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"}, removed)
	changed := Compare("a", sides, []byte("x\n"), []byte("y\n"))
	assert.Equal(t, Changed, changed.Action)
	assert.True(t, AnyChange([]ObjectDiff{{Action: Unchanged}, changed}))
	assert.False(t, AnyChange([]ObjectDiff{{Action: Unchanged}}))
	var b bytes.Buffer
	require.NoError(t, Write(&b, []ObjectDiff{added, {ID: "b", Action: Unchanged}, removed}))
	assert.Equal(t, added.Unified+removed.Unified, b.String())
}
