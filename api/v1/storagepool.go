package v1

import (
	"fmt"
	"path/filepath"
)

// ProviderKind is LINSTOR's name for a storage pool's backend.
type ProviderKind string

// Provider kinds.
const (
	ProviderLVM      ProviderKind = "LVM"
	ProviderLVMThin  ProviderKind = "LVM_THIN"
	ProviderFile     ProviderKind = "FILE"
	ProviderFileThin ProviderKind = "FILE_THIN"
	ProviderZFS      ProviderKind = "ZFS"
	ProviderZFSThin  ProviderKind = "ZFS_THIN"
)

// LinstorStoragePool configures one storage pool; exactly one provider field is set.
type LinstorStoragePool struct {
	// Name of the storage pool.
	// +kubebuilder:validation:MinLength=3
	Name string `json:"name"`

	// Properties set on the storage pool.
	// +listType=map
	// +listMapKey=name
	Properties []LinstorNodeProperty `json:"properties,omitempty"`

	// LvmPool uses an LVM volume group.
	// +kubebuilder:validation:Optional
	LvmPool *LinstorStoragePoolLvm `json:"lvmPool,omitempty"`
	// LvmThinPool uses an LVM thin pool.
	// +kubebuilder:validation:Optional
	LvmThinPool *LinstorStoragePoolLvmThin `json:"lvmThinPool,omitempty"`
	// FilePool allocates a regular file per volume.
	// +kubebuilder:validation:Optional
	FilePool *LinstorStoragePoolFile `json:"filePool,omitempty"`
	// FileThinPool allocates a sparse file per volume.
	// +kubebuilder:validation:Optional
	FileThinPool *LinstorStoragePoolFile `json:"fileThinPool,omitempty"`
	// ZfsPool allocates zvols from a zpool.
	// +kubebuilder:validation:Optional
	ZfsPool *LinstorStoragePoolZfs `json:"zfsPool,omitempty"`
	// ZfsThinPool allocates sparse zvols from a zpool.
	// +kubebuilder:validation:Optional
	ZfsThinPool *LinstorStoragePoolZfs `json:"zfsThinPool,omitempty"`

	// Source creates the pool from host devices when it does not exist.
	// +kubebuilder:validation:Optional
	Source *LinstorStoragePoolSource `json:"source,omitempty"`
}

// LinstorStoragePoolLvm names the volume group (defaults to the pool name).
type LinstorStoragePoolLvm struct {
	VolumeGroup string `json:"volumeGroup,omitempty"`
}

// LinstorStoragePoolLvmThin names the volume group and thin pool LV.
type LinstorStoragePoolLvmThin struct {
	// VolumeGroup defaults to linstor_<thinPool>.
	VolumeGroup string `json:"volumeGroup,omitempty"`
	// ThinPool is the thin pool LV (without VG prefix); defaults to the pool name.
	ThinPool string `json:"thinPool,omitempty"`
}

// LinstorStoragePoolFile names the directory holding the volume files.
type LinstorStoragePoolFile struct {
	// Directory defaults to /var/lib/linstor-pools/<pool name>.
	Directory string `json:"directory,omitempty"`
}

// LinstorStoragePoolZfs names the zpool.
type LinstorStoragePoolZfs struct {
	// ZPool defaults to the pool name.
	ZPool string `json:"zPool,omitempty"`
}

// LinstorStoragePoolSource lists host devices to build the pool from.
type LinstorStoragePoolSource struct {
	// HostDevices are device paths under /dev.
	// +kubebuilder:validation:Optional
	// +kubebuilder:validation:MinItems:=1
	HostDevices []string `json:"hostDevices,omitempty"`
}

// ProviderKind returns the pool's backend kind, or "" when none is set.
func (p *LinstorStoragePool) ProviderKind() ProviderKind {
	switch {
	case p.LvmPool != nil:
		return ProviderLVM
	case p.LvmThinPool != nil:
		return ProviderLVMThin
	case p.FilePool != nil:
		return ProviderFile
	case p.FileThinPool != nil:
		return ProviderFileThin
	case p.ZfsPool != nil:
		return ProviderZFS
	case p.ZfsThinPool != nil:
		return ProviderZFSThin
	}
	return ""
}

// ProviderCount is how many provider fields are set (valid pools have one).
func (p *LinstorStoragePool) ProviderCount() int {
	n := 0
	for _, set := range []bool{p.LvmPool != nil, p.LvmThinPool != nil, p.FilePool != nil,
		p.FileThinPool != nil, p.ZfsPool != nil, p.ZfsThinPool != nil} {
		if set {
			n++
		}
	}
	return n
}

// VolumeGroup returns the LVM volume group with defaults applied ("" for non-LVM).
func (p *LinstorStoragePool) VolumeGroup() string {
	switch {
	case p.LvmPool != nil:
		if p.LvmPool.VolumeGroup != "" {
			return p.LvmPool.VolumeGroup
		}
		return p.Name
	case p.LvmThinPool != nil:
		if p.LvmThinPool.VolumeGroup != "" {
			return p.LvmThinPool.VolumeGroup
		}
		return "linstor_" + p.ThinPool()
	}
	return ""
}

// ThinPool returns the LVM thin pool LV name with defaults applied ("" otherwise).
func (p *LinstorStoragePool) ThinPool() string {
	if p.LvmThinPool == nil {
		return ""
	}
	if p.LvmThinPool.ThinPool != "" {
		return p.LvmThinPool.ThinPool
	}
	return p.Name
}

// Directory returns the file pool directory with defaults applied ("" otherwise).
func (p *LinstorStoragePool) Directory() string {
	f := p.FilePool
	if f == nil {
		f = p.FileThinPool
	}
	if f == nil {
		return ""
	}
	if f.Directory != "" {
		return f.Directory
	}
	return filepath.Join("/var/lib/linstor-pools", p.Name)
}

// ZPool returns the zpool name with defaults applied ("" otherwise).
func (p *LinstorStoragePool) ZPool() string {
	z := p.ZfsPool
	if z == nil {
		z = p.ZfsThinPool
	}
	if z == nil {
		return ""
	}
	if z.ZPool != "" {
		return z.ZPool
	}
	return p.Name
}

// BackingName is the pool's backend identifier as LINSTOR prints it:
// "vg", "vg/thinpool", a directory or a zpool.
func (p *LinstorStoragePool) BackingName() string {
	switch p.ProviderKind() {
	case ProviderLVM:
		return p.VolumeGroup()
	case ProviderLVMThin:
		return fmt.Sprintf("%s/%s", p.VolumeGroup(), p.ThinPool())
	case ProviderFile, ProviderFileThin:
		return p.Directory()
	case ProviderZFS, ProviderZFSThin:
		return p.ZPool()
	}
	return ""
}
