package plan

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// StorageClass parameter namespaces, as linstor-csi reads them. A parameter
// "linstor.csi.linbit.com/placementCount" and a bare "placementCount" mean the
// same; parameter names are case-insensitive there, as upstream has them.
const (
	paramNamespace       = "linstor.csi.linbit.com"
	propertyNamespace    = "property.linstor.csi.linbit.com"
	drbdOptionsNamespace = "DrbdOptions"
	csiParamNamespace    = "csi.storage.k8s.io"
	// qosNamespace holds linstor-csi's IO limits (rbps, wbps, riops, wiops),
	// which it hands to nri-volume-qos when a volume is attached; this
	// driver does not, so only 0 (unlimited) is accepted.
	qosNamespace = "qos.linbit.com"
)

// TopologyPropertyPrefix is what linstor-csi puts before a replicasOnSame or
// replicasOnDifferent key that does not start with "Aux/" (its default
// --property-namespace). piraeus-operator v2 fills the same properties from
// node labels, so "topology.kubernetes.io/zone" in a StorageClass means the
// node property "Aux/topology/topology.kubernetes.io/zone".
const TopologyPropertyPrefix = "Aux/topology/"

// DefaultLayerList is the layer stack when a StorageClass names none.
var defaultLayerList = []string{"drbd", "storage"}

// knownLayers are the layer kinds linstor-csi accepts in layerList;
// supportedLayers are those this datastore builds (the agent makes DRBD and
// storage devices only), so the others are refused by name.
var (
	knownLayers     = []string{"drbd", "storage", "luks", "nvme", "cache", "writecache"}
	supportedLayers = []string{"drbd", "storage"}
)

// Placement policies of linstor-csi that the CSI driver implements, matched
// in any case: AutoPlaceTopology (the default), AutoPlace and FollowTopology
// place through the autoplacer within the CSI topology; Manual places on
// nodeList. linstor-csi's Balanced is not implemented and refused.
const (
	PolicyAutoPlaceTopology = "AutoPlaceTopology"
	PolicyAutoPlace         = "AutoPlace"
	PolicyFollowTopology    = "FollowTopology"
	PolicyManual            = "Manual"
)

var placementPolicies = []string{PolicyAutoPlace, PolicyAutoPlaceTopology, PolicyFollowTopology, PolicyManual}

// maxReplicas is the most replicas a volume can have: DRBD 9 has 32 node ids.
const maxReplicas = 32

// fsTypes are the filesystems linstor-csi has LINSTOR create (its
// FileSystem/Type property knows these two).
var fsTypes = []string{"ext4", "xfs"}

