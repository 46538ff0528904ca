package operator

import (
	"testing"

	"github.com/stretchr/testify/assert"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

func TestMergeStep(t *testing.T) {
	r := func(node string, diskless bool) storagev1alpha1.Replica {
		return storagev1alpha1.Replica{Node: node, StoragePool: "thin", Diskless: diskless}
	}
	rs := func(x ...storagev1alpha1.Replica) []storagev1alpha1.Replica { return x }
	for _, tc := range []struct {
		name                      string
		prev, planned, live, want []storagev1alpha1.Replica
	}{
		{"a replacement added", rs(r("a", false), r("b", false)), rs(r("a", false), r("b", false), r("c", false)),
			rs(r("a", false), r("b", false)), rs(r("a", false), r("b", false), r("c", false))},
		{"the old replica dropped", rs(r("a", false), r("b", false), r("c", false)), rs(r("b", false), r("c", false)),
			rs(r("a", false), r("b", false), r("c", false)), rs(r("b", false), r("c", false))},
		{"a disk dropped", rs(r("a", false), r("b", false)), rs(r("a", true), r("b", false)),
			rs(r("a", false), r("b", false)), rs(r("a", true), r("b", false))},
		{"a replica the API added meanwhile stays", rs(r("a", false), r("b", false)), rs(r("a", false), r("b", false), r("c", false)),
			rs(r("a", false), r("b", false), r("d", true)), rs(r("a", false), r("b", false), r("c", false), r("d", true))},
		{"a replica the API removed meanwhile is not put back", rs(r("a", false), r("b", false), r("d", true)), rs(r("a", false), r("b", false), r("c", false), r("d", true)),
			rs(r("a", false), r("b", false)), rs(r("a", false), r("b", false), r("c", false))},
		{"a replacement already there is left as it is", rs(r("a", false)), rs(r("a", false), r("c", false)),
			rs(r("a", false), r("c", true)), rs(r("a", false), r("c", true))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mergeStep(tc.prev, tc.planned, tc.live))
		})
	}
}
