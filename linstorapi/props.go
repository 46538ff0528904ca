package linstorapi

import (
	"maps"
	"slices"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
)

// propNamespaces are the property namespaces LINSTOR knows (any key below them).
var propNamespaces = []string{"Aux/", "DrbdOptions/", "FileSystem/", "StorDriver/", "Internal/", "NVMe/", "Cache/",
	"Writecache/", "BCache/", "Autoplacer/", "SnapshotShipping/", "DrbdProxy/", "Satellite/", "Sys/"}

// propKeys are LINSTOR's top-level keys.
var propKeys = []string{"StorPoolName", "StorPoolNameDiskless", "PeerSlots", "PeerSlotsNewResource",
	"BalanceResourcesEnabled", "BalanceResourcesInterval", "BalanceResourcesGracePeriod", "DrbdPrimarySetOn",
	"QuorumSetBy", "MaxOversubscriptionRatio", "MaxFreeCapacityOversubscriptionRatio",
	"MaxTotalCapacityOversubscriptionRatio", "AutoplaceTarget", "AutoEvictAllowEviction", "CurStltConnName",
	"PrefNic", "NodeUname", "DrbdOptions/auto-quorum", "DrbdOptions/auto-add-quorum-tiebreaker"}

// drbdSections are the sections a DrbdOptions/<Section>/<option> key may name.
var drbdSections = []string{"Resource", "Net", "Disk", "PeerDevice", "Handlers"}

// validateProps refuses keys LINSTOR does not know, naming the key.
func validateProps(props map[string]string, deleted []string) error {
	keys := slices.Collect(maps.Keys(props))
	keys = append(keys, deleted...)
	slices.Sort(keys)
	for _, k := range keys {
		if err := validateKey(k); err != nil {
			return err
		}
	}
	return nil
}

func validateKey(k string) error {
	bad := func(why string) error {
		return invalid(uint64(linstor.FailInvldProp), "invalid property %q: %s", k, why)
	}
	if k == "" || strings.HasPrefix(k, "/") || strings.HasSuffix(k, "/") || strings.Contains(k, "//") {
		return bad("expected a non-empty key of /-separated names")
	}
	if slices.Contains(propKeys, k) {
		return nil
	}
	if rest, ok := strings.CutPrefix(k, "DrbdOptions/"); ok {
		section, _, hasOption := strings.Cut(rest, "/")
		if !hasOption || !slices.Contains(drbdSections, section) {
			return bad("expected DrbdOptions/<Resource|Net|Disk|PeerDevice|Handlers>/<option>")
		}
		return nil
	}
	for _, ns := range propNamespaces {
		if strings.HasPrefix(k, ns) {
			return nil
		}
	}
	return bad("not a LINSTOR property (expected Aux/*, DrbdOptions/*, FileSystem/* or a known key such as StorPoolName)")
}

// modifyProps applies a GenericPropsModify to props (a copy is returned).
func modifyProps(props map[string]string, m lapi.GenericPropsModify) (map[string]string, error) {
	if err := validateProps(m.OverrideProps, m.DeleteProps); err != nil {
		return nil, err
	}
	out := maps.Clone(props)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range m.DeleteProps {
		delete(out, k)
	}
	for _, ns := range m.DeleteNamespaces {
		ns = strings.TrimSuffix(ns, "/") + "/"
		for k := range out {
			if strings.HasPrefix(k, ns) {
				delete(out, k)
			}
		}
	}
	maps.Copy(out, m.OverrideProps)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
