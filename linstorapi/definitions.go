package linstorapi

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// DefaultGroup is the resource group of a resource definition created without one.
const DefaultGroup = "DfltRscGrp"

func (s *Server) listDefinitions(r *http.Request) (int, any, error) {
	t, err := s.topology(r.Context())
	if err != nil {
		return 0, nil, err
	}
	vols, err := s.volumes(r.Context())
	if err != nil {
		return 0, nil, err
	}
	o := parseListOpts(r)
	withVDs := r.URL.Query().Get("with_volume_definitions") == "true"
	out := make([]lapi.ResourceDefinitionWithVolumeDefinition, 0, len(vols))
	for i := range vols {
		v := &vols[i]
		if !match(o.resources, displayName(v)) || !o.propsMatch(v.Spec.Properties) {
			continue
		}
		rd := rdDTO(v, group(t, v.Spec.ResourceGroup))
		if !withVDs {
			rd.VolumeDefinitions = nil
		}
		out = append(out, rd)
	}
	slices.SortFunc(out, func(a, b lapi.ResourceDefinitionWithVolumeDefinition) int { return strings.Compare(a.Name, b.Name) })
	return http.StatusOK, page(o, out), nil
}

func (s *Server) getDefinition(r *http.Request) (int, any, error) {
	v, err := s.volume(r.Context(), r.PathValue("rd"))
	if err != nil {
		return 0, nil, err
	}
	t, err := s.topology(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rdDTO(v, group(t, v.Spec.ResourceGroup)).ResourceDefinition, nil
}

func (s *Server) createDefinition(r *http.Request) (int, any, error) {
	var in lapi.ResourceDefinitionCreate
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	rd := in.ResourceDefinition
	if in.DrbdPort != 0 || in.DrbdSecret != "" || in.DrbdTransportType != "" || rd.ExternalName != "" || len(rd.Flags) > 0 {
		return 0, nil, invalid(uint64(linstor.FailInvldProp)|maskRscDfn,
			"resource definition %q: drbd_port, drbd_secret, drbd_transport_type, external_name and flags are not supported (the controller allocates ports per node)", rd.Name)
	}
	v, err := s.newVolume(r.Context(), rd.Name, rd.ResourceGroupName, rd.Props, rd.LayerData)
	if err != nil {
		return 0, nil, err
	}
	if err := s.c.Create(r.Context(), v, client.FieldOwner(FieldManager)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return 0, nil, exists(uint64(linstor.FailExistsRscDfn)|maskRscDfn|opCreate, "resource definition %q already exists", rd.Name)
		}
		return 0, nil, writeError(err, "StorageVolume "+v.Name)
	}
	if err := s.waitCached(r.Context(), v.Name); err != nil {
		return 0, nil, err
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskRscDfn|opCreate, "New resource definition '%s' created.", rd.Name)
}

// newVolume builds the StorageVolume of a new resource definition (manual
// placement: replicas come from autoplace and resource create).
func (s *Server) newVolume(ctx context.Context, name, groupName string, props map[string]string, layerData []lapi.ResourceDefinitionLayer) (*storagev1alpha1.StorageVolume, error) {
	obj, err := rdName(name)
	if err != nil {
		return nil, err
	}
	if err := validateProps(props, nil); err != nil {
		return nil, err
	}
	if groupName == "" {
		groupName = DefaultGroup
	}
	g, err := s.ensureGroup(ctx, groupName)
	if err != nil {
		return nil, err
	}
	v := &storagev1alpha1.StorageVolume{}
	v.Name = obj
	setDisplayName(v, name)
	v.Spec = storagev1alpha1.StorageVolumeSpec{ResourceGroup: g.Name, ManualPlacement: true}
	if len(props) > 0 {
		v.Spec.Properties = maps.Clone(props)
	}
	var names []string
	for _, l := range layerData {
		names = append(names, string(l.Type))
	}
	if len(names) > 0 {
		if v.Spec.LayerList, err = fromLayerNames(names); err != nil {
			return nil, err
		}
	}
	controllerutil.AddFinalizer(v, storagev1alpha1.StorageVolumeFinalizer)
	return v, nil
}

// ensureGroup finds a resource group; LINSTOR's default group is created
// on first use.
func (s *Server) ensureGroup(ctx context.Context, name string) (*storagev1alpha1.ResourceGroup, error) {
	t, err := s.topology(ctx)
	if err != nil {
		return nil, err
	}
	if g := group(t, name); g != nil {
		return g, nil
	}
	if !strings.EqualFold(name, DefaultGroup) {
		return nil, rgNotFound(name)
	}
	g := storagev1alpha1.ResourceGroup{Name: DefaultGroup, StorageClasses: []string{}, PlaceCount: defaultPlaceCount, LayerList: []string{"drbd", "storage"}}
	err = s.updateTopology(ctx, func(t *storagev1alpha1.StorageTopology) error {
		if group(t, name) == nil {
			t.Spec.ResourceGroups = append(t.Spec.ResourceGroups, g)
			slices.SortFunc(t.Spec.ResourceGroups, func(a, b storagev1alpha1.ResourceGroup) int { return strings.Compare(a.Name, b.Name) })
		}
		return nil
	})
	return &g, err
}

