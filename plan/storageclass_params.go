package plan

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// The linstor-csi parameters below are the ones upstream documents beyond
// placement basics: xReplicasOnDifferent, the NFS export of ReadWriteMany
// volumes and the qos.linbit.com IO limits (the last two refused: the
// driver has neither feature).

// parseXReplicasOnDifferent reads a YAML map of key → X, as linstor-csi
// does; keys get TopologyPropertyPrefix unless they start with "Aux/".
func parseXReplicasOnDifferent(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	var m map[string]int32
	if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil || len(m) == 0 {
		return field.Invalid(path, v, "expected a YAML map of node label or property keys to replica counts, e.g. \"topology.kubernetes.io/zone: 2\"")
	}
	out := make(map[string]int32, len(m))
	for k, x := range m {
		if k == "" || k == "Aux/" || strings.HasSuffix(k, "/") {
			return field.Invalid(path, v, fmt.Sprintf("%q: expected a node label or property key, e.g. topology.kubernetes.io/zone", k))
		}
		if x < 1 || x > maxReplicas {
			return field.Invalid(path, v, fmt.Sprintf("%s: %d: expected a number of replicas from 1 to %d", k, x, maxReplicas))
		}
		out[NormalizeTopologyKey(k)] = x
	}
	rg.XReplicasOnDifferent = out
	return nil
}

// refuseNFS refuses linstor-csi's NFS export parameters: this driver does
// not export ReadWriteMany volumes over NFS, and a class with them would
// otherwise make volumes that no pod on another node can share.
func refuseNFS(_ *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	return field.Invalid(path, v, "NFS exports of ReadWriteMany volumes are not supported by this driver")
}

// qosLimits are linstor-csi's IO limit parameters, qos.linbit.com/<name>.
var qosLimits = []string{"rbps", "riops", "wbps", "wiops"}

// applyQoSParameter checks one IO limit: a non-negative integer or
// quantity, 0 being unlimited as linstor-csi reads them. Only 0 is
// accepted: linstor-csi hands limits to nri-volume-qos in
// ControllerPublishVolume's publish context, which this driver does not, so
// a limit would silently not hold.
func applyQoSParameter(_ *storagev1alpha1.ResourceGroup, name, value string, path *field.Path) *field.Error {
	if !slices.Contains(qosLimits, name) {
		return field.NotSupported(path, name, qosLimits)
	}
	q, err := resource.ParseQuantity(strings.TrimSpace(value))
	if err != nil || q.Sign() < 0 {
		return field.Invalid(path, value, "expected a limit of 0 (unlimited) or more, as an integer or a quantity such as 40Mi (bytes per second) or 4000 (operations per second)")
	}
	if !q.IsZero() {
		return field.Invalid(path, value, "IO limits are not supported by this driver (it does not hand them to nri-volume-qos when a volume is attached); expected 0 (unlimited) or no parameter")
	}
	return nil
}
