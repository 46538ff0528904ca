package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LinstorClusterSpec is the desired state of the whole datastore.
type LinstorClusterSpec struct {
	// Repository prefixes every workload image (for example quay.io/piraeusdatastore).
	// +kubebuilder:validation:Optional
	Repository string `json:"repository,omitempty"`

	// ExternalController uses an existing controller instead of deploying one.
	// +kubebuilder:validation:Optional
	ExternalController *LinstorExternalControllerRef `json:"externalController,omitempty"`

	// NodeSelector selects the nodes that run a satellite.
	// +kubebuilder:validation:Optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// NodeAffinity selects the nodes that run a satellite.
	// +kubebuilder:validation:Optional
	NodeAffinity *corev1.NodeSelector `json:"nodeAffinity,omitempty"`

	// Tolerations added to the satellites (beside the DaemonSet defaults).
	// +kubebuilder:validation:Optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Properties set at cluster level, e.g. DRBD defaults for every resource.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	Properties []LinstorControllerProperty `json:"properties,omitempty"`

	// Patches applied to the rendered cluster-level objects.
	// +kubebuilder:validation:Optional
	Patches []Patch `json:"patches,omitempty"`

	// LinstorPassphraseSecret names a Secret with key MASTER_PASSPHRASE.
	// +kubebuilder:validation:Optional
	LinstorPassphraseSecret string `json:"linstorPassphraseSecret,omitempty"`

	// InternalTLS is the client certificate the controller uses towards satellites.
	// +kubebuilder:validation:Optional
	// +nullable
	InternalTLS *TLSConfig `json:"internalTLS,omitempty"`

	// ApiTLS secures the controller API.
	// +kubebuilder:validation:Optional
	// +nullable
	ApiTLS *LinstorClusterApiTLS `json:"apiTLS,omitempty"`

	// Controller configures the linstor-controller Deployment.
	// +kubebuilder:validation:Optional
	Controller *ComponentSpec `json:"controller,omitempty"`

	// CSIController configures the linstor-csi-controller Deployment.
	// +kubebuilder:validation:Optional
	CSIController *DeploymentComponentSpec `json:"csiController,omitempty"`

	// CSINode configures the linstor-csi-node DaemonSet.
	// +kubebuilder:validation:Optional
	CSINode *ComponentSpec `json:"csiNode,omitempty"`

	// HighAvailabilityController configures the ha-controller DaemonSet.
	// +kubebuilder:validation:Optional
	HighAvailabilityController *ComponentSpec `json:"highAvailabilityController,omitempty"`

	// AffinityController configures the affinity controller Deployment
	// (accepted for compatibility; piraeusctl's controller keeps PV affinity itself).
	// +kubebuilder:validation:Optional
	AffinityController *DeploymentComponentSpec `json:"affinityController,omitempty"`

	// NFSServer configures the linstor-csi NFS server DaemonSet that serves
	// ReadWriteMany filesystem volumes (accepted as upstream defines it).
	// +kubebuilder:validation:Optional
	NFSServer *ComponentSpec `json:"nfsServer,omitempty"`

	// MaxConcurrentEvacuations limits how many satellites are evacuated at
	// the same time (deletion policy Evacuate); 0, the default, means no limit.
	// +kubebuilder:validation:Optional
	// +kubebuilder:validation:Minimum=0
	MaxConcurrentEvacuations int32 `json:"maxConcurrentEvacuations,omitempty"`
}

// LinstorExternalControllerRef points at a controller outside the cluster.
type LinstorExternalControllerRef struct {
	// URL of the external controller.
	// +kubebuilder:validation:MinLength=3
	URL string `json:"url"`
}

