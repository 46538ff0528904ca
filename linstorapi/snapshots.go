package linstorapi

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	"github.com/LINBIT/golinstor/clonestatus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Snapshots are StorageSnapshots named <volume>.<snapshot>; the controller
// takes them on the nodes (spec.nodes) and reports readiness per node.
// Restores and clones are new StorageVolumes with spec.source.

func snapNotFound(rd, snap string) error {
	return notFound(uint64(linstor.FailNotFoundSnapshot)|maskSnapshot, "snapshot %q of resource definition %q not found", snap, rd)
}

// snapshotDTO is a StorageSnapshot as LINSTOR shows a snapshot definition
// with its snapshots per node.
func snapshotDTO(ss *storagev1alpha1.StorageSnapshot, rdDisplay string) lapi.Snapshot {
	out := lapi.Snapshot{Name: displayName(ss), ResourceName: rdDisplay, Nodes: slices.Clone(ss.Spec.Nodes),
		Props: maps.Clone(ss.Spec.Properties), SnapshotDefinitionProps: maps.Clone(ss.Spec.Properties), Uuid: string(ss.UID)}
	if out.Name == ss.Name {
		out.Name = ss.Spec.SnapshotName
	}
	failed := false
	for _, n := range ss.Status.Nodes {
		failed = failed || n.LastError != ""
	}
	switch {
	case ss.DeletionTimestamp != nil:
		out.Flags = []string{linstor.FlagDelete}
	case ss.Status.ReadyToUse:
		out.Flags = []string{linstor.FlagSuccessful}
	case failed:
		out.Flags = []string{linstor.FlagFailedDeployment}
	}
	for _, vd := range ss.Spec.Volumes {
		out.VolumeDefinitions = append(out.VolumeDefinitions, lapi.SnapshotVolumeDefinition{VolumeNumber: vd.Number,
			SizeKib: uint64(vd.SizeBytes / 1024), VolumeDefinitionProps: maps.Clone(vd.Properties)})
	}
	created := ss.CreationTimestamp.Time
	if ss.Status.CreationTime != nil {
		created = ss.Status.CreationTime.Time
	}
	for _, n := range ss.Spec.Nodes {
		sn := lapi.SnapshotNode{SnapshotName: out.Name, NodeName: n, CreateTimestamp: &lapi.TimeStampMs{Time: created}, Uuid: string(ss.UID) + "-" + n}
		for _, st := range ss.Status.Nodes {
			if st.Node == n && st.Taken {
				sn.Flags = []string{linstor.FlagSuccessful}
			}
		}
		for _, vd := range ss.Spec.Volumes {
			state := "Pending"
			if len(sn.Flags) > 0 {
				state = "Complete"
			}
			sn.SnapshotVolumes = append(sn.SnapshotVolumes, lapi.SnapshotVolumeNode{VlmNr: vd.Number, State: state})
		}
		out.Snapshots = append(out.Snapshots, sn)
	}
	return out
}

// snapshotsOf lists the snapshots of the volumes, filtered.
func (s *Server) snapshotViews(ctx context.Context, o listOpts, only string) ([]lapi.Snapshot, error) {
	snaps, err := s.snapshots(ctx)
	if err != nil {
		return nil, err
	}
	vols, err := s.volumes(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(vols))
	for i := range vols {
		names[vols[i].Name] = displayName(&vols[i])
	}
	out := make([]lapi.Snapshot, 0)
	for i := range snaps {
		ss := &snaps[i]
		rd := names[ss.Spec.Volume]
		if rd == "" {
			rd = ss.Spec.Volume
		}
		if (only != "" && ss.Spec.Volume != only) || !match(o.resources, rd) || !match(o.snapshots, ss.Spec.SnapshotName) {
			continue
		}
		if o.nodes != nil && !slices.ContainsFunc(ss.Spec.Nodes, func(n string) bool { return match(o.nodes, n) }) {
			continue
		}
		out = append(out, snapshotDTO(ss, rd))
	}
	slices.SortFunc(out, func(a, b lapi.Snapshot) int { return cmpPair(a.ResourceName, a.Name, b.ResourceName, b.Name) })
	return page(o, out), nil
}

