package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// poolRoot is the host directory that holds file pools by default; every
// satellite mounts it.
const poolRoot = "/var/lib/linstor-pools"

// Input is what every template receives as its one argument: the parts of
// the model the templates need, with Go-side decisions (images, defaults,
// safe names, hashes) already made.
type Input struct {
	Namespace string `json:"namespace"`
	// Instance is the LinstorCluster name (app.kubernetes.io/instance).
	Instance string `json:"instance"`
	// Version is the piraeusctl version (app.kubernetes.io/version).
	Version string `json:"version"`
	// Images by name (see images.yaml).
	Images map[string]string `json:"images"`
	// Cluster is the LinstorCluster spec as given.
	Cluster piraeusv1.LinstorClusterSpec `json:"cluster"`
	// Components that are switched on.
	Components Components `json:"components"`
	// CSIControllerReplicas of the linstor-csi-controller Deployment.
	CSIControllerReplicas int32 `json:"csiControllerReplicas"`
	// ControllerEndpoint is the URL CSI uses to reach the controller API.
	ControllerEndpoint string `json:"controllerEndpoint"`
	// TLS settings with defaults applied.
	TLS TLSInput `json:"tls"`
	// Satellites, one per node, sorted by node name.
	Satellites []SatelliteInput `json:"satellites"`
	// Evacuating are the LinstorSatellites of nodes being evacuated whose
	// Node is gone (no satellite runs there any more), sorted by node name.
	Evacuating []EvacuatingInput `json:"evacuating"`
}

// EvacuatingInput is the LinstorSatellite of a node evacuated after its
// Node was deleted: it stays until the evacuation is complete, so its
// EvacuationCompleted condition can be read.
type EvacuatingInput struct {
	Node string                         `json:"node"`
	Spec piraeusv1.LinstorSatelliteSpec `json:"spec"`
}

// Components says which workloads are rendered.
type Components struct {
	Operator      bool `json:"operator"`
	Controller    bool `json:"controller"`
	CSIController bool `json:"csiController"`
	CSINode       bool `json:"csiNode"`
	HAController  bool `json:"haController"`
}

// TLSInput holds the cluster-level TLS Secrets: API nil when not
// configured; Internal always set (mutual TLS to the agents is mandatory).
type TLSInput struct {
	API      *piraeusv1.LinstorClusterApiTLS `json:"api"`
	Internal *piraeusv1.TLSConfig            `json:"internal"`
	// InternalGencert: gencert keeps the controller's internal Secret (the
	// user named no Secret of their own and no cert-manager issuer).
	InternalGencert bool `json:"internalGencert"`
}

// SatelliteInput is one node's satellite.
type SatelliteInput struct {
	Node string `json:"node"`
	// Name of the node's DaemonSet (a DNS-1123 label).
	Name string `json:"name"`
	// TopologyHash is the sha256 of the node's StorageTopology entry.
	TopologyHash      string        `json:"topologyHash"`
	Port              int32         `json:"port"`
	ModuleLoaderImage string        `json:"moduleLoaderImage"`
	PoolDirs          []PoolDir     `json:"poolDirs"`
	TLS               *SatelliteTLS `json:"tls"`
	// Spec is the node's LinstorSatellite spec.
	Spec piraeusv1.LinstorSatelliteSpec `json:"spec"`
}

// PoolDir is a FILE pool directory outside poolRoot, mounted from the host.
type PoolDir struct {
	Volume string `json:"volume"`
	Path   string `json:"path"`
}

// SatelliteTLS is the satellite's internal TLS.
type SatelliteTLS struct {
	SecretName      string `json:"secretName"`
	HandshakeDaemon bool   `json:"handshakeDaemon"`
	// Gencert: gencert keeps the Secret (no user Secret, no cert-manager).
	Gencert bool `json:"gencert"`
}

// byGencert reports whether gencert keeps the Secret of an internal TLS
// setting: as upstream, a Secret named by the user or provisioned by
// cert-manager is theirs.
func byGencert(c *piraeusv1.TLSConfig) bool {
	return c.SecretName == "" && c.CertManager == nil
}

