package lab_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/csi"
	"github.com/piraeusctl/piraeusctl/csi/csitest"
	"github.com/piraeusctl/piraeusctl/internal/freeport"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/lab"
)

// The CSI scenario's guest ports and paths: where the guests reach the
// host's LINSTOR API (GuestForwardAddr), where each guest's node service
// listens (forwarded to the host), its log, and the kubelet's paths of the
// volume as the kubelet lays them out.
const (
	csiAPIPort     = 3370
	csiNodePort    = 10000
	csiNodeLog     = "/var/log/piraeusctl-csi-node.log"
	csiStagingPath = "/var/lib/kubelet/plugins/kubernetes.io/csi/" + csi.DriverName + "/lab/globalmount"
	csiTargetPath  = "/var/lib/kubelet/pods/6c0f6f4e-4a37-4d3b-9d41-000000000014/volumes/kubernetes.io~csi/pvc-csi-lab/mount"
	csiDataMiB     = 16
)

// csiLabParameters are the StorageClass of the scenario: two diskful DRBD
// replicas on the VMs' LVM thin pools, with the DRBD net options the lab's
// slow emulated links need (slowNet), spelled as a linstor-csi
// StorageClass spells them.
func csiLabParameters() map[string]string {
	p := map[string]string{
		csi.ParameterNamespace + "/storagePool":    poolThin,
		csi.ParameterNamespace + "/placementCount": "2",
		csi.ParameterNamespace + "/layerList":      "drbd storage",
		"csi.storage.k8s.io/fstype":                "ext4",
	}
	for k, v := range slowNet {
		p["DrbdOptions/Net/"+k] = v
	}
	return p
}

// TestLabCSI is the CSI driver end to end on real DRBD 9: the controller
// on the host serves LINSTOR's REST API v1 against a real kube-apiserver
// and drives the agents in two VMs; the driver's controller service runs on
// the host, its node service inside each VM (where the DRBD device is, and
// the mounts), reaching the API through qemu's user network. The test calls
// the driver as the sidecars and the kubelet would: a 2-replica volume is
// created with topology, published to node-a, staged there (mkfs.ext4 on
// /dev/drbdN), published into a Pod's path and written; then unpublished,
// unstaged and detached from node-a, published, staged and mounted on
// node-b, where the data reads back with the same checksum. Deleting the
// volume leaves no LV, DRBD resource or resource file on either VM.
func TestLabCSI(t *testing.T) {
	t.Parallel()
	needLab(t)
	start := time.Now()
	ctrllog.SetLogger(logr.Discard()) // envtest's chatter (as in TestLabController)
	// The API server and the LINSTOR API's port first: the guests' forward
	// names that port, and the API server stops after the VMs.
	kube := kubetest.Start(t)
	cfg := kube.Config(t)
	ports, err := freeport.New()
	require.NoError(t, err)
	apiPort, err := ports.Pick()
	require.NoError(t, err)
	c := bootWithAgents(t, lab.Options{VMs: 2, MemoryMiB: 512, HostForwards: []int{csiNodePort}, Ports: ports,
		GuestForwards: []lab.GuestForward{{GuestPort: csiAPIPort, HostPort: apiPort}}})
	kc := labKubeClient(t, cfg)
	_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: shippedCRDs(t)})
	require.NoError(t, err, "install the shipped CRDs")
	createLabNodes(t, kc, c.VMs)
	require.NoError(t, kc.Create(t.Context(), labTopology(c.VMs)))
	runController(t, cfg, controllerTLSDir(t, c), "127.0.0.1:"+strconv.Itoa(apiPort))

	k := &csiLab{c: c, s: &replicaSet{c: c, vms: c.VMs}, kc: kc, nodes: map[string]csipb.NodeClient{}}
	k.ctrl = csipb.NewControllerClient(csitest.Dial(t, csitest.Serve(t, csi.Options{Mode: csi.ModeController,
		LinstorEndpoint: fmt.Sprintf("http://127.0.0.1:%d", apiPort), Version: "lab", Logger: testLogger(t, "csi-controller")})))
	timed(t, "CSI node services in both VMs ready", func() {
		for _, vm := range c.VMs {
			k.nodes[vm.Name] = startCSINode(t, vm)
		}
	})
	a, b := c.VMs[0], c.VMs[1]
	runScenarios(t, []scenario{
		{"csi-create", k.create},
		{"csi-stage-a", func(t *testing.T) { k.stage(t, a, true) }},
		{"csi-write-a", func(t *testing.T) { k.write(t, a) }},
		{"csi-unstage-a", func(t *testing.T) { k.unstage(t, a) }},
		{"csi-stage-b", func(t *testing.T) { k.stage(t, b, false) }},
		{"csi-read-b", func(t *testing.T) { k.read(t, b) }},
		{"csi-unstage-b", func(t *testing.T) { k.unstage(t, b) }},
		{"csi-delete", k.delete},
	})
	t.Logf("timing: CSI VMs, all scenarios with boot: %s", time.Since(start).Round(100*time.Millisecond))
}