func (s *Server) modifyDefinition(r *http.Request) (int, any, error) {
	var in lapi.ResourceDefinitionModify
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	rd := r.PathValue("rd")
	if in.DrbdPort != 0 || in.DrbdPeerSlots != 0 {
		return 0, nil, invalid(uint64(linstor.FailInvldProp)|maskRscDfn, "resource definition %q: drbd_port and drbd_peer_slots cannot be set (the controller allocates them)", rd)
	}
	var g *storagev1alpha1.ResourceGroup
	if in.ResourceGroup != "" {
		var err error
		if g, err = s.ensureGroup(r.Context(), in.ResourceGroup); err != nil {
			return 0, nil, err
		}
	}
	_, err := s.updateVolume(r.Context(), rd, func(v *storagev1alpha1.StorageVolume) error {
		props, err := modifyProps(v.Spec.Properties, in.GenericPropsModify)
		if err != nil {
			return err
		}
		v.Spec.Properties = props
		if g != nil && g.Name != v.Spec.ResourceGroup {
			if len(v.Spec.Replicas) > 0 {
				return invalid(uint64(linstor.FailInvldProp)|maskRscDfn, "resource definition %q has resources: its resource group cannot change", rd)
			}
			v.Spec.ResourceGroup = g.Name
		}
		if len(in.LayerStack) > 0 {
			names := make([]string, 0, len(in.LayerStack))
			for _, l := range in.LayerStack {
				names = append(names, string(l))
			}
			l, err := fromLayerNames(names)
			if err != nil {
				return err
			}
			if len(v.Spec.Replicas) > 0 && !slices.Equal(l, v.Spec.LayerList) {
				return invalid(uint64(linstor.FailInvldLayerStack)|maskRscDfn, "resource definition %q has resources: its layer stack cannot change", rd)
			}
			v.Spec.LayerList = l
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return ok(http.StatusOK, uint64(linstor.Modified)|maskRscDfn|opModify, "Resource definition '%s' modified.", rd)
}

func (s *Server) deleteDefinition(r *http.Request) (int, any, error) {
	rd := r.PathValue("rd")
	v, err := s.volume(r.Context(), rd)
	if err != nil {
		return 0, nil, err
	}
	snaps, err := s.snapshots(r.Context())
	if err != nil {
		return 0, nil, err
	}
	for i := range snaps {
		if snaps[i].Spec.Volume == v.Name {
			return 0, nil, fail(http.StatusConflict, uint64(linstor.FailExistsSnapshotDfn)|maskRscDfn|opDelete,
				"resource definition %q still has snapshot %q", rd, snaps[i].Spec.SnapshotName)
		}
	}
	uid := v.UID
	if err := s.c.Delete(r.Context(), v, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return 0, nil, writeError(err, "StorageVolume "+v.Name)
	}
	if err := s.waitGone(r.Context(), v.Name); err != nil {
		return http.StatusOK, success(uint64(linstor.MaskWarn)|maskRscDfn|opDelete,
			"Resource definition '%s' marked for deletion; its storage is still being removed: %v", rd, err), nil
	}
	return ok(http.StatusOK, uint64(linstor.Deleted)|maskRscDfn|opDelete, "Resource definition '%s' deleted.", rd)
}

func vdNotFound(rd string, nr int32) error {
	return notFound(uint64(linstor.FailNotFoundVlmDfn)|maskVlmDfn, "volume definition %d of %q not found", nr, rd)
}

func (s *Server) listVolumeDefinitions(r *http.Request) (int, any, error) {
	v, err := s.volume(r.Context(), r.PathValue("rd"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]lapi.VolumeDefinition, 0, len(v.Spec.Volumes))
	for _, vd := range v.Spec.Volumes {
		out = append(out, vdDTO(v, vd))
	}
	return http.StatusOK, out, nil
}

func (s *Server) getVolumeDefinition(r *http.Request) (int, any, error) {
	nr, err := intParam(r, "vnr")
	if err != nil {
		return 0, nil, err
	}
	v, err := s.volume(r.Context(), r.PathValue("rd"))
	if err != nil {
		return 0, nil, err
	}
	for _, vd := range v.Spec.Volumes {
		if vd.Number == nr {
			return http.StatusOK, vdDTO(v, vd), nil
		}
	}
	return 0, nil, vdNotFound(r.PathValue("rd"), nr)
}

func (s *Server) createVolumeDefinition(r *http.Request) (int, any, error) {
	var in lapi.VolumeDefinitionCreate
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	rd := r.PathValue("rd")
	vd := in.VolumeDefinition
	if in.DrbdMinorNumber != 0 || len(vd.Flags) > 0 || len(vd.LayerData) > 0 {
		return 0, nil, invalid(uint64(linstor.FailInvldProp)|maskVlmDfn, "volume definition of %q: drbd_minor_number, flags and layer_data are not supported (the controller allocates minors per node)", rd)
	}
	if vd.SizeKib == 0 || vd.SizeKib > 1<<53 {
		return 0, nil, invalid(uint64(linstor.FailInvldVlmSize)|maskVlmDfn, "volume definition of %q: size_kib %d: expected a positive size in KiB", rd, vd.SizeKib)
	}
	if err := validateProps(vd.Props, nil); err != nil {
		return 0, nil, err
	}
	var nr int32
	v, err := s.updateVolume(r.Context(), rd, func(v *storagev1alpha1.StorageVolume) error {
		nr = 0
		for _, x := range v.Spec.Volumes {
			nr = max(nr, x.Number+1)
		}
		if vd.VolumeNumber != nil {
			nr = *vd.VolumeNumber
		}
		if nr < 0 || nr > 65534 {
			return invalid(uint64(linstor.FailInvldVlmNr)|maskVlmDfn, "volume number %d: expected 0-65534", nr)
		}
		for _, x := range v.Spec.Volumes {
			if x.Number == nr {
				return exists(uint64(linstor.FailExistsVlmDfn)|maskVlmDfn|opCreate, "volume definition %d of %q already exists", nr, rd)
			}
		}
		v.Spec.Volumes = append(v.Spec.Volumes, storagev1alpha1.VolumeDefinition{Number: nr, SizeBytes: int64(vd.SizeKib) * 1024, Properties: maps.Clone(vd.Props)})
		slices.SortFunc(v.Spec.Volumes, func(a, b storagev1alpha1.VolumeDefinition) int { return int(a.Number - b.Number) })
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if err := s.waitDeployed(r.Context(), v, specNodes(v)); err != nil {
		return 0, nil, err
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskVlmDfn|opCreate, "New volume definition with number '%d' of resource definition '%s' created.", nr, rd)
}

func (s *Server) modifyVolumeDefinition(r *http.Request) (int, any, error) {
	var in lapi.VolumeDefinitionModify
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	nr, err := intParam(r, "vnr")
	if err != nil {
		return 0, nil, err
	}
	rd := r.PathValue("rd")
	if len(in.Flags) > 0 {
		return 0, nil, invalid(uint64(linstor.FailInvldProp)|maskVlmDfn, "volume definition flags %v are not supported", in.Flags)
	}
	_, err = s.updateVolume(r.Context(), rd, func(v *storagev1alpha1.StorageVolume) error {
		for i := range v.Spec.Volumes {
			vd := &v.Spec.Volumes[i]
			if vd.Number != nr {
				continue
			}
			if in.SizeKib != 0 {
				size := int64(in.SizeKib) * 1024
				if size < vd.SizeBytes {
					return invalid(uint64(linstor.FailInvldVlmSize)|maskVlmDfn, "volume definition %d of %q: shrinking from %d to %d KiB is not supported", nr, rd, vd.SizeBytes/1024, in.SizeKib)
				}
				vd.SizeBytes = size
			}
			props, err := modifyProps(vd.Properties, in.GenericPropsModify)
			if err != nil {
				return err
			}
			vd.Properties = props
			return nil
		}
		return vdNotFound(rd, nr)
	})
	if err != nil {
		return 0, nil, err
	}
	return ok(http.StatusOK, uint64(linstor.Modified)|maskVlmDfn|opModify, "Volume definition with number '%d' of resource definition '%s' modified.", nr, rd)
}

func (s *Server) deleteVolumeDefinition(r *http.Request) (int, any, error) {
	nr, err := intParam(r, "vnr")
	if err != nil {
		return 0, nil, err
	}
	rd := r.PathValue("rd")
	_, err = s.updateVolume(r.Context(), rd, func(v *storagev1alpha1.StorageVolume) error {
		i := slices.IndexFunc(v.Spec.Volumes, func(x storagev1alpha1.VolumeDefinition) bool { return x.Number == nr })
		if i < 0 {
			return vdNotFound(rd, nr)
		}
		if len(v.Spec.Replicas) > 0 {
			return fail(http.StatusConflict, uint64(linstor.FailInUse)|maskVlmDfn|opDelete,
				"volume definition %d of %q: delete the resources first (%s)", nr, rd, strings.Join(specNodes(v), ", "))
		}
		v.Spec.Volumes = slices.Delete(v.Spec.Volumes, i, i+1)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return ok(http.StatusOK, uint64(linstor.Deleted)|maskVlmDfn|opDelete, "Volume definition with number '%d' of resource definition '%s' deleted.", nr, rd)
}

// specNodes are the nodes of the volume's spec replicas.
func specNodes(v *storagev1alpha1.StorageVolume) []string {
	out := make([]string, 0, len(v.Spec.Replicas))
	for _, r := range v.Spec.Replicas {
		out = append(out, r.Node)
	}
	return out
}

// waitCached waits until the cache holds the object just created, so
// that the caller's next read finds it.
func (s *Server) waitCached(ctx context.Context, name string) error {
	return s.poll(ctx, func() (bool, error) {
		err := s.c.Get(ctx, types.NamespacedName{Name: name}, &storagev1alpha1.StorageVolume{})
		return err == nil, client.IgnoreNotFound(err)
	})
}
