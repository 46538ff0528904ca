package plan

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// Admission: the validating webhook checks one object at a time with the
// same code Load runs on every input, so a denial carries the field path and
// message that `piraeusctl plan` prints for the same mistake.

// admissionSource names the object under review in error positions.
const admissionSource = "admission"

// Live is what an update check may know about the cluster beyond the two
// objects it compares. The zero value knows nothing, and then every change
// that could lose data is refused, since nothing proves it safe.
type Live struct {
	// Topology is the StorageTopology in the cluster, nil when unknown.
	Topology *storagev1alpha1.StorageTopology
	// Volumes are the StorageVolumes in the cluster; nil when unknown (then
	// every pool and node may hold replicas).
	Volumes []storagev1alpha1.StorageVolume
	// VolumeInUse reports whether a volume's data is still wanted (its
	// PersistentVolume or claim still exists); nil means every volume is.
	VolumeInUse func(v *storagev1alpha1.StorageVolume) bool
	// VolumeSnapshots names the StorageSnapshots taken of a volume; nil
	// means this check is not made.
	VolumeSnapshots func(v *storagev1alpha1.StorageVolume) []string
}

// ForceRemoveNodesAnnotation on a StorageTopology names nodes (comma-
// separated) that may leave it although volumes still have replicas there
// (a node that is gone for good); their replicas are then re-placed.
const ForceRemoveNodesAnnotation = "storage.piraeus.io/force-remove-nodes"

// ValidateObject checks one object (JSON or YAML) exactly as Load checks an
// input: the CRD schema, the typed decode and the kind's semantic rules.
func ValidateObject(schemas *Schemas, obj []byte) ErrorList {
	_, errs := admit(schemas, obj)
	return errs
}

// ValidateUpdate checks newObj like ValidateObject and also refuses changes
// from oldObj that would lose data or break running storage.
func ValidateUpdate(schemas *Schemas, oldObj, newObj []byte) ErrorList {
	return ValidateUpdateLive(schemas, oldObj, newObj, Live{})
}

// ValidateUpdateLive is ValidateUpdate with knowledge of the cluster, which
// lets it allow changes the cluster shows to be safe (such as removing a
// storage pool that holds no replica).
func ValidateUpdateLive(schemas *Schemas, oldObj, newObj []byte, live Live) ErrorList {
	cur, errs := admit(schemas, newObj)
	if len(errs) > 0 {
		return errs
	}
	old, oldErrs := admit(schemas, oldObj)
	if old == nil || len(oldErrs) > 0 && !old.decoded() {
		// The stored object no longer decodes; there is nothing to compare.
		return nil
	}
	return compareUpdate(old, cur, live).sorted()
}

// admitted is one decoded object under review.
type admitted struct {
	in  *inputs
	doc *document
}

func (a *admitted) decoded() bool {
	return len(a.in.clusters)+len(a.in.satelliteCfgs)+len(a.in.nodeConns)+len(a.in.topologies)+len(a.in.storageVolumes) > 0
}

// admit decodes and validates the single object in data.
func admit(schemas *Schemas, data []byte) (*admitted, ErrorList) {
	docs, errs := parseDocuments(Source{Name: admissionSource, Data: data})
	if len(errs) > 0 {
		return nil, errs
	}
	if len(docs) != 1 {
		return nil, ErrorList{{Pos: Position{Source: admissionSource}, Message: fmt.Sprintf("expected exactly one object, found %d", len(docs))}}
	}
	in := &inputs{}
	opts := &LoadOptions{Namespace: DefaultNamespace, Schemas: schemas}
	errs = in.addDocument(docs[0], opts, map[objectKey]*document{})
	errs = append(errs, validateInputs(in)...)
	return &admitted{in: in, doc: docs[0]}, errs.sorted()
}

