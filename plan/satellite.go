package plan

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// mergedSatellite is the merge, in name order, of every
// LinstorSatelliteConfiguration that selects one node: later configurations
// win per property name and per pool name, as upstream merges them.
type mergedSatellite struct {
	node        *corev1.Node
	configs     []string
	properties  []piraeusv1.LinstorNodeProperty
	pools       []piraeusv1.LinstorStoragePool
	poolSource  map[string]string // pool name → configuration
	internalTLS *piraeusv1.TLSConfigWithHandshakeDaemon
	ipFamilies  []piraeusv1.IPFamily
	deletion    piraeusv1.DeletionPolicy
	evacuation  *piraeusv1.EvacuationStrategy
	templates   []located[piraeusv1.LinstorSatelliteConfiguration]
}

// selectSatelliteNodes returns the nodes the LinstorCluster selects.
func selectSatelliteNodes(cluster located[piraeusv1.LinstorCluster], nodes []located[corev1.Node]) ([]*corev1.Node, ErrorList) {
	m := newNodeMatcher(cluster.obj.Spec.NodeSelector, cluster.obj.Spec.NodeAffinity)
	var out []*corev1.Node
	for i := range nodes {
		ok, err := m.matches(&nodes[i].obj)
		if err != nil {
			return nil, ErrorList{clusterError(cluster, "spec.nodeAffinity", err.Error())}
		}
		if ok {
			out = append(out, &nodes[i].obj)
		}
	}
	return out, nil
}

func clusterError(c located[piraeusv1.LinstorCluster], path, msg string) *Error {
	if c.doc == nil {
		return &Error{Object: "LinstorCluster/" + c.obj.Name, Field: path, Message: msg}
	}
	return c.doc.errorAt(path, "LinstorCluster/"+c.obj.Name, msg)
}

// mergeSatellite merges the configurations that select node.
func mergeSatellite(node *corev1.Node, cfgs []located[piraeusv1.LinstorSatelliteConfiguration], matchers []*nodeMatcher) (*mergedSatellite, ErrorList) {
	s := &mergedSatellite{node: node, poolSource: map[string]string{}}
	var errs ErrorList
	for i := range cfgs {
		ok, err := matchers[i].matches(node)
		if err != nil {
			errs = append(errs, cfgs[i].doc.errorAt("spec.nodeAffinity", "LinstorSatelliteConfiguration/"+cfgs[i].obj.Name, err.Error()))
			continue
		}
		if ok {
			errs = append(errs, s.add(cfgs[i])...)
		}
	}
	return s, errs
}

func (s *mergedSatellite) add(cfg located[piraeusv1.LinstorSatelliteConfiguration]) ErrorList {
	spec := &cfg.obj.Spec
	s.configs = append(s.configs, cfg.obj.Name)
	s.properties = mergeByName(s.properties, spec.Properties, func(p piraeusv1.LinstorNodeProperty) string { return p.Name })
	var errs ErrorList
	for i := range spec.StoragePools {
		errs = append(errs, s.addPool(cfg, i)...)
	}
	if spec.InternalTLS != nil {
		s.internalTLS = spec.InternalTLS
	}
	if len(spec.IPFamilies) > 0 {
		s.ipFamilies = spec.IPFamilies
	}
	if spec.DeletionPolicy != "" {
		s.deletion = spec.DeletionPolicy
	}
	if spec.EvacuationStrategy != nil {
		s.evacuation = spec.EvacuationStrategy
	}
	if len(spec.PodTemplate) > 0 || len(spec.Patches) > 0 {
		s.templates = append(s.templates, cfg)
	}
	return errs
}

// addPool adds or replaces a pool by name. Replacing a pool with one of a
// different backend is refused: two configurations disagree about where
// this node's data lives, and guessing would risk it.
func (s *mergedSatellite) addPool(cfg located[piraeusv1.LinstorSatelliteConfiguration], i int) ErrorList {
	pool := cfg.obj.Spec.StoragePools[i]
	for j := range s.pools {
		if s.pools[j].Name != pool.Name {
			continue
		}
		old := &s.pools[j]
		if old.ProviderKind() != pool.ProviderKind() || old.BackingName() != pool.BackingName() || !reflect.DeepEqual(old.Source, pool.Source) {
			p := field.NewPath("spec", "storagePools").Index(i)
			return ErrorList{cfg.doc.errorAt(p.String(), "LinstorSatelliteConfiguration/"+cfg.obj.Name,
				fmt.Sprintf("storage pool %q on node %s is also defined by LinstorSatelliteConfiguration %s as %s %s; expected the same provider and backing storage (%s %s)",
					pool.Name, s.node.Name, s.poolSource[pool.Name], old.ProviderKind(), old.BackingName(), pool.ProviderKind(), pool.BackingName()))}
		}
		*old = pool
		s.poolSource[pool.Name] = cfg.obj.Name
		return nil
	}
	s.pools = append(s.pools, pool)
	s.poolSource[pool.Name] = cfg.obj.Name
	return nil
}

// mergeByName appends items, replacing earlier ones of the same name in place.
func mergeByName[T any](base, add []T, name func(T) string) []T {
	out := append([]T(nil), base...)
	index := make(map[string]int, len(out))
	for i := range out {
		index[name(out[i])] = i
	}
	for _, a := range add {
		if i, ok := index[name(a)]; ok {
			out[i] = a
			continue
		}
		index[name(a)] = len(out)
		out = append(out, a)
	}
	return out
}
