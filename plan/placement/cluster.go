package placement

import (
	"hash/fnv"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// cluster is the working index of nodes and pools during one Place call.
type cluster struct {
	nodes  []*node // sorted by name
	byName map[string]*node
	// trackVolumes: some group uses doNotPlaceWithRegex, so nodes record
	// the volumes they hold.
	trackVolumes bool
}

// node is one topology node with its pools and running counters.
type node struct {
	name     string
	hash     uint64
	labels   map[string]string
	props    map[string]string
	cordoned bool
	// evacuating: the node leaves with deletion policy Evacuate; each of its
	// replicas stays until its replacement is UpToDate (evacuate.go).
	evacuating bool
	// leavingSince and reattach: when the node started leaving (zero when
	// unknown) and its evacuation strategy's attachedVolumeReattachTimeout.
	leavingSince time.Time
	reattach     time.Duration
	// lost: the node leaves and keeps its replicas (Retain, or an
	// evacuation waiting for its turn): nothing moves, nothing new comes.
	lost     bool
	pools    []*pool // sorted by name
	diskless int     // diskless replicas placed here so far
	mark     uint64  // equals selection.stamp while the node holds a replica of the volume being placed
	volumes  []string
}

// pool is one storage pool on one node.
type pool struct {
	node      *node
	name      string
	thin      bool
	capacity  int64 // bytes; -1 when unknown
	limit     int64 // what may be allocated (capacity × ratio for thin); -1 when unknown
	allocated int64 // bytes of diskful replicas placed or kept here
}

func newCluster(spec *storagev1alpha1.StorageTopologySpec, opts Options) *cluster {
	c := &cluster{byName: make(map[string]*node, len(spec.Nodes))}
	defaultRatio := opts.MaxOversubscriptionRatio
	if defaultRatio <= 0 {
		defaultRatio = DefaultMaxOversubscriptionRatio
	}
	if r, ok := parseRatio(spec.Properties[OversubscriptionProperty]); ok {
		defaultRatio = r
	}
	for i := range spec.Nodes {
		tn := &spec.Nodes[i]
		n := &node{name: tn.Name, hash: hashString(tn.Name), labels: tn.Labels, props: tn.Properties, cordoned: tn.StorageCordoned}
		if l := tn.Leaving; l != nil {
			n.cordoned = true
			n.evacuating = l.Policy == piraeusv1.DeletionPolicyEvacuate && !l.Waiting && !l.Evacuated
			n.lost = !n.evacuating
			n.reattach = DefaultReattachTimeout
			if tn.EvacuationStrategy != nil {
				n.reattach = tn.EvacuationStrategy.AttachedVolumeReattachTimeout.Duration
			}
			if l.Since != nil {
				n.leavingSince = l.Since.Time
			}
		}
		for j := range tn.StoragePools {
			n.pools = append(n.pools, newPool(n, &tn.StoragePools[j], defaultRatio))
		}
		sort.Slice(n.pools, func(a, b int) bool { return n.pools[a].name < n.pools[b].name })
		c.nodes = append(c.nodes, n)
		c.byName[n.name] = n
	}
	sort.Slice(c.nodes, func(a, b int) bool { return c.nodes[a].name < c.nodes[b].name })
	for i := range spec.ResourceGroups {
		if spec.ResourceGroups[i].DoNotPlaceWithRegex != "" {
			c.trackVolumes = true
		}
	}
	return c
}

func newPool(n *node, sp *storagev1alpha1.StoragePool, defaultRatio float64) *pool {
	p := &pool{node: n, name: sp.Name, capacity: -1, limit: -1}
	switch string(sp.ProviderKind) {
	case "LVM_THIN", "FILE_THIN", "ZFS_THIN":
		p.thin = true
	}
	if sp.CapacityBytes != nil {
		p.capacity = *sp.CapacityBytes
		p.limit = p.capacity
		if p.thin {
			ratio := defaultRatio
			if r, ok := parseRatio(sp.Properties[OversubscriptionProperty]); ok {
				ratio = r
			}
			p.limit = int64(float64(p.capacity) * ratio)
		}
	}
	return p
}

// parseRatio reads a MaxOversubscriptionRatio property value.
func parseRatio(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r <= 0 || r != r {
		return 0, false
	}
	return r, true
}

// pool returns the node's pool of that name, or nil.
func (n *node) pool(name string) *pool {
	i := sort.Search(len(n.pools), func(i int) bool { return n.pools[i].name >= name })
	if i < len(n.pools) && n.pools[i].name == name {
		return n.pools[i]
	}
	return nil
}

// value is the node's value for a placement key: its property of that name,
// else its label named by the key without "Aux/topology/" (or "Aux/").
func (n *node) value(key string) (string, bool) {
	if v, ok := n.props[key]; ok {
		return v, true
	}
	label, ok := strings.CutPrefix(key, "Aux/topology/")
	if !ok {
		label = strings.TrimPrefix(key, "Aux/")
	}
	v, ok := n.labels[label]
	return v, ok
}

// holdsMatching reports whether the node holds a volume whose name matches re.
func (n *node) holdsMatching(re *regexp.Regexp) bool {
	for _, v := range n.volumes {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// free is what the pool can still take; ok is false when capacity is unknown.
func (p *pool) free() (int64, bool) {
	if p.limit < 0 {
		return 0, false
	}
	return p.limit - p.allocated, true
}

// fits reports whether the pool has room for size more bytes.
func (p *pool) fits(size int64) bool {
	free, known := p.free()
	return !known || free >= size
}

// hashString is FNV-1a, the per-name input to rendezvous hashing.
func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// rendezvous is the weight of a node for a volume: highest wins a tie.
// splitmix64 finaliser over the two name hashes.
func rendezvous(volume, node uint64) uint64 {
	x := volume ^ (node * 0x9e3779b97f4a7c15)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
