package csi

import (
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
)

// StorageClass parameter namespaces, spelled as linstor-csi spells them.
const (
	// ParameterNamespace prefixes the driver's own parameters; a parameter
	// without a namespace means the same.
	ParameterNamespace = DriverName
	// PropertyNamespace prefixes LINSTOR properties set on the resource group.
	PropertyNamespace = "property." + DriverName
	// drbdOptionsNamespace parameters are DRBD options, set on the resource group.
	drbdOptionsNamespace = "DrbdOptions"
	// auxPrefix is the LINSTOR namespace of node labels (topology).
	auxPrefix = "Aux/"
	// DefaultDisklessStoragePool is LINSTOR's diskless pool.
	DefaultDisklessStoragePool = "DfltDisklessStorPool"
)

// Placement policies linstor-csi knows. AutoPlaceTopology (the default),
// AutoPlace and FollowTopology place through the controller's autoplacer,
// honouring the CSI topology; Manual uses nodeList/clientList. Balanced is
// not implemented and refused.
const (
	PolicyAutoPlaceTopology = "AutoPlaceTopology"
	PolicyAutoPlace         = "AutoPlace"
	PolicyFollowTopology    = "FollowTopology"
	PolicyManual            = "Manual"
)

// Parameters are a StorageClass's parameters, parsed.
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

// paramParser parses one parameter's value into p.
type paramParser func(p *Parameters, v string) error

// parameterKeys are the driver's parameters, lower-cased (linstor-csi
// matches them case-insensitively).
var parameterKeys = map[string]paramParser{
	"allowremotevolumeaccess": func(p *Parameters, v string) error {
		return p.AllowRemoteVolumeAccess.UnmarshalText([]byte(v))
	},
	"autoplace":      parsePlacementCount,
	"placementcount": parsePlacementCount,
	"clientlist":     func(p *Parameters, v string) error { p.ClientList = fields(v); return nil },
	"nodelist":       func(p *Parameters, v string) error { p.NodeList = fields(v); return nil },
	"disklessonremaining": func(p *Parameters, v string) error {
		return parseBool(v, &p.DisklessOnRemaining)
	},
	"disklessstoragepool": func(p *Parameters, v string) error { p.DisklessStoragePool = v; return nil },
	"donotplacewithregex": func(p *Parameters, v string) error { p.DoNotPlaceWithRegex = v; return nil },
	"encryption": func(_ *Parameters, v string) error {
		var b bool
		if err := parseBool(v, &b); err != nil {
			return err
		}
		if b {
			return fmt.Errorf("encryption (LUKS) is not supported by this driver")
		}
		return nil
	},
	"fsopts":           func(p *Parameters, v string) error { p.FSOpts = v; return nil },
	"mountopts":        func(p *Parameters, v string) error { p.MountOpts = v; return nil },
	"postmountxfsopts": func(p *Parameters, v string) error { p.PostMountXfsOpts = v; return nil },
	"layerlist": func(p *Parameters, v string) error {
		l, err := parseLayerList(v)
		p.LayerList = l
		return err
	},
	"replicasonsame":      func(p *Parameters, v string) error { p.ReplicasOnSame = auxKeys(fields(v)); return nil },
	"replicasondifferent": func(p *Parameters, v string) error { p.ReplicasOnDifferent = auxKeys(fields(v)); return nil },
	"xreplicasondifferent": func(p *Parameters, v string) error {
		m := map[string]int{}
		if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil {
			return fmt.Errorf("want a map of topology key to count, as YAML: %w", err)
		}
		p.XReplicasOnDifferent = map[string]int{}
		for k, n := range m {
			if n < 1 {
				return fmt.Errorf("count of %q must be at least 1, got %d", k, n)
			}
			p.XReplicasOnDifferent[auxKey(k)] = n
		}
		return nil
	},
	"storagepool": func(p *Parameters, v string) error { p.StoragePools = fields(v); return nil },
	"placementpolicy": func(p *Parameters, v string) error {
		for _, known := range []string{PolicyAutoPlaceTopology, PolicyAutoPlace, PolicyFollowTopology, PolicyManual} {
			if strings.EqualFold(v, known) {
				p.PlacementPolicy = known
				return nil
			}
		}
		return fmt.Errorf("unknown or unsupported placement policy %q (supported: %s, %s, %s, %s)", v,
			PolicyAutoPlaceTopology, PolicyAutoPlace, PolicyFollowTopology, PolicyManual)
	},
	"resourcegroup": func(p *Parameters, v string) error { p.ResourceGroup = v; return nil },
	"usepvcname":    func(p *Parameters, v string) error { return parseBool(v, &p.UsePvcName) },
	"overprovision": func(p *Parameters, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1000 {
			return fmt.Errorf("want a positive number, got %q", v)
		}
		p.OverProvision = &f
		return nil
	},
	// sizeKiB was never used by linstor-csi either; accepted so old classes keep working.
	"sizekib": func(*Parameters, string) error { return nil },
}

// unsupportedKeys are linstor-csi parameters of features this driver does
// not have (NFS exports of ReadWriteMany volumes); they are refused by name.
var unsupportedKeys = []string{"nfsconfigtemplate", "nfsservicename", "nfssquash", "nfsrecoveryvolumesize"}

