package k8spath

import "github.com/piraeusctl/piraeusctl/internal/localup"

// csiEndpoints are the local datastore's CSI sockets: its controller
// service and each node's node service.
func csiEndpoints(env *localup.Env) (string, map[string]string) {
	nodes := map[string]string{}
	for _, n := range env.Nodes {
		if n.CSIEndpoint != "" {
			nodes[n.Name] = n.CSIEndpoint
		}
	}
	return env.CSIControllerEndpoint, nodes
}
