package plan

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

func testNode(name string, labels, annotations map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-" + "1", Labels: labels, Annotations: annotations}}
}

func TestParseNodeFieldRef(t *testing.T) {
	cases := []struct {
		ref     string
		expand  bool
		wantErr string
	}{
		{ref: "metadata.name"},
		{ref: "metadata.uid"},
		{ref: "metadata.labels['topology.kubernetes.io/zone']"},
		{ref: "metadata.annotations['a']"},
		{ref: "metadata.labels['topology.kubernetes.io/*']", expand: true},
		{ref: "metadata.labels['topology.kubernetes.io/*']", wantErr: "wildcard keys need expandFrom"},
		{ref: "metadata.labels", wantErr: "expected a key"},
		{ref: "metadata.name['x']", wantErr: "takes no key"},
		{ref: "spec.podCIDR", wantErr: "expected metadata.name"},
		{ref: "metadata.labels['a*b*']", expand: true, wantErr: "may only end the key"},
	}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			_, err := parseNodeFieldRef(c.ref, c.expand)
			if c.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.wantErr)
		})
	}
}

func TestResolveNodeProperty(t *testing.T) {
	node := testNode("n1",
		map[string]string{"topology.kubernetes.io/zone": "z1", "topology.kubernetes.io/region": "r1", "other": "x"},
		map[string]string{"piraeus.io/autoplace": "no"})
	cases := []struct {
		name string
		prop piraeusv1.LinstorNodeProperty
		want map[string]string
	}{
		{"value", piraeusv1.LinstorNodeProperty{Name: "PrefNic", Value: "default-ipv6"}, map[string]string{"PrefNic": "default-ipv6"}},
		{"valueFrom label", piraeusv1.LinstorNodeProperty{Name: "Aux/zone", ValueFrom: &piraeusv1.LinstorNodePropertyValueFrom{NodeFieldRef: "metadata.labels['topology.kubernetes.io/zone']"}}, map[string]string{"Aux/zone": "z1"}},
		{"valueFrom name", piraeusv1.LinstorNodeProperty{Name: "Aux/n", ValueFrom: &piraeusv1.LinstorNodePropertyValueFrom{NodeFieldRef: "metadata.name"}}, map[string]string{"Aux/n": "n1"}},
		{"missing label gives empty", piraeusv1.LinstorNodeProperty{Name: "Aux/x", ValueFrom: &piraeusv1.LinstorNodePropertyValueFrom{NodeFieldRef: "metadata.labels['nope']"}}, map[string]string{"Aux/x": ""}},
		{"optional missing is unset", piraeusv1.LinstorNodeProperty{Name: "Aux/x", Optional: true, ValueFrom: &piraeusv1.LinstorNodePropertyValueFrom{NodeFieldRef: "metadata.labels['nope']"}}, map[string]string{}},
		{"annotation", piraeusv1.LinstorNodeProperty{Name: "AutoplaceTarget", Optional: true, ValueFrom: &piraeusv1.LinstorNodePropertyValueFrom{NodeFieldRef: "metadata.annotations['piraeus.io/autoplace']"}}, map[string]string{"AutoplaceTarget": "no"}},
		{"expand to many", piraeusv1.LinstorNodeProperty{Name: "Aux/topology/", ExpandFrom: &piraeusv1.LinstorNodePropertyExpandFrom{
			LinstorNodePropertyValueFrom: piraeusv1.LinstorNodePropertyValueFrom{NodeFieldRef: "metadata.labels['topology.kubernetes.io/*']"}, NameTemplate: "$1"}},
			map[string]string{"Aux/topology/region": "r1", "Aux/topology/zone": "z1"}},
		{"expand joined", piraeusv1.LinstorNodeProperty{Name: "Aux/all", ExpandFrom: &piraeusv1.LinstorNodePropertyExpandFrom{
			LinstorNodePropertyValueFrom: piraeusv1.LinstorNodePropertyValueFrom{NodeFieldRef: "metadata.labels['topology.kubernetes.io/*']"}, ValueTemplate: "$1=$2", Delimiter: ","}},
			map[string]string{"Aux/all": "region=r1,zone=z1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := resolveNodeProperties([]piraeusv1.LinstorNodeProperty{c.prop}, node)
			require.Equal(t, c.want, got)
		})
	}
}

func TestLabelRequirement(t *testing.T) {
	a := testNode("a", map[string]string{"zone": "z1", "rack": "r1"}, nil)
	b := testNode("b", map[string]string{"zone": "z2", "rack": "r1"}, nil)
	c := testNode("c", map[string]string{"zone": "z1"}, nil)
	req := func(key string, op piraeusv1.MatchLabelSelectorOperator, values ...string) piraeusv1.MatchLabelSelector {
		return piraeusv1.MatchLabelSelector{Key: key, Op: op, Values: values}
	}
	cases := []struct {
		name string
		x, y *corev1.Node
		m    piraeusv1.MatchLabelSelector
		want bool
	}{
		{"exists default op", a, b, req("rack", ""), true},
		{"exists one missing", a, c, req("rack", "Exists"), false},
		{"does not exist", a, b, req("gpu", "DoesNotExist"), true},
		{"in both", a, b, req("zone", "In", "z1", "z2"), true},
		{"in one", a, b, req("zone", "In", "z1"), false},
		{"not in", a, b, req("zone", "NotIn", "z3"), true},
		{"not in hit", a, b, req("zone", "NotIn", "z2"), false},
		{"same", a, c, req("zone", "Same"), true},
		{"same differs", a, b, req("zone", "Same"), false},
		{"not same", a, b, req("zone", "NotSame"), true},
		{"not same equal", a, c, req("zone", "NotSame"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, labelRequirementHolds(tc.x, tc.y, tc.m))
		})
	}
}

func TestPairSelectedAnyTerm(t *testing.T) {
	a := testNode("a", map[string]string{"zone": "z1"}, nil)
	b := testNode("b", map[string]string{"zone": "z2"}, nil)
	same := piraeusv1.SelectorTerm{MatchLabels: []piraeusv1.MatchLabelSelector{{Key: "zone", Op: "Same"}}}
	notSame := piraeusv1.SelectorTerm{MatchLabels: []piraeusv1.MatchLabelSelector{{Key: "zone", Op: "NotSame"}}}
	require.True(t, pairSelected(a, b, nil), "no terms select every pair")
	require.False(t, pairSelected(a, b, []piraeusv1.SelectorTerm{same}))
	require.True(t, pairSelected(a, b, []piraeusv1.SelectorTerm{same, notSame}))
}

func TestMergeByNameLaterWins(t *testing.T) {
	type kv struct{ k, v string }
	got := mergeByName([]kv{{"a", "1"}, {"b", "2"}}, []kv{{"b", "3"}, {"c", "4"}}, func(x kv) string { return x.k })
	require.Equal(t, []kv{{"a", "1"}, {"b", "3"}, {"c", "4"}}, got)
}
