// Package controller is the storage control plane (`piraeusctl controller`,
// our linstor-controller): it turns StorageVolume objects into storage on the
// nodes, through the node agents, and reports what the agents see.
//
// Level-triggered loops, run by the elected leader:
//
//   - volumes: finalizer; placement of a volume without replicas (batched,
//     with plan/placement, the code `piraeusctl plan` uses); DRBD ports and
//     minors reserved in the per-node NodeAllocation ledgers with optimistic
//     concurrency (so two controllers never hand out one number twice);
//     status (per replica, Ready, Degraded) from the agents' reports.
//   - nodes: the complete desired state of each node (Desired), told to its
//     agent over gRPC with mutual TLS when it changed, when the agent
//     reconnected (it may have restarted) and at every resync; deletions of
//     that node's replicas (DeleteResource by name and uid).
//   - agents: one WatchStatus stream per node feeding NodeReports.
//   - topology status: pools' capacity and free space, agents connected,
//     orphans, per node.
//
// Storage is destroyed only for a StorageVolume being deleted by name with
// its uid, confirmed by a read past the cache, and never while its CRD is
// being deleted; an object that vanished (finalizer removed by hand) or an
// empty list leaves the data in place, reported as orphans by the agents.
package controller
