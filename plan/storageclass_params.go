package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// The linstor-csi parameters below are the ones upstream documents beyond
// placement basics: xReplicasOnDifferent, the NFS export of ReadWriteMany
// volumes and the qos.linbit.com IO limits.

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
		if x < 1 || x > 32 {
			return field.Invalid(path, v, fmt.Sprintf("%s: %d: expected a number of replicas from 1 to 32", k, x))
		}
		out[NormalizeTopologyKey(k)] = x
	}
	rg.XReplicasOnDifferent = out
	return nil
}

// nfsSquashValues are NFS-Ganesha's squash settings, which linstor-csi passes on.
var nfsSquashValues = []string{"no_root_squash", "root_squash", "all_squash", "root_id_squash"}

func nfs(rg *storagev1alpha1.ResourceGroup) *storagev1alpha1.NFSExport {
	if rg.NFS == nil {
		rg.NFS = &storagev1alpha1.NFSExport{}
	}
	return rg.NFS
}

func parseNFSConfigTemplate(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	if !strings.HasPrefix(v, "/") || strings.ContainsRune(v, 0) {
		return field.Invalid(path, v, "expected the absolute path of an NFS-Ganesha configuration template in the CSI node image")
	}
	nfs(rg).ConfigTemplate = v
	return nil
}

func parseNFSServiceName(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	if msgs := validation.IsDNS1035Label(v); len(msgs) > 0 {
		return field.Invalid(path, v, "expected the name of a Kubernetes Service: "+strings.Join(msgs, "; "))
	}
	nfs(rg).ServiceName = v
	return nil
}

// parseNFSSquash takes NFS-Ganesha's squash settings in any case.
func parseNFSSquash(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	i := slices.IndexFunc(nfsSquashValues, func(s string) bool { return strings.EqualFold(s, v) })
	if i < 0 {
		return field.NotSupported(path, v, nfsSquashValues)
	}
	nfs(rg).Squash = nfsSquashValues[i]
	return nil
}

func parseNFSRecoveryVolumeSize(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return field.Invalid(path, v, "expected the size of the NFS recovery volume, e.g. 300Mi")
	}
	n, ferr := positiveBytes(q, v, MaxVolumeBytes, path, "the size of the NFS recovery volume")
	if ferr != nil {
		return ferr
	}
	nfs(rg).RecoveryVolumeBytes = n
	return nil
}

// qosLimits are linstor-csi's IO limit parameters, qos.linbit.com/<name>.
var qosLimits = []string{"rbps", "riops", "wbps", "wiops"}

// applyQoSParameter checks one IO limit (a non-negative integer or
// quantity; 0 or absent is unlimited, as linstor-csi reads them) and keeps
// it as the Aux/qos.linbit.com/<name> property that linstor-csi stores on
// the volume and publishes when the volume is attached.
func applyQoSParameter(rg *storagev1alpha1.ResourceGroup, name, value string, path *field.Path) *field.Error {
	if !slices.Contains(qosLimits, name) {
		return field.NotSupported(path, name, qosLimits)
	}
	q, err := resource.ParseQuantity(strings.TrimSpace(value))
	if err != nil || q.Sign() < 0 {
		return field.Invalid(path, value, "expected a limit of 0 (unlimited) or more, as an integer or a quantity such as 40Mi (bytes per second) or 4000 (operations per second)")
	}
	if q.CmpInt64(maxQoSLimit) > 0 {
		return field.Invalid(path, value, fmt.Sprintf("expected a limit of at most %d", int64(maxQoSLimit)))
	}
	return setOption(&rg.Properties, "Aux/"+qosNamespace+"/"+name, strconv.FormatInt(q.Value(), 10), path)
}

// maxQoSLimit is the largest limit cgroup v2 io.max holds in a signed value.
const maxQoSLimit = 1<<63 - 1
