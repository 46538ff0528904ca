package k8spath

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Annotations kubelet puts on its Node.
const (
	// controllerManagedAttach makes kube-controller-manager's attach/detach
	// controller attach the Node's volumes (VolumeAttachments).
	controllerManagedAttach = "volumes.kubernetes.io/controller-managed-attach-detach"
	// nodeIDsAnnotation maps driver names to the node's CSI node ID.
	nodeIDsAnnotation = "csi.volume.kubernetes.io/nodeid"
)

// Kubelet stands in for the kubelets of the local nodes, for CSI volumes
// only: it registers the driver on each Node (CSINode, topology labels,
// annotations), and for Pods bound to a node (spec.nodeName) it stages and
// publishes their CSI claims once attached, reports them in the Node's
// volumesInUse, grows filesystems when a claim's expansion waits for the
// node, and on Pod deletion unpublishes, unstages and removes the Pod. It
// keeps kubelet's folder layout under Root/<node>.
type Kubelet struct {
	cs    kubernetes.Interface
	Root  string
	log   *slog.Logger
	nodes map[string]*csiNode
	// pubs: "<pod uid>/<volume>" → publication; staged: "<node>/<pv>" → staging.
	pubs    map[string]*publication
	staged  map[string]*staging
	lastErr string
}

type csiNode struct {
	name   string
	conn   *grpc.ClientConn
	client csi.NodeClient
	stage  bool // STAGE_UNSTAGE_VOLUME
	expand bool // EXPAND_VOLUME
}

type publication struct {
	pod              types.UID
	node, pv, target string
	volumeID         string
	claim            types.NamespacedName
	cap              *csi.VolumeCapability
	stagingPath      string
}

type staging struct {
	node, pv, volumeID, path string
}

// NewKubelet connects to each node's CSI socket (node name → unix://...).
func NewKubelet(cs kubernetes.Interface, root string, endpoints map[string]string, log *slog.Logger) (*Kubelet, error) {
	k := &Kubelet{cs: cs, Root: root, log: log, nodes: map[string]*csiNode{}, pubs: map[string]*publication{}, staged: map[string]*staging{}}
	for name, ep := range endpoints {
		conn, err := grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			k.Close()
			return nil, fmt.Errorf("node %s: CSI endpoint %s: %w", name, ep, err)
		}
		k.nodes[name] = &csiNode{name: name, conn: conn, client: csi.NewNodeClient(conn)}
	}
	return k, nil
}

// Close ends the CSI connections.
func (k *Kubelet) Close() {
	for _, n := range k.nodes {
		_ = n.conn.Close()
	}
}

// TargetPath is where kubelet publishes a Pod's volume.
func (k *Kubelet) TargetPath(node string, pod types.UID, pv string) string {
	return filepath.Join(k.Root, node, "pods", string(pod), "volumes", "kubernetes.io~csi", pv, "mount")
}

// StagingPath is where kubelet stages a volume on a node.
func (k *Kubelet) StagingPath(node, pv string) string {
	return filepath.Join(k.Root, node, "plugins", "kubernetes.io", "csi", Driver, fmt.Sprintf("%x", sha256.Sum256([]byte(pv))), "globalmount")
}

// Register does what node-driver-registrar and kubelet do when the driver
// starts on a node: NodeGetInfo, the CSINode object, the topology labels
// and the Node's annotations.
func (k *Kubelet) Register(ctx context.Context) error {
	for _, n := range k.nodes {
		if err := k.register(ctx, n); err != nil {
			return fmt.Errorf("register the driver on node %s: %w", n.name, err)
		}
	}
	return nil
}

func (k *Kubelet) register(ctx context.Context, n *csiNode) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	caps, err := n.client.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
	if err != nil {
		return fmt.Errorf("NodeGetCapabilities: %w", err)
	}
	for _, c := range caps.GetCapabilities() {
		switch c.GetRpc().GetType() {
		case csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME:
			n.stage = true
		case csi.NodeServiceCapability_RPC_EXPAND_VOLUME:
			n.expand = true
		}
	}
	info, err := n.client.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil {
		return fmt.Errorf("NodeGetInfo: %w", err)
	}
	segments := info.GetAccessibleTopology().GetSegments()
	node, err := k.cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	if node.Annotations == nil {
		node.Annotations = map[string]string{}
	}
	for key, v := range segments {
		node.Labels[key] = v
	}
	ids, _ := json.Marshal(map[string]string{Driver: info.GetNodeId()})
	node.Annotations[nodeIDsAnnotation] = string(ids)
	node.Annotations[controllerManagedAttach] = "true"
	if _, err := k.cs.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("label Node: %w", err)
	}
	keys := make([]string, 0, len(segments))
	for key := range segments {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	drv := storagev1.CSINodeDriver{Name: Driver, NodeID: info.GetNodeId(), TopologyKeys: keys}
	if m := info.GetMaxVolumesPerNode(); m > 0 {
		c := int32(m)
		drv.Allocatable = &storagev1.VolumeNodeResources{Count: &c}
	}
	csiNode := &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}},
		Spec:       storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{drv}},
	}
	existing, err := k.cs.StorageV1().CSINodes().Get(ctx, n.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = k.cs.StorageV1().CSINodes().Create(ctx, csiNode, metav1.CreateOptions{})
	case err == nil:
		existing.Spec = csiNode.Spec
		_, err = k.cs.StorageV1().CSINodes().Update(ctx, existing, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("CSINode: %w", err)
	}
	k.log.Info("driver registered", "node", n.name, "nodeID", info.GetNodeId(), "topology", segments, "stage", n.stage, "expand", n.expand)
	return nil
}

