package drbdsim

import (
	"fmt"
	"strings"
	"time"
)

// snapshot settles and returns the clusters of this node's resources that
// are up, sorted by name; filter "" or "all" means every resource.
func (s *Sim) snapshot(filter string) ([]*cluster, error) {
	names, err := s.store.resources(s.cfg.Node)
	if err != nil {
		return nil, err
	}
	var out []*cluster
	for _, res := range names {
		if filter != "" && filter != "all" && filter != res {
			continue
		}
		c, err := s.readResource(res)
		if err != nil {
			return nil, err
		}
		if n := c.nodes[s.cfg.Node]; n != nil && n.Up {
			out = append(out, c)
		}
	}
	return out, nil
}

// view is what one node's kernel reports about one resource.
type view struct {
	c  *cluster
	me *nodeState
}

func (w view) devices() []*volume {
	var out []*volume
	for _, v := range w.me.Volumes {
		if v.InKernel {
			out = append(out, v)
		}
	}
	return out
}

// sizeKiB is a device's size: its agreed size when attached, else the
// size of the connected peers' devices.
func (w view) sizeKiB(v *volume) uint64 {
	if v.attached() {
		return v.MD.SizeKiB
	}
	var size uint64
	for _, y := range w.c.connections(w.me) {
		if yv := y.volume(v.Number); yv != nil && yv.attached() {
			size = max(size, yv.MD.SizeKiB)
		}
	}
	return size
}

// peerDevice is one volume as seen over one connection.
type peerDevice struct {
	replication, peerDisk string
	peerClient            bool
	// syncing: resync progress in [0,1) and its elapsed time, when
	// either side is the other's sync source.
	syncing  bool
	done     float64
	elapsed  time.Duration
	sizeKiB  uint64
	inSyncKB uint64
}

