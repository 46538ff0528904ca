package localup

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// CSIControllerName is the CSI controller service's component name; each
// node's node service is CSINodeName(node).
const CSIControllerName = "linstor-csi-controller"

// CSINodeName is the component name of a node's CSI node service.
func CSINodeName(node string) string { return "linstor-csi-node-" + node }

// startCSI runs the CSI driver as the plan runs it, as local processes:
// the controller service, and a node service per node, each on its own
// socket under Dir/csi, all talking to the first controller's LINSTOR API.
func (e *Env) startCSI(ctx context.Context) error {
	if e.opts.NoCSI || e.LinstorAPI == "" {
		return nil
	}
	ep := func(name string) string { return "unix://" + filepath.Join(e.Dir, "csi", name, "csi.sock") }
	e.CSIControllerEndpoint = ep("controller")
	if err := e.startCSIProcess(ctx, CSIControllerName, "controller", e.CSIControllerEndpoint, e.Nodes[0].Name); err != nil {
		return err
	}
	for i := range e.Nodes {
		n := &e.Nodes[i]
		n.CSIEndpoint = ep(n.Name)
		if err := e.startCSIProcess(ctx, CSINodeName(n.Name), "node", n.CSIEndpoint, n.Name); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) startCSIProcess(ctx context.Context, name, mode, endpoint, node string) error {
	health, err := e.ports.Pick()
	if err != nil {
		return err
	}
	metrics, err := e.ports.Pick()
	if err != nil {
		return err
	}
	h := "127.0.0.1:" + strconv.Itoa(health)
	e.readyAddr[name] = h
	p, err := e.start(name, "csi", "--mode="+mode, "--csi-endpoint="+endpoint, "--node="+node,
		"--linstor-endpoint="+e.LinstorAPI, "--health-addr="+h, "--metrics-addr=127.0.0.1:"+strconv.Itoa(metrics), "--log-level=debug")
	if err != nil {
		return err
	}
	return e.waitReady(ctx, p)
}

// csiEnv is the env file's part on the CSI driver.
func (e *Env) csiEnv() string {
	if e.CSIControllerEndpoint == "" {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# CSI driver linstor.csi.linbit.com: point csi-sanity or any CSI client at these sockets\n")
	fmt.Fprintf(&b, "# controller service: CSI_ENDPOINT=%s (log %s)\n", e.CSIControllerEndpoint, filepath.Join(e.Dir, "logs", CSIControllerName+".log"))
	for _, n := range e.Nodes {
		fmt.Fprintf(&b, "# node service of %s: CSI_ENDPOINT=%s (log %s)\n", n.Name, n.CSIEndpoint, filepath.Join(e.Dir, "logs", CSINodeName(n.Name)+".log"))
	}
	fmt.Fprintf(&b, "export CSI_CONTROLLER_ENDPOINT=%s\n", e.CSIControllerEndpoint)
	fmt.Fprintf(&b, "export CSI_ENDPOINT=%s\n", e.Nodes[0].CSIEndpoint)
	return b.String()
}