// compareUpdate applies the update rules of the object's kind.
func compareUpdate(old, cur *admitted, live Live) ErrorList {
	switch {
	case len(cur.in.satelliteCfgs) == 1 && len(old.in.satelliteCfgs) == 1:
		c := &cur.in.satelliteCfgs[0].obj
		errs := compareStoragePools(old.in.satelliteCfgs[0].obj.Spec.StoragePools, c.Spec.StoragePools, c.Name, live)
		return cur.doc.fieldErrors(errs, "LinstorSatelliteConfiguration/"+c.Name)
	case len(cur.in.topologies) == 1 && len(old.in.topologies) == 1:
		t := &cur.in.topologies[0].obj
		errs := compareTopologies(&old.in.topologies[0].obj, t, live)
		return cur.doc.fieldErrors(errs, "StorageTopology/"+t.Name)
	}
	return nil
}

// ValidateDeleteLive refuses deleting an object whose data is still wanted:
// a StorageVolume whose PersistentVolume or claim still exists (its storage
// would be destroyed under a running application). Other kinds may go.
func ValidateDeleteLive(schemas *Schemas, oldObj []byte, live Live) ErrorList {
	old, errs := admit(schemas, oldObj)
	if old == nil || len(errs) > 0 || len(old.in.storageVolumes) != 1 {
		return nil
	}
	v := &old.in.storageVolumes[0].obj
	if live.VolumeSnapshots != nil {
		if snaps := live.VolumeSnapshots(v); len(snaps) > 0 {
			return old.doc.fieldErrors(field.ErrorList{field.Forbidden(field.NewPath("metadata", "name"), fmt.Sprintf(
				"volume %q has snapshots (%s): delete them first, as LINSTOR refuses to delete a resource definition with snapshots", v.Name, strings.Join(snaps, ", ")))},
				"StorageVolume/"+v.Name)
		}
	}
	if live.VolumeInUse != nil && !live.VolumeInUse(v) {
		return nil
	}
	return old.doc.fieldErrors(field.ErrorList{field.Forbidden(field.NewPath("metadata", "name"), fmt.Sprintf(
		"volume %q still belongs to %s: deleting it would destroy its data under it; delete the claim (or PersistentVolume) first, and the volume follows", v.Name, volumeOwner(v)))},
		"StorageVolume/"+v.Name)
}

