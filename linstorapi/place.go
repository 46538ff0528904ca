package linstorapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// autoplaceGroup names the effective group one autoplace call places with.
const autoplaceGroup = "linstor-api.autoplace"

// autoplace places diskful replicas until the resource has place_count of
// them (or additional_place_count more), with the placement code the
// controller and `piraeusctl plan` use: the request's select filter over
// the resource group's. A resource that already has enough is left as it
// is. It returns when every replica is deployed with its device path.
func (s *Server) autoplace(r *http.Request) (int, any, error) {
	var in lapi.AutoPlaceRequest
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	rd := r.PathValue("rd")
	ctx := r.Context()
	t, err := s.topology(ctx)
	if err != nil {
		return 0, nil, err
	}
	others, err := s.volumes(ctx)
	if err != nil {
		return 0, nil, err
	}
	added := 0
	v, err := s.updateVolume(ctx, rd, func(v *storagev1alpha1.StorageVolume) error {
		var err error
		added, err = placeMore(t, others, v, in)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if err := s.waitDeployed(ctx, v, specNodes(v)); err != nil {
		return 0, nil, err
	}
	if added == 0 {
		return ok(http.StatusCreated, uint64(linstor.Created)|maskRscDfn, "Resource '%s' is already placed on %s.", rd, strings.Join(specNodes(v), ", "))
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskRsc|opCreate, "Resource '%s' placed on %s.", rd, strings.Join(specNodes(v), ", "))
}

// placeMore adds the replicas an autoplace request asks for to v's spec and
// returns how many it added.
func placeMore(t *storagev1alpha1.StorageTopology, others []storagev1alpha1.StorageVolume, v *storagev1alpha1.StorageVolume, in lapi.AutoPlaceRequest) (int, error) {
	if v.DeletionTimestamp != nil {
		return 0, fail(http.StatusConflict, uint64(linstor.FailInUse)|maskRscDfn, "resource definition %q is being deleted", displayName(v))
	}
	g := group(t, v.Spec.ResourceGroup)
	if g == nil {
		return 0, rgNotFound(v.Spec.ResourceGroup)
	}
	eff := g.DeepCopy()
	eff.Name, eff.ClientList = autoplaceGroup, nil
	f := in.SelectFilter
	additional := f.AdditionalPlaceCount
	f.AdditionalPlaceCount = 0
	nodes := f.NodeNameList
	f.NodeNameList = nil
	if len(in.LayerList) > 0 {
		for _, l := range in.LayerList {
			f.LayerStack = append(f.LayerStack, string(l))
		}
	}
	f.DisklessOnRemaining = f.DisklessOnRemaining || in.DisklessOnRemaining
	if err := applyFilter(eff, f); err != nil {
		return 0, err
	}
	if len(f.LayerStack) > 0 && len(v.Spec.LayerList) == 0 && len(v.Spec.Replicas) == 0 {
		v.Spec.LayerList = eff.LayerList
	}
	if len(v.Spec.LayerList) > 0 {
		eff.LayerList = v.Spec.LayerList
	}
	diskful := 0
	for _, r := range v.Spec.Replicas {
		if !r.Diskless {
			diskful++
		}
	}
	want := int(eff.PlaceCount)
	if want == 0 {
		want = defaultPlaceCount
	}
	if additional > 0 {
		want = diskful + int(additional)
	}
	if diskful >= want && !eff.DisklessOnRemaining {
		return 0, nil
	}
	eff.PlaceCount = int32(want)
	spec := placementSpec(t, eff, nodes, v)
	target := v.DeepCopy()
	target.Spec.ResourceGroup = autoplaceGroup
	input := []storagev1alpha1.StorageVolume{*target}
	for i := range others {
		if others[i].Name != v.Name && len(others[i].Spec.Replicas) > 0 && group(t, others[i].Spec.ResourceGroup) != nil {
			input = append(input, others[i])
		}
	}
	res, err := placement.Place(spec, input, nil, placement.Options{AllowUnplaced: true, NoNumbers: true, MaxOversubscriptionRatio: placement.DefaultMaxOversubscriptionRatio})
	if res == nil {
		return 0, invalid(uint64(linstor.FailNotEnoughNodes)|maskRscDfn, "autoplace %q: %v", displayName(v), err)
	}
	for _, u := range res.Unplaced {
		if u.Volume == v.Name {
			return 0, fail(http.StatusInternalServerError, uint64(linstor.FailNotEnoughNodes)|maskRscDfn,
				"Not enough available nodes: resource %q wants %d diskful replicas, %d can be placed: %s", displayName(v), u.Wanted, u.Placed, strings.Join(u.Reasons, "; "))
		}
	}
	i := slices.IndexFunc(res.Volumes, func(x storagev1alpha1.StorageVolume) bool { return x.Name == v.Name })
	if i < 0 {
		return 0, internal(fmt.Errorf("placement returned no result for %s", v.Name), "autoplace")
	}
	added := 0
	for _, r := range res.Volumes[i].Spec.Replicas {
		if v.Spec.Replica(r.Node) != nil {
			continue
		}
		v.Spec.Replicas = append(v.Spec.Replicas, storagev1alpha1.Replica{Node: r.Node, StoragePool: r.StoragePool,
			Diskless: r.Diskless, TieBreaker: r.TieBreaker, NodeID: r.NodeID})
		added++
	}
	slices.SortFunc(v.Spec.Replicas, func(a, b storagev1alpha1.Replica) int { return strings.Compare(a.Node, b.Node) })
	return added, nil
}

// placementSpec is the topology placement runs on: the effective group
// added, the nodes restricted to the request's node list (and the nodes
// already holding v), and the pools' capacity as the agents report it.
func placementSpec(t *storagev1alpha1.StorageTopology, eff *storagev1alpha1.ResourceGroup, nodes []string, v *storagev1alpha1.StorageVolume) *storagev1alpha1.StorageTopologySpec {
	spec := t.Spec.DeepCopy()
	spec.ResourceGroups = append(spec.ResourceGroups, *eff)
	if len(nodes) > 0 {
		spec.Nodes = slices.DeleteFunc(spec.Nodes, func(n storagev1alpha1.TopologyNode) bool {
			return !slices.ContainsFunc(nodes, func(x string) bool { return strings.EqualFold(x, n.Name) }) && v.Spec.Replica(n.Name) == nil
		})
	}
	for i := range spec.Nodes {
		n := &spec.Nodes[i]
		st := nodeStatus(t, n.Name)
		if st == nil {
			continue
		}
		for j := range n.StoragePools {
			for _, ps := range st.Pools {
				if ps.Name == n.StoragePools[j].Name && ps.Error == "" && ps.CapacityBytes > 0 {
					c := ps.CapacityBytes
					n.StoragePools[j].CapacityBytes = &c
				}
			}
		}
	}
	return spec
}

var _ = context.Background
