package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// PoolCapacityAnnotationPrefix starts a Node annotation that tells the offline
// plan the capacity of one storage pool on that node:
//
//	storage.piraeus.io/capacity.<pool>: 100Gi
//
// The value is a Kubernetes quantity (bytes). For thin pools it is the size of
// the thin pool; over-subscription is applied by placement. Pools without the
// annotation have unknown capacity, and placement balances them by what is
// already allocated. Live capacity from the cluster, when known, wins.
const PoolCapacityAnnotationPrefix = "storage.piraeus.io/capacity."

// ProvisionalVolumeNamespace is the UUID namespace for names of volumes whose
// claim has no uid yet (a manifest not yet applied). See volumeName.
const ProvisionalVolumeNamespace = "6c1c5a5e-2b1f-4d0a-9a38-5f1f6b0a7d10"

// isDefaultClassAnnotation marks the cluster's default StorageClass.
const isDefaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// ParsePoolCapacityAnnotations reads the PoolCapacityAnnotationPrefix
// annotations of a node: pool name → capacity in bytes. Errors carry paths
// rooted at metadata.annotations[<key>].
func ParsePoolCapacityAnnotations(node *corev1.Node) (map[string]int64, field.ErrorList) {
	var errs field.ErrorList
	capacities := map[string]int64{}
	for key, value := range node.Annotations {
		pool, ok := strings.CutPrefix(key, PoolCapacityAnnotationPrefix)
		if !ok {
			continue
		}
		path := field.NewPath("metadata", "annotations").Key(key)
		if !linstorNameRE.MatchString(pool) {
			errs = append(errs, field.Invalid(path, key, "expected "+PoolCapacityAnnotationPrefix+"<storage pool name>"))
			continue
		}
		q, err := resource.ParseQuantity(value)
		if err != nil {
			errs = append(errs, field.Invalid(path, value, "expected a positive quantity of bytes, e.g. 100Gi"))
			continue
		}
		n, ferr := positiveBytes(q, value, MaxPoolBytes, path, "the capacity of the pool in bytes")
		if ferr != nil {
			errs = append(errs, ferr)
			continue
		}
		capacities[pool] = n
	}
	slices.SortFunc(errs, func(a, b *field.Error) int { return cmp.Compare(a.Field, b.Field) })
	return capacities, errs
}

// volumesFromClaims derives the volumes that exist or are requested: one per
// PersistentVolume and PersistentVolumeClaim of a StorageClass whose
// provisioner is CSIProvisioner; claims of other provisioners are ignored.
// classes holds the StorageClasses of the input by name (any provisioner);
// groups are the resource groups derived from them. A claim bound to a PV in
// the input is one volume.
//
// Names follow linstor-csi: a PV's spec.csi.volumeHandle (else its name); a
// claim bound to a PV not in the input: spec.volumeName; an unbound claim:
// pvc-<metadata.uid>. A claim of a class with usePvcName: <namespace>-<name>
// instead, as linstor-csi names it (when that is a valid LINSTOR name). A claim without uid (a manifest not applied yet) gets
// pvc-<UUIDv5(ProvisionalVolumeNamespace, "<namespace>/<name>")>, stable
// across runs; once applied, the claim's real uid names it, so the volume will
// show as renamed in the next plan. An empty namespace counts as "default".
//
// Sizes: a bound claim's status.capacity, else the PV's capacity, else the
// claim's spec.resources.requests.storage.
//
// Errors are keyed by "PersistentVolumeClaim/<namespace>/<name>" or
// "PersistentVolume/<name>". Volumes are sorted by name.
func volumesFromClaims(pvcs []corev1.PersistentVolumeClaim, pvs []corev1.PersistentVolume, classes map[string]*storagev1.StorageClass, groups []storagev1alpha1.ResourceGroup) ([]storagev1alpha1.StorageVolume, map[string]field.ErrorList) {
	c := claimCollector{
		classes: classes,
		groupOf: groupByClass(groups),
		groups:  map[string]*storagev1alpha1.ResourceGroup{},
		byName:  map[string]string{},
		errs:    map[string]field.ErrorList{},
	}
	for i := range groups {
		c.groups[groups[i].Name] = &groups[i]
	}
	bound := c.addVolumes(pvs, pvcs)
	for i := range pvcs {
		if !bound[claimKey(&pvcs[i])] {
			c.addClaim(&pvcs[i])
		}
	}
	slices.SortFunc(c.volumes, func(a, b storagev1alpha1.StorageVolume) int { return cmp.Compare(a.Name, b.Name) })
	if len(c.errs) == 0 {
		c.errs = nil
	}
	return c.volumes, c.errs
}

// claimCollector gathers volumes and errors for volumesFromClaims.
type claimCollector struct {
	classes map[string]*storagev1.StorageClass
	groupOf map[string]string // StorageClass name → resource group name
	groups  map[string]*storagev1alpha1.ResourceGroup
	byName  map[string]string // volume name → object that named it
	volumes []storagev1alpha1.StorageVolume
	errs    map[string]field.ErrorList
}

