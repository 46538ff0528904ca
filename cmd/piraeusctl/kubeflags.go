package main

import (
	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/apply"
)

// kubeFlags are kubectl's global cluster-selection flags.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

func (f *kubeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config; in-cluster config in a Pod)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context to use")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace of the ApplySet and of objects that name none (default: context namespace, else piraeus-datastore)")
}

func (f *kubeFlags) clientOptions() apply.ClientOptions {
	return apply.ClientOptions{Kubeconfig: f.kubeconfig, Context: f.context, Namespace: f.namespace}
}