// Run syncs every interval until ctx ends.
func (k *Kubelet) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := k.Sync(ctx); err != nil && ctx.Err() == nil {
			if msg := err.Error(); msg != k.lastErr {
				k.log.Warn("kubelet sync", "err", err)
				k.lastErr = msg
			}
		} else {
			k.lastErr = ""
		}
		select {
		case <-ctx.Done():
			k.teardownAll()
			return
		case <-t.C:
		}
	}
}

// Sync is one pass: set up the volumes of the Pods on the nodes, tear down
// those of Pods being deleted or gone, grow filesystems, report volumes in use.
func (k *Kubelet) Sync(ctx context.Context) error {
	pods, err := k.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	vas, err := k.cs.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var errs []error
	live := map[types.UID]bool{}
	inUse := map[string][]string{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if k.nodes[pod.Spec.NodeName] == nil {
			continue
		}
		if pod.DeletionTimestamp != nil {
			continue // torn down below, then removed
		}
		live[pod.UID] = true
		for _, vol := range pod.Spec.Volumes {
			if vol.PersistentVolumeClaim == nil {
				continue
			}
			name, err := k.setUp(ctx, pod, vol, vas.Items)
			if name != "" {
				inUse[pod.Spec.NodeName] = append(inUse[pod.Spec.NodeName], name)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("pod %s/%s volume %s: %w", pod.Namespace, pod.Name, vol.Name, err))
			}
		}
	}
	for key, pub := range k.pubs {
		if !live[pub.pod] {
			if err := k.unpublish(ctx, key, pub); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for key, st := range k.staged {
		if !k.stagingUsed(st) {
			if err := k.unstage(ctx, key, st); err != nil {
				errs = append(errs, err)
			} else {
				continue
			}
		}
		inUse[st.node] = append(inUse[st.node], uniqueVolumeName(st.volumeID))
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if k.nodes[pod.Spec.NodeName] != nil && pod.DeletionTimestamp != nil && !k.podHasVolumes(pod.UID) {
			errs = append(errs, k.removePod(ctx, pod))
		}
	}
	errs = append(errs, k.expand(ctx), k.reportInUse(ctx, inUse))
	return errors.Join(errs...)
}

// uniqueVolumeName is how kubelet names a CSI volume in Node.status.volumesInUse.
func uniqueVolumeName(volumeID string) string { return "kubernetes.io/csi/" + Driver + "^" + volumeID }

// setUp stages and publishes one claim of a Pod once its PV is attached to
// the Pod's node. It returns the volume's unique name once it is attached.
func (k *Kubelet) setUp(ctx context.Context, pod *corev1.Pod, vol corev1.Volume, vas []storagev1.VolumeAttachment) (string, error) {
	key := string(pod.UID) + "/" + vol.Name
	if pub := k.pubs[key]; pub != nil {
		return uniqueVolumeName(pub.volumeID), nil
	}
	pvc, err := k.cs.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, vol.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
	if err != nil || pvc.Status.Phase != corev1.ClaimBound {
		return "", err // not bound yet: next pass
	}
	pv, err := k.cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != Driver {
		return "", nil
	}
	if pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return "", errors.New("raw block volumes are not set up by this kubelet stand-in")
	}
	node := k.nodes[pod.Spec.NodeName]
	volumeID := pv.Spec.CSI.VolumeHandle
	va := attachment(vas, pv.Name, node.name)
	if va == nil || !va.Status.Attached {
		return "", nil // the attach/detach controller and csi-attacher are at it
	}
	cap := volumeCapability(pv)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	stagingPath := ""
	if node.stage {
		stagingPath = k.StagingPath(node.name, pv.Name)
		skey := node.name + "/" + pv.Name
		if k.staged[skey] == nil {
			if err := os.MkdirAll(stagingPath, 0o750); err != nil {
				return "", err
			}
			start := time.Now()
			if _, err := node.client.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
				VolumeId: volumeID, PublishContext: va.Status.AttachmentMetadata, StagingTargetPath: stagingPath,
				VolumeCapability: cap, VolumeContext: pv.Spec.CSI.VolumeAttributes,
			}); err != nil {
				return uniqueVolumeName(volumeID), fmt.Errorf("NodeStageVolume: %w", err)
			}
			k.staged[skey] = &staging{node: node.name, pv: pv.Name, volumeID: volumeID, path: stagingPath}
			k.log.Info("staged", "node", node.name, "pv", pv.Name, "path", stagingPath, "took", time.Since(start))
		}
	}
	target := k.TargetPath(node.name, pod.UID, pv.Name)
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return "", err
	}
	volCtx := map[string]string{
		"csi.storage.k8s.io/pod.name": pod.Name, "csi.storage.k8s.io/pod.namespace": pod.Namespace,
		"csi.storage.k8s.io/pod.uid": string(pod.UID), "csi.storage.k8s.io/serviceAccount.name": pod.Spec.ServiceAccountName,
		"csi.storage.k8s.io/ephemeral": "false",
	}
	for key, v := range pv.Spec.CSI.VolumeAttributes {
		volCtx[key] = v
	}
	start := time.Now()
	if _, err := node.client.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: volumeID, PublishContext: va.Status.AttachmentMetadata, StagingTargetPath: stagingPath,
		TargetPath: target, VolumeCapability: cap, Readonly: vol.PersistentVolumeClaim.ReadOnly, VolumeContext: volCtx,
	}); err != nil {
		return uniqueVolumeName(volumeID), fmt.Errorf("NodePublishVolume: %w", err)
	}
	k.pubs[key] = &publication{pod: pod.UID, node: node.name, pv: pv.Name, target: target, volumeID: volumeID,
		claim: types.NamespacedName{Namespace: pvc.Namespace, Name: pvc.Name}, cap: cap, stagingPath: stagingPath}
	k.log.Info("published", "pod", pod.Namespace+"/"+pod.Name, "pv", pv.Name, "path", target, "took", time.Since(start))
	return uniqueVolumeName(volumeID), nil
}