// groupByClass maps each StorageClass name to its resource group.
func groupByClass(groups []storagev1alpha1.ResourceGroup) map[string]string {
	m := map[string]string{}
	for _, g := range groups {
		for _, sc := range g.StorageClasses {
			m[sc] = g.Name
		}
	}
	return m
}

// addVolumes adds a volume per linstor PV (with its claim when the claim is in
// the input) and returns the keys of the claims it consumed.
func (c *claimCollector) addVolumes(pvs []corev1.PersistentVolume, pvcs []corev1.PersistentVolumeClaim) map[string]bool {
	claims := map[string]*corev1.PersistentVolumeClaim{}
	byVolumeName := map[string]*corev1.PersistentVolumeClaim{}
	for i := range pvcs {
		claims[claimKey(&pvcs[i])] = &pvcs[i]
		if pvcs[i].Spec.VolumeName != "" {
			byVolumeName[pvcs[i].Spec.VolumeName] = &pvcs[i]
		}
	}
	bound := map[string]bool{}
	sorted := slices.Clone(pvs)
	slices.SortFunc(sorted, func(a, b corev1.PersistentVolume) int { return cmp.Compare(a.Name, b.Name) })
	for i := range sorted {
		pv := &sorted[i]
		pvc := byVolumeName[pv.Name]
		if pvc == nil && pv.Spec.ClaimRef != nil {
			pvc = claims[namespaced(pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name)]
			if pvc != nil && pv.Spec.ClaimRef.UID != "" && pvc.UID != "" && pvc.UID != pv.Spec.ClaimRef.UID {
				pvc = nil // the claim was re-created; this PV belonged to its predecessor
			}
		}
		if c.addPV(pv, pvc) && pvc != nil {
			bound[claimKey(pvc)] = true
		}
	}
	return bound
}

// addPV adds the volume of one PV; it reports whether the PV is a linstor volume.
func (c *claimCollector) addPV(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) bool {
	key := "PersistentVolume/" + pv.Name
	isCSI := pv.Spec.CSI != nil && pv.Spec.CSI.Driver == CSIProvisioner
	if pv.Spec.CSI != nil && !isCSI {
		return false
	}
	group, ours, err := c.classGroup(pv.Spec.StorageClassName, field.NewPath("spec", "storageClassName"), isCSI)
	if err != nil {
		c.errs[key] = append(c.errs[key], err)
		return false
	}
	if !ours {
		return false
	}
	vol := newStorageVolume(pv.Name, group)
	vol.Spec.PersistentVolume = pv.Name
	if isCSI && pv.Spec.CSI.VolumeHandle != "" {
		vol.Name = pv.Spec.CSI.VolumeHandle
	}
	// The size: a bound claim's status, else the PV's capacity, else the claim's request.
	sources := []sizeSource{{key: key, list: pv.Spec.Capacity, path: field.NewPath("spec", "capacity")}}
	switch {
	case pvc != nil:
		vol.Spec.Claim = &storagev1alpha1.ClaimReference{Namespace: claimNamespace(pvc), Name: pvc.Name, UID: string(pvc.UID)}
		claim := "PersistentVolumeClaim/" + claimKey(pvc)
		sources = []sizeSource{
			{key: claim, list: pvc.Status.Capacity, path: field.NewPath("status", "capacity")},
			sources[0],
			{key: claim, list: pvc.Spec.Resources.Requests, path: field.NewPath("spec", "resources", "requests")},
		}
	case pv.Spec.ClaimRef != nil:
		ref := pv.Spec.ClaimRef
		vol.Spec.Claim = &storagev1alpha1.ClaimReference{Namespace: ref.Namespace, Name: ref.Name, UID: string(ref.UID)}
	}
	size, found, ok := c.volumeSize(sources...)
	if !found {
		c.errs[key] = append(c.errs[key], field.Required(field.NewPath("spec", "capacity").Key("storage"), "expected the size of the volume"))
	}
	if !ok {
		return true
	}
	vol.Spec.Volumes = []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: size}}
	c.add(key, vol)
	return true
}