// linstorNameRE is LINSTOR's rule for resource group and storage pool names.
var linstorNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,47}$`)

// csiParams are the csi.storage.k8s.io/ parameters the external sidecars
// read, and the claim's and volume's names the external-provisioner adds
// to CreateVolume's parameters (--extra-create-metadata, which usePvcName
// reads); they are accepted and, except fstype, ignored by the parser.
var csiParams = []string{
	"controller-expand-secret-name", "controller-expand-secret-namespace",
	"controller-publish-secret-name", "controller-publish-secret-namespace",
	"fstype",
	"node-expand-secret-name", "node-expand-secret-namespace",
	"node-publish-secret-name", "node-publish-secret-namespace",
	"node-stage-secret-name", "node-stage-secret-namespace",
	"provisioner-secret-name", "provisioner-secret-namespace",
	"pv/name", "pvc/name", "pvc/namespace",
}

// scParam applies one linstor-csi parameter (without namespace) to the group; it returns what is wrong with the value, or nil.
type scParam func(rg *storagev1alpha1.ResourceGroup, value string, path *field.Path) *field.Error

// scParams maps linstor-csi's parameter names to their parsers; names match
// case-insensitively, as upstream has it.
var scParams = map[string]scParam{
	"allowRemoteVolumeAccess": parseAllowRemoteVolumeAccess,
	"autoPlace":               parsePlacementCount,
	"placementCount":          parsePlacementCount,
	"clientList": func(rg *storagev1alpha1.ResourceGroup, v string, p *field.Path) *field.Error {
		return parseNodeNames(&rg.ClientList, v, p)
	},
	"nodeList": func(rg *storagev1alpha1.ResourceGroup, v string, p *field.Path) *field.Error {
		return parseNodeNames(&rg.NodeList, v, p)
	},
	"disklessOnRemaining": func(rg *storagev1alpha1.ResourceGroup, v string, p *field.Path) *field.Error {
		return parseBool(&rg.DisklessOnRemaining, v, p)
	},
	"encryption": parseEncryption,
	"usePvcName": func(rg *storagev1alpha1.ResourceGroup, v string, p *field.Path) *field.Error {
		return parseBool(&rg.UsePVCName, v, p)
	},
	"disklessStoragePool": parseDisklessStoragePool,
	"doNotPlaceWithRegex": parseDoNotPlaceWithRegex,
	"fsOpts": func(rg *storagev1alpha1.ResourceGroup, v string, _ *field.Path) *field.Error {
		rg.FSOpts = v
		return nil
	},
	"mountOpts": func(rg *storagev1alpha1.ResourceGroup, v string, _ *field.Path) *field.Error {
		rg.MountOpts = v
		return nil
	},
	"postMountXfsOpts": func(rg *storagev1alpha1.ResourceGroup, v string, _ *field.Path) *field.Error {
		rg.PostMountXFSOpts = v
		return nil
	},
	"layerList":       parseLayerList,
	"placementPolicy": parsePlacementPolicy,
	"replicasOnSame": func(rg *storagev1alpha1.ResourceGroup, v string, p *field.Path) *field.Error {
		return parseTopologyKeys(&rg.ReplicasOnSame, v, p, true)
	},
	"replicasOnDifferent": func(rg *storagev1alpha1.ResourceGroup, v string, p *field.Path) *field.Error {
		return parseTopologyKeys(&rg.ReplicasOnDifferent, v, p, false)
	},
	"resourceGroup":         parseResourceGroupName,
	"storagePool":           parseStoragePools,
	"overProvision":         parseOverProvision,
	"xReplicasOnDifferent":  parseXReplicasOnDifferent,
	"nfsConfigTemplate":     refuseNFS,
	"nfsServiceName":        refuseNFS,
	"nfsSquash":             refuseNFS,
	"nfsRecoveryVolumeSize": refuseNFS,
}

// obsoleteParams are linstor-csi parameters it accepts with any value and
// ignores; the parser warns about them.
var obsoleteParams = map[string]string{
	"sizeKiB": "ignored: sizeKiB is obsolete (linstor-csi ignores it too); a volume's size is the claim's",
}

// resourceGroupFromStorageClass turns one StorageClass of linstor-csi into the
// resource group its volumes are placed by. The group is named by the
// resourceGroup parameter, else after the StorageClass. Errors and warnings
// are ParseStorageClassParameters'.
func resourceGroupFromStorageClass(sc *storagev1.StorageClass) (storagev1alpha1.ResourceGroup, field.ErrorList, field.ErrorList) {
	rg, errs, warnings := ParseStorageClassParameters(sc.Parameters)
	if rg.Name == "" {
		rg.Name = sc.Name
	}
	rg.StorageClasses = []string{sc.Name}
	return rg, errs, warnings
}

// ParseStorageClassParameters is the one parser of linstor-csi's
// StorageClass parameters: the plan reads each StorageClass with it, the
// CSI driver each CreateVolume's parameters. It returns the resource group
// they describe, with linstor-csi's defaults; its Name is the resourceGroup
// parameter ("" without one) and its StorageClasses are empty. Errors and
// warnings (parameters that are ignored: of other namespaces, obsolete, or
// overridden by nodeList) are rooted at field.NewPath("parameters").Key(<key>).
func ParseStorageClassParameters(params map[string]string) (storagev1alpha1.ResourceGroup, field.ErrorList, field.ErrorList) {
	rg := storagev1alpha1.ResourceGroup{
		PlaceCount: 1,
		LayerList:  slices.Clone(defaultLayerList),
		FSType:     "ext4",
	}
	var errs, warnings field.ErrorList
	root := field.NewPath("parameters")
	setBy := map[string]string{} // parameter identity → the key that set it
	for _, key := range slices.Sorted(maps.Keys(params)) {
		value, path := params[key], root.Key(key)
		id := parameterIdentity(key)
		if id != "" {
			if first, dup := setBy[id]; dup {
				if params[first] != value {
					errs = append(errs, field.Invalid(path, value, fmt.Sprintf(
						"the same setting as parameter %q, which is %q: linstor-csi would take either one at random; give it once", first, params[first])))
				}
				continue
			}
			setBy[id] = key
		}
		if ns, _, hasNS := strings.Cut(key, "/"); hasNS && ns != "" && !knownNamespace(ns) {
			warnings = append(warnings, warning(path, value, fmt.Sprintf("ignored: linstor-csi ignores parameters of other namespaces than %s (a typo?)", strings.Join(parameterNamespaces, ", "))))
			continue
		}
		if msg := obsoleteParam(id); msg != "" {
			warnings = append(warnings, warning(path, value, msg))
			continue
		}
		if err := applyParameter(&rg, key, value, path); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return rg, errs, warnings
	}
	errs, w := checkPlacementParameters(&rg, params, setBy, root)
	return rg, errs, append(warnings, w...)
}

// warning is a field.Error used as a warning: the parameter is ignored.
func warning(path *field.Path, value, detail string) *field.Error {
	return &field.Error{Type: field.ErrorTypeInvalid, Field: path.String(), BadValue: value, Detail: detail}
}

// obsoleteParam is the warning for an obsolete parameter of that identity, or "".
func obsoleteParam(id string) string {
	for name, msg := range obsoleteParams {
		if id == "param/"+strings.ToLower(name) {
			return msg
		}
	}
	return ""
}

// nodeListOverrides are the autoplace settings (by parameter identity) that
// nodeList replaces: with nodeList, linstor-csi creates the replicas on the
// listed nodes itself and ignores them.
var nodeListOverrides = []string{"param/placementcount", "param/replicasonsame", "param/replicasondifferent",
	"param/xreplicasondifferent", "param/donotplacewithregex", "param/disklessonremaining"}

// checkPlacementParameters applies the rules between parameters: nodeList
// (and clientList with it) is Manual placement, which replaces the
// autoplace settings (each given one is warned about, as ignored); Manual
// needs a nodeList; diskless clients need nodeList and the DRBD layer.
func checkPlacementParameters(rg *storagev1alpha1.ResourceGroup, params, setBy map[string]string, root *field.Path) (field.ErrorList, field.ErrorList) {
	var errs, warnings field.ErrorList
	// invalid reports the parameter that set the setting id.
	invalid := func(id, detail string) {
		k := setBy[id]
		errs = append(errs, field.Invalid(root.Key(k), params[k], detail))
	}
	if len(rg.ClientList) > 0 {
		switch {
		case len(rg.NodeList) == 0:
			invalid("param/clientlist", "expected nodeList with it: with a clientList, linstor-csi creates replicas only on the listed nodes, and diskless clients alone hold no data")
		case !slices.Contains(rg.LayerList, "drbd"):
			invalid("param/clientlist", fmt.Sprintf("diskless clients need the DRBD layer; layerList is %q", strings.Join(rg.LayerList, " ")))
		}
	}
	if len(rg.NodeList) == 0 {
		if rg.PlacementPolicy == PolicyManual {
			invalid("param/placementpolicy", "expected nodeList with it: Manual places the replicas on the nodes nodeList names")
		}
		return errs, nil
	}
	if n := len(rg.NodeList) + len(rg.ClientList); n > maxReplicas {
		invalid("param/nodelist", fmt.Sprintf("%d nodes in nodeList and clientList: a volume has at most %d replicas (DRBD's node ids)", n, maxReplicas))
	}
	const ignored = "ignored: nodeList places the replicas on the nodes it names (placementPolicy Manual), as linstor-csi does"
	for _, id := range nodeListOverrides {
		if k, ok := setBy[id]; ok {
			warnings = append(warnings, warning(root.Key(k), params[k], ignored))
		}
	}
	if k, ok := setBy["param/placementpolicy"]; ok && rg.PlacementPolicy != PolicyManual {
		warnings = append(warnings, warning(root.Key(k), params[k], ignored))
	}
	rg.PlacementPolicy = PolicyManual
	rg.PlaceCount = int32(len(rg.NodeList))
	rg.ReplicasOnSame, rg.ReplicasOnDifferent, rg.XReplicasOnDifferent, rg.DoNotPlaceWithRegex = nil, nil, nil, ""
	rg.DisklessOnRemaining = false
	return errs, warnings
}

// parameterNamespaces are the parameter prefixes linstor-csi reads.
var parameterNamespaces = []string{paramNamespace, propertyNamespace, drbdOptionsNamespace, csiParamNamespace, qosNamespace}

func knownNamespace(ns string) bool { return slices.Contains(parameterNamespaces, ns) }

// parameterIdentity names the setting a parameter key sets, so that two
// spellings of it (prefixed or not, in another case, autoPlace for
// placementCount, a DRBD option as a property) are found; "" for keys of
// other namespaces.
func parameterIdentity(key string) string {
	ns, name, hasNS := strings.Cut(key, "/")
	if !hasNS {
		ns, name = "", key
	}
	switch ns {
	case drbdOptionsNamespace:
		return "property/DrbdOptions/" + name
	case propertyNamespace:
		return "property/" + name // a DrbdOptions/... property is the DRBD option itself, as upstream keeps both
	case csiParamNamespace:
		return "csi/" + name
	case qosNamespace:
		return "qos/" + name
	case paramNamespace, "":
		if sub, rest, ok := strings.Cut(name, "/"); ok && sub == drbdOptionsNamespace && ns == paramNamespace {
			return "property/DrbdOptions/" + rest
		}
		n := strings.ToLower(name)
		if n == "autoplace" {
			n = "placementcount"
		}
		return "param/" + n
	}
	return ""
}

// applyParameter dispatches one parameter of a namespace linstor-csi reads.
func applyParameter(rg *storagev1alpha1.ResourceGroup, key, value string, path *field.Path) *field.Error {
	ns, name, hasNS := strings.Cut(key, "/")
	if !hasNS {
		ns, name = "", key
	}
	switch ns {
	case drbdOptionsNamespace:
		return setOption(&rg.DrbdOptions, name, value, path)
	case propertyNamespace:
		if rest, ok := strings.CutPrefix(name, drbdOptionsNamespace+"/"); ok {
			return setOption(&rg.DrbdOptions, rest, value, path)
		}
		return setOption(&rg.Properties, name, value, path)
	case csiParamNamespace:
		return applyCSIParameter(rg, name, value, path)
	case qosNamespace:
		return applyQoSParameter(rg, name, value, path)
	}
	if sub, rest, ok := strings.Cut(name, "/"); ok && sub == drbdOptionsNamespace && ns == paramNamespace {
		return setOption(&rg.DrbdOptions, rest, value, path)
	}
	parse := lookupParam(name)
	if parse == nil {
		return field.NotSupported(path, name, knownParamNames())
	}
	return parse(rg, value, path)
}

// knownParamNames are the names of linstor-csi's own parameters, sorted.
func knownParamNames() []string {
	names := append(slices.Collect(maps.Keys(scParams)), slices.Collect(maps.Keys(obsoleteParams))...)
	slices.Sort(names)
	return names
}

// lookupParam finds a parameter's parser, ignoring case; nil when unknown.
func lookupParam(name string) scParam {
	for k, parse := range scParams {
		if strings.EqualFold(k, name) {
			return parse
		}
	}
	return nil
}

// setOption stores a property or DRBD option; the name must be non-empty.
func setOption(into *map[string]string, name, value string, path *field.Path) *field.Error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return field.Invalid(path, name, "expected a property name after the namespace, e.g. DrbdOptions/Net/protocol")
	}
	if *into == nil {
		*into = map[string]string{}
	}
	(*into)[name] = value
	return nil
}

// applyCSIParameter accepts the external sidecars' parameters; fstype sets FSType.
func applyCSIParameter(rg *storagev1alpha1.ResourceGroup, name, value string, path *field.Path) *field.Error {
	if !slices.Contains(csiParams, name) {
		return field.NotSupported(path, name, csiParams)
	}
	if name == "fstype" {
		if !slices.Contains(fsTypes, value) {
			return field.Invalid(path, value, "expected ext4 or xfs: linstor-csi has LINSTOR make the filesystem (property FileSystem/Type), which knows only these")
		}
		rg.FSType = value
	}
	return nil
}

func parsePlacementCount(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	if v == "" {
		v = "1"
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 || n > maxReplicas {
		return field.Invalid(path, v, fmt.Sprintf("expected a whole number of diskful replicas from 1 to %d", maxReplicas))
	}
	rg.PlaceCount = int32(n)
	return nil
}

func parseBool(into *bool, v string, path *field.Path) *field.Error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return field.Invalid(path, v, "expected true or false")
	}
	*into = b
	return nil
}

func parseNodeNames(into *[]string, v string, path *field.Path) *field.Error {
	names := strings.Fields(v)
	if len(names) == 0 {
		return field.Invalid(path, v, "expected a space-separated list of node names")
	}
	*into = sortedUnique(names)
	return nil
}

func parseDisklessStoragePool(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	if !linstorNameRE.MatchString(v) {
		return field.Invalid(path, v, "expected a storage pool name (letters, digits, _ and -, starting with a letter or _, at most 48 characters)")
	}
	rg.DisklessStoragePool = v
	return nil
}

func parseDoNotPlaceWithRegex(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	if _, err := regexp.Compile(v); err != nil {
		return field.Invalid(path, v, "expected a regular expression: "+err.Error())
	}
	rg.DoNotPlaceWithRegex = v
	return nil
}

func parseLayerList(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	layers := strings.Fields(strings.ToLower(v))
	if len(layers) == 0 {
		return field.Invalid(path, v, "expected a space-separated layer list, top down, e.g. \"drbd storage\"")
	}
	for i, l := range layers {
		if !slices.Contains(knownLayers, l) {
			return field.Invalid(path, v, fmt.Sprintf("unknown layer %q; expected layers from %s", l, strings.Join(supportedLayers, ", ")))
		}
		if !slices.Contains(supportedLayers, l) {
			return field.Invalid(path, v, fmt.Sprintf("layer %q is not supported: the agent builds only %s layers", l, strings.Join(supportedLayers, " and ")))
		}
		if slices.Contains(layers[:i], l) {
			return field.Invalid(path, v, fmt.Sprintf("layer %q is listed twice", l))
		}
	}
	if msg := layerOrderProblem(layers); msg != "" {
		return field.Invalid(path, v, msg)
	}
	rg.LayerList = layers
	return nil
}

// layerOrderProblem says why a layer stack (top down) cannot work, as
// LINSTOR builds stacks: the storage layer holds the data and must be at the
// bottom.
func layerOrderProblem(layers []string) string {
	switch i := slices.Index(layers, "storage"); {
	case i < 0:
		return "expected the storage layer at the bottom of the list, e.g. \"drbd storage\": every stack ends in the storage that holds the data"
	case i != len(layers)-1:
		return fmt.Sprintf("expected the storage layer at the bottom of the list, found %q below it: nothing can be stacked under the storage that holds the data", layers[i+1])
	}
	return ""
}

// parsePlacementPolicy takes linstor-csi's policy names in any case and
// keeps them in upstream's spelling.
func parsePlacementPolicy(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	if strings.EqualFold(v, "Balanced") {
		return field.Invalid(path, v, "linstor-csi's Balanced placement is not implemented by this driver; expected one of "+strings.Join(placementPolicies, ", "))
	}
	i := slices.IndexFunc(placementPolicies, func(p string) bool { return strings.EqualFold(p, v) })
	if i < 0 {
		return field.NotSupported(path, v, placementPolicies)
	}
	rg.PlacementPolicy = placementPolicies[i]
	return nil
}

// parseTopologyKeys reads replicasOnSame/replicasOnDifferent: space-separated
// keys, each prefixed with TopologyPropertyPrefix unless it starts with
// "Aux/", as linstor-csi does. replicasOnSame may pin a value (key=value).
func parseTopologyKeys(into *[]string, v string, path *field.Path, allowValue bool) *field.Error {
	var keys []string
	for _, k := range strings.Fields(v) {
		name, value, hasValue := strings.Cut(k, "=")
		switch {
		case name == "" || name == "Aux/" || strings.HasSuffix(name, "/"):
			return field.Invalid(path, v, fmt.Sprintf("%q: expected a node label or property key, e.g. topology.kubernetes.io/zone", k))
		case hasValue && !allowValue:
			return field.Invalid(path, v, fmt.Sprintf("%q: expected keys only; key=value is only meaningful for replicasOnSame", k))
		case hasValue && value == "":
			return field.Invalid(path, v, fmt.Sprintf("%q: expected a value after =", k))
		}
		key := NormalizeTopologyKey(name)
		if hasValue {
			key += "=" + value
		}
		keys = append(keys, key)
	}
	*into = sortedUnique(keys)
	return nil
}

// NormalizeTopologyKey is linstor-csi's rule for replicasOnSame/Different keys:
// a key not starting with "Aux/" gets TopologyPropertyPrefix.
func NormalizeTopologyKey(key string) string {
	if strings.HasPrefix(key, "Aux/") {
		return key
	}
	return TopologyPropertyPrefix + key
}

func parseResourceGroupName(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	if !linstorNameRE.MatchString(v) {
		return field.Invalid(path, v, "expected a resource group name (letters, digits, _ and -, starting with a letter or _, at most 48 characters)")
	}
	rg.Name = v
	return nil
}

// parseEncryption takes linstor-csi's encryption flag; true (a LUKS layer)
// is refused: the agent builds no LUKS devices, and a volume of such a class
// would otherwise be stored unencrypted.
func parseEncryption(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	var on bool
	if err := parseBool(&on, v, path); err != nil {
		return err
	}
	if on {
		return field.Invalid(path, v, fmt.Sprintf("encryption (a LUKS layer) is not supported: the agent builds only %s layers", strings.Join(supportedLayers, " and ")))
	}
	return nil
}

func parseStoragePools(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	pools := strings.Fields(v)
	if len(pools) == 0 {
		return field.Invalid(path, v, "expected one or more storage pool names, separated by spaces")
	}
	for _, p := range pools {
		if !linstorNameRE.MatchString(p) {
			return field.Invalid(path, v, fmt.Sprintf("%q: expected a storage pool name (letters, digits, _ and -, starting with a letter or _, at most 48 characters)", p))
		}
	}
	rg.StoragePools = sortedUnique(pools)
	return nil
}

// parseOverProvision takes what linstor-csi takes (a decimal number, in any
// notation strconv.ParseFloat reads) as long as it gives a capacity: free
// capacity is reported as total × factor − reserved, so a negative, infinite
// or NaN factor is refused; 0 reports no free capacity, as upstream does.
func parseOverProvision(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return field.Invalid(path, v, "expected a finite decimal factor of at least 0, e.g. 1.5 (free capacity is reported as total × factor − reserved)")
	}
	rg.OverProvision = v
	return nil
}

// HostnameTopologyKey is the CSI topology key that names a node
// (linstor-csi's); allowRemoteVolumeAccess "false" is a rule of it.
const HostnameTopologyKey = "linbit.com/hostname"

// RemoteAccessRule is one rule of linstor-csi's allowRemoteVolumeAccess: a
// node may reach a replica on a node with the same values of these
// topology keys (a rule without keys: any node).
type RemoteAccessRule struct {
	FromSame []string `json:"fromSame,omitempty"`
}

// ParseRemoteAccess reads allowRemoteVolumeAccess as linstor-csi does:
// "true" is one rule without keys (anywhere), "false" one rule of
// HostnameTopologyKey (local only), anything else a YAML list of rules.
func ParseRemoteAccess(v string) ([]RemoteAccessRule, error) {
	if b, err := strconv.ParseBool(v); err == nil {
		if b {
			return []RemoteAccessRule{{}}, nil
		}
		return []RemoteAccessRule{{FromSame: []string{HostnameTopologyKey}}}, nil
	}
	var rules []RemoteAccessRule
	if err := yaml.UnmarshalStrict([]byte(v), &rules); err != nil || len(rules) == 0 {
		return nil, fmt.Errorf("expected true, false or a YAML list of rules like [{fromSame: [topology.kubernetes.io/zone]}]")
	}
	for i, r := range rules {
		if slices.Contains(r.FromSame, "") {
			return nil, fmt.Errorf("rule %d: fromSame holds an empty key", i)
		}
	}
	return rules, nil
}

// parseAllowRemoteVolumeAccess checks the rules with ParseRemoteAccess and
// keeps them as given; booleans are normalised.
func parseAllowRemoteVolumeAccess(rg *storagev1alpha1.ResourceGroup, v string, path *field.Path) *field.Error {
	if _, err := ParseRemoteAccess(v); err != nil {
		return field.Invalid(path, v, err.Error())
	}
	if b, err := strconv.ParseBool(v); err == nil {
		rg.AllowRemoteVolumeAccess = strconv.FormatBool(b)
		return nil
	}
	rg.AllowRemoteVolumeAccess = strings.TrimSpace(v)
	return nil
}

// resourceGroupsFromStorageClasses derives the resource groups of all given
// StorageClasses (callers pass only those of provisioner CSIProvisioner),
// sorted by name. Classes naming the same group are merged into one whose
// StorageClasses lists them all; their settings must agree, else the later
// class (by name) gets an error. Errors and warnings are keyed by
// StorageClass name.
func resourceGroupsFromStorageClasses(classes []storagev1.StorageClass) ([]storagev1alpha1.ResourceGroup, map[string]field.ErrorList, map[string]field.ErrorList) {
	sorted := make([]*storagev1.StorageClass, len(classes))
	for i := range classes {
		sorted[i] = &classes[i]
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })

	byName := map[string]*storagev1alpha1.ResourceGroup{}
	firstClass := map[string]string{}
	errs := map[string]field.ErrorList{}
	warnings := map[string]field.ErrorList{}
	var names []string
	for _, sc := range sorted {
		rg, scErrs, scWarnings := resourceGroupFromStorageClass(sc)
		if len(scWarnings) > 0 {
			warnings[sc.Name] = scWarnings
		}
		if len(scErrs) > 0 {
			errs[sc.Name] = scErrs
			continue
		}
		prev, ok := byName[rg.Name]
		if !ok {
			byName[rg.Name] = &rg
			firstClass[rg.Name] = sc.Name
			names = append(names, rg.Name)
			continue
		}
		if diff := groupSettingsDiffer(prev, &rg); diff != "" {
			errs[sc.Name] = append(errs[sc.Name], field.Invalid(field.NewPath("parameters"), diff,
				fmt.Sprintf("resource group %q is also used by StorageClass %s with different settings (%s); classes sharing a resource group must agree", rg.Name, firstClass[rg.Name], diff)))
			continue
		}
		prev.StorageClasses = append(prev.StorageClasses, sc.Name)
	}
	sort.Strings(names)
	groups := make([]storagev1alpha1.ResourceGroup, 0, len(names))
	for _, n := range names {
		groups = append(groups, *byName[n])
	}
	if len(errs) == 0 {
		errs = nil
	}
	return groups, errs, warnings
}

// groupSettingsDiffer names the first setting in which two groups differ
// (ignoring their StorageClasses), or returns "".
func groupSettingsDiffer(a, b *storagev1alpha1.ResourceGroup) string {
	x, y := *a, *b
	x.StorageClasses, y.StorageClasses = nil, nil
	for _, f := range groupFields {
		if f.get(&x) != f.get(&y) {
			return fmt.Sprintf("%s: %s vs %s", f.name, f.get(&x), f.get(&y))
		}
	}
	return ""
}

// groupField renders one setting of a group for comparison and messages.
type groupField struct {
	name string
	get  func(*storagev1alpha1.ResourceGroup) string
}

var groupFields = []groupField{
	{"placementCount", func(g *storagev1alpha1.ResourceGroup) string { return strconv.Itoa(int(g.PlaceCount)) }},
	{"storagePool", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.StoragePools) }},
	{"replicasOnSame", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.ReplicasOnSame) }},
	{"replicasOnDifferent", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.ReplicasOnDifferent) }},
	{"disklessOnRemaining", func(g *storagev1alpha1.ResourceGroup) string { return strconv.FormatBool(g.DisklessOnRemaining) }},
	{"disklessStoragePool", func(g *storagev1alpha1.ResourceGroup) string { return g.DisklessStoragePool }},
	{"allowRemoteVolumeAccess", func(g *storagev1alpha1.ResourceGroup) string { return g.AllowRemoteVolumeAccess }},
	{"layerList", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.LayerList) }},
	{"DrbdOptions", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.DrbdOptions) }},
	{"properties", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.Properties) }},
	{"fsType", func(g *storagev1alpha1.ResourceGroup) string { return g.FSType }},
	{"fsOpts", func(g *storagev1alpha1.ResourceGroup) string { return g.FSOpts }},
	{"mountOpts", func(g *storagev1alpha1.ResourceGroup) string { return g.MountOpts }},
	{"nodeList", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.NodeList) }},
	{"clientList", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.ClientList) }},
	{"doNotPlaceWithRegex", func(g *storagev1alpha1.ResourceGroup) string { return g.DoNotPlaceWithRegex }},
	{"placementPolicy", func(g *storagev1alpha1.ResourceGroup) string { return g.PlacementPolicy }},
	{"usePvcName", func(g *storagev1alpha1.ResourceGroup) string { return strconv.FormatBool(g.UsePVCName) }},
	{"postMountXfsOpts", func(g *storagev1alpha1.ResourceGroup) string { return g.PostMountXFSOpts }},
	{"overProvision", func(g *storagev1alpha1.ResourceGroup) string { return g.OverProvision }},
	{"xReplicasOnDifferent", func(g *storagev1alpha1.ResourceGroup) string { return fmt.Sprint(g.XReplicasOnDifferent) }},
}

// sortedUnique returns s sorted, without duplicates.
func sortedUnique(s []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(s)))
}
