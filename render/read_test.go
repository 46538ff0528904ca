package render

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestReadPlanRoundTrip(t *testing.T) {
	p := mustRender(t, featureModel(), testOptions())
	var y, j bytes.Buffer
	if err := p.WriteYAML(&y); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"yaml": y.Bytes(), "json": j.Bytes()} {
		got, err := ReadPlan(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got.Objects) != len(p.Objects) {
			t.Fatalf("%s: %d objects, want %d", name, len(got.Objects), len(p.Objects))
		}
		for i := range got.Objects {
			if !reflect.DeepEqual(got.Objects[i].Object, p.Objects[i].Object) {
				t.Errorf("%s: object %d (%s) differs after reading back", name, i, ObjectID(p.Objects[i]))
			}
		}
		var again bytes.Buffer
		if err := got.WriteYAML(&again); err != nil {
			t.Fatal(err)
		}
		if again.String() != y.String() {
			t.Errorf("%s: re-encoded plan differs", name)
		}
	}
}

func TestReadPlanErrors(t *testing.T) {
	cases := map[string]string{
		"apiVersion: v1\nkind: ConfigMap\n": "document 1: apiVersion, kind and metadata.name are required",
		"a: [\n":                            "document 1",
		"---\n- 1\n":                        "want an object",
		"kind: List\napiVersion: v1\nitems: [1]\n":        "items[0]: want an object",
		"apiVersion: v1\nkind: List\nitems:\n- kind: X\n": "items[0]: apiVersion, kind and metadata.name are required",
	}
	for in, want := range cases {
		_, err := ReadPlan(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadPlan(%q): error %v, want %q", in, err, want)
		}
	}
	p, err := ReadPlan(strings.NewReader("# only a comment\n---\n"))
	if err != nil || len(p.Objects) != 0 {
		t.Errorf("comment-only plan: %v, %d objects", err, len(p.Objects))
	}
}

func FuzzReadPlan(f *testing.F) {
	f.Add("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n")
	f.Add("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}]}")
	f.Add("---\n---\nkind: x\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {a: \"1\"}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ReadPlan(strings.NewReader(in))
		if err != nil {
			return
		}
		// Whatever reads must write and read back to the same objects.
		var buf bytes.Buffer
		if err := p.WriteYAML(&buf); err != nil {
			return // values YAML cannot hold (e.g. invalid UTF-8) may fail to encode
		}
		again, err := ReadPlan(&buf)
		if err != nil {
			t.Fatalf("re-read: %v\n%s", err, buf.String())
		}
		if len(again.Objects) != len(p.Objects) {
			t.Fatalf("%d objects, then %d", len(p.Objects), len(again.Objects))
		}
	})
}