// buildInput derives the template input from the model.
func buildInput(m *plan.Model, imgs *images, version string) (*Input, error) {
	spec := m.Cluster.Spec
	in := &Input{
		Namespace: m.Namespace,
		Instance:  m.Cluster.Name,
		Version:   version,
		Images:    imgs.refs,
		Cluster:   spec,
		Components: Components{
			Operator:      true,
			Controller:    spec.ExternalController == nil && spec.Controller.IsEnabled(),
			CSIController: spec.CSIController.IsEnabled(),
			CSINode:       spec.CSINode.IsEnabled(),
			HAController:  spec.HighAvailabilityController.IsEnabled(),
		},
		CSIControllerReplicas: 1,
		TLS:                   clusterTLS(&spec),
	}
	if in.Instance == "" {
		in.Instance = plan.DefaultClusterName
	}
	in.Instance = instanceLabel(in.Instance)
	if spec.CSIController != nil && spec.CSIController.Replicas != nil {
		in.CSIControllerReplicas = *spec.CSIController.Replicas
	}
	in.ControllerEndpoint = controllerEndpoint(m.Namespace, &spec, in.TLS.API != nil)
	nodes := nodesByName(m.Nodes)
	topo := topologyByNode(&m.Topology)
	in.Satellites = make([]SatelliteInput, 0, len(m.Satellites))
	for i := range m.Satellites {
		sat, err := satelliteInput(&m.Satellites[i], topo[m.Satellites[i].Node], nodes[m.Satellites[i].Node], imgs)
		if err != nil {
			return nil, err
		}
		sat.Spec = linstorSatelliteSpec(&m.Satellites[i], m.Cluster.Name, in)
		in.Satellites = append(in.Satellites, sat)
	}
	in.Evacuating = evacuatingInputs(m, in)
	return in, nil
}

// evacuatingInputs are the LinstorSatellites of evacuations whose Node is gone.
func evacuatingInputs(m *plan.Model, in *Input) []EvacuatingInput {
	out := []EvacuatingInput{}
	for _, tn := range m.Topology.Spec.Nodes {
		if tn.Leaving == nil || tn.Leaving.Policy != piraeusv1.DeletionPolicyEvacuate || tn.Leaving.Reason != storagev1alpha1.LeavingNodeDeleted {
			continue
		}
		sat := plan.Satellite{Node: tn.Name, DeletionPolicy: piraeusv1.DeletionPolicyEvacuate}
		out = append(out, EvacuatingInput{Node: tn.Name, Spec: linstorSatelliteSpec(&sat, m.Cluster.Name, in)})
	}
	return out
}

func clusterTLS(spec *piraeusv1.LinstorClusterSpec) TLSInput {
	var t TLSInput
	if spec.ApiTLS != nil {
		api := *spec.ApiTLS
		api.ApiSecretName = orDefault(api.ApiSecretName, "linstor-api-tls")
		api.ClientSecretName = orDefault(api.ClientSecretName, "linstor-client-tls")
		api.CsiControllerSecretName = orDefault(api.CsiControllerSecretName, "linstor-csi-controller-tls")
		api.CsiNodeSecretName = orDefault(api.CsiNodeSecretName, "linstor-csi-node-tls")
		api.AffinityControllerSecretName = orDefault(api.AffinityControllerSecretName, "linstor-affinity-controller-tls")
		t.API = &api
	}
	// The agents accept only mutual TLS, so the controller always mounts
	// its client certificate: the configured Secret, else gencert's.
	internal := piraeusv1.TLSConfig{}
	if spec.InternalTLS != nil {
		internal = *spec.InternalTLS
	}
	t.InternalGencert = byGencert(&internal)
	internal.SecretName = orDefault(internal.SecretName, ControllerInternalTLSSecret)
	t.Internal = &internal
	return t
}

func controllerEndpoint(namespace string, spec *piraeusv1.LinstorClusterSpec, tls bool) string {
	if spec.ExternalController != nil {
		return spec.ExternalController.URL
	}
	if tls {
		return fmt.Sprintf("https://linstor-controller.%s.svc:3371", namespace)
	}
	return fmt.Sprintf("http://linstor-controller.%s.svc:3370", namespace)
}

