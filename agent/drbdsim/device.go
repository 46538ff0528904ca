package drbdsim

import (
	"strconv"
	"strings"
)

// newGeneration gives v a new current UUID; connected peers holding the
// same data follow (they are in sync). With justCreated, peers whose
// metadata is new become UpToDate as well (--clear-bitmap).
func newGeneration(c *cluster, me *nodeState, v *volume, adoptNew bool) {
	if !v.attached() || (v.MD.State != "UpToDate" && !adoptNew) {
		return
	}
	old, uuid := v.MD.UUID, newUUID()
	for _, y := range c.connections(me) {
		yv := y.volume(v.Number)
		if yv == nil || !yv.attached() {
			continue
		}
		switch {
		case yv.MD.State == "UpToDate" && yv.MD.UUID == old:
			rotate(yv.MD, uuid)
		case adoptNew && yv.MD.UUID == justCreated:
			rotate(yv.MD, uuid)
			yv.MD.State, yv.MD.UpToDateAt, yv.SyncSource = "UpToDate", c.now, ""
		}
	}
	rotate(v.MD, uuid)
	if adoptNew {
		v.MD.State, v.MD.UpToDateAt, v.SyncSource = "UpToDate", c.now, ""
	}
}

// attach opens the backing disk and reads its metadata.
func attach(k kernelCtx) *failure {
	v, minor, disk := k.vol, k.call.pos[0], k.call.pos[1]
	if k.call.pos[2] != "internal" && k.call.pos[2] != disk {
		return notSimulated("drbdsetup attach with external metadata")
	}
	switch {
	case v.Client:
		return stateFailure(minor, ssAttachNoBitmp)
	case v.Disk != "":
		return kernelFailure(minor, errDiskConfigured, "")
	case v.MD == nil:
		return kernelFailure(minor, errMDInvalid, "")
	}
	usable, err := k.s.usableKiB(k.ctx, disk, v.MD.MaxPeers)
	if err != nil {
		return kernelFailure(minor, errOpenDisk, err.Error())
	}
	if v.MD.SizeKiB > usable {
		return kernelFailure(minor, errImplicitShrink, "")
	}
	if v.MD.SizeKiB == 0 {
		v.MD.SizeKiB = usable
	}
	v.Disk, v.MD.Disk, v.UsableKiB, v.DiskOptions = disk, disk, usable, k.call.settings()
	return nil
}

func detach(k kernelCtx) *failure {
	v := k.vol
	if !v.attached() {
		return nil
	}
	if k.me.Role == "Primary" && v.MD.State == "UpToDate" {
		v.Disk = ""
		ok := k.c.upToDateAccess(k.me, v.Number)
		v.Disk = v.MD.Disk
		if !ok {
			return stateFailure(k.me.Resource, ssNoUpToDate)
		}
	}
	v.detach()
	return nil
}

func delMinor(k kernelCtx) *failure {
	v := k.vol
	if v.Disk != "" {
		return kernelFailure(k.call.pos[0], errMinorConfig, "")
	}
	v.InKernel, v.Client = false, false
	if v.MD == nil {
		k.me.Volumes = deleteVolume(k.me.Volumes, v)
	}
	return nil
}

func diskOptions(k kernelCtx) *failure {
	if !k.vol.attached() {
		return kernelFailure(k.call.pos[0], errNoDisk, "")
	}
	k.vol.DiskOptions = merge(k.vol.DiskOptions, k.call)
	return nil
}

// resize grows the device to the smallest backing capacity of the
// connected diskful nodes: its own, read now, and the peers' as their
// kernels last read them (at attach or their own resize; real DRBD asks
// the peers for their current capacity, so here the last node to grow its
// backing device and resize completes the growth). The new size reaches
// every connected node. Not during a resync, and never smaller than the
// local capacity allows.
func resize(k kernelCtx) *failure {
	v, minor := k.vol, k.call.pos[0]
	if !v.attached() {
		return kernelFailure(minor, errNoDisk, "")
	}
	own, err := k.s.usableKiB(k.ctx, v.Disk, v.MD.MaxPeers)
	if err != nil {
		return kernelFailure(minor, errOpenDisk, err.Error())
	}
	v.UsableKiB = own
	size := own
	var peers []*volume
	for _, y := range k.c.connections(k.me) {
		yv := y.volume(v.Number)
		if yv == nil || !yv.InKernel {
			continue
		}
		if yv.SyncSource == k.me.Node || v.SyncSource == y.Node {
			return kernelFailure(minor, errResizeResync, "")
		}
		peers = append(peers, yv)
		if yv.attached() {
			size = min(size, yv.UsableKiB)
		}
	}
	for _, o := range k.call.opts {
		if o.key == "size" {
			want, err := parseSize(o.value)
			if err != nil {
				return localFailure("resize: --size=%s: %v", o.value, err)
			}
			size = min(size, want)
		}
	}
	switch {
	case own < v.MD.SizeKiB:
		return kernelFailure(minor, errImplicitShrink, "")
	case size <= v.MD.SizeKiB:
		return nil
	}
	v.MD.SizeKiB = size
	for _, yv := range peers {
		if yv.attached() {
			yv.MD.SizeKiB = size
		}
	}
	return nil
}

// parseSize reads a drbdsetup size: sectors, or with a k/M/G/T suffix.
func parseSize(s string) (uint64, error) {
	mult := uint64(0)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult = 1
	case strings.HasSuffix(s, "M"):
		mult = 1 << 10
	case strings.HasSuffix(s, "G"):
		mult = 1 << 20
	case strings.HasSuffix(s, "T"):
		mult = 1 << 30
	}
	if mult != 0 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if mult == 0 {
		return n / 2, nil // sectors
	}
	return n * mult, nil
}

// newCurrentUUID starts a new data generation. On new metadata with
// --clear-bitmap it skips the initial sync: this disk and every connected
// peer's new disk become UpToDate with the same generation.
func newCurrentUUID(k kernelCtx) *failure {
	v := k.vol
	if !v.attached() {
		return kernelFailure(k.call.pos[0], errNoDisk, "")
	}
	newGeneration(k.c, k.me, v, v.MD.UUID == justCreated && k.call.has("clear-bitmap"))
	return nil
}
