package plan

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// Things that match nothing do not stop the plan, but a plan built from
// them is rarely what was meant, so each gets a warning (Model.Warnings):
// CI logs show it, and --strict makes it an error.

// objectCount is how many objects the inputs hold.
func (in *inputs) objectCount() int {
	return len(in.clusters) + len(in.satelliteCfgs) + len(in.nodeConns) + len(in.topologies) + len(in.nodes) +
		len(in.storageClasses) + len(in.snapshotClasses) + len(in.claims) + len(in.volumes) + len(in.pods) + len(in.passthrough)
}

// emptyInputWarning warns when the sources hold no object at all.
func emptyInputWarning(sources []Source, in *inputs) ErrorList {
	if in.objectCount() > 0 {
		return nil
	}
	where := "input"
	if len(sources) > 0 {
		where = sources[0].Name
		if len(sources) > 1 {
			where += fmt.Sprintf(" (and %d more)", len(sources)-1)
		}
	}
	return ErrorList{{Pos: Position{Source: where}, Message: "the input holds no Kubernetes objects: the plan has no nodes, storage or volumes"}}
}

// unmatchedWarnings warns about selectors that select nothing and classes
// no provisioner serves, once the model is built.
func unmatchedWarnings(in *inputs, m *Model, satNodes []*corev1.Node) ErrorList {
	var out ErrorList
	cluster := theCluster(in)
	switch {
	case in.objectCount() == 0:
		// emptyInputWarning said it all.
	case len(in.nodes) == 0:
		out = append(out, &Error{Pos: Position{Source: firstSource(in)}, Message: "no Node in the input: the plan has no satellites, and no volume can be placed; add the nodes (kubectl get nodes -o yaml) with -f"})
	case len(satNodes) == 0:
		out = append(out, clusterWarning(cluster, fmt.Sprintf("the LinstorCluster selects none of the %d nodes: the plan has no satellites", len(in.nodes))))
	default:
		out = append(out, unmatchedConfigurations(in, m)...)
		if len(satNodes) > 1 {
			out = append(out, unmatchedConnections(in, m)...)
		}
	}
	for _, sc := range in.storageClasses {
		if sc.obj.Provisioner == "" {
			out = append(out, sc.doc.errorAt("provisioner", "StorageClass/"+sc.obj.Name,
				"no provisioner: no driver serves this class, and the plan ignores it; expected provisioner "+CSIProvisioner))
		}
	}
	return out
}

func unmatchedConfigurations(in *inputs, m *Model) ErrorList {
	var out ErrorList
	for _, c := range in.satelliteCfgs {
		if slices.ContainsFunc(m.Satellites, func(s Satellite) bool { return slices.Contains(s.Configurations, c.obj.Name) }) {
			continue
		}
		field := selectorField(c.obj.Spec.NodeSelector, c.obj.Spec.NodeAffinity)
		out = append(out, c.doc.errorAt(field, "LinstorSatelliteConfiguration/"+c.obj.Name,
			fmt.Sprintf("selects none of the %d satellite nodes: it configures nothing", len(m.Satellites))))
	}
	return out
}

func unmatchedConnections(in *inputs, m *Model) ErrorList {
	var out ErrorList
	for _, c := range in.nodeConns {
		used := slices.ContainsFunc(m.Topology.Spec.NodeConnections, func(nc storagev1alpha1.NodeConnection) bool {
			return slices.Contains(nc.Sources, c.obj.Name)
		})
		if used {
			continue
		}
		field := "metadata.name"
		if len(c.obj.Spec.Selector) > 0 {
			field = "spec.selector"
		}
		out = append(out, c.doc.errorAt(field, "LinstorNodeConnection/"+c.obj.Name,
			fmt.Sprintf("selects no pair of the %d satellite nodes: it connects nothing", len(m.Satellites))))
	}
	return out
}

func clusterWarning(c located[piraeusv1.LinstorCluster], msg string) *Error {
	return clusterError(c, selectorField(c.obj.Spec.NodeSelector, c.obj.Spec.NodeAffinity), msg)
}

// selectorField is the field a warning about what an object selects points
// at: its node selector, else its node affinity, else its name.
func selectorField(selector map[string]string, affinity *corev1.NodeSelector) string {
	switch {
	case len(selector) > 0:
		return "spec.nodeSelector"
	case affinity != nil:
		return "spec.nodeAffinity"
	}
	return "metadata.name"
}

// firstSource names the first input file (in sorted order) that holds an object.
func firstSource(in *inputs) string {
	var names []string
	names = appendSources(names, in.clusters)
	names = appendSources(names, in.satelliteCfgs)
	names = appendSources(names, in.nodeConns)
	names = appendSources(names, in.topologies)
	names = appendSources(names, in.storageClasses)
	names = appendSources(names, in.snapshotClasses)
	names = appendSources(names, in.claims)
	names = appendSources(names, in.volumes)
	names = appendSources(names, in.pods)
	for _, d := range in.passthrough {
		names = append(names, d.at.Source)
	}
	if len(names) == 0 {
		return "input"
	}
	return slices.Min(names)
}

func appendSources[T any](names []string, list []located[T]) []string {
	for _, l := range list {
		if l.doc != nil {
			names = append(names, l.doc.at.Source)
		}
	}
	return names
}
