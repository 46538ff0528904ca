package guestapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func post(t *testing.T, srv *httptest.Server, token string, req ExecRequest) (*http.Response, ExecResponse) {
	t.Helper()
	body, _ := json.Marshal(req)
	hreq, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+ExecPath, bytes.NewReader(body))
	if token != "" {
		hreq.Header.Set(TokenHeader, token)
	}
	resp, err := srv.Client().Do(hreq)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out ExecResponse
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp, out
}

func TestHandlerRequiresToken(t *testing.T) {
	srv := httptest.NewServer(Handler("s3cret"))
	defer srv.Close()
	for _, tok := range []string{"", "wrong", "s3cre"} {
		resp, _ := post(t, srv, tok, ExecRequest{Args: []string{"true"}})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "token %q: status %d, want 403", tok, resp.StatusCode)
	}
	open := httptest.NewServer(Handler(""))
	defer open.Close()
	resp, _ := post(t, open, "", ExecRequest{Args: []string{"true"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a handler without a token must refuse everyone, got %d", resp.StatusCode)
}

func TestHandlerRuns(t *testing.T) {
	srv := httptest.NewServer(Handler("t"))
	defer srv.Close()
	tests := []struct {
		req        ExecRequest
		stdout     string
		exit       int
		errContain string
	}{
		{ExecRequest{Args: []string{"sh", "-c", "cat; echo err >&2; exit 3"}, Stdin: []byte("in")}, "in", 3, ""},
		{ExecRequest{Args: []string{"echo", "a b"}}, "a b\n", 0, ""},
		{ExecRequest{Args: []string{"piraeusctl-no-such-program"}}, "", -1, "not found"},
		{ExecRequest{Args: []string{"sleep", "5"}, TimeoutMS: 50}, "", -1, "deadline"},
		{ExecRequest{}, "", -1, "no command"},
	}
	for _, tt := range tests {
		_, out := post(t, srv, "t", tt.req)
		assert.False(t, string(out.Stdout) != tt.stdout || out.ExitCode != tt.exit || !strings.Contains(out.Error, tt.errContain), "%v: got stdout %q exit %d error %q; want %q %d %q", tt.req.Args, out.Stdout, out.ExitCode, out.Error, tt.stdout, tt.exit, tt.errContain)
	}
}