// csiLab is the state the CSI scenarios share.
type csiLab struct {
	c     *labCluster
	s     *replicaSet
	kc    client.Client
	ctrl  csipb.ControllerClient
	nodes map[string]csipb.NodeClient
	// topology is each node's NodeGetInfo topology, in VM order.
	topology []*csipb.Topology
	vol      *csipb.Volume
	// sum is the checksum of the data written on node-a.
	sum string
	// fsUUID is the UUID of the filesystem NodeStage made on node-a.
	fsUUID string
}

// startCSINode starts `piraeusctl csi --mode=node` in vm (as the
// linstor-csi-node DaemonSet runs it, on a TCP endpoint the host reaches
// through the VM's forward), talking to the host's LINSTOR API, and waits
// until it answers Probe (which asks the LINSTOR API) and names its node.
func startCSINode(t *testing.T, vm *labVM) csipb.NodeClient {
	t.Helper()
	args := []string{"piraeusctl", "csi", "--mode=node", "--node=" + vm.Name,
		fmt.Sprintf("--csi-endpoint=tcp://0.0.0.0:%d", csiNodePort),
		fmt.Sprintf("--linstor-endpoint=http://%s:%d", lab.GuestForwardAddr, csiAPIPort), "--log-level=debug"}
	sh(t, vm, fmt.Sprintf(`(%s 2>&1 | tee -a %s >/dev/console) </dev/null >/dev/null 2>&1 &`, strings.Join(args, " "), csiNodeLog))
	addr := vm.ForwardedAddr(csiNodePort)
	require.NotEmpty(t, addr, "%s: guest port %d not forwarded", vm.Name, csiNodePort)
	conn := csitest.Dial(t, addr)
	csitest.WaitReady(t, csipb.NewIdentityClient(conn), "the CSI node service in "+vm.Name)
	return csipb.NewNodeClient(conn)
}

