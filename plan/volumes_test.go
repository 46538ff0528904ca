package plan

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

func storage(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(q)}
}

func testPVC(ns, name, uid, class, request string) corev1.PersistentVolumeClaim {
	pvc := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)},
		Spec:       corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: storage(request)}},
	}
	if class != "-" {
		pvc.Spec.StorageClassName = &class
	}
	return pvc
}

func testPV(name, handle, class, capacity string, claim *corev1.PersistentVolumeClaim) corev1.PersistentVolume {
	pv := corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: class,
			Capacity:         storage(capacity),
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				CSI: &corev1.CSIPersistentVolumeSource{Driver: CSIProvisioner, VolumeHandle: handle},
			},
		},
	}
	if claim != nil {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID}
	}
	return pv
}

func testClasses() (map[string]*storagev1.StorageClass, []storagev1alpha1.ResourceGroup) {
	fast := testClass("fast", map[string]string{"resourceGroup": "rg-fast"})
	slow := testClass("slow", nil)
	other := storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", Annotations: map[string]string{isDefaultClassAnnotation: "true"}}, Provisioner: "rancher.io/local-path"}
	classes := map[string]*storagev1.StorageClass{"fast": &fast, "slow": &slow, "local": &other}
	groups, errs, _ := resourceGroupsFromStorageClasses([]storagev1.StorageClass{fast, slow})
	if errs != nil {
		panic(errs)
	}
	return classes, groups
}

func TestVolumesFromClaims(t *testing.T) {
	classes, groups := testClasses()
	boundPVC := testPVC("db", "data", "1111", "fast", "10Gi")
	boundPVC.Spec.VolumeName = "pvc-1111"
	boundPVC.Status.Capacity = storage("12Gi")
	refPVC := testPVC("db", "logs", "2222", "slow", "1Gi") // bound only through the PV's claimRef
	pvcs := []corev1.PersistentVolumeClaim{
		testPVC("app", "new", "", "fast", "5Gi"),
		testPVC("app", "applied", "3333", "slow", "2Gi"),
		testPVC("app", "elsewhere", "4444", "local", "1Gi"),
		testPVC("app", "classless", "5555", "-", "1Gi"), // default class is local-path: not ours
		boundPVC,
		refPVC,
		testPVC("", "nons", "", "slow", "1Mi"),
	}
	pvs := []corev1.PersistentVolume{
		testPV("pvc-1111", "pvc-1111", "fast", "10Gi", &boundPVC),
		testPV("pvc-2222", "pvc-2222-handle", "slow", "3Gi", &refPVC),
		testPV("static", "", "slow", "7Gi", nil),
		{ObjectMeta: metav1.ObjectMeta{Name: "nfs"}, Spec: corev1.PersistentVolumeSpec{StorageClassName: "fast", PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "nfs.csi.k8s.io"}}}},
	}
	vols, errs := volumesFromClaims(pvcs, pvs, classes, groups)
	require.Nil(t, errs)
	got := map[string]storagev1alpha1.StorageVolume{}
	var names []string
	for _, v := range vols {
		got[v.Name] = v
		names = append(names, v.Name)
	}
	newName := volumeName(&pvcs[0])
	nonsName := volumeName(&pvcs[6])
	assert.Regexp(t, `^pvc-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$`, newName)
	assert.ElementsMatch(t, []string{newName, nonsName, "pvc-3333", "pvc-1111", "pvc-2222-handle", "static"}, names)
	assert.IsIncreasing(t, names)

	want := func(name, group string, size int64, pv string, claim *storagev1alpha1.ClaimReference) storagev1alpha1.StorageVolume {
		v := newStorageVolume(name, group)
		v.Spec.Volumes = []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: size}}
		v.Spec.PersistentVolume, v.Spec.Claim = pv, claim
		return v
	}
	assert.Equal(t, want("pvc-1111", "rg-fast", 12<<30, "pvc-1111", &storagev1alpha1.ClaimReference{Namespace: "db", Name: "data", UID: "1111"}), got["pvc-1111"])
	assert.Equal(t, want("pvc-2222-handle", "slow", 3<<30, "pvc-2222", &storagev1alpha1.ClaimReference{Namespace: "db", Name: "logs", UID: "2222"}), got["pvc-2222-handle"])
	assert.Equal(t, want("pvc-3333", "slow", 2<<30, "", &storagev1alpha1.ClaimReference{Namespace: "app", Name: "applied", UID: "3333"}), got["pvc-3333"])
	assert.Equal(t, int64(7<<30), got["static"].Spec.SizeBytes())
	assert.Equal(t, "default", got[nonsName].Spec.Claim.Namespace)
	assert.Equal(t, int64(5<<30), got[newName].Spec.SizeBytes())

	// deterministic: same name on every run, differs per claim
	assert.Equal(t, newName, volumeName(&pvcs[0]))
	assert.NotEqual(t, newName, nonsName)
}

