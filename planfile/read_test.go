package planfile

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadRoundTrip(t *testing.T) {
	objs := readFixture(t)
	var y, j bytes.Buffer
	require.NoError(t, WriteYAML(&y, objs))
	require.NoError(t, WriteJSON(&j, objs))
	for name, data := range map[string][]byte{"yaml": y.Bytes(), "json": j.Bytes()} {
		got, err := Read(bytes.NewReader(data))
		require.NoError(t, err, name)
		require.Len(t, got, len(objs), name)
		for i := range got {
			assert.Equal(t, objs[i].Object, got[i].Object, "%s: %s differs after reading back", name, ObjectID(objs[i]))
		}
		assert.Equal(t, y.String(), planYAML(t, got), "%s: re-encoded plan differs", name)
	}
}

func TestReadErrors(t *testing.T) {
	cases := map[string]string{
		"apiVersion: v1\nkind: ConfigMap\n": "document 1: apiVersion, kind and metadata.name are required",
		"a: [\n":                            "document 1",
		"---\n- 1\n":                        "want an object",
		"kind: List\napiVersion: v1\nitems: [1]\n":        "items[0]: want an object",
		"apiVersion: v1\nkind: List\nitems:\n- kind: X\n": "items[0]: apiVersion, kind and metadata.name are required",
	}
	for in, want := range cases {
		_, err := Read(strings.NewReader(in))
		assert.ErrorContains(t, err, want, "Read(%q)", in)
	}
	objs, err := Read(strings.NewReader("# only a comment\n---\n"))
	require.NoError(t, err)
	assert.Empty(t, objs, "comment-only plan")
}

func FuzzRead(f *testing.F) {
	f.Add("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n")
	f.Add("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}]}")
	f.Add("---\n---\nkind: x\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {a: \"1\"}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
	f.Fuzz(func(t *testing.T, in string) {
		objs, err := Read(strings.NewReader(in))
		if err != nil {
			return
		}
		// Whatever reads must write and read back to the same objects.
		var buf bytes.Buffer
		if err := WriteYAML(&buf, objs); err != nil {
			return // values YAML cannot hold (e.g. invalid UTF-8) may fail to encode
		}
		again, err := Read(&buf)
		require.NoError(t, err, "re-read:\n%s", buf.String())
		require.Len(t, again, len(objs))
	})
}