// attachment is the VolumeAttachment of pv to node, if any.
func attachment(vas []storagev1.VolumeAttachment, pv, node string) *storagev1.VolumeAttachment {
	for i := range vas {
		va := &vas[i]
		if va.Spec.Attacher == Driver && va.Spec.NodeName == node && va.Spec.Source.PersistentVolumeName != nil && *va.Spec.Source.PersistentVolumeName == pv {
			return va
		}
	}
	return nil
}

// volumeCapability is the capability kubelet asks for a filesystem PV.
func volumeCapability(pv *corev1.PersistentVolume) *csi.VolumeCapability {
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	switch {
	case slices.Contains(pv.Spec.AccessModes, corev1.ReadWriteOncePod):
		mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
	case slices.Contains(pv.Spec.AccessModes, corev1.ReadWriteMany):
		mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	case slices.Contains(pv.Spec.AccessModes, corev1.ReadOnlyMany) && !slices.Contains(pv.Spec.AccessModes, corev1.ReadWriteOnce):
		mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
	}
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: pv.Spec.CSI.FSType, MountFlags: pv.Spec.MountOptions}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func (k *Kubelet) unpublish(ctx context.Context, key string, pub *publication) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := k.nodes[pub.node].client.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: pub.volumeID, TargetPath: pub.target}); err != nil {
		return fmt.Errorf("NodeUnpublishVolume %s on %s: %w", pub.pv, pub.node, err)
	}
	_ = os.Remove(pub.target)
	// The Pod's folder, as kubelet removes it with the Pod.
	_ = os.RemoveAll(filepath.Join(k.Root, pub.node, "pods", string(pub.pod)))
	delete(k.pubs, key)
	k.log.Info("unpublished", "node", pub.node, "pv", pub.pv)
	return nil
}

func (k *Kubelet) stagingUsed(st *staging) bool {
	for _, pub := range k.pubs {
		if pub.node == st.node && pub.pv == st.pv {
			return true
		}
	}
	return false
}

func (k *Kubelet) podHasVolumes(uid types.UID) bool {
	for _, pub := range k.pubs {
		if pub.pod == uid {
			return true
		}
	}
	return false
}

