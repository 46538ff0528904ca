package k8spath

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLocalSidecarArgs(t *testing.T) {
	tests := []struct {
		name    string
		plan    []string
		want    []string
		wantErr string
	}{{
		name: "the plan's csi-provisioner",
		plan: []string{"--csi-address=$(ADDRESS)", "--timeout=1m", "--default-fstype=ext4", "--feature-gates=Topology=true",
			"--enable-capacity", "--extra-create-metadata", "--capacity-ownerref-level=2",
			"--leader-election=true", "--leader-election-namespace=$(POD_NAMESPACE)"},
		want: []string{"--kubeconfig=/k", "--csi-address=/run/csi.sock", "--timeout=1m", "--default-fstype=ext4",
			"--feature-gates=Topology=true", "--extra-create-metadata", "--retry-interval-max=5s"},
	}, {
		name: "a kubeconfig and retry cap of the plan give way to the local ones",
		plan: []string{"--kubeconfig=/other", "--retry-interval-max=5m"},
		want: []string{"--kubeconfig=/k", "--retry-interval-max=5s"},
	}, {
		name:    "a variable only a Pod has",
		plan:    []string{"--node=$(KUBE_NODE_NAME)"},
		wantErr: `argument "--node=$(KUBE_NODE_NAME)": unknown variable`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LocalSidecarArgs(tt.plan, "/run/csi.sock", "/k")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
