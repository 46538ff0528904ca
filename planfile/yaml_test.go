package planfile

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// roundTrip encodes v with the streaming writer, decodes it with
// sigs.k8s.io/yaml and returns the decoded value.
func roundTrip(t *testing.T, v map[string]any) (string, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, WriteYAML(&buf, []*unstructured.Unstructured{{Object: v}}))
	js, err := yaml.YAMLToJSON(buf.Bytes())
	require.NoError(t, err, "decode %q", buf.String())
	var got map[string]any
	require.NoError(t, utiljson.Unmarshal(js, &got))
	return buf.String(), got
}

func TestYAMLRoundTrip(t *testing.T) {
	strs := []string{
		"", " ", "plain", "yes", "No", "on", "null", "~", "true", "1", "1.5", "-1", "+1", ".5", "1e3", "0x1f", "0o7",
		"12:30", "2001-12-14", "--leader-elect", "-", "- x", "a: b", "a #b", "#c", "key:", ":x", "'q'", `"dq"`,
		"multi\nline", "trailing\n", "two\n\n", "\nleading", "  indented\nx", "tab\there", "back\\slash",
		"ünïcödé", "emoji 🎉", "ctrl\x01", "\u2028sep", "{a}", "[b]", "*ref", "&anc", "!tag", "%pct", "@at", "`bt`",
		"a,b", "x=y", "$(NODE_NAME)", "=", "<<", ".inf", "-.inf", ".nan", "0", "007", "1_000", "line one\nline  two \n",
		"---", "...", "a\r\nb", "\x7f",
	}
	for _, s := range strs {
		in := map[string]any{"k": s, s + "k": "v"}
		out, got := roundTrip(t, in)
		assert.Equal(t, in, got, "string %q: got %#v\nYAML:\n%s", s, got, out)
	}
	values := map[string]any{
		"int": int64(3370), "neg": int64(-1), "float": 1.5, "big": 1e21, "bool": true, "nil": nil,
		"emptyMap": map[string]any{}, "emptyList": []any{},
		"nested": map[string]any{"list": []any{map[string]any{"a": int64(1), "b": []any{"x", []any{"y"}}}, []any{}, map[string]any{}}},
	}
	out, got := roundTrip(t, values)
	assert.Equal(t, values, got, "got %#v\nYAML:\n%s", got, out)
}

func TestYAMLLayout(t *testing.T) {
	obj := map[string]any{
		"kind": "X", "apiVersion": "v1",
		"spec": map[string]any{"list": []any{map[string]any{"name": "a", "args": []any{"--x"}}, "s"}, "text": "a\nb\n"},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteYAML(&buf, []*unstructured.Unstructured{{Object: obj}, {Object: obj}}))
	doc := `apiVersion: v1
kind: X
spec:
  list:
  - args:
    - --x
    name: a
  - s
  text: |
    a
    b
`
	assert.Equal(t, doc+"---\n"+doc, buf.String())
}

// FuzzYAMLString: any valid UTF-8 string survives encoding as key and value.
func FuzzYAMLString(f *testing.F) {
	for _, s := range []string{"", "yes", "a: b", "multi\nline\n", " x", "-1", "#", "\t", "é", "\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		in := map[string]any{"k": s, "list": []any{s}}
		if s != "" {
			in[s] = "v"
		}
		out, got := roundTrip(t, in)
		require.Equal(t, in, got, "string %q: got %#v\nYAML:\n%s", s, got, out)
	})
}

// The streaming writer must agree with sigs.k8s.io/yaml on what a plan means.
func TestYAMLMatchesReference(t *testing.T) {
	objs := readFixture(t)
	for _, o := range objs {
		var buf bytes.Buffer
		require.NoError(t, WriteYAML(&buf, []*unstructured.Unstructured{o}))
		js, err := yaml.YAMLToJSON(buf.Bytes())
		require.NoError(t, err, ObjectID(o))
		want, err := json.Marshal(o.Object)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(js), "%s: YAML does not read back as the object", ObjectID(o))
	}
	assert.NotContains(t, planYAML(t, objs), "\t", "tab in YAML output")
}
