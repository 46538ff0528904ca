// Package hacontroller is the HA controller (our piraeus-ha-controller): one
// per node, it follows DRBD's own event stream (`drbdsetup events2
// --timestamps`) and, when a peer node is lost while this node keeps
// quorum, moves the Pods that used the lost node's replica elsewhere:
// it taints the lost Node, evicts (or, once the Node is NotReady, deletes)
// its Pods of the volume and deletes its VolumeAttachment. On its own node
// it taints for lost quorum and forced I/O errors, evicts local Pods of a
// volume that forces I/O errors, and force-demotes a suspended Primary
// whose Pods are stuck terminating.
//
// The parts: Tracker folds events2 lines (DRBD 9 and 8.4, parsed by
// agent/drbd) into per-resource state with the time each loss began;
// Supervisor keeps one events2 stream running and re-reads the full state
// when it breaks; Decide is a pure function from DRBD state, Kubernetes
// objects and clocks to actions; Controller watches the Kubernetes objects
// through informers, runs Decide when either side changes and carries the
// actions out, never repeating one without progress.
//
// DRBD's connection names are Kubernetes node names: the agent writes each
// resource's `on <host>` sections with the node names and runs drbdadm in a
// UTS namespace named after its node. A connection whose name is no known
// Node is logged and left alone.
package hacontroller