// addClaim adds the volume of a claim that no PV in the input holds.
func (c *claimCollector) addClaim(pvc *corev1.PersistentVolumeClaim) {
	key := "PersistentVolumeClaim/" + claimKey(pvc)
	className := ""
	if pvc.Spec.StorageClassName != nil {
		className = *pvc.Spec.StorageClassName
	} else {
		className = c.defaultClass()
	}
	if className == "" {
		return // no class: not dynamically provisioned, so not ours
	}
	group, ours, err := c.classGroup(className, field.NewPath("spec", "storageClassName"), true)
	if err != nil {
		c.errs[key] = append(c.errs[key], err)
		return
	}
	if !ours {
		return
	}
	name := volumeName(pvc)
	if rg := c.groups[group]; rg != nil && rg.UsePVCName {
		if n, ok := claimVolumeName(pvc); ok {
			name = n
		}
	}
	vol := newStorageVolume(name, group)
	vol.Spec.Claim = &storagev1alpha1.ClaimReference{Namespace: claimNamespace(pvc), Name: pvc.Name, UID: string(pvc.UID)}
	if pvc.Spec.VolumeName != "" {
		vol.Spec.PersistentVolume = pvc.Spec.VolumeName
	}
	// The size: a bound claim's status, else its request.
	request := sizeSource{key: key, list: pvc.Spec.Resources.Requests, path: field.NewPath("spec", "resources", "requests")}
	sources := []sizeSource{request}
	if pvc.Spec.VolumeName != "" {
		sources = []sizeSource{{key: key, list: pvc.Status.Capacity, path: field.NewPath("status", "capacity")}, request}
	}
	size, found, ok := c.volumeSize(sources...)
	if !found {
		c.errs[key] = append(c.errs[key], field.Required(field.NewPath("spec", "resources", "requests").Key("storage"), "expected the requested size of the volume, e.g. 10Gi"))
	}
	if !ok {
		return
	}
	vol.Spec.Volumes = []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: size}}
	c.add(key, vol)
}

// classGroup resolves a StorageClass name to its resource group. ours is
// false for classes of other provisioners. A class missing from the input is
// an error when mustExist says the object is known to need one.
func (c *claimCollector) classGroup(name string, path *field.Path, mustExist bool) (group string, ours bool, err *field.Error) {
	sc := c.classes[name]
	switch {
	case sc == nil && !mustExist:
		return "", false, nil
	case sc == nil && name == "":
		return "", false, field.Required(path, "expected the name of a StorageClass with provisioner "+CSIProvisioner)
	case sc == nil:
		return "", false, field.Invalid(path, name, fmt.Sprintf("no StorageClass %q in the input; expected one with provisioner %s (add it with -f)", name, CSIProvisioner))
	case sc.Provisioner != CSIProvisioner:
		return "", false, nil
	}
	group, ok := c.groupOf[name]
	return group, ok, nil // !ok: the class itself is invalid and already reported
}

// defaultClass names the StorageClass marked default, "" when none is (or
// when several are, the alphabetically last, as the API server picks the newest).
func (c *claimCollector) defaultClass() string {
	name := ""
	for n, sc := range c.classes {
		if sc.Annotations[isDefaultClassAnnotation] == "true" && n > name {
			name = n
		}
	}
	return name
}

// add records a volume unless another object already named it.
func (c *claimCollector) add(key string, vol storagev1alpha1.StorageVolume) {
	if other, dup := c.byName[vol.Name]; dup {
		c.errs[key] = append(c.errs[key], field.Duplicate(field.NewPath("metadata", "name"), vol.Name+" (volume name also derived from "+other+")"))
		return
	}
	c.byName[vol.Name] = key
	c.volumes = append(c.volumes, vol)
}

// volumeName is the linstor-csi name of an unbound claim's volume; see volumesFromClaims.
func volumeName(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.VolumeName != "" {
		return pvc.Spec.VolumeName
	}
	if pvc.UID != "" {
		return "pvc-" + string(pvc.UID)
	}
	return "pvc-" + uuid.NewSHA1(uuid.MustParse(ProvisionalVolumeNamespace), []byte(claimKey(pvc))).String()
}

// claimVolumeName is the volume name linstor-csi gives a claim of a class
// with usePvcName: <namespace>-<name>, when that is a valid LINSTOR
// resource name (else linstor-csi keeps pvc-<uid>).
func claimVolumeName(pvc *corev1.PersistentVolumeClaim) (string, bool) {
	n := claimNamespace(pvc) + "-" + pvc.Name
	if n == "all" || !linstorNameRE.MatchString(n) || !strings.ContainsFunc(n, isASCIILetter) {
		return "", false
	}
	return n, true
}

func isASCIILetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

// claimNamespace is the claim's namespace, "default" when the manifest has none.
func claimNamespace(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Namespace == "" {
		return "default"
	}
	return pvc.Namespace
}

func claimKey(pvc *corev1.PersistentVolumeClaim) string {
	return namespaced(claimNamespace(pvc), pvc.Name)
}

func namespaced(namespace, name string) string {
	return fmt.Sprintf("%s/%s", namespace, name)
}

// newStorageVolume is a volume of the plan, named, in a resource group.
func newStorageVolume(name, group string) storagev1alpha1.StorageVolume {
	return storagev1alpha1.StorageVolume{
		TypeMeta:   metav1.TypeMeta{APIVersion: storagev1alpha1.GroupVersion.String(), Kind: "StorageVolume"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       storagev1alpha1.StorageVolumeSpec{ResourceGroup: group},
	}
}