func (k *Kubelet) unstage(ctx context.Context, key string, st *staging) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := k.nodes[st.node].client.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: st.volumeID, StagingTargetPath: st.path}); err != nil {
		return fmt.Errorf("NodeUnstageVolume %s on %s: %w", st.pv, st.node, err)
	}
	_ = os.Remove(st.path)
	_ = os.Remove(filepath.Dir(st.path))
	delete(k.staged, key)
	k.log.Info("unstaged", "node", st.node, "pv", st.pv)
	return nil
}

// removePod deletes a terminating Pod for good once its volumes are torn
// down, as kubelet does when its containers have stopped.
func (k *Kubelet) removePod(ctx context.Context, pod *corev1.Pod) error {
	uid := pod.UID
	err := k.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("remove Pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// expand finishes a claim's expansion on the node: when the PV has grown
// and the claim waits for the filesystem (FileSystemResizePending), it calls
// NodeExpandVolume on the published path and records the new capacity in
// the claim's status, as kubelet does.
func (k *Kubelet) expand(ctx context.Context) error {
	var errs []error
	for _, pub := range k.pubs {
		pvc, err := k.cs.CoreV1().PersistentVolumeClaims(pub.claim.Namespace).Get(ctx, pub.claim.Name, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pv, err := k.cs.CoreV1().PersistentVolumes().Get(ctx, pub.pv, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want := pv.Spec.Capacity[corev1.ResourceStorage]
		have := pvc.Status.Capacity[corev1.ResourceStorage]
		if want.Cmp(have) <= 0 || !nodeResizePending(pvc) {
			continue
		}
		if node := k.nodes[pub.node]; node.expand {
			start := time.Now()
			if _, err := node.client.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{
				VolumeId: pub.volumeID, VolumePath: pub.target, StagingTargetPath: pub.stagingPath,
				CapacityRange: &csi.CapacityRange{RequiredBytes: want.Value()}, VolumeCapability: pub.cap,
			}); err != nil {
				errs = append(errs, fmt.Errorf("NodeExpandVolume %s: %w", pub.pv, err))
				continue
			}
			k.log.Info("expanded", "node", pub.node, "pv", pub.pv, "bytes", want.Value(), "took", time.Since(start))
		}
		pvc.Status.Capacity[corev1.ResourceStorage] = want
		pvc.Status.Conditions = slices.DeleteFunc(pvc.Status.Conditions, func(c corev1.PersistentVolumeClaimCondition) bool {
			return c.Type == corev1.PersistentVolumeClaimFileSystemResizePending || c.Type == corev1.PersistentVolumeClaimResizing
		})
		delete(pvc.Status.AllocatedResourceStatuses, corev1.ResourceStorage)
		if _, err := k.cs.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("claim %s status: %w", pub.claim, err))
		}
	}
	return errors.Join(errs...)
}

func nodeResizePending(pvc *corev1.PersistentVolumeClaim) bool {
	if pvc.Status.AllocatedResourceStatuses[corev1.ResourceStorage] == corev1.PersistentVolumeClaimNodeResizePending {
		return true
	}
	return slices.ContainsFunc(pvc.Status.Conditions, func(c corev1.PersistentVolumeClaimCondition) bool {
		return c.Type == corev1.PersistentVolumeClaimFileSystemResizePending && c.Status == corev1.ConditionTrue
	})
}

// reportInUse writes each node's volumesInUse, as kubelet does: the
// attach/detach controller detaches a volume only once its node no longer
// reports it.
func (k *Kubelet) reportInUse(ctx context.Context, inUse map[string][]string) error {
	var errs []error
	for name := range k.nodes {
		want := inUse[name]
		slices.Sort(want)
		want = slices.Compact(want)
		node, err := k.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		have := make([]string, 0, len(node.Status.VolumesInUse))
		for _, v := range node.Status.VolumesInUse {
			have = append(have, string(v))
		}
		slices.Sort(have)
		if slices.Equal(have, want) {
			continue
		}
		node.Status.VolumesInUse = nil
		for _, v := range want {
			node.Status.VolumesInUse = append(node.Status.VolumesInUse, corev1.UniqueVolumeName(v))
		}
		if _, err := k.cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("Node %s volumesInUse: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// teardownAll unpublishes and unstages what this stand-in set up, when it
// stops (a kubelet that stops keeps its mounts; here nothing may outlive
// the local datastore).
func (k *Kubelet) teardownAll() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for key, pub := range k.pubs {
		if err := k.unpublish(ctx, key, pub); err != nil {
			k.log.Warn("teardown", "err", err)
		}
	}
	for key, st := range k.staged {
		if err := k.unstage(ctx, key, st); err != nil {
			k.log.Warn("teardown", "err", err)
		}
	}
}
