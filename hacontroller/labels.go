package hacontroller

// Names users and tools rely on, as upstream piraeus-ha-controller has them.
const (
	// TaintLostQuorum marks a node whose DRBD resources lost quorum: set on
	// a lost node by the survivors that fail its Pods over, and on its own
	// node by each controller while one of its resources has no quorum.
	TaintLostQuorum = "drbd.linbit.com/lost-quorum"
	// TaintForceIOError marks a node where a resource forces I/O errors.
	TaintForceIOError = "drbd.linbit.com/force-io-error"
	// AnnotationIgnoreFailOver exempts a Pod from everything this controller
	// does (any value, including empty).
	AnnotationIgnoreFailOver = "drbd.linbit.com/ignore-fail-over"
	// CSIDriver is the driver whose PersistentVolumes are DRBD resources;
	// the volume handle is the resource name.
	CSIDriver = "linstor.csi.linbit.com"

	// EventsReporter is the reporting controller of our Events.
	EventsReporter = "linstor.linbit.com/HighAvailabilityController"
	// FieldManager names our writes.
	FieldManager = "linstor.linbit.com/high-availability-controller/v2"

	ReasonVolumeWithoutQuorum       = "VolumeWithoutQuorum"
	ReasonVolumeForcingIOErrors     = "VolumeForcingIoErrors"
	ReasonNoVolumeForcingIOErrors   = "NoVolumeForcingIoErrors"
	ReasonNodeStorageQuorumLost     = "NodeStorageQuorumLost"
	ReasonNodeStorageQuorumRegained = "NodeStorageQuorumRegained"

	ActionEvictedPod              = "EvictedPod"
	ActionVolumeAttachmentDeleted = "VolumeAttachmentDeleted"
	ActionForcedVolumeDemotion    = "ForcedVolumeDemotion"
	ActionTaintedNode             = "TaintedNode"
	ActionUntaintedNode           = "UntaintedNode"
)
