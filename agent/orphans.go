package agent

import (
	"slices"
	"strings"

	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

// orphans lists what the host holds in our naming scheme that the desired
// state does not claim. Nothing here is ever deleted by Apply.
func orphans(d *agentv1.NodeDesiredState, h host) []*agentv1.Orphan {
	claimed := map[string]bool{} // pool + "/" + volume name
	drbdRes := map[string]bool{}
	for _, r := range d.GetResources() {
		if usesDRBD(r) {
			drbdRes[r.GetName()] = true
		}
		for _, v := range r.GetVolumes() {
			if !v.GetDiskless() {
				claimed[v.GetStoragePool()+"/"+storage.VolumeName(r.GetName(), v.GetNumber())] = true
			}
		}
	}
	var out []*agentv1.Orphan
	for _, poolName := range sortedKeys(h.pools) {
		p := h.pools[poolName]
		for _, name := range sortedKeys(p.volumes) {
			v := p.volumes[name]
			if !claimed[poolName+"/"+name] {
				out = append(out, &agentv1.Orphan{Kind: agentv1.Orphan_BACKING_VOLUME, Resource: v.Resource,
					StoragePool: poolName, Object: v.Object, Uid: v.UID})
			}
		}
	}
	out = append(out, snapshotOrphans(d, h)...)
	for _, name := range sortedKeys(h.resFiles) {
		if !drbdRes[name] {
			f := h.resFiles[name]
			out = append(out, &agentv1.Orphan{Kind: agentv1.Orphan_DRBD_CONFIG, Resource: name, Object: f.path, Uid: f.uid})
		}
	}
	for _, name := range sortedKeys(h.kernel) {
		if !drbdRes[name] {
			out = append(out, &agentv1.Orphan{Kind: agentv1.Orphan_DRBD_RESOURCE, Resource: name, Object: name, Uid: h.resFiles[name].uid})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