func satelliteInput(s *plan.Satellite, node *storagev1alpha1.TopologyNode, k8sNode *corev1.Node, imgs *images) (SatelliteInput, error) {
	name, err := SatelliteName(s.Node)
	if err != nil {
		return SatelliteInput{}, err
	}
	hash, err := topologyHash(node)
	if err != nil {
		return SatelliteInput{}, fmt.Errorf("satellite %s: %w", s.Node, err)
	}
	sat := SatelliteInput{
		Node:              s.Node,
		Name:              name,
		TopologyHash:      hash,
		Port:              3366,
		ModuleLoaderImage: imgs.loader(k8sNode),
		PoolDirs:          poolDirs(node),
	}
	// The agent accepts only mutual TLS, so every satellite mounts its
	// certificate: the configured Secret, else the per-node default.
	tlsCfg := s.InternalTLS
	if tlsCfg == nil {
		tlsCfg = &piraeusv1.TLSConfigWithHandshakeDaemon{}
	}
	sat.TLS = &SatelliteTLS{
		SecretName:      orDefault(tlsCfg.SecretName, SatelliteTLSSecretName(s.Node)),
		HandshakeDaemon: tlsCfg.TLSHandshakeDaemon,
		Gencert:         byGencert(&tlsCfg.TLSConfig),
	}
	return sat, nil
}

// linstorSatelliteSpec is the spec of a node's LinstorSatellite: its
// cluster and the configurations' merged settings, as upstream shows them.
func linstorSatelliteSpec(s *plan.Satellite, cluster string, in *Input) piraeusv1.LinstorSatelliteSpec {
	spec := piraeusv1.LinstorSatelliteSpec{
		ClusterRef:         piraeusv1.ClusterReference{Name: orDefault(cluster, plan.DefaultClusterName), ExternalController: in.Cluster.ExternalController},
		Repository:         in.Cluster.Repository,
		Patches:            s.Patches,
		StoragePools:       s.StoragePools,
		Properties:         s.Properties,
		InternalTLS:        s.InternalTLS,
		IPFamilies:         s.IPFamilies,
		DeletionPolicy:     s.DeletionPolicy,
		EvacuationStrategy: s.EvacuationStrategy,
	}
	if in.TLS.API != nil {
		spec.ClusterRef.ClientSecretName = in.TLS.API.ClientSecretName
	}
	return spec
}

// topologyHash is the sha256 of the node's topology entry: a change in the
// node's pools or properties changes the Pod template and rolls the Pod.
func topologyHash(node *storagev1alpha1.TopologyNode) (string, error) {
	if node == nil {
		node = &storagev1alpha1.TopologyNode{}
	}
	// Leaving is not the agent's business: starting an evacuation must not
	// restart the satellite that serves it.
	n := *node
	n.Leaving = nil
	data, err := json.Marshal(&n)
	if err != nil {
		return "", fmt.Errorf("hash topology entry: %w", err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// poolDirs lists the FILE pool directories of a node that poolRoot does not
// already cover, each with a volume name unique within the Pod.
func poolDirs(node *storagev1alpha1.TopologyNode) []PoolDir {
	out := []PoolDir{}
	if node == nil {
		return out
	}
	seen := map[string]bool{}
	for _, p := range node.StoragePools {
		if p.ProviderKind != piraeusv1.ProviderFile && p.ProviderKind != piraeusv1.ProviderFileThin {
			continue
		}
		dir := path.Clean(p.Directory)
		if p.Directory == "" || dir == poolRoot || strings.HasPrefix(dir, poolRoot+"/") || seen[dir] {
			continue
		}
		seen[dir] = true
		out = append(out, PoolDir{Volume: hashedName("file-pool", p.Name, 63), Path: dir})
	}
	return out
}

func nodesByName(nodes []corev1.Node) map[string]*corev1.Node {
	out := make(map[string]*corev1.Node, len(nodes))
	for i := range nodes {
		out[nodes[i].Name] = &nodes[i]
	}
	return out
}

func topologyByNode(t *storagev1alpha1.StorageTopology) map[string]*storagev1alpha1.TopologyNode {
	out := make(map[string]*storagev1alpha1.TopologyNode, len(t.Spec.Nodes))
	for i := range t.Spec.Nodes {
		out[t.Spec.Nodes[i].Name] = &t.Spec.Nodes[i]
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
