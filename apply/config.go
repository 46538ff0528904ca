package apply

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ClientOptions select the cluster like kubectl's global flags do.
type ClientOptions struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG or ~/.kube/config,
	// and in-cluster config when none exists and the process runs in a Pod.
	Kubeconfig string
	// Context is the kubeconfig context; empty means the current one.
	Context string
	// Namespace overrides the context's namespace.
	Namespace string
}

// RESTConfig loads the client configuration. It raises client-side rate
// limits, since applies are bounded by the server, not by the client.
func (o ClientOptions) RESTConfig() (*rest.Config, error) {
	cfg, err := o.clientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS = 100
	cfg.Burst = 200
	return cfg, nil
}

// ResolvedNamespace returns the -n flag, else the context's namespace, else
// fallback.
func (o ClientOptions) ResolvedNamespace(fallback string) string {
	if o.Namespace != "" {
		return o.Namespace
	}
	ns, overridden, err := o.clientConfig().Namespace()
	if err == nil && (overridden || ns != "default") && ns != "" {
		return ns
	}
	return fallback
}

func (o ClientOptions) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	if o.Namespace != "" {
		overrides.Context.Namespace = o.Namespace
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}
