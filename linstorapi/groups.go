package linstorapi

import (
	"context"
	"net/http"
	"slices"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Resource groups live in the StorageTopology's spec.resourceGroups, a
// list map keyed by name that the operator applies with server-side apply
// (field manager piraeus-operator). Groups the plan derives from
// StorageClasses name them in storageClasses; the API leaves those alone
// except for no-op modifies. Groups made through the API have no
// StorageClass and are written with Update under field manager linstor-api,
// which makes linstor-api their owner: the operator's apply never removes
// an entry it does not own, and the plan (plan --from-cluster) carries an
// API group over while a volume uses it.

const defaultPlaceCount = 2

func rgNotFound(name string) error {
	return notFound(uint64(linstor.FailNotFoundRscGrp)|maskRscGrp, "resource group %q not found", name)
}

func (s *Server) listGroups(r *http.Request) (int, any, error) {
	t, err := s.topology(r.Context())
	if err != nil {
		return 0, nil, err
	}
	o := parseListOpts(r)
	out := make([]lapi.ResourceGroup, 0, len(t.Spec.ResourceGroups))
	for i := range t.Spec.ResourceGroups {
		g := groupDTO(&t.Spec.ResourceGroups[i])
		if o.propsMatch(g.Props) {
			out = append(out, g)
		}
	}
	return http.StatusOK, page(o, out), nil
}

func (s *Server) getGroup(r *http.Request) (int, any, error) {
	t, err := s.topology(r.Context())
	if err != nil {
		return 0, nil, err
	}
	g := group(t, r.PathValue("rg"))
	if g == nil {
		return 0, nil, rgNotFound(r.PathValue("rg"))
	}
	return http.StatusOK, groupDTO(g), nil
}

func (s *Server) createGroup(r *http.Request) (int, any, error) {
	var in lapi.ResourceGroup
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if _, err := objectName(in.Name, uint64(linstor.FailInvldRscGrpName)|maskRscGrp, "resource group"); err != nil {
		return 0, nil, err
	}
	g := storagev1alpha1.ResourceGroup{Name: in.Name, StorageClasses: []string{}, LayerList: []string{"drbd", "storage"}}
	if err := setGroupProps(&g, lapi.GenericPropsModify{OverrideProps: in.Props}); err != nil {
		return 0, nil, err
	}
	if err := applyFilter(&g, in.SelectFilter); err != nil {
		return 0, nil, err
	}
	if g.PlaceCount == 0 {
		g.PlaceCount = defaultPlaceCount
	}
	err := s.updateTopology(r.Context(), func(t *storagev1alpha1.StorageTopology) error {
		if group(t, in.Name) != nil {
			return exists(uint64(linstor.FailExistsRscGrp)|maskRscGrp, "resource group %q already exists", in.Name)
		}
		t.Spec.ResourceGroups = append(t.Spec.ResourceGroups, g)
		slices.SortFunc(t.Spec.ResourceGroups, func(a, b storagev1alpha1.ResourceGroup) int { return strings.Compare(a.Name, b.Name) })
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskRscGrp|opCreate, "New resource group '%s' created.", in.Name)
}

func (s *Server) modifyGroup(r *http.Request) (int, any, error) {
	var in lapi.ResourceGroupModify
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	name := r.PathValue("rg")
	err := s.updateTopology(r.Context(), func(t *storagev1alpha1.StorageTopology) error {
		g := group(t, name)
		if g == nil {
			return rgNotFound(name)
		}
		before := g.DeepCopy()
		if err := setGroupProps(g, lapi.GenericPropsModify{OverrideProps: in.OverrideProps, DeleteProps: in.DeleteProps, DeleteNamespaces: in.DeleteNamespaces}); err != nil {
			return err
		}
		if err := applyFilter(g, in.SelectFilter); err != nil {
			return err
		}
		if len(g.StorageClasses) > 0 && !equality.Semantic.DeepEqual(before, g) {
			return invalid(uint64(linstor.FailAccDeniedRscGrp)|maskRscGrp,
				"resource group %q derives from StorageClass %s: change the StorageClass (the operator converges the group)", name, strings.Join(g.StorageClasses, ", "))
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return ok(http.StatusOK, uint64(linstor.Modified)|maskRscGrp|opModify, "Resource group '%s' modified.", name)
}

func (s *Server) deleteGroup(r *http.Request) (int, any, error) {
	name := r.PathValue("rg")
	vols, err := s.volumes(r.Context())
	if err != nil {
		return 0, nil, err
	}
	for i := range vols {
		if strings.EqualFold(vols[i].Spec.ResourceGroup, name) {
			return 0, nil, fail(http.StatusConflict, uint64(linstor.FailExistsRscDfn)|maskRscGrp|opDelete,
				"resource group %q still has resource definitions (%s)", name, displayName(&vols[i]))
		}
	}
	err = s.updateTopology(r.Context(), func(t *storagev1alpha1.StorageTopology) error {
		g := group(t, name)
		if g == nil {
			return rgNotFound(name)
		}
		if len(g.StorageClasses) > 0 {
			return invalid(uint64(linstor.FailAccDeniedRscGrp)|maskRscGrp,
				"resource group %q derives from StorageClass %s: delete the StorageClass instead", name, strings.Join(g.StorageClasses, ", "))
		}
		t.Spec.ResourceGroups = slices.DeleteFunc(t.Spec.ResourceGroups, func(x storagev1alpha1.ResourceGroup) bool { return x.Name == g.Name })
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return ok(http.StatusOK, uint64(linstor.Deleted)|maskRscGrp|opDelete, "Resource group '%s' deleted.", name)
}

// Volume groups: piraeusctl's groups have one implicit volume group 0
// without properties of its own.
func (s *Server) listVolumeGroups(r *http.Request) (int, any, error) {
	if _, _, err := s.getGroup(r); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, []lapi.VolumeGroup{{VolumeNumber: 0, Props: map[string]string{}}}, nil
}

func (s *Server) getVolumeGroup(r *http.Request) (int, any, error) {
	if _, _, err := s.getGroup(r); err != nil {
		return 0, nil, err
	}
	if r.PathValue("vnr") != "0" {
		return 0, nil, notFound(uint64(linstor.FailNotFoundVlmGrp)|maskRscGrp, "volume group %s of %q not found", r.PathValue("vnr"), r.PathValue("rg"))
	}
	return http.StatusOK, lapi.VolumeGroup{VolumeNumber: 0, Props: map[string]string{}}, nil
}

func (s *Server) createVolumeGroup(r *http.Request) (int, any, error) {
	var in lapi.VolumeGroup
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if _, _, err := s.getGroup(r); err != nil {
		return 0, nil, err
	}
	if in.VolumeNumber != 0 || len(in.Props) > 0 || len(in.Flags) > 0 {
		return 0, nil, invalid(uint64(linstor.FailInvldVlmNr)|maskRscGrp,
			"piraeusctl's resource groups have one volume group, number 0, without properties or flags (got number %d, %d props, flags %v)", in.VolumeNumber, len(in.Props), in.Flags)
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskRscGrp|opCreate, "Volume group 0 of '%s' created.", r.PathValue("rg"))
}

// setGroupProps applies a props change to a group: DrbdOptions/<...> go to
// its drbdOptions, the rest to its properties.
func setGroupProps(g *storagev1alpha1.ResourceGroup, m lapi.GenericPropsModify) error {
	props := map[string]string{}
	for k, v := range g.Properties {
		props[k] = v
	}
	for k, v := range g.DrbdOptions {
		props[propDrbdPrefix+k] = v
	}
	out, err := modifyProps(props, m)
	if err != nil {
		return err
	}
	g.Properties, g.DrbdOptions = nil, nil
	for k, v := range out {
		if rest, isDrbd := strings.CutPrefix(k, propDrbdPrefix); isDrbd && strings.Contains(rest, "/") {
			if g.DrbdOptions == nil {
				g.DrbdOptions = map[string]string{}
			}
			g.DrbdOptions[rest] = v
			continue
		}
		if g.Properties == nil {
			g.Properties = map[string]string{}
		}
		g.Properties[k] = v
	}
	if fs := out[propFSType]; fs != "" {
		g.FSType = fs
	}
	if o, set := out[propFSMkfs]; set {
		g.FSOpts = o
	}
	return nil
}

// applyFilter sets the fields a select filter gives (LINSTOR: an absent
// field keeps its value); fields piraeusctl cannot honour are refused.
func applyFilter(g *storagev1alpha1.ResourceGroup, f lapi.AutoSelectFilter) error {
	if f.AdditionalPlaceCount != 0 || len(f.NotPlaceWithRsc) > 0 || len(f.ProviderList) > 0 || f.DisklessType != "" || f.Overprovision != nil {
		return invalid(uint64(linstor.FailInvldProp)|maskRscGrp,
			"select filter fields additional_place_count, not_place_with_rsc, provider_list, diskless_type and overprovision are not supported on resource groups")
	}
	if f.PlaceCount < 0 {
		return invalid(uint64(linstor.FailInvldPlaceCount), "place_count %d: expected a positive number", f.PlaceCount)
	}
	if f.PlaceCount > 0 {
		g.PlaceCount = f.PlaceCount
	}
	if f.StoragePool != "" {
		g.StoragePools = []string{f.StoragePool}
	}
	if len(f.StoragePoolList) > 0 {
		g.StoragePools = slices.Clone(f.StoragePoolList)
	}
	if len(f.StoragePoolDisklessList) > 0 {
		g.DisklessStoragePool = f.StoragePoolDisklessList[0]
	}
	if len(f.ReplicasOnSame) > 0 {
		g.ReplicasOnSame = slices.Clone(f.ReplicasOnSame)
	}
	if len(f.ReplicasOnDifferent) > 0 {
		g.ReplicasOnDifferent = slices.Clone(f.ReplicasOnDifferent)
	}
	if len(f.XReplicasOnDifferent) > 0 {
		g.XReplicasOnDifferent = map[string]int32{}
		for k, v := range f.XReplicasOnDifferent {
			g.XReplicasOnDifferent[k] = int32(v)
		}
	}
	if f.NotPlaceWithRscRegex != "" {
		g.DoNotPlaceWithRegex = f.NotPlaceWithRscRegex
	}
	if len(f.LayerStack) > 0 {
		l, err := fromLayerNames(f.LayerStack)
		if err != nil {
			return err
		}
		g.LayerList = l
	}
	if f.DisklessOnRemaining {
		g.DisklessOnRemaining = true
	}
	if len(f.NodeNameList) > 0 {
		g.NodeList = slices.Clone(f.NodeNameList)
	}
	return nil
}

// updateTopology changes the StorageTopology's spec with optimistic
// concurrency under field manager linstor-api.
func (s *Server) updateTopology(ctx context.Context, mutate func(*storagev1alpha1.StorageTopology) error) error {
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		t, err := s.topology(ctx)
		if err != nil {
			return err
		}
		if t.Name == "" {
			return fail(http.StatusServiceUnavailable, uint64(linstor.FailUnknownError), "no StorageTopology yet: apply the plan first")
		}
		if !first {
			if err := s.r.Get(ctx, client.ObjectKeyFromObject(t), t); err != nil {
				return internal(err, "read StorageTopology")
			}
		}
		first = false
		if err := mutate(t); err != nil {
			return err
		}
		if err := s.c.Update(ctx, t, client.FieldOwner(FieldManager)); err != nil {
			if apierrors.IsConflict(err) {
				return err
			}
			return writeError(err, "StorageTopology")
		}
		return nil
	})
	if apierrors.IsConflict(err) {
		return fail(http.StatusConflict, uint64(linstor.FailUnknownError), "StorageTopology changed concurrently; retry")
	}
	return err
}
