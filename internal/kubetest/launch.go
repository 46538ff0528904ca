package kubetest

import (
	"k8s.io/client-go/rest"
)

// Launch starts etcd and kube-apiserver outside a test (hack/local-up.sh);
// Stop ends them. It fails when PIRAEUSCTL_SKIP_INTEGRATION=1 is set, since
// the caller needs the server.
func Launch() (*Env, error) {
	e := &Env{}
	if err := e.start(); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// Stop ends a Launched API server and removes its files.
func (e *Env) Stop() { e.stop() }

// RESTConfig is the admin configuration of a Launched server.
func (e *Env) RESTConfig() *rest.Config { return rest.CopyConfig(e.cfg) }

// KubeconfigPath is the admin kubeconfig file of a Launched server.
func (e *Env) KubeconfigPath() string { return e.kubeconfig }