// compareStoragePools refuses changing the backend of an existing pool and
// removing a pool that may still hold volumes.
func compareStoragePools(oldPools, curPools []piraeusv1.LinstorStoragePool, config string, live Live) field.ErrorList {
	p := field.NewPath("spec", "storagePools")
	var errs field.ErrorList
	for i := range curPools {
		cur := &curPools[i]
		if j := poolIndex(oldPools, cur.Name); j >= 0 {
			errs = append(errs, comparePool(&oldPools[j], cur, p.Index(i))...)
		}
	}
	for j := range oldPools {
		old := &oldPools[j]
		if poolIndex(curPools, old.Name) >= 0 {
			continue
		}
		if err := poolRemoval(old, config, live, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func poolIndex(pools []piraeusv1.LinstorStoragePool, name string) int {
	return slices.IndexFunc(pools, func(p piraeusv1.LinstorStoragePool) bool { return p.Name == name })
}

// comparePool refuses changes to where an existing pool keeps its data.
func comparePool(old, cur *piraeusv1.LinstorStoragePool, p *field.Path) field.ErrorList {
	newPool := fmt.Sprintf("to use another backend, add a new storage pool with another name, move the volumes to it (or let placement do so), then remove %q in a later change", cur.Name)
	if ok, nk := old.ProviderKind(), cur.ProviderKind(); ok != nk {
		return field.ErrorList{field.Forbidden(p, fmt.Sprintf("storage pool %q cannot change its provider from %s to %s: its volumes live on the %s backend and would be lost; %s", cur.Name, ok, nk, ok, newPool))}
	}
	var errs field.ErrorList
	backing := []struct {
		what, field, old, cur string
	}{
		{"volume group", providerField(cur) + ".volumeGroup", old.VolumeGroup(), cur.VolumeGroup()},
		{"thin pool", "lvmThinPool.thinPool", old.ThinPool(), cur.ThinPool()},
		{"directory", providerField(cur) + ".directory", old.Directory(), cur.Directory()},
		{"zpool", providerField(cur) + ".zPool", old.ZPool(), cur.ZPool()},
	}
	for _, b := range backing {
		if b.old != b.cur {
			parts := strings.Split(b.field, ".")
			errs = append(errs, field.Forbidden(p.Child(parts[0], parts[1:]...),
				fmt.Sprintf("storage pool %q cannot change its %s from %q to %q: its volumes are in %q and would be lost; %s", cur.Name, b.what, b.old, b.cur, b.old, newPool)))
		}
	}
	if !slices.Equal(hostDevices(old), hostDevices(cur)) {
		errs = append(errs, field.Forbidden(p.Child("source", "hostDevices"),
			fmt.Sprintf("the host devices of existing storage pool %q cannot change (was %v): the pool was built from them and the agent never adds, removes or wipes devices of an existing pool; to use other devices, add a new storage pool", cur.Name, hostDevices(old))))
	}
	return errs
}

func hostDevices(p *piraeusv1.LinstorStoragePool) []string {
	if p.Source == nil {
		return nil
	}
	return p.Source.HostDevices
}

// providerField is the JSON name of the pool's provider field.
func providerField(p *piraeusv1.LinstorStoragePool) string {
	switch p.ProviderKind() {
	case piraeusv1.ProviderLVM:
		return "lvmPool"
	case piraeusv1.ProviderLVMThin:
		return "lvmThinPool"
	case piraeusv1.ProviderFile:
		return "filePool"
	case piraeusv1.ProviderFileThin:
		return "fileThinPool"
	case piraeusv1.ProviderZFS:
		return "zfsPool"
	case piraeusv1.ProviderZFSThin:
		return "zfsThinPool"
	}
	return "provider"
}

// poolRemoval allows removing a pool only when the live StorageTopology
// shows that no replica uses it on a node this configuration gave it to.
func poolRemoval(old *piraeusv1.LinstorStoragePool, config string, live Live, p *field.Path) *field.Error {
	howTo := "to retire it, first move its volumes away (cordon the nodes with the annotation storage.piraeus.io/cordon, or remove the pool from the StorageClasses' storagePool parameter) and remove the pool in a separate change once the StorageTopology shows it empty; a rename is a removal plus a new pool"
	if live.Topology == nil || live.Volumes == nil {
		return field.Forbidden(p, fmt.Sprintf("storage pool %q was removed, but it may still hold volumes (no StorageTopology and StorageVolumes to prove it empty); %s", old.Name, howTo))
	}
	users := poolUsers(live.Topology, live.Volumes, old.Name, config)
	if len(users) == 0 {
		return nil
	}
	return field.Forbidden(p, fmt.Sprintf("storage pool %q was removed, but it still holds %d replica(s) (%s); %s", old.Name, len(users), summarise(users, 3), howTo))
}

// poolUsers lists "volume on node" for each diskful replica in pool on a
// node whose pool of that name came from the satellite configuration.
func poolUsers(t *storagev1alpha1.StorageTopology, vols []storagev1alpha1.StorageVolume, pool, config string) []string {
	fromConfig := map[string]bool{}
	for _, n := range t.Spec.Nodes {
		for _, sp := range n.StoragePools {
			if sp.Name == pool && (sp.SatelliteConfiguration == "" || sp.SatelliteConfiguration == config) {
				fromConfig[n.Name] = true
			}
		}
	}
	var users []string
	for _, v := range vols {
		for _, r := range v.Spec.Replicas {
			if r.StoragePool == pool && !r.Diskless && fromConfig[r.Node] {
				users = append(users, v.Name+" on "+r.Node)
			}
		}
	}
	return users
}

func summarise(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// compareTopologies refuses dropping a node that still holds replicas
// (in a volume's spec, or deployed as its status says) unless the topology
// names it in ForceRemoveNodesAnnotation: its data would be stranded. Two
// deletion policies make exceptions: an evacuated node whose Node is gone
// may leave once no spec holds a replica there (its agent, gone with the
// Node, can no longer report what it removed); a node with policy Delete
// may leave with its replicas as long as each of their volumes keeps a
// diskful replica on a node that stays. The allocations of volumes are
// guarded by the StorageVolume CRD itself.
func compareTopologies(old, cur *storagev1alpha1.StorageTopology, live Live) field.ErrorList {
	p := field.NewPath("spec", "nodes")
	forced := forcedNodes(cur.Annotations)
	staying := map[string]bool{}
	for _, n := range cur.Spec.Nodes {
		staying[n.Name] = true
	}
	var errs field.ErrorList
	for _, on := range old.Spec.Nodes {
		if staying[on.Name] || forced[on.Name] {
			continue
		}
		how := fmt.Sprintf("give the node deletion policy Evacuate (LinstorSatelliteConfiguration spec.deletionPolicy) so the operator moves its replicas first, or, if the node is gone for good, name it in the annotation %s", ForceRemoveNodesAnnotation)
		if live.Volumes == nil {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("node %q was removed, but it may still hold replicas (no StorageVolumes to prove it empty); %s", on.Name, how)))
			continue
		}
		deployed := on.Leaving == nil || on.Leaving.Reason != storagev1alpha1.LeavingNodeDeleted
		holders := nodeUsers(live.Volumes, on.Name, deployed)
		if on.Leaving == nil && on.DeletionPolicy == piraeusv1.DeletionPolicyDelete {
			holders = lastCopies(live.Volumes, holders, on.Name, staying)
			if len(holders) > 0 {
				errs = append(errs, field.Forbidden(p, fmt.Sprintf("node %q leaves with deletion policy Delete, but it holds the last replica of %d volume(s) (%s): their data would be lost; %s", on.Name, len(holders), summarise(holders, 3), how)))
			}
			continue
		}
		if len(holders) > 0 {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("node %q was removed, but it still holds %d replica(s) (%s); %s", on.Name, len(holders), summarise(holders, 3), how)))
		}
	}
	return errs
}

