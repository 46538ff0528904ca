package linstorapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

func rscNotFound(rd, node string) error {
	return notFound(uint64(linstor.FailNotFoundRsc)|maskRsc, "resource %q not found on node %q", rd, node)
}

func (s *Server) viewResources(r *http.Request) (int, any, error) {
	t, err := s.topology(r.Context())
	if err != nil {
		return 0, nil, err
	}
	vols, err := s.volumes(r.Context())
	if err != nil {
		return 0, nil, err
	}
	o := parseListOpts(r)
	out := make([]lapi.ResourceWithVolumes, 0, len(vols))
	for i := range vols {
		if !match(o.resources, displayName(&vols[i])) {
			continue
		}
		for _, res := range resourceDTOs(t, &vols[i]) {
			if match(o.nodes, res.NodeName) && o.propsMatch(res.Props) && s.poolsMatch(o, res) {
				out = append(out, res)
			}
		}
	}
	slices.SortFunc(out, func(a, b lapi.ResourceWithVolumes) int {
		return cmpPair(a.Name, a.NodeName, b.Name, b.NodeName)
	})
	return http.StatusOK, page(o, out), nil
}

func (s *Server) poolsMatch(o listOpts, res lapi.ResourceWithVolumes) bool {
	if o.pools == nil {
		return true
	}
	return slices.ContainsFunc(res.Volumes, func(v lapi.Volume) bool { return match(o.pools, v.StoragePoolName) })
}

func cmpPair(a1, a2, b1, b2 string) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	return strings.Compare(a2, b2)
}

// resources answers the resources of one resource definition.
func (s *Server) resources(r *http.Request) (*storagev1alpha1.StorageVolume, []lapi.ResourceWithVolumes, error) {
	v, err := s.volume(r.Context(), r.PathValue("rd"))
	if err != nil {
		return nil, nil, err
	}
	t, err := s.topology(r.Context())
	if err != nil {
		return nil, nil, err
	}
	return v, resourceDTOs(t, v), nil
}

func (s *Server) listResources(r *http.Request) (int, any, error) {
	_, res, err := s.resources(r)
	if err != nil {
		return 0, nil, err
	}
	o := parseListOpts(r)
	out := make([]lapi.ResourceWithVolumes, 0, len(res))
	for _, x := range res {
		if match(o.nodes, x.NodeName) && o.propsMatch(x.Props) {
			out = append(out, x)
		}
	}
	return http.StatusOK, page(o, out), nil
}

// resource finds the resource of rd on the path's node.
func (s *Server) resource(r *http.Request) (*lapi.ResourceWithVolumes, error) {
	_, res, err := s.resources(r)
	if err != nil {
		return nil, err
	}
	for i := range res {
		if strings.EqualFold(res[i].NodeName, r.PathValue("node")) {
			return &res[i], nil
		}
	}
	return nil, rscNotFound(r.PathValue("rd"), r.PathValue("node"))
}