// ParseParameters parses CreateVolume's parameters with linstor-csi's
// spellings and defaults. Keys in other namespaces (csi.storage.k8s.io/...,
// the provisioner's extra metadata) are ignored, as upstream ignores them; an
// unknown key of the driver's namespace is an error naming it.
func ParseParameters(params map[string]string) (Parameters, error) {
	p := Parameters{
		PlacementCount:      1,
		DisklessStoragePool: DefaultDisklessStoragePool,
		LayerList:           []devicelayerkind.DeviceLayerKind{devicelayerkind.Drbd, devicelayerkind.Storage},
		PlacementPolicy:     PolicyAutoPlaceTopology,
		Properties:          map[string]string{},
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		ns, key, found := strings.Cut(k, "/")
		if !found {
			ns, key = "", k
		}
		switch ns {
		case drbdOptionsNamespace:
			p.Properties[k] = v
			continue
		case PropertyNamespace:
			if key == "" {
				return p, fmt.Errorf("parameter %q: empty property name", k)
			}
			p.Properties[key] = v
			continue
		case ParameterNamespace, "":
		default:
			continue
		}
		lk := strings.ToLower(key)
		if slices.Contains(unsupportedKeys, lk) {
			return p, fmt.Errorf("parameter %q: NFS exports are not supported by this driver", k)
		}
		parse, ok := parameterKeys[lk]
		if !ok {
			return p, fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(slices.Sorted(maps.Keys(parameterKeys)), ", "))
		}
		if err := parse(&p, v); err != nil {
			return p, fmt.Errorf("parameter %q: %w", k, err)
		}
	}
	if p.AllowRemoteVolumeAccess == nil {
		p.AllowRemoteVolumeAccess = RemoteAccessAnywhere
		if !slices.Contains(p.LayerList, devicelayerkind.Drbd) {
			p.AllowRemoteVolumeAccess = RemoteAccessLocalOnly
		}
	}
	if len(p.NodeList)+len(p.ClientList) > 0 {
		// Explicit placement replaces every autoplace rule, as upstream.
		p.PlacementCount = 0
		p.ReplicasOnSame, p.ReplicasOnDifferent, p.DoNotPlaceWithRegex = nil, nil, ""
		p.PlacementPolicy = PolicyManual
	} else if p.PlacementPolicy == PolicyManual {
		return p, fmt.Errorf("parameter placementPolicy: Manual needs nodeList or clientList")
	}
	if len(p.ClientList) > 0 && !p.hasDiskless() {
		return p, fmt.Errorf("parameter clientList: diskless clients need the DRBD layer, layerList is %v", p.LayerList)
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

func parsePlacementCount(p *Parameters, v string) error {
	if v == "" {
		v = "1"
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 || n > 16 {
		return fmt.Errorf("want a replica count from 1 to 16, got %q", v)
	}
	p.PlacementCount = int32(n)
	return nil
}

func parseBool(v string, out *bool) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", v)
	}
	*out = b
	return nil
}

// parseLayerList parses space-separated layers (case-insensitive).
func parseLayerList(v string) ([]devicelayerkind.DeviceLayerKind, error) {
	supported := []devicelayerkind.DeviceLayerKind{devicelayerkind.Drbd, devicelayerkind.Storage}
	var out []devicelayerkind.DeviceLayerKind
	for _, f := range fields(v) {
		i := slices.IndexFunc(supported, func(k devicelayerkind.DeviceLayerKind) bool { return strings.EqualFold(f, string(k)) })
		if i < 0 {
			return nil, fmt.Errorf("unknown or unsupported layer %q (supported: drbd, storage)", f)
		}
		if slices.Contains(out, supported[i]) {
			return nil, fmt.Errorf("layer %q twice", f)
		}
		out = append(out, supported[i])
	}
	if len(out) == 0 || out[len(out)-1] != devicelayerkind.Storage {
		return nil, fmt.Errorf("the last layer must be storage, got %q", v)
	}
	return out, nil
}

// fields splits a space-separated list, dropping empty entries.
func fields(v string) []string { return strings.Fields(v) }

// auxKey is a topology key as LINSTOR names a node property: Aux/<key>.
func auxKey(k string) string {
	if strings.HasPrefix(k, auxPrefix) {
		return k
	}
	return auxPrefix + k
}

func auxKeys(ks []string) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = auxKey(k)
	}
	return out
}

// RemoteAccessPolicy says from where a volume may be reached over the
// network: a list of rules, each a set of topology keys the accessing node
// must share with a node holding a replica. {{}} is anywhere;
// {{fromSame: [linbit.com/hostname]}} is local only.
type RemoteAccessPolicy []RemoteAccessRule

// RemoteAccessRule is one rule of a RemoteAccessPolicy.
type RemoteAccessRule struct {
	FromSame []string `json:"fromSame,omitempty"`
}

// The two policies "true" and "false" mean.
var (
	RemoteAccessAnywhere  = RemoteAccessPolicy{{}}
	RemoteAccessLocalOnly = RemoteAccessPolicy{{FromSame: []string{TopologyKeyHostname}}}
)

// UnmarshalText reads "true", "false" or a YAML list of rules.
func (r *RemoteAccessPolicy) UnmarshalText(text []byte) error {
	if b, err := strconv.ParseBool(string(text)); err == nil {
		if b {
			*r = RemoteAccessAnywhere
		} else {
			*r = RemoteAccessLocalOnly
		}
		return nil
	}
	var rules []RemoteAccessRule
	if err := yaml.UnmarshalStrict(text, &rules); err != nil {
		return fmt.Errorf("want true, false or a list of {fromSame: [keys]}: %w", err)
	}
	if rules == nil {
		rules = []RemoteAccessRule{}
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
	data, _ := yaml.Marshal([]RemoteAccessRule(r))
	return string(data)
}

func ruleEqual(a, b RemoteAccessRule) bool { return slices.Equal(a.FromSame, b.FromSame) }

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
