package lab

import (
	"bufio"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeQMP serves one QMP connection on path like qemu does: a greeting,
// an event before each reply, and an error for set_link on an unknown
// netdev. It returns the commands it received.
func fakeQMP(t *testing.T, path string) <-chan []string {
	t.Helper()
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	got := make(chan []string, 1)
	go func() {
		var cmds []string
		defer func() { got <- cmds }()
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		enc := json.NewEncoder(conn)
		_ = enc.Encode(map[string]any{"QMP": map[string]any{"version": map[string]any{}, "capabilities": []string{"oob"}}})
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			var c qmpCommand
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				return
			}
			line := c.Execute
			if c.Arguments != nil {
				line += " " + c.Arguments["name"].(string) + " up=" + map[bool]string{true: "true", false: "false"}[c.Arguments["up"].(bool)]
			}
			cmds = append(cmds, line)
			_ = enc.Encode(map[string]any{"event": "NIC_RX_FILTER_CHANGED", "data": map[string]any{}})
			if c.Execute == "set_link" && !strings.HasPrefix(c.Arguments["name"].(string), "l") {
				_ = enc.Encode(map[string]any{"error": map[string]any{"class": "DeviceNotFound", "desc": "Device 'x' not found"}})
				continue
			}
			_ = enc.Encode(map[string]any{"return": map[string]any{}})
		}
	}()
	return got
}

// TestSetLinks: the cables of every link to another VM are pulled and
// plugged back by qemu's set_link on the link's netdev, over the VM's QMP
// socket; a QMP error is reported.
func TestSetLinks(t *testing.T) {
	vm := &VM{Name: "node-b", dir: t.TempDir(), links: []link{{port: 1}, {port: 2}}}
	got := fakeQMP(t, vm.qmpPath())
	require.NoError(t, vm.SetLinks(t.Context(), false))
	assert.Equal(t, "qmp_capabilities, set_link l0 up=false, set_link l1 up=false", strings.Join(<-got, ", "), "QMP commands")

	vm.dir = t.TempDir()
	got = fakeQMP(t, vm.qmpPath())
	err := vm.qmp(t.Context(), qmpCommand{Execute: "set_link", Arguments: map[string]any{"name": "x", "up": true}})
	assert.ErrorContains(t, err, "DeviceNotFound", "set_link on an unknown netdev: want the QMP error")
	<-got

	vm.dir = filepath.Join(t.TempDir(), "gone")
	assert.Error(t, vm.SetLinks(t.Context(), true), "SetLinks without a QMP socket succeeded")
}