func (w view) peerDevice(p *peer, y *nodeState, v *volume) peerDevice {
	pd := peerDevice{replication: "Off", peerDisk: "DUnknown", sizeKiB: w.sizeKiB(v)}
	pd.inSyncKB = pd.sizeKiB
	if y == nil {
		return pd
	}
	pd.replication = "Established"
	yv := y.volume(v.Number)
	if yv == nil || !yv.InKernel {
		return pd
	}
	pd.peerDisk, pd.peerClient = yv.diskState(), yv.Client
	var target *volume
	switch {
	case v.attached() && v.SyncSource == y.Node:
		pd.replication, target = "SyncTarget", v
	case yv.attached() && yv.SyncSource == w.me.Node:
		pd.replication, target = "SyncSource", yv
	}
	if target != nil && w.c.syncTime > 0 {
		pd.syncing = true
		pd.elapsed = max(w.c.now.Sub(target.SyncStart), 0)
		pd.done = min(float64(pd.elapsed)/float64(w.c.syncTime), 1)
		pd.inSyncKB = uint64(pd.done * float64(pd.sizeKiB))
	}
	return pd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func jsonBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func role(r string) string {
	if r == "" {
		return "Unknown"
	}
	return r
}

// statusJSON renders `drbdsetup status --json` with drbdsetup's own
// layout (drbd-utils' status_json and friends).
func statusJSON(views []view) string {
	var b strings.Builder
	b.WriteString("[\n")
	for i, w := range views {
		if i > 0 {
			b.WriteString(",\n")
		}
		w.writeJSON(&b)
	}
	b.WriteString("]\n")
	return b.String()
}

func (w view) writeJSON(b *strings.Builder) {
	me := w.me
	fmt.Fprintf(b, "{\n  \"name\": \"%s\",\n  \"node-id\": %d,\n  \"role\": \"%s\",\n  \"suspended\": false,\n  \"suspended-user\": false,\n  \"suspended-no-data\": false,\n  \"suspended-fencing\": false,\n  \"suspended-quorum\": false,\n  \"force-io-failures\": false,\n  \"write-ordering\": \"flush\",\n  \"devices\": [\n",
		me.Resource, me.NodeID, role(me.Role))
	devs := w.devices()
	for i, v := range devs {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(b, "    {\n      \"volume\": %d,\n      \"minor\": %d,\n      \"disk-state\": \"%s\",\n      \"client\": %s,\n      \"quorum\": %s,\n",
			v.Number, v.Minor, v.diskState(), jsonBool(v.Client), jsonBool(w.c.quorum(me, v)))
		fmt.Fprintf(b, "      \"size\": %d,\n      \"read\": 0,\n      \"written\": 0,\n      \"al-writes\": 0,\n      \"bm-writes\": 0,\n      \"upper-pending\": 0,\n      \"lower-pending\": 0\n    }",
			w.sizeKiB(v))
	}
	b.WriteString(" ],\n  \"connections\": [\n")
	conns := w.c.connections(me)
	for i, p := range me.Peers {
		if i > 0 {
			b.WriteString(",\n")
		}
		y := conns[p.NodeID]
		fmt.Fprintf(b, "    {\n      \"peer-node-id\": %d,\n      \"name\": \"%s\",\n      \"connection-state\": \"%s\", \n      \"congested\": false,\n      \"peer-role\": \"%s\",\n",
			p.NodeID, p.Name, connState(p, y), peerRole(y))
		if y != nil {
			b.WriteString("      \"ap-in-flight\": 0,\n      \"rs-in-flight\": 0,\n")
		}
		b.WriteString("      \"peer_devices\": [\n")
		for j, v := range devs {
			if j > 0 {
				b.WriteString(",\n")
			}
			writePeerDeviceJSON(b, v.Number, w.peerDevice(p, y, v))
		}
		b.WriteString(" ]\n    }")
	}
	b.WriteString(" ]\n}\n")
}

func writePeerDeviceJSON(b *strings.Builder, vol int, pd peerDevice) {
	percent := 0.0
	if pd.sizeKiB > 0 {
		percent = 100 * float64(pd.inSyncKB) / float64(pd.sizeKiB)
	}
	comma := ""
	if pd.syncing {
		comma = ","
	}
	fmt.Fprintf(b, "        {\n          \"volume\": %d,\n          \"replication-state\": \"%s\",\n          \"peer-disk-state\": \"%s\",\n          \"peer-client\": %s,\n          \"resync-suspended\": \"no\",\n",
		vol, pd.replication, pd.peerDisk, jsonBool(pd.peerClient))
	fmt.Fprintf(b, "          \"received\": 0,\n          \"sent\": 0,\n          \"out-of-sync\": %d,\n          \"pending\": 0,\n          \"unacked\": 0,\n          \"has-sync-details\": %s,\n          \"has-online-verify-details\": false,\n          \"percent-in-sync\": %.2f%s\n",
		pd.sizeKiB-pd.inSyncKB, jsonBool(pd.syncing), percent, comma)
	if pd.syncing {
		total := pd.sizeKiB * 2
		doneSectors := pd.inSyncKB * 2
		ms := pd.elapsed.Milliseconds()
		rate := float64(doneSectors) / float64(max(ms, 1)) * 1000 / 2048
		eta := 987654321.0
		if doneSectors > 0 {
			eta = float64(ms) * 1e-3 * float64(total-doneSectors) / float64(doneSectors)
		}
		fmt.Fprintf(b, "          \"rs-total\": %d,\n          \"rs-dt-start-ms\": %d,\n          \"rs-paused-ms\": 0,\n          \"rs-dt0-ms\": %d,\n          \"rs-db0-sectors\": %d,\n          \"rs-dt1-ms\": %d,\n          \"rs-db1-sectors\": %d,\n",
			total, ms, ms, doneSectors, ms, doneSectors)
		fmt.Fprintf(b, "          \"rs-failed\": 0,\n          \"rs-same-csum\": 0,\n          \"want\": 0.00,\n          \"db0/dt0 [MiB/s]\": %.2f,\n          \"db1/dt1 [MiB/s]\": %.2f,\n          \"estimated-seconds-to-finish\": %.0f,\n          \"db/dt [MiB/s]\": %.2f,\n          \"percent-resync-done\": %.2f\n",
			rate, rate, eta, rate, 100*pd.done)
	}
	b.WriteString("        }")
}

func connState(p *peer, y *nodeState) string {
	switch {
	case !p.Connect:
		return "StandAlone"
	case y == nil:
		return "Connecting"
	}
	return "Connected"
}

func peerRole(y *nodeState) string {
	if y == nil {
		return "Unknown"
	}
	return role(y.Role)
}

// events2Now renders `drbdsetup events2 --now`: per resource the resource,
// its connections, devices, peer devices and paths, then "exists -".
func events2Now(views []view, stamp string) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		if stamp != "" {
			b.WriteString(stamp + " ")
		}
		fmt.Fprintf(&b, format+"\n", args...)
	}
	for _, w := range views {
		me := w.me
		conns := w.c.connections(me)
		may := w.mayPromote()
		score := 0
		if may {
			score = 10000 + 100*len(w.devices()) + len(conns)
		}
		line("exists resource name:%s role:%s suspended:no force-io-failures:no may_promote:%s promotion_score:%d",
			me.Resource, role(me.Role), yesNo(may), score)
		for _, p := range me.Peers {
			line("exists connection name:%s peer-node-id:%d conn-name:%s connection:%s role:%s",
				me.Resource, p.NodeID, p.Name, connState(p, conns[p.NodeID]), peerRole(conns[p.NodeID]))
		}
		for _, v := range w.devices() {
			backing := v.Disk
			if !v.attached() {
				backing = "none"
			}
			line("exists device name:%s volume:%d minor:%d backing_dev:%s disk:%s client:%s quorum:%s",
				me.Resource, v.Number, v.Minor, backing, v.diskState(), yesNo(v.Client), yesNo(w.c.quorum(me, v)))
		}
		for _, p := range me.Peers {
			for _, v := range w.devices() {
				pd := w.peerDevice(p, conns[p.NodeID], v)
				done := ""
				if pd.syncing {
					done = fmt.Sprintf(" done:%.2f", 100*pd.done)
				}
				line("exists peer-device name:%s peer-node-id:%d conn-name:%s volume:%d replication:%s peer-disk:%s peer-client:%s resync-suspended:no%s",
					me.Resource, p.NodeID, p.Name, v.Number, pd.replication, pd.peerDisk, yesNo(pd.peerClient), done)
			}
		}
		for _, p := range me.Peers {
			for _, pa := range p.Paths {
				line("exists path name:%s peer-node-id:%d conn-name:%s local:%s peer:%s established:%s",
					me.Resource, p.NodeID, p.Name, pa.Local, pa.Peer, yesNo(conns[p.NodeID] != nil))
			}
		}
	}
	line("exists -")
	return b.String()
}

