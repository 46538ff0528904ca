package placement

import (
	"fmt"
	"strings"
	"time"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// DefaultMaxOversubscriptionRatio is LINSTOR's default for thin pools.
const DefaultMaxOversubscriptionRatio = 20

// OversubscriptionProperty is the LINSTOR property (pool or cluster level)
// that sets how far thin pools may be over-subscribed.
const OversubscriptionProperty = "MaxOversubscriptionRatio"

// MaxNodeIDs is the number of DRBD node ids a volume can use (0-31).
const MaxNodeIDs = 32

// Options tune Place.
type Options struct {
	// AllowUnplaced reports volumes that cannot be (fully) placed in
	// Result.Unplaced and returns no error; otherwise Place returns an
	// *UnplacedError along with the result.
	AllowUnplaced bool
	// MaxOversubscriptionRatio for thin pools when neither the pool's nor the
	// cluster's properties set MaxOversubscriptionRatio. 0 means the default.
	MaxOversubscriptionRatio float64
	// NoNumbers leaves the DRBD ports and minors of new replicas at 0: the
	// controller reserves them in the NodeAllocation ledgers instead.
	NoNumbers bool
	// Ledgers are the controller's per-node ledgers, when known: a number
	// they hold is not handed to another volume's new replica (a replica
	// leaving a node keeps its numbers there until the controller removed
	// it), and a volume's own reservation is reused.
	Ledgers []storagev1alpha1.NodeAllocation
	// Now is the plan's time: an evacuating node's attachedVolumeReattachTimeout
	// counts from its Leaving.Since to Now. Zero: no clock (only a timeout
	// of 0 expires).
	Now time.Time
}

// DefaultOptions returns the options `piraeusctl plan` uses without flags.
func DefaultOptions() Options {
	return Options{MaxOversubscriptionRatio: DefaultMaxOversubscriptionRatio}
}

// Result is the outcome of Place.
type Result struct {
	// Volumes are copies of the input volumes, sorted by name, with their
	// replicas, node ids, ports and minors filled in. The input is not modified.
	Volumes []storagev1alpha1.StorageVolume `json:"volumes"`
	// Unplaced lists volumes with fewer replicas than their group asks for,
	// sorted by volume name.
	Unplaced []Unplaced `json:"unplaced,omitempty"`
	// Moves lists replicas that left a node, sorted by volume and node.
	Moves []Move `json:"moves,omitempty"`
}

// Unplaced is a volume placement could not (fully) satisfy.
type Unplaced struct {
	// Volume name.
	Volume string `json:"volume"`
	// ResourceGroup of the volume.
	ResourceGroup string `json:"resourceGroup"`
	// Wanted diskful replicas, and how many were Placed.
	Wanted int `json:"wanted"`
	Placed int `json:"placed"`
	// Reasons, one per constraint that ruled candidates out.
	Reasons []string `json:"reasons"`
}

func (u Unplaced) String() string {
	return fmt.Sprintf("volume %s (resource group %s): placed %d of %d diskful replicas: %s",
		u.Volume, u.ResourceGroup, u.Placed, u.Wanted, strings.Join(u.Reasons, "; "))
}

// Move is a replica that had to leave its node.
type Move struct {
	Volume string `json:"volume"`
	// From is the node the replica was on; To the node it moved to, "" when
	// no node could take it.
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	// Why the replica had to leave.
	Why string `json:"why"`
	// Step is set for a replica on an evacuating node, which leaves step
	// by step (see Step*); To is then its replacement.
	Step Step `json:"step,omitempty"`
	// Waiting names the replicas' nodes the step waits for.
	Waiting []string `json:"waiting,omitempty"`
	// Timeout is the evacuating node's attachedVolumeReattachTimeout, for
	// a replica in use there (WaitForDetach, DropDisk); Deadline is when it
	// expires (zero when unknown, or when the volume cannot go diskless).
	Timeout  *time.Duration `json:"timeout,omitempty"`
	Deadline time.Time      `json:"deadline,omitzero"`
}

// destination is To, or "(nowhere)" when no node could take the replica.
func (m Move) destination() string {
	if m.To == "" {
		return "(nowhere)"
	}
	return m.To
}

// UnplacedError is returned by Place when volumes cannot be placed and
// Options.AllowUnplaced is false.
type UnplacedError struct {
	Unplaced []Unplaced
}

func (e *UnplacedError) Error() string {
	lines := make([]string, len(e.Unplaced))
	for i, u := range e.Unplaced {
		lines[i] = u.String()
	}
	return fmt.Sprintf("%d volume(s) cannot be placed (use --allow-unplaced to continue):\n  %s",
		len(e.Unplaced), strings.Join(lines, "\n  "))
}

// AllocationError is returned when a port, minor or node id range is exhausted
// or the input holds conflicting allocations.
type AllocationError struct {
	Message string
}

func (e *AllocationError) Error() string { return e.Message }