// LinstorClusterApiTLS names the Secrets that secure the controller API.
type LinstorClusterApiTLS struct {
	// ApiSecretName defaults to linstor-api-tls.
	// +kubebuilder:validation:Optional
	ApiSecretName string `json:"apiSecretName,omitempty"`
	// ClientSecretName defaults to linstor-client-tls.
	// +kubebuilder:validation:Optional
	ClientSecretName string `json:"clientSecretName,omitempty"`
	// CsiControllerSecretName defaults to linstor-csi-controller-tls.
	// +kubebuilder:validation:Optional
	CsiControllerSecretName string `json:"csiControllerSecretName,omitempty"`
	// CsiNodeSecretName defaults to linstor-csi-node-tls.
	// +kubebuilder:validation:Optional
	CsiNodeSecretName string `json:"csiNodeSecretName,omitempty"`
	// AffinityControllerSecretName defaults to linstor-affinity-controller-tls.
	// +kubebuilder:validation:Optional
	AffinityControllerSecretName string `json:"affinityControllerSecretName,omitempty"`
	// NFSServerSecretName defaults to linstor-csi-nfs-server-tls.
	// +kubebuilder:validation:Optional
	NFSServerSecretName string `json:"nfsServerSecretName,omitempty"`
	// CertManager references the issuer that provisions the Secrets.
	// +kubebuilder:validation:Optional
	CertManager *IssuerReference `json:"certManager,omitempty"`
	// CAReference names where the CA certificate lives.
	// +kubebuilder:validation:Optional
	CAReference *CAReference `json:"caReference,omitempty"`
}

// LinstorClusterStatus is the observed state of the datastore.
type LinstorClusterStatus struct {
	// Conditions: Available, Configured.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Version of the running controller.
	// +kubebuilder:validation:Optional
	Version string `json:"version,omitempty"`
	// ScheduledSatellites is how many satellites should run.
	// +kubebuilder:validation:Optional
	ScheduledSatellites *int32 `json:"scheduledSatellites,omitempty"`
	// RunningSatellites is how many satellites run.
	// +kubebuilder:validation:Optional
	RunningSatellites *int32 `json:"runningSatellites,omitempty"`
	// NumberOfVolumes in the cluster.
	// +kubebuilder:validation:Optional
	NumberOfVolumes *int32 `json:"numberOfVolumes,omitempty"`
	// NumberOfSnapshots in the cluster.
	// +kubebuilder:validation:Optional
	NumberOfSnapshots *int32 `json:"numberOfSnapshots,omitempty"`
	// TotalCapacityBytes over all storage pools.
	// +kubebuilder:validation:Optional
	TotalCapacityBytes *int64 `json:"availableCapacityBytes,omitempty"`
	// FreeCapacityBytes over all storage pools.
	// +kubebuilder:validation:Optional
	FreeCapacityBytes *int64 `json:"freeCapacityBytes,omitempty"`
	// Satellites is "running/scheduled" for people.
	// +kubebuilder:validation:Optional
	Satellites string `json:"satellites,omitempty"`
	// Capacity is "used/total" for people.
	// +kubebuilder:validation:Optional
	Capacity string `json:"capacity,omitempty"`
}

// LinstorCluster is the desired state of the datastore (at most one per cluster).
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=='Available')].status`,description="Whether the cluster is available"
// +kubebuilder:printcolumn:name="Configured",type=string,JSONPath=`.status.conditions[?(@.type=='Configured')].status`,description="Whether the cluster is fully configured"
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`,priority=10
// +kubebuilder:printcolumn:name="Satellites",type=string,JSONPath=`.status.satellites`
// +kubebuilder:printcolumn:name="Used Capacity",type=string,JSONPath=`.status.capacity`
// +kubebuilder:printcolumn:name="Volumes",type=integer,JSONPath=`.status.numberOfVolumes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LinstorCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LinstorClusterSpec   `json:"spec,omitempty"`
	Status LinstorClusterStatus `json:"status,omitempty"`
}

// LinstorClusterList is a list of LinstorCluster.
// +kubebuilder:object:root=true
type LinstorClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LinstorCluster `json:"items"`
}

func init() { SchemeBuilder.Register(&LinstorCluster{}, &LinstorClusterList{}) }