func (s *Server) getResource(r *http.Request) (int, any, error) {
	res, err := s.resource(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res.Resource, nil
}

func (s *Server) listVolumes(r *http.Request) (int, any, error) {
	res, err := s.resource(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res.Volumes, nil
}

func (s *Server) getVolume(r *http.Request) (int, any, error) {
	nr, err := intParam(r, "vnr")
	if err != nil {
		return 0, nil, err
	}
	res, err := s.resource(r)
	if err != nil {
		return 0, nil, err
	}
	for _, v := range res.Volumes {
		if v.VolumeNumber == nr {
			return http.StatusOK, v, nil
		}
	}
	return 0, nil, notFound(uint64(linstor.FailNotFoundVlm)|maskRsc, "volume %d of resource %q on %q not found", nr, r.PathValue("rd"), r.PathValue("node"))
}

// disklessFlags are the flags that ask for a diskless resource.
var disklessFlags = []string{linstor.FlagDiskless, linstor.FlagDrbdDiskless, linstor.FlagNvmeInitiator}

func (s *Server) createResource(r *http.Request) (int, any, error) {
	var in lapi.ResourceCreate
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	rd, node := r.PathValue("rd"), r.PathValue("node")
	if in.Resource.NodeName != "" && !strings.EqualFold(in.Resource.NodeName, node) {
		return 0, nil, invalid(uint64(linstor.FailInvldNodeName)|maskRsc, "resource node_name %q differs from the path's node %q", in.Resource.NodeName, node)
	}
	diskless := false
	for _, f := range in.Resource.Flags {
		switch {
		case slices.Contains(disklessFlags, f):
			diskless = true
		case f == linstor.FlagTieBreaker:
		default:
			return 0, nil, invalid(uint64(linstor.FailInvldProp)|maskRsc, "resource flag %q is not supported (expected DISKLESS, DRBD_DISKLESS, NVME_INITIATOR or TIE_BREAKER)", f)
		}
	}
	if in.DrbdNodeId != 0 {
		return 0, nil, invalid(uint64(linstor.FailInvldNodeId)|maskRsc, "drbd_node_id cannot be chosen: the controller assigns node ids")
	}
	if err := validateProps(in.Resource.Props, nil); err != nil {
		return 0, nil, err
	}
	v, err := s.addReplica(r, rd, node, !diskless, in.Resource.Props, false)
	if err != nil {
		return 0, nil, err
	}
	if err := s.waitDeployed(r.Context(), v, []string{v.Spec.Replica(canonicalNode(v, node)).Node}); err != nil {
		return 0, nil, err
	}
	return ok(http.StatusCreated, uint64(linstor.Created)|maskRsc|opCreate, "Resource '%s' successfully created on node '%s'.", rd, node)
}

// canonicalNode is the spec's spelling of node.
func canonicalNode(v *storagev1alpha1.StorageVolume, node string) string {
	for _, r := range v.Spec.Replicas {
		if strings.EqualFold(r.Node, node) {
			return r.Node
		}
	}
	return node
}

// addReplica adds a replica on node to the volume's spec: diskful in the
// pool StorPoolName names (resource props, else the definition's, else
// the group's first pool on the node), or diskless (DRBD only). With
// existingOK a replica already there is no error.
func (s *Server) addReplica(r *http.Request, rd, node string, diskful bool, props map[string]string, existingOK bool) (*storagev1alpha1.StorageVolume, error) {
	t, err := s.topology(r.Context())
	if err != nil {
		return nil, err
	}
	tn := topoNode(t, node)
	if tn == nil {
		return nil, notFound(uint64(linstor.FailNotFoundNode)|maskRsc, "node %q not found", node)
	}
	return s.updateVolume(r.Context(), rd, func(v *storagev1alpha1.StorageVolume) error {
		if cur := v.Spec.Replica(tn.Name); cur != nil {
			if existingOK && (cur.Diskless || !diskful) {
				if diskful && cur.Diskless {
					return invalid(uint64(linstor.FailInvldProp)|maskRsc, "resource %q on %q is diskless: toggling it diskful is not supported", rd, tn.Name)
				}
				return nil
			}
			if existingOK {
				return nil
			}
			return exists(uint64(linstor.FailExistsRsc)|maskRsc|opCreate, "resource %q already exists on node %q", rd, tn.Name)
		}
		if v.DeletionTimestamp != nil {
			return fail(http.StatusConflict, uint64(linstor.FailInUse)|maskRsc, "resource definition %q is being deleted", rd)
		}
		g := group(t, v.Spec.ResourceGroup)
		rep := storagev1alpha1.Replica{Node: tn.Name, NodeID: freeNodeID(v)}
		if rep.NodeID < 0 {
			return invalid(uint64(linstor.FailInvldNodeId)|maskRsc, "resource %q has 32 replicas: DRBD has no node id left", rd)
		}
		if diskful {
			p, err := replicaPool(tn, g, v, props)
			if err != nil {
				return err
			}
			rep.StoragePool = p
		} else {
			if !hasDRBD(layers(v, g)) {
				return invalid(uint64(linstor.FailInvldLayerStack)|maskRsc,
					"resource %q on %q: a diskless resource needs the DRBD layer; layers are %s", rd, tn.Name, strings.Join(layers(v, g), ","))
			}
			rep.Diskless = true
		}
		v.Spec.Replicas = append(v.Spec.Replicas, rep)
		slices.SortFunc(v.Spec.Replicas, func(a, b storagev1alpha1.Replica) int { return strings.Compare(a.Node, b.Node) })
		if len(props) > 0 {
			all := resourceProps(v)
			np := all[tn.Name]
			np.Rsc = props
			all[tn.Name] = np
			setResourceProps(v, all)
		}
		return nil
	})
}

// freeNodeID is the lowest DRBD node id no replica of v uses (-1: none).
func freeNodeID(v *storagev1alpha1.StorageVolume) int32 {
	for id := int32(0); id < 32; id++ {
		if !slices.ContainsFunc(v.Spec.Replicas, func(r storagev1alpha1.Replica) bool { return r.NodeID == id }) {
			return id
		}
	}
	return -1
}

// replicaPool chooses the pool of a diskful replica on a node.
func replicaPool(tn *storagev1alpha1.TopologyNode, g *storagev1alpha1.ResourceGroup, v *storagev1alpha1.StorageVolume, props map[string]string) (string, error) {
	want := props[linstor.KeyStorPoolName]
	if want == "" {
		want = v.Spec.Properties[linstor.KeyStorPoolName]
	}
	if want == "" && g != nil {
		want = g.Properties[linstor.KeyStorPoolName]
	}
	if want != "" {
		if pool(tn, want) == nil {
			return "", notFound(uint64(linstor.FailNotFoundStorPool)|maskRsc, "storage pool %q not found on node %q", want, tn.Name)
		}
		return want, nil
	}
	if g != nil {
		for _, p := range g.StoragePools {
			if pool(tn, p) != nil {
				return p, nil
			}
		}
		if len(g.StoragePools) > 0 {
			return "", notFound(uint64(linstor.FailNotFoundStorPool)|maskRsc, "node %q has none of the resource group's storage pools %v", tn.Name, g.StoragePools)
		}
	}
	if len(tn.StoragePools) == 0 {
		return "", notFound(uint64(linstor.FailNotFoundStorPool)|maskRsc, "node %q has no storage pool", tn.Name)
	}
	return tn.StoragePools[0].Name, nil
}

func (s *Server) makeAvailable(r *http.Request) (int, any, error) {
	var in lapi.ResourceMakeAvailable
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	rd, node := r.PathValue("rd"), r.PathValue("node")
	v, err := s.addReplica(r, rd, node, in.Diskful, nil, true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.waitDeployed(r.Context(), v, []string{canonicalNode(v, node)}); err != nil {
		return 0, nil, err
	}
	return ok(http.StatusOK, uint64(linstor.Created)|maskRsc|opCreate, "Resource '%s' is available on node '%s'.", rd, node)
}

func (s *Server) deleteResource(r *http.Request) (int, any, error) {
	rd, node := r.PathValue("rd"), r.PathValue("node")
	var canonical string
	last := false
	_, err := s.updateVolume(r.Context(), rd, func(v *storagev1alpha1.StorageVolume) error {
		i := slices.IndexFunc(v.Spec.Replicas, func(x storagev1alpha1.Replica) bool { return strings.EqualFold(x.Node, node) })
		if i < 0 {
			return rscNotFound(rd, node)
		}
		canonical = v.Spec.Replicas[i].Node
		if st := v.Status.Replica(canonical); st != nil && st.InUse {
			return fail(http.StatusConflict, uint64(linstor.FailInUse)|maskRsc|opDelete, "resource %q is in use on node %q", rd, canonical)
		}
		v.Spec.Replicas = slices.Delete(v.Spec.Replicas, i, i+1)
		last = len(v.Spec.Replicas) == 0
		all := resourceProps(v)
		delete(all, canonical)
		setResourceProps(v, all)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if last {
		// The controller never destroys the last copy of a volume that
		// still exists: its storage goes with the resource definition
		// (linstor-csi deletes it next); until then the resource shows
		// with the DELETE flag.
		return ok(http.StatusOK, uint64(linstor.Deleted)|maskRsc|opDelete, "Resource '%s' on node '%s' marked for deletion; the last copy's storage goes with the resource definition.", rd, canonical)
	}
	vol, err := s.volume(r.Context(), rd)
	if err == nil {
		if err := s.waitReplicaGone(r.Context(), vol.Name, canonical); err != nil {
			return http.StatusOK, success(uint64(linstor.MaskWarn)|maskRsc|opDelete, "Resource '%s' on '%s' marked for deletion: %v", rd, canonical, err), nil
		}
	}
	return ok(http.StatusOK, uint64(linstor.Deleted)|maskRsc|opDelete, "Resource '%s' on node '%s' deleted.", rd, canonical)
}

func (s *Server) modifyResource(r *http.Request) (int, any, error) {
	var in lapi.GenericPropsModify
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	return s.modifyNodeProps(r, in, "")
}

func (s *Server) modifyVolume(r *http.Request) (int, any, error) {
	var in lapi.GenericPropsModify
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	nr, err := intParam(r, "vnr")
	if err != nil {
		return 0, nil, err
	}
	return s.modifyNodeProps(r, in, strconv.Itoa(int(nr)))
}

// modifyNodeProps changes the props of a resource (vnr "") or of one of its volumes.
func (s *Server) modifyNodeProps(r *http.Request, in lapi.GenericPropsModify, vnr string) (int, any, error) {
	rd, node := r.PathValue("rd"), r.PathValue("node")
	_, err := s.updateVolume(r.Context(), rd, func(v *storagev1alpha1.StorageVolume) error {
		n := canonicalNode(v, node)
		if v.Spec.Replica(n) == nil {
			return rscNotFound(rd, node)
		}
		all := resourceProps(v)
		np := all[n]
		if vnr == "" {
			p, err := modifyProps(np.Rsc, in)
			if err != nil {
				return err
			}
			np.Rsc = p
		} else {
			if !slices.ContainsFunc(v.Spec.Volumes, func(x storagev1alpha1.VolumeDefinition) bool { return strconv.Itoa(int(x.Number)) == vnr }) {
				return notFound(uint64(linstor.FailNotFoundVlm)|maskRsc, "volume %s of resource %q on %q not found", vnr, rd, node)
			}
			p, err := modifyProps(np.Vlm[vnr], in)
			if err != nil {
				return err
			}
			if np.Vlm == nil {
				np.Vlm = map[string]map[string]string{}
			}
			np.Vlm[vnr] = p
			if p == nil {
				delete(np.Vlm, vnr)
			}
		}
		all[n] = np
		setResourceProps(v, all)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return ok(http.StatusOK, uint64(linstor.Modified)|maskRsc|opModify, "Resource '%s' on node '%s' modified.", rd, node)
}
