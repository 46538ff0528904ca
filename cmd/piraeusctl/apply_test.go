package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

// TestApplyAndDiffCommands drives `apply --plan` and `diff --live` end to end
// against a private API server and checks their exit codes.
func TestApplyAndDiffCommands(t *testing.T) {
	env := kubetest.Start(t)
	kubeconfig := env.Kubeconfig(t)
	data, err := os.ReadFile("../../apply/testdata/manifests.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	require.NoError(t, os.WriteFile(plan, []byte(strings.ReplaceAll(string(data), "TEST", "cli")), 0o600))
	base := []string{"--kubeconfig", kubeconfig, "-n", "apply-cli", "--plan", plan}

	assert.Equal(t, exitOK, runCommand(t, newApplyCommand(), append([]string{"--prune"}, base...)))
	assert.Equal(t, exitOK, runCommand(t, newApplyCommand(), append([]string{"--prune", "-o", "json"}, base...)))
	assert.Equal(t, exitOK, runCommand(t, newDiffLiveCommand(), append([]string{"--live"}, base...)))

	changed := strings.ReplaceAll(strings.ReplaceAll(string(data), "TEST", "cli"), "piraeusctl:dev", "piraeusctl:v2")
	require.NoError(t, os.WriteFile(plan, []byte(changed), 0o600))
	assert.Equal(t, exitChanged, runCommand(t, newDiffLiveCommand(), append([]string{"--live"}, base...)))
	assert.Equal(t, exitOK, runCommand(t, newApplyCommand(), append([]string{"--dry-run=server"}, base...)))
	assert.Equal(t, exitChanged, runCommand(t, newDiffLiveCommand(), append([]string{"--live"}, base...)), "dry run wrote nothing")
	assert.Equal(t, exitInvalid, runCommand(t, newApplyCommand(), append([]string{"--dry-run=maybe"}, base...)))
}

// runCommand runs one command as run does for the root and returns the exit
// code (the lead registers apply and diff --live in root.go).
func runCommand(t *testing.T, cmd *cobra.Command, args []string) int {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	}
	t.Log(err)
	return exitInvalid
}
