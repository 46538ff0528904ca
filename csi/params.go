package csi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/LINBIT/golinstor/devicelayerkind"
	"github.com/google/uuid"
	"sigs.k8s.io/yaml"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// ParameterNamespace prefixes the driver's StorageClass parameters, as
// linstor-csi spells it; a parameter without a namespace means the same.
const ParameterNamespace = DriverName

// DefaultDisklessStoragePool is LINSTOR's diskless pool.
const DefaultDisklessStoragePool = "DfltDisklessStorPool"

// Parameters are a StorageClass's parameters as CreateVolume uses them:
// the resource group plan.ParseStorageClassParameters reads, in golinstor's
// terms, with the defaults and names that matter only when the driver
// creates a volume.
type Parameters struct {
	PlacementCount          int32
	StoragePools            []string
	DisklessStoragePool     string
	ReplicasOnSame          []string
	ReplicasOnDifferent     []string
	XReplicasOnDifferent    map[string]int
	DisklessOnRemaining     bool
	DoNotPlaceWithRegex     string
	LayerList               []devicelayerkind.DeviceLayerKind
	AllowRemoteVolumeAccess RemoteAccessPolicy
	FSOpts                  string
	MountOpts               string
	PostMountXfsOpts        string
	NodeList                []string
	ClientList              []string
	PlacementPolicy         string
	ResourceGroup           string
	UsePvcName              bool
	OverProvision           *float64
	// Properties go onto the resource group (DrbdOptions/*, property.linstor.csi.linbit.com/*).
	Properties map[string]string
}

// ParseParameters reads CreateVolume's (and GetCapacity's) parameters with
// plan.ParseStorageClassParameters, the one parser of linstor-csi's
// StorageClass parameters; its errors name the parameter and what was
// expected. What it warns about (parameters of other namespaces, obsolete
// or overridden ones) is ignored here, as linstor-csi ignores it.
func ParseParameters(params map[string]string) (Parameters, error) {
	rg, errs, _ := plan.ParseStorageClassParameters(params)
	if len(errs) > 0 {
		return Parameters{}, errs.ToAggregate()
	}
	return fromResourceGroup(&rg)
}

// fromResourceGroup converts a parsed group into the driver's parameters:
// golinstor's layer kinds, linstor-csi's defaults (AutoPlaceTopology, the
// diskless pool, remote access anywhere with DRBD and local only without),
// and Manual placement as linstor-csi passes it to LINSTOR (a group that
// places nothing itself).
func fromResourceGroup(rg *storagev1alpha1.ResourceGroup) (Parameters, error) {
	p := Parameters{
		PlacementCount:      rg.PlaceCount,
		StoragePools:        rg.StoragePools,
		DisklessStoragePool: cmp.Or(rg.DisklessStoragePool, DefaultDisklessStoragePool),
		ReplicasOnSame:      rg.ReplicasOnSame,
		ReplicasOnDifferent: rg.ReplicasOnDifferent,
		DisklessOnRemaining: rg.DisklessOnRemaining,
		DoNotPlaceWithRegex: rg.DoNotPlaceWithRegex,
		FSOpts:              rg.FSOpts,
		MountOpts:           rg.MountOpts,
		PostMountXfsOpts:    rg.PostMountXFSOpts,
		NodeList:            rg.NodeList,
		ClientList:          rg.ClientList,
		PlacementPolicy:     cmp.Or(rg.PlacementPolicy, plan.PolicyAutoPlaceTopology),
		ResourceGroup:       rg.Name,
		UsePvcName:          rg.UsePVCName,
		Properties:          maps.Clone(rg.Properties),
	}
	if p.Properties == nil {
		p.Properties = map[string]string{}
	}
	for k, v := range rg.DrbdOptions {
		p.Properties["DrbdOptions/"+k] = v
	}
	for _, l := range rg.LayerList {
		p.LayerList = append(p.LayerList, devicelayerkind.DeviceLayerKind(strings.ToUpper(l)))
	}
	if len(rg.XReplicasOnDifferent) > 0 {
		p.XReplicasOnDifferent = map[string]int{}
		for k, x := range rg.XReplicasOnDifferent {
			p.XReplicasOnDifferent[k] = int(x)
		}
	}
	if rg.OverProvision != "" {
		f, err := strconv.ParseFloat(rg.OverProvision, 64)
		if err != nil {
			return p, fmt.Errorf("parameter overProvision: %w", err)
		}
		p.OverProvision = &f
	}
	switch {
	case rg.AllowRemoteVolumeAccess != "":
		if err := p.AllowRemoteVolumeAccess.UnmarshalText([]byte(rg.AllowRemoteVolumeAccess)); err != nil {
			return p, fmt.Errorf("parameter allowRemoteVolumeAccess: %w", err)
		}
	case p.hasDiskless():
		p.AllowRemoteVolumeAccess = RemoteAccessAnywhere
	default:
		p.AllowRemoteVolumeAccess = RemoteAccessLocalOnly
	}
	if p.PlacementPolicy == plan.PolicyManual {
		// linstor-csi's group of a Manual class places nothing: the
		// driver creates the listed replicas itself.
		p.PlacementCount = 0
	}
	if p.ResourceGroup == "" {
		p.ResourceGroup = p.generatedResourceGroup()
	}
	return p, nil
}

