package main

import (
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/piraeusctl/piraeusctl/apply"
)

// kubeFlags are kubectl's cluster-selection flags. The namespace flag (-n)
// belongs to specFlags on commands that also build a plan, so both agree.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

// register adds --kubeconfig and --context, and -n unless the command's
// spec flags own it.
func (f *kubeFlags) register(cmd *cobra.Command, withNamespace bool) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config; in-cluster config in a Pod)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context to use")
	if withNamespace {
		cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace of the ApplySet and of objects that name none (default: context namespace, else piraeus-datastore)")
	}
}

func (f *kubeFlags) clientOptions() apply.ClientOptions {
	return apply.ClientOptions{Kubeconfig: f.kubeconfig, Context: f.context, Namespace: f.namespace}
}

// restConfig loads the client configuration the flags select.
func (f *kubeFlags) restConfig() (*rest.Config, error) {
	return f.clientOptions().RESTConfig()
}
