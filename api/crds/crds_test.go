package crds

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
)

// TestCRDsPassTheAPIServersValidation runs the API server's own CRD
// validation, CEL rule compilation and cost budget included, on every
// shipped CRD: a rule too expensive for the API server fails here, not at
// the first apply.
func TestCRDsPassTheAPIServersValidation(t *testing.T) {
	all, err := All()
	require.NoError(t, err)
	require.NotEmpty(t, all)
	for i := range all {
		crd := all[i]
		t.Run(crd.Name, func(t *testing.T) {
			var internal apiextensions.CustomResourceDefinition
			require.NoError(t, apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&crd, &internal, nil))
			for _, v := range internal.Spec.Versions {
				if v.Storage {
					internal.Status.StoredVersions = append(internal.Status.StoredVersions, v.Name) // as the API server records
				}
			}
			require.Empty(t, validation.ValidateCustomResourceDefinition(t.Context(), &internal))
		})
	}
}