// mayPromote: Secondary, with UpToDate data reachable and quorum for
// every device.
func (w view) mayPromote() bool {
	if w.me.Role == "Primary" {
		return false
	}
	for _, v := range w.devices() {
		if !w.c.upToDateAccess(w.me, v.Number) || !w.c.quorum(w.me, v) {
			return false
		}
	}
	return true
}

func (s *Sim) status(c call, line string) (outcome, error) {
	if !c.has("json") {
		return failed(notSimulated(line + " (only --json)")), nil
	}
	views, err := s.views(c)
	if err != nil {
		return outcome{}, err
	}
	if len(c.pos) > 0 && c.pos[0] != "all" && len(views) == 0 {
		return failed(&failure{exit: 10, stderr: c.pos[0] + ": No such resource\n"}), nil
	}
	return outcome{stdout: statusJSON(views)}, nil
}

func (s *Sim) events2(c call, line string) (outcome, error) {
	if !c.has("now") {
		return failed(notSimulated(line + " (only --now)")), nil
	}
	views, err := s.views(c)
	if err != nil {
		return outcome{}, err
	}
	stamp := ""
	if c.has("timestamps") {
		stamp = s.cfg.Now().Format("2006-01-02T15:04:05.000000-07:00")
	}
	return outcome{stdout: events2Now(views, stamp)}, nil
}

func (s *Sim) views(c call) ([]view, error) {
	filter := ""
	if len(c.pos) > 0 {
		filter = c.pos[0]
	}
	clusters, err := s.snapshot(filter)
	if err != nil {
		return nil, err
	}
	out := make([]view, 0, len(clusters))
	for _, cl := range clusters {
		out = append(out, view{c: cl, me: cl.nodes[s.cfg.Node]})
	}
	return out, nil
}
