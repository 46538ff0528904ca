package csi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in            string
		network, addr string
		wantErr       string
	}{
		{in: "unix:///csi/csi.sock", network: "unix", addr: "/csi/csi.sock"},
		{in: "unix://relative/csi.sock", network: "unix", addr: "relative/csi.sock"},
		{in: "/plain/csi.sock", network: "unix", addr: "/plain/csi.sock"},
		{in: "tcp://0.0.0.0:10000", network: "tcp", addr: "0.0.0.0:10000"},
		{in: "tcp://127.0.0.1:10000/", network: "tcp", addr: "127.0.0.1:10000"},
		{in: "tcp://[::1]:10000", network: "tcp", addr: "[::1]:10000"},
		{in: "", wantErr: "want unix:///path/to/csi.sock or tcp://host:port"},
		{in: "unix://", wantErr: `no path in "unix://"`},
		{in: "tcp://127.0.0.1", wantErr: `want tcp://host:port, got "tcp://127.0.0.1"`},
		{in: "tcp://127.0.0.1:1/x", wantErr: `want tcp://host:port, got "tcp://127.0.0.1:1/x"`},
		{in: "http://127.0.0.1:1", wantErr: `got "http://127.0.0.1:1"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseEndpoint(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, endpoint{tt.network, tt.addr}, got)
		})
	}
}
