package plan

import "fmt"

// Positions of input fields the model keeps for messages found after
// loading (render warns about a spec.patches entry that matches nothing).

// positionKey names a field of an input object: "Kind/name field.path".
func positionKey(object, field string) string { return object + " " + field }

// Position returns where field (a path such as spec.patches[0].target) of
// object ("Kind/name") was read, or the zero Position when the model does
// not keep it. It keeps the spec.patches entries of the LinstorCluster and
// the LinstorSatelliteConfigurations.
func (m *Model) Position(object, field string) Position {
	for f := field; ; f = parentPath(f) {
		if pos, ok := m.positions[positionKey(object, f)]; ok {
			return pos
		}
		if f == "" {
			return Position{}
		}
	}
}

// patchPositions records where each spec.patches entry (and its target and
// patch) was read.
func patchPositions(in *inputs) map[string]Position {
	out := map[string]Position{}
	add := func(d *document, object string, n int) {
		if d == nil {
			return
		}
		for i := range n {
			for _, f := range []string{"spec.patches[%d]", "spec.patches[%d].target", "spec.patches[%d].patch"} {
				field := fmt.Sprintf(f, i)
				out[positionKey(object, field)] = d.position(field)
			}
		}
	}
	for _, c := range in.clusters {
		add(c.doc, "LinstorCluster/"+c.obj.Name, len(c.obj.Spec.Patches))
	}
	for _, c := range in.satelliteCfgs {
		add(c.doc, "LinstorSatelliteConfiguration/"+c.obj.Name, len(c.obj.Spec.Patches))
	}
	return out
}