// generatedResourceGroup names the resource group of a class without
// resourceGroup: "sc-" and a UUIDv5 of what the group holds, so equal
// classes share a group.
func (p *Parameters) generatedResourceGroup() string {
	data, _ := json.Marshal(struct {
		PlaceCount           int32
		StoragePools         []string
		ReplicasOnSame       []string
		ReplicasOnDifferent  []string
		XReplicasOnDifferent map[string]int
		LayerList            []devicelayerkind.DeviceLayerKind
		NotPlaceWithRegex    string
		DisklessOnRemaining  bool
		Props                map[string]string
	}{p.PlacementCount, p.StoragePools, p.ReplicasOnSame, p.ReplicasOnDifferent, p.XReplicasOnDifferent,
		p.LayerList, p.DoNotPlaceWithRegex, p.DisklessOnRemaining, p.Properties})
	ns := uuid.NewSHA1(uuid.NameSpaceDNS, []byte("resourcegroup."+DriverName))
	return "sc-" + uuid.NewSHA1(ns, data).String()
}

// hasDiskless says whether the layers can have a diskless replica (DRBD).
func (p *Parameters) hasDiskless() bool {
	return slices.Contains(p.LayerList, devicelayerkind.Drbd)
}

// RemoteAccessPolicy says from where a volume may be reached over the
// network: a list of rules, each a set of topology keys the accessing node
// must share with a node holding a replica. {{}} is anywhere;
// {{fromSame: [linbit.com/hostname]}} is local only.
type RemoteAccessPolicy []plan.RemoteAccessRule

// The two policies "true" and "false" mean.
var (
	RemoteAccessAnywhere  = RemoteAccessPolicy{{}}
	RemoteAccessLocalOnly = RemoteAccessPolicy{{FromSame: []string{TopologyKeyHostname}}}
)

// UnmarshalText reads "true", "false" or a YAML list of rules, with
// plan.ParseRemoteAccess.
func (r *RemoteAccessPolicy) UnmarshalText(text []byte) error {
	rules, err := plan.ParseRemoteAccess(string(text))
	if err != nil {
		return err
	}
	*r = rules
	return nil
}

// String is the form UnmarshalText reads.
func (r RemoteAccessPolicy) String() string {
	switch {
	case slices.EqualFunc(r, RemoteAccessAnywhere, ruleEqual):
		return "true"
	case slices.EqualFunc(r, RemoteAccessLocalOnly, ruleEqual):
		return "false"
	}
	data, _ := yaml.Marshal([]plan.RemoteAccessRule(r))
	return string(data)
}

func ruleEqual(a, b plan.RemoteAccessRule) bool { return slices.Equal(a.FromSame, b.FromSame) }

// Allows says whether a node with segments may reach a replica on a node
// with replicaSegments.
func (r RemoteAccessPolicy) Allows(segments, replicaSegments map[string]string) bool {
	for _, rule := range r {
		ok := true
		for _, k := range rule.FromSame {
			v, has := segments[k]
			if !has || replicaSegments[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// AccessibleSegments are the topology segments from which a replica on a
// node with segments can be reached: one per rule, with the rule's keys.
func (r RemoteAccessPolicy) AccessibleSegments(segments map[string]string) []map[string]string {
	var out []map[string]string
	for _, rule := range r {
		m := map[string]string{}
		for _, k := range rule.FromSame {
			if v, ok := segments[k]; ok {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	// A segment that is a subset of another makes the other redundant.
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) < len(out[j]) })
	var pruned []map[string]string
	for _, m := range out {
		if !slices.ContainsFunc(pruned, func(q map[string]string) bool { return subsetOf(q, m) }) {
			pruned = append(pruned, m)
		}
	}
	return pruned
}

func subsetOf(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
