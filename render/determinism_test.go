package render

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/planfile"
)

// Rendering the same model must give the same bytes every time: no map
// order, no timestamps, no random names.
func TestDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 5; i++ {
		var buf bytes.Buffer
		require.NoError(t, planfile.WriteYAML(&buf, mustRender(t, featureModel(), testOptions()).Objects))
		var js bytes.Buffer
		require.NoError(t, planfile.WriteJSON(&js, mustRender(t, featureModel(), testOptions()).Objects))
		buf.Write(js.Bytes())
		if first == nil {
			first = buf.Bytes()
			continue
		}
		require.Equal(t, string(first), buf.String(), "render %d differs", i)
	}
}
