package linstorapi

import (
	"net/http"
	"sort"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

func (s *Server) version(*http.Request) (int, any, error) {
	v := s.opts.Version
	if v == "" {
		v = "piraeusctl"
	}
	return http.StatusOK, lapi.ControllerVersion{Version: v, RestApiVersion: RestAPIVersion, GitHash: "piraeusctl"}, nil
}

// remotes: piraeusctl has no remotes (no backup shipping).
func (s *Server) remotes(*http.Request) (int, any, error) {
	return http.StatusOK, lapi.RemoteList{S3Remotes: []lapi.S3Remote{}, LinstorRemotes: []lapi.LinstorRemote{}, EbsRemotes: []lapi.EbsRemote{}}, nil
}

func (s *Server) remoteKind(r *http.Request) (int, any, error) {
	switch r.PathValue("kind") {
	case "s3", "linstor", "ebs":
		return http.StatusOK, []any{}, nil
	}
	return 0, nil, notFound(uint64(linstor.FailNotFoundRemote), "unknown remote kind %q", r.PathValue("kind"))
}

func (s *Server) listNodes(r *http.Request) (int, any, error) {
	t, err := s.topology(r.Context())
	if err != nil {
		return 0, nil, err
	}
	o := parseListOpts(r)
	out := make([]lapi.Node, 0, len(t.Spec.Nodes))
	for i := range t.Spec.Nodes {
		n := nodeDTO(t, &t.Spec.Nodes[i])
		if match(o.nodes, n.Name) && o.propsMatch(n.Props) {
			out = append(out, n)
		}
	}
	return http.StatusOK, page(o, out), nil
}

func (s *Server) getNode(r *http.Request) (int, any, error) {
	t, n, err := s.pathNode(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nodeDTO(t, n), nil
}

func (s *Server) nodePools(r *http.Request) (int, any, error) {
	t, n, err := s.pathNode(r)
	if err != nil {
		return 0, nil, err
	}
	o := parseListOpts(r)
	var out []lapi.StoragePool
	for _, p := range poolDTOs(t, n) {
		if match(o.pools, p.StoragePoolName) && o.propsMatch(p.Props) {
			out = append(out, p)
		}
	}
	return http.StatusOK, page(o, out), nil
}

func (s *Server) nodePool(r *http.Request) (int, any, error) {
	t, n, err := s.pathNode(r)
	if err != nil {
		return 0, nil, err
	}
	for _, p := range poolDTOs(t, n) {
		if p.StoragePoolName == r.PathValue("pool") {
			return http.StatusOK, p, nil
		}
	}
	return 0, nil, notFound(uint64(linstor.FailNotFoundStorPool)|maskStorPool, "storage pool %q not found on node %q", r.PathValue("pool"), n.Name)
}

func (s *Server) viewPools(r *http.Request) (int, any, error) {
	t, err := s.topology(r.Context())
	if err != nil {
		return 0, nil, err
	}
	o := parseListOpts(r)
	var out []lapi.StoragePool
	for i := range t.Spec.Nodes {
		if !match(o.nodes, t.Spec.Nodes[i].Name) {
			continue
		}
		for _, p := range poolDTOs(t, &t.Spec.Nodes[i]) {
			if match(o.pools, p.StoragePoolName) && o.propsMatch(p.Props) {
				out = append(out, p)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StoragePoolName < out[j].StoragePoolName })
	return http.StatusOK, page(o, out), nil
}

// pathNode returns the topology and the node the request's path names;
// LINSTOR's node-not-found error when there is none.
func (s *Server) pathNode(r *http.Request) (*storagev1alpha1.StorageTopology, *storagev1alpha1.TopologyNode, error) {
	t, err := s.topology(r.Context())
	if err != nil {
		return nil, nil, err
	}
	n := topoNode(t, r.PathValue("node"))
	if n == nil {
		return nil, nil, notFound(uint64(linstor.FailNotFoundNode)|maskNode, "node %q not found", r.PathValue("node"))
	}
	return t, n, nil
}