func TestVolumesFromClaimsErrors(t *testing.T) {
	classes, groups := testClasses()
	noSize := testPVC("app", "nosize", "1", "fast", "1Gi")
	noSize.Spec.Resources.Requests = nil
	dupA := testPVC("app", "dup-a", "", "fast", "1Gi")
	dupA.Spec.VolumeName = "shared"
	dupB := testPVC("app", "dup-b", "", "fast", "1Gi")
	dupB.Spec.VolumeName = "shared"
	pvcs := []corev1.PersistentVolumeClaim{
		testPVC("app", "missing", "2", "gone", "1Gi"),
		noSize, dupA, dupB,
	}
	pvs := []corev1.PersistentVolume{
		testPV("orphan", "orphan", "", "1Gi", nil),
		testPV("lost", "lost", "vanished", "1Gi", nil),
	}
	vols, errs := volumesFromClaims(pvcs, pvs, classes, groups)
	require.Len(t, vols, 1)
	assert.Equal(t, "shared", vols[0].Name)
	msgs := map[string]string{}
	for key, list := range errs {
		require.Len(t, list, 1, key)
		msgs[key] = list[0].Error()
	}
	assert.Equal(t, map[string]string{
		"PersistentVolumeClaim/app/missing": `spec.storageClassName: Invalid value: "gone": no StorageClass "gone" in the input; expected one with provisioner linstor.csi.linbit.com (add it with -f)`,
		"PersistentVolumeClaim/app/nosize":  `spec.resources.requests[storage]: Required value: expected the requested size of the volume, e.g. 10Gi`,
		"PersistentVolumeClaim/app/dup-b":   `metadata.name: Duplicate value: "shared (volume name also derived from PersistentVolumeClaim/app/dup-a)"`,
		"PersistentVolume/orphan":           `spec.storageClassName: Required value: expected the name of a StorageClass with provisioner linstor.csi.linbit.com`,
		"PersistentVolume/lost":             `spec.storageClassName: Invalid value: "vanished": no StorageClass "vanished" in the input; expected one with provisioner linstor.csi.linbit.com (add it with -f)`,
	}, msgs)
}

func TestParsePoolCapacityAnnotations(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		"storage.piraeus.io/capacity.thin":    "100Gi",
		"storage.piraeus.io/capacity.file":    "1500M",
		"storage.piraeus.io/capacity.bad":     "lots",
		"storage.piraeus.io/capacity.neg":     "-1Gi",
		"storage.piraeus.io/capacity.":        "1Gi",
		"storage.piraeus.io/capacity.a/b":     "1Gi",
		"storage.piraeus.io/cordon":           "true",
		"unrelated.example.com/capacity.thin": "1",
	}}}
	caps, errs := ParsePoolCapacityAnnotations(node)
	assert.Equal(t, map[string]int64{"thin": 100 << 30, "file": 1500 * 1000 * 1000}, caps)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	assert.Equal(t, []string{
		"metadata.annotations[storage.piraeus.io/capacity.]",
		"metadata.annotations[storage.piraeus.io/capacity.a/b]",
		"metadata.annotations[storage.piraeus.io/capacity.bad]",
		"metadata.annotations[storage.piraeus.io/capacity.neg]",
	}, fields)
}

func FuzzParsePoolCapacityAnnotations(f *testing.F) {
	f.Add("capacity.thin", "100Gi")
	f.Add("capacity.x", "1.5Ti")
	f.Add("capacity.", "0")
	f.Add("capacity.p", "1e3")
	f.Add("capacity.big", "1e100")
	f.Add("capacity.wrap", "9223372036854775808")
	f.Fuzz(func(t *testing.T, suffix, value string) {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"storage.piraeus.io/" + suffix: value}}}
		caps, errs := ParsePoolCapacityAnnotations(node)
		require.False(t, len(caps)+len(errs) > 1, "one annotation gave %d results", len(caps)+len(errs))
		for pool, c := range caps {
			require.False(t, c <= 0 || pool == "", "bad capacity %q=%d", pool, c)
		}
	})
}
