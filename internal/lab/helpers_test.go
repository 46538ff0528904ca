package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/lab"
)

// bootWithAgents boots VMs and starts an agent in each (debug logs, so the
// executor's command log is on the console).
func bootWithAgents(t *testing.T, opts lab.Options) *lab.Cluster {
	t.Helper()
	needLab(t)
	c := lab.Boot(t, artefacts, opts)
	for _, vm := range c.VMs {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err := c.StartAgent(ctx, vm, agentFlags...)
		cancel()
		require.NoError(t, err)
	}
	return c
}

// scenario is one step of a VM group's run; later ones build on earlier ones.
type scenario struct {
	name string
	run  func(t *testing.T)
}

// runScenarios runs the scenarios in order as subtests, logs each one's
// time and stops at the first failure.
func runScenarios(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, s := range scenarios {
		ok := t.Run(s.name, func(t *testing.T) {
			begin := time.Now()
			s.run(t)
			t.Logf("timing: scenario %s: %s", s.name, time.Since(begin).Round(100*time.Millisecond))
		})
		require.True(t, ok, "scenario %s failed; the later ones build on it", s.name)
	}
}

// agentFlags are the extra flags the lab runs the agent with.
var agentFlags = []string{"--log-level", "debug"}

// timed runs a scenario step and logs how long it took.
func timed(t *testing.T, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	t.Logf("timing: %s: %s", what, time.Since(start).Round(100*time.Millisecond))
}

func apply(t *testing.T, c *lab.Cluster, vm *lab.VM, d *agentv1.NodeDesiredState) *agentv1.ApplyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res, err := c.Agent(vm).Apply(ctx, d)
	require.NoError(t, err, "apply on %s", vm.Name)
	for _, r := range res.GetResources() {
		require.NotEqual(t, agentv1.Outcome_FAILED, r.GetOutcome(), "apply on %s: resource %s failed: %s", vm.Name, r.GetName(), r.GetMessage())
	}
	for _, p := range res.GetPools() {
		require.NotEqual(t, agentv1.Outcome_FAILED, p.GetOutcome(), "apply on %s: pool %s failed: %s", vm.Name, p.GetName(), p.GetMessage())
	}
	return res
}

func nodeStatus(t *testing.T, c *lab.Cluster, vm *lab.VM) *agentv1.NodeStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	stream, err := c.Agent(vm).WatchStatus(ctx, &agentv1.WatchRequest{})
	require.NoError(t, err, "status of %s", vm.Name)
	st, err := stream.Recv()
	require.NoError(t, err, "status of %s", vm.Name)
	return st
}

func sh(t *testing.T, vm *lab.VM, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := vm.Shell(ctx, script)
	require.NoError(t, err)
	return out
}

// lvReport is one row of `lvs --reportformat json --units k --nosuffix`.
type lvReport struct {
	Name        string `json:"lv_name"`
	SizeKiB     string `json:"lv_size"`
	Pool        string `json:"pool_lv"`
	DataPercent string `json:"data_percent"`
	Tags        string `json:"lv_tags"`
}

func lvs(t *testing.T, vm *lab.VM, vg string) map[string]lvReport {
	t.Helper()
	out := sh(t, vm, "lvs --reportformat json --units k --nosuffix -o lv_name,lv_size,pool_lv,data_percent,lv_tags "+vg)
	var rep struct {
		Report []struct {
			LV []lvReport `json:"lv"`
		} `json:"report"`
	}
	err := json.Unmarshal([]byte(out), &rep)
	require.NoError(t, err, "lvs output: %v\n%s", err, out)
	m := map[string]lvReport{}
	for _, r := range rep.Report {
		for _, lv := range r.LV {
			m[lv.Name] = lv
		}
	}
	return m
}

func kib(t *testing.T, s string) uint64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	require.NoError(t, err, "size %q", s)
	return uint64(f)
}

// writePattern writes mib MiB of random data at offset 0 of dev and returns
// the checksum of that range (read back with O_DIRECT, past any cache).
func writePattern(t *testing.T, vm *lab.VM, dev string, mib int) string {
	t.Helper()
	sh(t, vm, fmt.Sprintf("dd if=/dev/urandom of=%s bs=1M count=%d oflag=direct conv=fsync 2>/dev/null", dev, mib))
	return checksum(t, vm, dev, mib)
}

func checksum(t *testing.T, vm *lab.VM, dev string, mib int) string {
	t.Helper()
	out := sh(t, vm, fmt.Sprintf("dd if=%s bs=1M count=%d iflag=direct 2>/dev/null | sha256sum", dev, mib))
	return strings.Fields(out)[0]
}

func findResource(st *agentv1.NodeStatus, name string) *agentv1.ResourceStatus {
	for _, r := range st.GetResources() {
		if r.GetName() == name {
			return r
		}
	}
	return nil
}

func findPool(st *agentv1.NodeStatus, name string) *agentv1.PoolStatus {
	for _, p := range st.GetPools() {
		if p.GetName() == name {
			return p
		}
	}
	return nil
}

type (
	labCluster = lab.Cluster
	labVM      = lab.VM
)

const agentLog = lab.GuestAgentLog