func csiMountCap() *csipb.VolumeCapability {
	return &csipb.VolumeCapability{
		AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csipb.VolumeCapability_AccessMode{Mode: csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// create asks each node service for its topology, then creates the volume
// as external-provisioner does with Immediate binding (every node's
// topology requisite, node-a preferred), and waits until DRBD on both VMs
// has both replicas UpToDate and connected.
func (k *csiLab) create(t *testing.T) {
	for _, vm := range k.c.VMs {
		info, err := k.nodes[vm.Name].NodeGetInfo(t.Context(), &csipb.NodeGetInfoRequest{})
		require.NoError(t, err, "NodeGetInfo on %s", vm.Name)
		assert.Equal(t, vm.Name, info.GetNodeId())
		seg := info.GetAccessibleTopology().GetSegments()
		assert.Equal(t, vm.Name, seg[csi.TopologyKeyHostname], "%s: topology %v", vm.Name, seg)
		assert.Equal(t, "true", seg[csi.TopologyKeyPoolPrefix+poolThin], "%s: topology %v", vm.Name, seg)
		k.topology = append(k.topology, info.GetAccessibleTopology())
	}
	begin := time.Now()
	resp, err := k.ctrl.CreateVolume(t.Context(), &csipb.CreateVolumeRequest{Name: "pvc-csi-lab",
		CapacityRange: &csipb.CapacityRange{RequiredBytes: 64 << 20}, Parameters: csiLabParameters(),
		VolumeCapabilities:        []*csipb.VolumeCapability{csiMountCap()},
		AccessibilityRequirements: &csipb.TopologyRequirement{Requisite: k.topology, Preferred: k.topology}})
	require.NoError(t, err, "CreateVolume")
	returned := time.Since(begin)
	k.vol = resp.GetVolume()
	id := k.vol.GetVolumeId()
	k.s.resources = []drbdRes{{name: id}}
	k.s.waitInSync(t, id, 5*time.Minute)
	t.Logf("timing: CSI CreateVolume → returned: %s; → both replicas UpToDate and connected (DRBD on both VMs): %s",
		returned.Round(100*time.Millisecond), time.Since(begin).Round(100*time.Millisecond))
	assert.GreaterOrEqual(t, k.vol.GetCapacityBytes(), int64(64<<20))
	// allowRemoteVolumeAccess defaults to true: reachable from anywhere,
	// so no topology constraint (as linstor-csi answers).
	assert.Empty(t, k.vol.GetAccessibleTopology(), "the volume's accessible topology")
	sv := waitVolume(t, k.kc, id, 2*time.Minute, "both replicas UpToDate in status", func(v *storagev1alpha1.StorageVolume) bool {
		return statusUpToDate(v, k.c.VMs) == ""
	})
	for _, vm := range k.c.VMs {
		_, ok := lvs(t, vm, vgName)[id+"_00000"]
		assert.True(t, ok, "%s: no thin LV %s_00000", vm.Name, id)
		res := sh(t, vm, "cat "+drbdConfigDir+"/"+id+".res")
		for opt, v := range slowNet {
			assert.Contains(t, res, opt+" "+v, "%s: the class's DrbdOptions/Net/%s is not in the resource file", vm.Name, opt)
		}
	}
	t.Logf("volume %s: DRBD minor %d on %s", id, sv.Spec.Replicas[0].Minors[0], strings.Join(replicaNodes(sv), ", "))
}

func replicaNodes(v *storagev1alpha1.StorageVolume) []string {
	var out []string
	for _, r := range v.Spec.Replicas {
		out = append(out, r.Node)
	}
	return out
}

// stage publishes the volume to vm (ControllerPublish, as
// external-attacher does), stages it (mkfs on first use, mount) and
// publishes it into the Pod's path, as the kubelet does. fresh: the device
// is empty, so NodeStage formats it; else it must keep what is there.
func (k *csiLab) stage(t *testing.T, vm *labVM, fresh bool) {
	id, node := k.vol.GetVolumeId(), k.nodes[vm.Name]
	_, err := k.ctrl.ControllerPublishVolume(t.Context(), &csipb.ControllerPublishVolumeRequest{VolumeId: id, NodeId: vm.Name,
		VolumeCapability: csiMountCap(), VolumeContext: k.vol.GetVolumeContext()})
	require.NoError(t, err, "ControllerPublishVolume to %s", vm.Name)
	what := "NodeStageVolume on " + vm.Name + " (device holds ext4: mount only)"
	if fresh {
		what = "NodeStageVolume on " + vm.Name + " (empty device: mkfs.ext4 and mount)"
	}
	timed(t, what, func() {
		_, err = node.NodeStageVolume(t.Context(), &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: csiStagingPath,
			VolumeCapability: csiMountCap(), VolumeContext: k.vol.GetVolumeContext()})
	})
	require.NoError(t, err, "NodeStageVolume on %s", vm.Name)
	timed(t, "NodePublishVolume on "+vm.Name+" (bind mount)", func() {
		_, err = node.NodePublishVolume(t.Context(), &csipb.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: csiStagingPath,
			TargetPath: csiTargetPath, VolumeCapability: csiMountCap(), VolumeContext: k.vol.GetVolumeContext()})
	})
	require.NoError(t, err, "NodePublishVolume on %s", vm.Name)

	// What the guest says: ext4 from /dev/drbdN on both paths, DRBD
	// promoted this node on the mount (auto-promote), and the filesystem
	// is the one made on node-a (the same UUID: never formatted again).
	mounts := sh(t, vm, "cat /proc/mounts")
	var dev string
	for _, p := range []string{csiStagingPath, csiTargetPath} {
		m := regexp.MustCompile(`(?m)^(/dev/drbd\d+) ` + regexp.QuoteMeta(p) + ` ext4 rw`).FindStringSubmatch(mounts)
		if assert.NotNil(t, m, "%s: %s is not a read-write ext4 mount of a DRBD device:\n%s", vm.Name, p, mounts) {
			dev = m[1]
		}
	}
	require.NotEmpty(t, dev)
	uuid := strings.TrimSpace(sh(t, vm, "blkid -p -s UUID -o value "+dev))
	if fresh {
		k.fsUUID = uuid
	}
	assert.Equal(t, k.fsUUID, uuid, "%s: the filesystem on %s is not the one NodeStage made on the first node", vm.Name, dev)
	_, st := statusJSON(t, vm)
	assert.Equal(t, "Primary", st[id].Role, "%s: DRBD role of %s with the filesystem mounted", vm.Name, id)
	stats, err := node.NodeGetVolumeStats(t.Context(), &csipb.NodeGetVolumeStatsRequest{VolumeId: id, VolumePath: csiTargetPath})
	require.NoError(t, err, "NodeGetVolumeStats on %s", vm.Name)
	if assert.NotEmpty(t, stats.GetUsage(), "%s: volume stats", vm.Name) {
		assert.Greater(t, stats.GetUsage()[0].GetTotal(), int64(48<<20), "%s: size of the ext4 on a 64 MiB volume: %v", vm.Name, stats.GetUsage())
	}
	health, err := node.NodeGetVolumeHealth(t.Context(), &csipb.NodeGetVolumeHealthRequest{VolumeId: id})
	require.NoError(t, err, "NodeGetVolumeHealth on %s", vm.Name)
	assert.Empty(t, health.GetVolumeHealth().GetHealthStatuses(), "%s: a healthy volume reports problems", vm.Name)
}

// write writes random data through the Pod's path on vm and flushes it.
func (k *csiLab) write(t *testing.T, vm *labVM) {
	out := sh(t, vm, fmt.Sprintf("dd if=/dev/urandom of=%[1]s/data bs=1M count=%[2]d conv=fsync 2>/dev/null && echo %[3]s > %[1]s/written-on && sync && sha256sum %[1]s/data",
		csiTargetPath, csiDataMiB, vm.Name))
	k.sum = strings.Fields(out)[0]
	t.Logf("%s wrote %d MiB through %s: sha256 %s", vm.Name, csiDataMiB, csiTargetPath, k.sum)
}

// read checks on vm that the data written on the other node is there.
func (k *csiLab) read(t *testing.T, vm *labVM) {
	out := sh(t, vm, fmt.Sprintf("sha256sum %[1]s/data && cat %[1]s/written-on", csiTargetPath))
	f := strings.Fields(out)
	require.Len(t, f, 3, "%s: %q", vm.Name, out)
	assert.Equal(t, k.sum, f[0], "%s reads another checksum of the data than was written", vm.Name)
	assert.Equal(t, k.c.VMs[0].Name, f[2], "%s: written-on", vm.Name)
	t.Logf("%s reads %d MiB with sha256 %s (written on %s: %s): match %t", vm.Name, csiDataMiB, f[0], f[2], k.sum, f[0] == k.sum)
}

// unstage undoes stage as the kubelet and external-attacher do once the
// Pod is gone: unpublish, unstage (DRBD demotes on the last close),
// ControllerUnpublish. A diskful replica stays.
func (k *csiLab) unstage(t *testing.T, vm *labVM) {
	id, node := k.vol.GetVolumeId(), k.nodes[vm.Name]
	_, err := node.NodeUnpublishVolume(t.Context(), &csipb.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: csiTargetPath})
	require.NoError(t, err, "NodeUnpublishVolume on %s", vm.Name)
	timed(t, "NodeUnstageVolume on "+vm.Name, func() {
		_, err = node.NodeUnstageVolume(t.Context(), &csipb.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: csiStagingPath})
	})
	require.NoError(t, err, "NodeUnstageVolume on %s", vm.Name)
	_, err = k.ctrl.ControllerUnpublishVolume(t.Context(), &csipb.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: vm.Name})
	require.NoError(t, err, "ControllerUnpublishVolume from %s", vm.Name)
	mounts := sh(t, vm, "cat /proc/mounts")
	assert.NotContains(t, mounts, csiStagingPath, "%s: still mounted", vm.Name)
	assert.NotContains(t, mounts, csiTargetPath, "%s: still mounted", vm.Name)
	waitFor(t, time.Minute, vm.Name+": DRBD demoted after the unmount", func() (bool, string) {
		_, st := statusJSON(t, vm)
		return st[id].Role == "Secondary", st[id].Role
	})
	// Both replicas stay, in sync.
	k.s.waitInSync(t, id, 2*time.Minute)
}

