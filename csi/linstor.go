package csi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/piraeusctl/piraeusctl/plan"
)

// Properties the driver keeps on resource definitions (Aux/ is LINSTOR's
// namespace for properties of other programs).
const (
	// propRemoteAccess is the volume's allowRemoteVolumeAccess policy.
	propRemoteAccess = "Aux/csi-allow-remote-volume-access"
	// propLayers is the volume's layer list (space-separated).
	propLayers = "Aux/csi-layer-list"
	// propDisklessPool is the volume's diskless storage pool.
	propDisklessPool = "Aux/csi-diskless-storage-pool"
	// propSource is what the volume was made from: "snapshot:<id>" or "volume:<id>".
	propSource = "Aux/csi-volume-source"
	// propDeleted marks a volume DeleteVolume was called on while it had
	// snapshots: kept for them, gone for the CSI calls.
	propDeleted = "Aux/csi-volume-deleted"
	// propCreatedFor marks a resource the driver made for one purpose.
	propCreatedFor = "Aux/csi-created-for"
	// createdForAttach is a diskless replica made by ControllerPublish.
	createdForAttach = "temporary-diskless-attach"
	propFsType       = linstor.NamespcFilesystem + "/" + linstor.KeyFsType
	propMkfsParams   = linstor.NamespcFilesystem + "/" + linstor.KeyFsMkfsparameters
)

// resourceNameRE is what LINSTOR accepts as a resource or snapshot name.
var resourceNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{1,47}$`)

// linstorName is the LINSTOR name of a CSI name: the name itself when
// LINSTOR accepts it (pvc-<uid>, snapshot-<uid>), else "csi-" and a UUIDv5 of
// it, so the same name always gives the same LINSTOR name.
func linstorName(name string) string {
	if resourceNameRE.MatchString(name) {
		return name
	}
	ns := uuid.NewSHA1(uuid.NameSpaceDNS, []byte(DriverName))
	return "csi-" + uuid.NewSHA1(ns, []byte(name)).String()
}

// grpcError maps a LINSTOR error to a CSI status, with what was being done.
func grpcError(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	what := fmt.Sprintf(format, args...)
	code := codes.Internal
	switch {
	case errors.Is(err, lapi.NotFoundError):
		code = codes.NotFound
	case lapi.IsApiCallError(err, linstor.FailNotEnoughNodes), lapi.IsApiCallError(err, linstor.FailNotEnoughFreeSpace),
		lapi.IsApiCallError(err, linstor.FailInsufficientReplicaCount):
		code = codes.ResourceExhausted
	case lapi.IsApiCallError(err, linstor.FailInUse), lapi.IsApiCallError(err, linstor.FailRscBusy):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case isConnectError(err):
		code = codes.Unavailable
	}
	return status.Errorf(code, "%s: %v", what, err)
}

func isConnectError(err error) bool {
	var ae lapi.ApiCallError
	if errors.As(err, &ae) {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such host") || strings.Contains(s, "unable to connect")
}

func notFound(err error) bool { return errors.Is(err, lapi.NotFoundError) }

// nodeTopology is a node's CSI topology: its hostname, a key per storage
// pool and its Aux/topology/ properties without the prefix (as linstor-csi
// with piraeus-operator v2's --property-namespace=Aux/topology).
type nodeTopology struct {
	name     string
	segments map[string]string
	// pools are the node's storage pools by name.
	pools map[string]lapi.StoragePool
}

// topology reads every node's topology in two list calls.
func (d *Driver) topology(ctx context.Context) (map[string]*nodeTopology, error) {
	nodes, err := d.lc.Nodes.GetAll(ctx)
	if err != nil {
		return nil, grpcError(err, "list nodes")
	}
	pools, err := d.lc.Nodes.GetStoragePoolView(ctx)
	if err != nil {
		return nil, grpcError(err, "list storage pools")
	}
	out := map[string]*nodeTopology{}
	for _, n := range nodes {
		out[n.Name] = newNodeTopology(n, nil)
	}
	for _, p := range pools {
		if t := out[p.NodeName]; t != nil {
			t.addPool(p)
		}
	}
	return out, nil
}

func newNodeTopology(n lapi.Node, pools []lapi.StoragePool) *nodeTopology {
	t := &nodeTopology{name: n.Name, segments: map[string]string{TopologyKeyHostname: n.Name}, pools: map[string]lapi.StoragePool{}}
	for k, v := range n.Props {
		// Aux/topology/<label> props carry the node's labels; the segment
		// key is the label, which kubelet and the API server accept. Other
		// Aux/ props count when their key is a valid label key.
		key, ok := strings.CutPrefix(k, plan.TopologyPropertyPrefix)
		if !ok {
			key, ok = strings.CutPrefix(k, linstor.NamespcAuxiliary+"/")
		}
		if ok && len(validation.IsQualifiedName(key)) == 0 {
			t.segments[key] = v
		}
	}
	for _, p := range pools {
		t.addPool(p)
	}
	return t
}

func (t *nodeTopology) addPool(p lapi.StoragePool) {
	t.pools[p.StoragePoolName] = p
	t.segments[TopologyKeyPoolPrefix+p.StoragePoolName] = "true"
}

// matches says whether the node lies in the segment (every key equal).
func (t *nodeTopology) matches(segment map[string]string) bool {
	return subsetOf(segment, t.segments)
}

// hasPool says whether the node has a diskful pool the parameters allow.
func (t *nodeTopology) hasPool(pools []string) bool {
	for name, p := range t.pools {
		if p.ProviderKind == lapi.DISKLESS {
			continue
		}
		if len(pools) == 0 || slices.Contains(pools, name) {
			return true
		}
	}
	return false
}

// sortedNodes returns the node names in order.
func sortedNodes(m map[string]*nodeTopology) []string {
	return slices.Sorted(maps.Keys(m))
}

// volume gets a volume's resource definition; one DeleteVolume was called
// on is NotFound.
func (d *Driver) volume(ctx context.Context, id string) (lapi.ResourceDefinition, error) {
	rd, err := d.lc.ResourceDefinitions.Get(ctx, id)
	if err != nil {
		return rd, grpcError(err, "get volume %s", id)
	}
	if isDeletedVolume(rd.Props) {
		return rd, status.Errorf(codes.NotFound, "volume %s was deleted (its storage stays for its snapshots)", id)
	}
	return rd, nil
}

// resources lists the volume's replicas with their volumes (device paths).
func (d *Driver) resources(ctx context.Context, id string) ([]lapi.ResourceWithVolumes, error) {
	all, err := d.lc.Resources.GetResourceView(ctx, &lapi.ListOpts{Resource: []string{id}})
	if err != nil {
		return nil, grpcError(err, "list replicas of %s", id)
	}
	return slices.DeleteFunc(all, func(r lapi.ResourceWithVolumes) bool { return r.Name != id }), nil
}

// isDiskless says whether a replica has no disk of its own.
func isDiskless(r lapi.Resource) bool {
	return slices.Contains(r.Flags, linstor.FlagDiskless) || slices.Contains(r.Flags, linstor.FlagDrbdDiskless) ||
		slices.Contains(r.Flags, linstor.FlagTieBreaker)
}

// isDeleting says whether LINSTOR is deleting the object.
func isDeleting(flags []string) bool {
	return slices.Contains(flags, linstor.FlagDelete) || slices.Contains(flags, "DELETING")
}
