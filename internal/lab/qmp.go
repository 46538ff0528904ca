package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// qmpPath is the VM's QEMU Machine Protocol socket (a unix socket in the
// VM's folder: no TCP port).
func (vm *VM) qmpPath() string { return filepath.Join(vm.dir, "qmp.sock") }

// SetLinks pulls (up=false) or plugs back in (up=true) the cables of every
// link between vm and the other VMs: qemu drops the frames both ways and the
// guest sees its NICs lose carrier, while the peers see nothing but silence.
// The control network stays, so the test still reaches the guest and its
// agent.
func (vm *VM) SetLinks(ctx context.Context, up bool) error {
	cmds := make([]qmpCommand, 0, len(vm.links))
	for i := range vm.links {
		cmds = append(cmds, qmpCommand{Execute: "set_link", Arguments: map[string]any{"name": linkID(i), "up": up}})
	}
	if err := vm.qmp(ctx, cmds...); err != nil {
		return fmt.Errorf("vm %s: set links up=%t: %w", vm.Name, up, err)
	}
	return nil
}

// linkID is the qemu netdev id of the VM's i-th link.
func linkID(i int) string { return "l" + strconv.Itoa(i) }

type qmpCommand struct {
	Execute   string         `json:"execute"`
	Arguments map[string]any `json:"arguments,omitempty"`
}

// qmpReply is a reply or an asynchronous event (which has Event set).
type qmpReply struct {
	QMP    json.RawMessage `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Event  string          `json:"event"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
}

// qmp runs commands on the VM's QMP socket, one connection for all of them.
func (vm *VM) qmp(ctx context.Context, cmds ...qmpCommand) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", vm.qmpPath())
	if err != nil {
		return fmt.Errorf("qmp: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	dec, enc := json.NewDecoder(conn), json.NewEncoder(conn)
	var greeting qmpReply
	if err := dec.Decode(&greeting); err != nil || greeting.QMP == nil {
		return fmt.Errorf("qmp: no greeting (%v)", err)
	}
	for _, c := range append([]qmpCommand{{Execute: "qmp_capabilities"}}, cmds...) {
		if err := enc.Encode(c); err != nil {
			return fmt.Errorf("qmp %s: %w", c.Execute, err)
		}
		if err := qmpAwait(dec, c.Execute); err != nil {
			return err
		}
	}
	return nil
}

// qmpAwait reads until the reply to the command just sent, skipping events.
func qmpAwait(dec *json.Decoder, what string) error {
	for {
		var r qmpReply
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("qmp %s: %w", what, err)
		}
		switch {
		case r.Event != "":
			continue
		case r.Error != nil:
			return fmt.Errorf("qmp %s: %s: %s", what, r.Error.Class, r.Error.Desc)
		case r.Return != nil:
			return nil
		}
	}
}
