package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// Paths of the agent in the guest.
const (
	guestTLSDir   = "/etc/piraeusctl/tls"
	guestAgentPID = "/run/piraeusctl-agent.pid"
	// GuestAgentLog collects the agent's output (also on the console).
	GuestAgentLog = "/var/log/piraeusctl-agent.log"
)

// StartAgent starts `piraeusctl agent` in vm with a server certificate of
// the cluster CA and waits until it answers over mutual TLS. The agent's
// output goes to GuestAgentLog and the console. extra are more flags.
func (c *Cluster) StartAgent(ctx context.Context, vm *VM, extra ...string) error {
	c.t.Helper()
	cert, key := c.CA.Issue(c.t, vm.Name, true)
	for name, data := range map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": c.CA.PEM} {
		if err := vm.WriteFile(ctx, guestTLSDir+"/"+name, data); err != nil {
			return err
		}
	}
	args := append([]string{"piraeusctl", "agent", "--node-name", vm.Name, "--tls-dir", guestTLSDir,
		"--listen", fmt.Sprintf(":%d", guestAgentPort)}, extra...)
	script := fmt.Sprintf(`(%s 2>&1 | tee -a %s >/dev/console) </dev/null >/dev/null 2>&1 &
sleep 0.2; pidof piraeusctl > %s`, strings.Join(args, " "), GuestAgentLog, guestAgentPID)
	if _, err := vm.Shell(ctx, script); err != nil {
		return fmt.Errorf("start agent in %s: %w", vm.Name, err)
	}
	return c.waitAgent(ctx, vm)
}

// waitAgent waits until the agent sends its first status.
func (c *Cluster) waitAgent(ctx context.Context, vm *VM) error {
	client := c.Agent(vm)
	var last error
	for ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		stream, err := client.WatchStatus(sctx, &agentv1.WatchRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("agent in %s did not answer: %w (last: %v)", vm.Name, ctx.Err(), last)
}

// KillAgent kills the agent with SIGKILL (a crash) and waits until it is gone.
func (c *Cluster) KillAgent(ctx context.Context, vm *VM) error {
	_, err := vm.Shell(ctx, fmt.Sprintf(`kill -9 $(cat %[1]s); while pidof piraeusctl >/dev/null; do sleep 0.1; done; rm -f %[1]s`, guestAgentPID))
	return err
}

// Agent returns a gRPC client of vm's agent that presents a client
// certificate of the cluster CA. Connections are made lazily, so the client
// survives agent and VM restarts.
func (c *Cluster) Agent(vm *VM) agentv1.AgentClient {
	vm.agentOnce.Do(func() {
		conf := testpki.ClientConfig(c.t, c.CA, c.CA)
		conn, err := grpc.NewClient(vm.AgentAddr(), grpc.WithTransportCredentials(credentials.NewTLS(conf)))
		if err != nil {
			vm.agentErr = err
			return
		}
		c.t.Cleanup(func() { conn.Close() })
		vm.agent = agentv1.NewAgentClient(conn)
	})
	require.NoError(c.t, vm.agentErr, "agent client of %s", vm.Name)
	return vm.agent
}

// agentConn is the lazily made client of one VM.
type agentConn struct {
	agentOnce sync.Once
	agent     agentv1.AgentClient
	agentErr  error
}