func (s *Server) viewSnapshots(r *http.Request) (int, any, error) {
	out, err := s.snapshotViews(r.Context(), parseListOpts(r), "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) listSnapshots(r *http.Request) (int, any, error) {
	v, err := s.volume(r.Context(), r.PathValue("rd"))
	if err != nil {
		return 0, nil, err
	}
	out, err := s.snapshotViews(r.Context(), parseListOpts(r), v.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// snapshot reads the StorageSnapshot of rd's snapshot snap.
func (s *Server) snapshot(ctx context.Context, rd, snap string) (*storagev1alpha1.StorageSnapshot, *storagev1alpha1.StorageVolume, error) {
	v, err := s.volume(ctx, rd)
	if err != nil {
		return nil, nil, err
	}
	sn, err := objectName(snap, uint64(linstor.FailInvldSnapshotName)|maskSnapshot, "snapshot")
	if err != nil {
		return nil, nil, snapNotFound(rd, snap)
	}
	ss := &storagev1alpha1.StorageSnapshot{}
	if err := s.c.Get(ctx, types.NamespacedName{Name: storagev1alpha1.SnapshotObjectName(v.Name, sn)}, ss); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, v, snapNotFound(rd, snap)
		}
		return nil, v, internal(err, "read StorageSnapshot")
	}
	return ss, v, nil
}

func (s *Server) getSnapshot(r *http.Request) (int, any, error) {
	ss, v, err := s.snapshot(r.Context(), r.PathValue("rd"), r.PathValue("snap"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, snapshotDTO(ss, displayName(v)), nil
}

func (s *Server) createSnapshot(r *http.Request) (int, any, error) {
	var in lapi.Snapshot
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if in.ResourceName == "" {
		in.ResourceName = r.PathValue("rd")
	}
	if !strings.EqualFold(in.ResourceName, r.PathValue("rd")) {
		return 0, nil, invalid(uint64(linstor.FailInvldRscName)|maskSnapshot, "snapshot resource_name %q differs from the path's %q", in.ResourceName, r.PathValue("rd"))
	}
	return s.takeSnapshots(r.Context(), []lapi.Snapshot{in})
}

func (s *Server) createSnapshots(r *http.Request) (int, any, error) {
	var in struct {
		Snapshots []lapi.Snapshot `json:"snapshots"`
	}
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if len(in.Snapshots) == 0 {
		return 0, nil, invalid(uint64(linstor.FailInvldSnapshotName)|maskSnapshot, "no snapshots in the request")
	}
	return s.takeSnapshots(r.Context(), in.Snapshots)
}

// takeSnapshots creates one StorageSnapshot per requested snapshot, on the
// named nodes or every diskful replica. Existing ones are an error.
func (s *Server) takeSnapshots(ctx context.Context, in []lapi.Snapshot) (int, any, error) {
	var objs []*storagev1alpha1.StorageSnapshot
	for _, sn := range in {
		v, err := s.volume(ctx, sn.ResourceName)
		if err != nil {
			return 0, nil, err
		}
		name, err := objectName(sn.Name, uint64(linstor.FailInvldSnapshotName)|maskSnapshot, "snapshot")
		if err != nil {
			return 0, nil, err
		}
		if err := validateProps(sn.Props, nil); err != nil {
			return 0, nil, err
		}
		if len(v.Spec.Volumes) == 0 {
			return 0, nil, invalid(uint64(linstor.FailNotFoundVlmDfn)|maskSnapshot, "resource definition %q has no volume definitions to snapshot", sn.ResourceName)
		}
		nodes := slices.Clone(sn.Nodes)
		if len(nodes) == 0 {
			for _, r := range v.Spec.Replicas {
				if !r.Diskless {
					nodes = append(nodes, r.Node)
				}
			}
		}
		if len(nodes) == 0 {
			return 0, nil, invalid(uint64(linstor.FailNotEnoughNodes)|maskSnapshot, "resource definition %q has no diskful resource to snapshot", sn.ResourceName)
		}
		for _, n := range nodes {
			if r := v.Spec.Replica(n); r == nil || r.Diskless {
				return 0, nil, invalid(uint64(linstor.FailNotFoundRsc)|maskSnapshot, "resource %q has no diskful replica on node %q", sn.ResourceName, n)
			}
		}
		ss := &storagev1alpha1.StorageSnapshot{}
		ss.Name = storagev1alpha1.SnapshotObjectName(v.Name, name)
		setDisplayName(ss, sn.Name)
		if ss.Annotations[AnnotationName] == "" && sn.Name != name {
			ss.Annotations = map[string]string{AnnotationName: sn.Name}
		}
		ss.Spec = storagev1alpha1.StorageSnapshotSpec{Volume: v.Name, VolumeUID: string(v.UID), SnapshotName: name, Nodes: nodes,
			Volumes: slices.Clone(v.Spec.Volumes), Properties: maps.Clone(sn.Props)}
		controllerutil.AddFinalizer(ss, storagev1alpha1.StorageSnapshotFinalizer)
		objs = append(objs, ss)
	}
	for _, ss := range objs {
		if err := s.c.Create(ctx, ss, client.FieldOwner(FieldManager)); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return 0, nil, exists(uint64(linstor.FailExistsSnapshotDfn)|maskSnapshot|opCreate, "snapshot %q of %q already exists", ss.Spec.SnapshotName, ss.Spec.Volume)
			}
			return 0, nil, writeError(err, "StorageSnapshot "+ss.Name)
		}
	}
	for _, ss := range objs {
		_ = s.poll(ctx, func() (bool, error) {
			err := s.c.Get(ctx, client.ObjectKeyFromObject(ss), &storagev1alpha1.StorageSnapshot{})
			return err == nil, client.IgnoreNotFound(err)
		})
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskSnapshot|opCreate, "%d snapshot(s) created; they turn SUCCESSFUL when taken on every node.", len(objs))
}

func (s *Server) deleteSnapshot(r *http.Request) (int, any, error) {
	if len(r.URL.Query()["nodes"]) > 0 {
		return 0, nil, invalid(uint64(linstor.FailInvldNodeName)|maskSnapshot, "deleting a snapshot on some nodes only is not supported")
	}
	ss, _, err := s.snapshot(r.Context(), r.PathValue("rd"), r.PathValue("snap"))
	if err != nil {
		return 0, nil, err
	}
	uid := ss.UID
	if err := s.c.Delete(r.Context(), ss, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return 0, nil, writeError(err, "StorageSnapshot "+ss.Name)
	}
	// LINSTOR's delete returns when the snapshot is gone; linstor-csi reads
	// a snapshot still flagged DELETE as an error.
	err = s.poll(r.Context(), func() (bool, error) {
		err := s.c.Get(r.Context(), client.ObjectKeyFromObject(ss), &storagev1alpha1.StorageSnapshot{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		return http.StatusOK, success(uint64(linstor.MaskWarn)|maskSnapshot|opDelete, "Snapshot '%s' of '%s' marked for deletion; its storage is still being removed", r.PathValue("snap"), r.PathValue("rd")), nil
	}
	return ok(http.StatusOK, uint64(linstor.Deleted)|maskSnapshot|opDelete, "Snapshot '%s' of '%s' marked for deletion.", r.PathValue("snap"), r.PathValue("rd"))
}

// restoreVolumeDefinitions gives the target resource definition the
// snapshot's volume definitions and the snapshot as its source.
func (s *Server) restoreVolumeDefinitions(r *http.Request) (int, any, error) {
	var in lapi.SnapshotRestore
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	ss, _, err := s.snapshot(r.Context(), r.PathValue("rd"), r.PathValue("snap"))
	if err != nil {
		return 0, nil, err
	}
	_, err = s.updateVolume(r.Context(), in.ToResource, func(v *storagev1alpha1.StorageVolume) error {
		return setSource(v, ss)
	})
	if err != nil {
		return 0, nil, err
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskVlmDfn|opCreate, "Volume definitions of '%s' restored from snapshot '%s'.", in.ToResource, r.PathValue("snap"))
}

// setSource records the snapshot as the volume's source and copies its
// volume definitions (when the volume has none yet).
func setSource(v *storagev1alpha1.StorageVolume, ss *storagev1alpha1.StorageSnapshot) error {
	if v.Spec.Source != nil && v.Spec.Source.Snapshot != ss.Name {
		return invalid(uint64(linstor.FailInvldProp)|maskRscDfn, "resource definition %q already has a source (%+v)", displayName(v), *v.Spec.Source)
	}
	if len(v.Spec.Replicas) > 0 && v.Spec.Source == nil {
		return invalid(uint64(linstor.FailExistsRsc)|maskRscDfn, "resource definition %q already has resources: it cannot be restored into", displayName(v))
	}
	v.Spec.Source = &storagev1alpha1.VolumeSource{Snapshot: ss.Name}
	if len(v.Spec.Volumes) == 0 {
		v.Spec.Volumes = slices.Clone(ss.Spec.Volumes)
	}
	return nil
}

// restoreResource places the restored resource on the requested nodes (or
// the snapshot's) and waits until it is deployed.
func (s *Server) restoreResource(r *http.Request) (int, any, error) {
	var in lapi.SnapshotRestore
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	ss, src, err := s.snapshot(r.Context(), r.PathValue("rd"), r.PathValue("snap"))
	if err != nil {
		return 0, nil, err
	}
	nodes := in.Nodes
	if len(nodes) == 0 {
		nodes = ss.Spec.Nodes
	}
	t, err := s.topology(r.Context())
	if err != nil {
		return 0, nil, err
	}
	v, err := s.updateVolume(r.Context(), in.ToResource, func(v *storagev1alpha1.StorageVolume) error {
		if err := setSource(v, ss); err != nil {
			return err
		}
		for _, n := range nodes {
			if v.Spec.Replica(n) != nil {
				continue
			}
			tn := topoNode(t, n)
			if tn == nil {
				return notFound(uint64(linstor.FailNotFoundNode)|maskRsc, "node %q not found", n)
			}
			rep := storagev1alpha1.Replica{Node: tn.Name, NodeID: freeNodeID(v)}
			if sr := src.Spec.Replica(tn.Name); sr != nil && !sr.Diskless {
				rep.StoragePool = sr.StoragePool
			} else {
				p, err := replicaPool(tn, group(t, v.Spec.ResourceGroup), v, nil)
				if err != nil {
					return err
				}
				rep.StoragePool = p
			}
			v.Spec.Replicas = append(v.Spec.Replicas, rep)
		}
		slices.SortFunc(v.Spec.Replicas, func(a, b storagev1alpha1.Replica) int { return strings.Compare(a.Node, b.Node) })
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if err := s.waitDeployed(r.Context(), v, specNodes(v)); err != nil {
		return 0, nil, err
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskRsc|opCreate, "Resource '%s' restored from snapshot '%s' on %s.", in.ToResource, r.PathValue("snap"), strings.Join(specNodes(v), ", "))
}

// clone creates the target resource definition with the source volume as
// its source and its volume definitions; the controller places it on the
// nodes of the source's transient snapshot.
func (s *Server) clone(r *http.Request) (int, any, error) {
	var in lapi.ResourceDefinitionCloneRequest
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if in.UseZfsClone || len(in.VolumePassphrases) > 0 || in.ExternalName != "" {
		return 0, nil, invalid(uint64(linstor.FailInvldProp)|maskRscDfn, "clone: use_zfs_clone, volume_passphrases and external_name are not supported")
	}
	src, err := s.volume(r.Context(), r.PathValue("rd"))
	if err != nil {
		return 0, nil, err
	}
	groupName := in.ResourceGroup
	if groupName == "" {
		groupName = src.Spec.ResourceGroup
	}
	props, err := modifyProps(src.Spec.Properties, in.GenericPropsModify)
	if err != nil {
		return 0, nil, err
	}
	var layerData []lapi.ResourceDefinitionLayer
	for _, l := range in.LayerList {
		layerData = append(layerData, lapi.ResourceDefinitionLayer{Type: l})
	}
	v, err := s.newVolume(r.Context(), in.Name, groupName, props, layerData)
	if err != nil {
		return 0, nil, err
	}
	if len(v.Spec.LayerList) == 0 {
		v.Spec.LayerList = slices.Clone(src.Spec.LayerList)
	}
	v.Spec.Volumes = slices.Clone(src.Spec.Volumes)
	v.Spec.Source = &storagev1alpha1.VolumeSource{Volume: src.Name}
	// The controller places a clone itself: it takes a transient snapshot
	// of the source and restores it on the nodes that hold it.
	v.Spec.ManualPlacement = false
	if err := s.c.Create(r.Context(), v, client.FieldOwner(FieldManager)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return 0, nil, exists(uint64(linstor.FailExistsRscDfn)|maskRscDfn|opCreate, "resource definition %q already exists", in.Name)
		}
		return 0, nil, writeError(err, "StorageVolume "+v.Name)
	}
	if err := s.waitCached(r.Context(), v.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, lapi.ResourceDefinitionCloneStarted{Location: "/v1/resource-definitions/" + r.PathValue("rd") + "/clone/" + in.Name,
		SourceName: r.PathValue("rd"), CloneName: in.Name}, nil
}

// cloneStatus: COMPLETE when the clone is Ready, FAILED when a replica
// reports an error, CLONING before.
func (s *Server) cloneStatus(r *http.Request) (int, any, error) {
	v, err := s.volume(r.Context(), r.PathValue("target"))
	if err != nil {
		return 0, nil, err
	}
	st := clonestatus.Cloning
	if c := meta.FindStatusCondition(v.Status.Conditions, storagev1alpha1.ConditionReady); c != nil && c.Status == "True" {
		st = clonestatus.Complete
	}
	for _, rs := range v.Status.Replicas {
		if rs.LastError != "" {
			st = clonestatus.Failed
		}
	}
	return http.StatusOK, lapi.ResourceDefinitionCloneStatus{Status: st}, nil
}