// delete deletes the volume as external-provisioner does once the PV is
// released, then waits until the storage is gone from both VMs.
func (k *csiLab) delete(t *testing.T) {
	id := k.vol.GetVolumeId()
	begin := time.Now()
	_, err := k.ctrl.DeleteVolume(t.Context(), &csipb.DeleteVolumeRequest{VolumeId: id})
	require.NoError(t, err, "DeleteVolume")
	returned := time.Since(begin)
	waitFor(t, 5*time.Minute, "StorageVolume "+id+" gone (storage deleted on both VMs)", func() (bool, string) {
		err := k.kc.Get(t.Context(), client.ObjectKey{Name: id}, &storagev1alpha1.StorageVolume{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	t.Logf("timing: CSI DeleteVolume → returned: %s; → storage gone from both VMs: %s",
		returned.Round(100*time.Millisecond), time.Since(begin).Round(100*time.Millisecond))
	for _, vm := range k.c.VMs {
		_, ok := lvs(t, vm, vgName)[id+"_00000"]
		assert.False(t, ok, "%s: LV %s_00000 left after deletion", vm.Name, id)
		_, drbdRes := statusJSON(t, vm)
		_, ok = drbdRes[id]
		assert.False(t, ok, "%s: DRBD resource %s left after deletion", vm.Name, id)
		files := sh(t, vm, "ls "+drbdConfigDir+" 2>/dev/null; true")
		assert.NotContains(t, files, id, "%s: resource file left after deletion", vm.Name)
	}
	_, err = k.ctrl.ControllerGetVolume(t.Context(), &csipb.ControllerGetVolumeRequest{VolumeId: id})
	assert.Equal(t, codes.NotFound, status.Code(err), "ControllerGetVolume after DeleteVolume: %v", err)
}
