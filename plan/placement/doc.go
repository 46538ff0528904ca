// Package placement is LINSTOR's autoplacer and allocator, pure and
// deterministic: given a StorageTopologySpec (nodes with pools, resource
// groups, volumes) and the previous placement, it chooses the nodes and pools
// of every volume's replicas, adds DRBD tie-breakers and diskless replicas,
// and allocates DRBD ports, minors and node ids. `piraeusctl plan` calls it
// offline and the in-cluster controller online; the same inputs give the
// same placement wherever it runs.
//
// # Rules
//
//   - Placements and allocations already made (on the volume, else in the
//     previous spec) are state and are kept. A replica moves only when its
//     node is gone, is storage-cordoned, or no longer has the replica's pool;
//     then only that replica moves. A node leaving the cluster
//     (TopologyNode.Leaving) gets no new replica: a lost one (Retain, or an
//     evacuation waiting for its turn) keeps its replicas, an evacuating one
//     has each diskful replica replaced step by step (evacuate.go). Diskful replicas beyond the group's place
//     count are kept too: placement never drops data.
//   - New diskful replicas go to distinct, not storage-cordoned nodes with a
//     pool the group allows (any pool when it names none) and room for the
//     volume. Among those, the pool with the least bytes allocated wins
//     (LINSTOR's MinReservedSpace strategy); ties are broken by rendezvous
//     hashing of volume and node name, so adding a node or a volume never
//     reorders the choices made for others.
//   - Capacity: StoragePool.CapacityBytes when known. Thin pools (LVM_THIN,
//     FILE_THIN, ZFS_THIN) may hold capacity × MaxOversubscriptionRatio,
//     taken from the pool's properties, else the cluster properties, else
//     Options.MaxOversubscriptionRatio (LINSTOR's default, 20). Pools of
//     unknown capacity always have room and are balanced by allocation alone.
//   - replicasOnSame / replicasOnDifferent keys are LINSTOR property keys
//     (the plan normalises StorageClass keys with linstor-csi's rule, so
//     "topology.kubernetes.io/zone" becomes
//     "Aux/topology/topology.kubernetes.io/zone"). A node's value for a key is
//     its property of that name; when the node has no such property, its
//     label named by the key without "Aux/topology/" (else without "Aux/").
//     This matches piraeus-operator v2, which copies node labels into
//     Aux/topology/ properties. replicasOnSame "key=value" pins the value.
//     A node without a value for a key is not eligible under that key.
//     With several replicasOnDifferent keys the choice is greedy.
//   - Exactly two diskful replicas and a DRBD layer: a diskless tie-breaker
//     on a third node (preferring a distinct replicasOnDifferent value, then
//     the node with the fewest diskless replicas), so that DRBD quorum works.
//     disklessOnRemaining adds a diskless replica on every other eligible
//     node instead, up to DRBD's 32 node ids; clientList adds diskless
//     replicas on the named nodes. nodeList places diskful replicas on
//     exactly the named nodes.
//   - Each volume gets a DRBD port from [PortMin, PortMax] and a minor from
//     [MinorMin, MinorMax], both unique cluster-wide and never changed while
//     the volume exists; each replica a node id 0-31, unique within the
//     volume and kept while the replica exists. New allocations take the
//     lowest free number. Exhaustion is an error naming the range.
//   - Every replica records its Reason: the rule and the deciding figure.
//
// Volumes are processed in name order, so the result never depends on the
// order of the input lists.
package placement