// nodeUsers lists the volumes with a replica on node, in spec or (when
// deployed) deployed as their status says.
func nodeUsers(vols []storagev1alpha1.StorageVolume, node string, deployed bool) []string {
	var out []string
	for _, v := range vols {
		held := v.Spec.Replica(node) != nil
		for _, r := range v.Status.Replicas {
			held = held || (deployed && r.Node == node && r.Deployed)
		}
		if held {
			out = append(out, v.Name)
		}
	}
	return out
}

// lastCopies are the named volumes with no diskful replica in their spec
// on a node other than node that stays.
func lastCopies(vols []storagev1alpha1.StorageVolume, names []string, node string, staying map[string]bool) []string {
	var out []string
	for _, v := range vols {
		if !slices.Contains(names, v.Name) {
			continue
		}
		if !slices.ContainsFunc(v.Spec.Replicas, func(r storagev1alpha1.Replica) bool {
			return !r.Diskless && r.Node != node && staying[r.Node]
		}) {
			out = append(out, v.Name)
		}
	}
	return out
}

// forcedNodes are the nodes named in ForceRemoveNodesAnnotation.
func forcedNodes(annotations map[string]string) map[string]bool {
	forced := map[string]bool{}
	for _, n := range strings.Split(annotations[ForceRemoveNodesAnnotation], ",") {
		if n = strings.TrimSpace(n); n != "" {
			forced[n] = true
		}
	}
	return forced
}

func volumeOwner(v *storagev1alpha1.StorageVolume) string {
	switch {
	case v.Spec.PersistentVolume != "":
		return "PersistentVolume " + v.Spec.PersistentVolume
	case v.Spec.Claim != nil:
		return "PersistentVolumeClaim " + v.Spec.Claim.Namespace + "/" + v.Spec.Claim.Name
	}
	return "it"
}
