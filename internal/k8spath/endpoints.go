package k8spath

import "github.com/piraeusctl/piraeusctl/internal/localup"

// csiEndpoints are the local datastore's CSI sockets.
func csiEndpoints(env *localup.Env) (string, map[string]string) {
	return "", nil // TODO(i14-k8s): from i14-csi's localup CSI services
}
