package plan_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// classWith is a linstor-csi StorageClass "sc" with the given parameters,
// each "key: value" line as YAML writes it.
func classWith(params ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: sc}\nprovisioner: linstor.csi.linbit.com\nparameters:\n")
	for _, p := range params {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// snapshotClassWith is a VolumeSnapshotClass of linstor-csi.
func snapshotClassWith(params ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshotClass\nmetadata: {name: snaps}\ndriver: linstor.csi.linbit.com\ndeletionPolicy: Delete\nparameters:\n")
	for _, p := range params {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// TestUpstreamParameters holds issue 18 §3: every parameter linstor-csi
// documents is accepted with its upstream meaning or refused with a reason.
func TestUpstreamParameters(t *testing.T) {
	group := func(t *testing.T, b *plan.Built) *storagev1alpha1.ResourceGroup {
		i := slices.IndexFunc(b.Model.Topology.Spec.ResourceGroups, func(g storagev1alpha1.ResourceGroup) bool { return g.Name == "sc" })
		require.GreaterOrEqual(t, i, 0)
		return &b.Model.Topology.Spec.ResourceGroups[i]
	}
	tests := []struct {
		name     string
		docs     []string
		check    func(t *testing.T, b *plan.Built)
		wantErr  string
		wantWarn string
	}{
		{name: "xReplicasOnDifferent: X replicas per value", docs: []string{classWith(`xReplicasOnDifferent: "topology.kubernetes.io/zone: 2\nAux/rack: 1"`, "placementCount: \"3\"")},
			check: func(t *testing.T, b *plan.Built) {
				require.Equal(t, map[string]int32{"Aux/topology/topology.kubernetes.io/zone": 2, "Aux/rack": 1}, group(t, b).XReplicasOnDifferent)
			}},
		{name: "xReplicasOnDifferent of 0 is refused", docs: []string{classWith(`xReplicasOnDifferent: "zone: 0"`)},
			wantErr: `parameters[xReplicasOnDifferent]: Invalid value: "zone: 0": zone: 0: expected a number of replicas from 1 to 32`},
		{name: "the NFS parameters are refused: no NFS exports", docs: []string{classWith("nfsConfigTemplate: /etc/nfs/custom.tmpl", "nfsServiceName: nfs-export", "nfsSquash: ROOT_SQUASH", "nfsRecoveryVolumeSize: 500Mi")},
			wantErr: `parameters[nfsSquash]: Invalid value: "ROOT_SQUASH": NFS exports of ReadWriteMany volumes are not supported by this driver`},
		{name: "qos.linbit.com limits of 0 (unlimited) are accepted", docs: []string{classWith(`qos.linbit.com/rbps: "0"`, `qos.linbit.com/wiops: "0"`)},
			check: func(t *testing.T, b *plan.Built) { require.Empty(t, group(t, b).Properties) }},
		{name: "a qos.linbit.com limit is refused: not enforced", docs: []string{classWith("qos.linbit.com/rbps: 40Mi")},
			wantErr: `parameters[qos.linbit.com/rbps]: Invalid value: "40Mi": IO limits are not supported by this driver`},
		{name: "a negative qos limit", docs: []string{classWith("qos.linbit.com/wbps: -1Mi")},
			wantErr: `parameters[qos.linbit.com/wbps]: Invalid value: "-1Mi": expected a limit of 0 (unlimited) or more`},
		{name: "qos.linbit.com/device is not a StorageClass parameter", docs: []string{classWith("qos.linbit.com/device: /dev/sda")},
			wantErr: `parameters[qos.linbit.com/device]: Unsupported value: "device": supported values: "rbps", "riops", "wbps", "wiops"`},
		{name: "placementPolicy in any case", docs: []string{classWith("placementPolicy: autoplacetopology")},
			check: func(t *testing.T, b *plan.Built) { require.Equal(t, "AutoPlaceTopology", group(t, b).PlacementPolicy) }},
		{name: "placementPolicy manual with a nodeList", docs: []string{classWith("placementPolicy: manual", "nodeList: n1 n2")},
			check: func(t *testing.T, b *plan.Built) {
				require.Equal(t, "Manual", group(t, b).PlacementPolicy)
				require.Equal(t, int32(2), group(t, b).PlaceCount)
			}},
		{name: "placementPolicy manual without a nodeList", docs: []string{classWith("placementPolicy: manual")},
			wantErr: `parameters[placementPolicy]: Invalid value: "manual": expected nodeList with it`},
		{name: "placementPolicy BALANCED is not implemented", docs: []string{classWith("placementPolicy: BALANCED")},
			wantErr: `parameters[placementPolicy]: Invalid value: "BALANCED": linstor-csi's Balanced placement is not implemented by this driver`},
		{name: "placementPolicy unknown", docs: []string{classWith("placementPolicy: Unknown")},
			wantErr: `parameters[placementPolicy]: Unsupported value: "Unknown": supported values: "AutoPlace", "AutoPlaceTopology", "FollowTopology", "Manual"`},
		{name: "nodeList overrides the autoplace settings, with a warning", docs: []string{classWith("nodeList: n1 n2", `placementCount: "3"`, "replicasOnSame: zone",
			"placementPolicy: FollowTopology", `disklessOnRemaining: "true"`)},
			check: func(t *testing.T, b *plan.Built) {
				g := group(t, b)
				require.Equal(t, []any{"Manual", int32(2), []string(nil), false}, []any{g.PlacementPolicy, g.PlaceCount, g.ReplicasOnSame, g.DisklessOnRemaining})
				for _, key := range []string{"placementCount", "replicasOnSame", "placementPolicy", "disklessOnRemaining"} {
					require.Contains(t, b.Model.Warnings.Error(), "parameters["+key+"]: ignored: nodeList places")
				}
			},
			wantWarn: `StorageClass/sc: parameters[placementCount]: ignored: nodeList places the replicas on the nodes it names (placementPolicy Manual), as linstor-csi does`},
		{name: "a clientList without a nodeList", docs: []string{classWith("clientList: n1")},
			wantErr: `parameters[clientList]: Invalid value: "n1": expected nodeList with it`},
		{name: "a clientList without DRBD", docs: []string{classWith("clientList: n1", "nodeList: n2", "layerList: storage")},
			wantErr: `parameters[clientList]: Invalid value: "n1": diskless clients need the DRBD layer; layerList is "storage"`},
		{name: "sizeKiB is ignored with a warning", docs: []string{classWith("sizeKiB: lots")},
			wantWarn: `StorageClass/sc: parameters[sizeKiB]: ignored: sizeKiB is obsolete`},
		{name: "encryption is refused: no LUKS", docs: []string{classWith(`encryption: "true"`)},
			wantErr: `parameters[encryption]: Invalid value: "true": encryption (a LUKS layer) is not supported: the agent builds only drbd and storage layers`},
		{name: "overProvision 0", docs: []string{classWith(`overProvision: "0"`)},
			check: func(t *testing.T, b *plan.Built) { require.Equal(t, "0", group(t, b).OverProvision) }},
		{name: "overProvision 1e0", docs: []string{classWith(`overProvision: "1e0"`)},
			check: func(t *testing.T, b *plan.Built) { require.Equal(t, "1e0", group(t, b).OverProvision) }},
		{name: "overProvision Inf", docs: []string{classWith(`overProvision: "Inf"`)},
			wantErr: `parameters[overProvision]: Invalid value: "Inf": expected a finite decimal factor of at least 0`},
		{name: "layerList with storage not at the bottom", docs: []string{classWith(`layerList: "storage drbd"`)},
			wantErr: `parameters[layerList]: Invalid value: "storage drbd": expected the storage layer at the bottom of the list, found "drbd" below it`},
		{name: "layerList drbd alone", docs: []string{classWith("layerList: drbd")},
			wantErr: `parameters[layerList]: Invalid value: "drbd": expected the storage layer at the bottom of the list`},
		{name: "layerList with a layer the agent does not build", docs: []string{classWith(`layerList: "drbd luks storage"`)},
			wantErr: `parameters[layerList]: Invalid value: "drbd luks storage": layer "luks" is not supported: the agent builds only drbd and storage layers`},
		{name: "layerList exos, which linstor-csi does not know", docs: []string{classWith(`layerList: "exos storage"`)},
			wantErr: `unknown layer "exos"`},
		{name: "layerList STORAGE in any case", docs: []string{classWith(`layerList: "STORAGE"`)},
			check: func(t *testing.T, b *plan.Built) {
				require.Equal(t, []string{"storage"}, group(t, b).LayerList)
			}},
		{name: "an unknown fsType", docs: []string{classWith("csi.storage.k8s.io/fstype: btrfs")},
			wantErr: `parameters[csi.storage.k8s.io/fstype]: Invalid value: "btrfs": expected ext4 or xfs`},
		{name: "a storage-only volume gets no DRBD port, minor or node ids", docs: []string{twoNodes, classWith("layerList: storage", `placementCount: "2"`), claimOf("sc", "1Gi")},
			check: func(t *testing.T, b *plan.Built) {
				v := b.Model.Volumes[0]
				require.Len(t, v.Spec.Replicas, 2)
				for _, r := range v.Spec.Replicas {
					require.Zero(t, r.NodeID)
					require.Zero(t, r.Port)
					require.Empty(t, r.Minors)
				}
			}},
		{name: "usePvcName names the volume after the claim", docs: []string{twoNodes, classWith(`usePvcName: "true"`), claimOf("sc", "1Gi")},
			check: func(t *testing.T, b *plan.Built) {
				require.Equal(t, "web-data", b.Model.Volumes[0].Name)
			}},
		{name: "parameters under unknown prefixes are ignored with a warning", docs: []string{twoNodes, classWith("example.com/tier: gold", `placementCount: "2"`)},
			check: func(t *testing.T, b *plan.Built) {
				require.Equal(t, int32(2), group(t, b).PlaceCount)
			},
			wantWarn: `in2.yaml:6:3: StorageClass/sc: parameters[example.com/tier]: ignored: linstor-csi ignores parameters of other namespaces than linstor.csi.linbit.com, property.linstor.csi.linbit.com, DrbdOptions, csi.storage.k8s.io, qos.linbit.com (a typo?)`},

		// VolumeSnapshotClass of linstor.csi.linbit.com.
		{name: "a VolumeSnapshotClass shipping to S3", docs: []string{snapshotClassWith("snap.linstor.csi.linbit.com/type: S3", "snap.linstor.csi.linbit.com/remote-name: backup",
			`snap.linstor.csi.linbit.com/allow-incremental: "true"`, "snap.linstor.csi.linbit.com/s3-bucket: snaps", "snap.linstor.csi.linbit.com/s3-endpoint: s3.us-west-2.amazonaws.com",
			"csi.storage.k8s.io/snapshotter-secret-name: s3-keys", "csi.storage.k8s.io/snapshotter-secret-namespace: piraeus")},
			check: func(t *testing.T, b *plan.Built) {
				require.Len(t, b.Model.VolumeSnapshotClasses, 1)
				require.Equal(t, "snaps", b.Model.VolumeSnapshotClasses[0].Name)
			}},
		{name: "a snapshot type that leaves the cluster needs a remote", docs: []string{snapshotClassWith("snap.linstor.csi.linbit.com/type: linstor")},
			wantErr: `VolumeSnapshotClass/snaps: parameters[snap.linstor.csi.linbit.com/remote-name]: Required value: snapshots of type Linstor are shipped to a LINSTOR remote; name it`},
		{name: "in-cluster snapshots cannot delete the local copy", docs: []string{snapshotClassWith(`snap.linstor.csi.linbit.com/delete-local: "true"`)},
			wantErr: `parameters[snap.linstor.csi.linbit.com/delete-local]: Invalid value: "true": in-cluster snapshots have no other copy`},
		{name: "an unknown snapshot type", docs: []string{snapshotClassWith("snap.linstor.csi.linbit.com/type: tape")},
			wantErr: `parameters[snap.linstor.csi.linbit.com/type]: Unsupported value: "tape": supported values: "InCluster", "Linstor", "S3"`},
		{name: "a snapshot parameter that is not a boolean", docs: []string{snapshotClassWith("snap.linstor.csi.linbit.com/allow-incremental: often")},
			wantErr: `parameters[snap.linstor.csi.linbit.com/allow-incremental]: Invalid value: "often": expected true or false`},
		{name: "an unknown snapshot parameter is ignored with a warning", docs: []string{snapshotClassWith("snap.linstor.csi.linbit.com/compress: zstd")},
			wantWarn: `parameters[snap.linstor.csi.linbit.com/compress]: ignored: linstor-csi knows no snapshot parameter "compress"`},
		{name: "a VolumeSnapshotClass without deletionPolicy", docs: []string{strings.Replace(snapshotClassWith(), "deletionPolicy: Delete\n", "", 1)},
			wantErr: `VolumeSnapshotClass/snaps: deletionPolicy: Unsupported value: "": supported values: "Delete", "Retain"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			built, gotErr, gotWarn := buildDocs(t, plan.BuildOptions{}, tt.docs...)
			if tt.wantErr == "" {
				require.Empty(t, gotErr)
			} else {
				require.Contains(t, gotErr, tt.wantErr)
			}
			if tt.wantWarn != "" {
				require.Contains(t, gotWarn, tt.wantWarn)
			}
			if tt.check != nil && built != nil {
				tt.check(t, built)
			}
		})
	}
}
