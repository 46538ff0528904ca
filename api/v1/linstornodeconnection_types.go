package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// LinstorNodeConnectionSpec configures connections between pairs of nodes.
type LinstorNodeConnectionSpec struct {
	// Selector picks the node pairs; absent means every pair. A pair matches
	// when it meets all requirements of at least one term.
	// +kubebuilder:validation:Optional
	Selector []SelectorTerm `json:"selector,omitempty"`

	// Properties set on the connection, e.g. DRBD net options.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	Properties []LinstorControllerProperty `json:"properties,omitempty"`

	// Paths are the network paths DRBD uses between the two nodes.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	Paths []LinstorNodeConnectionPath `json:"paths,omitempty"`
}

// SelectorTerm matches node pairs that meet all of its requirements.
type SelectorTerm struct {
	// MatchLabels lists the requirements.
	// +kubebuilder:validation:Required
	MatchLabels []MatchLabelSelector `json:"matchLabels,omitempty"`
}

// MatchLabelSelector is one requirement on a label of both nodes of a pair.
type MatchLabelSelector struct {
	// Key of the node label.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Required
	Key string `json:"key"`
	// Op: Exists (default), DoesNotExist, In, NotIn, Same, NotSame.
	// +kubebuilder:default:=Exists
	// +kubebuilder:validation:Enum:=Exists;DoesNotExist;In;NotIn;Same;NotSame
	// +kubebuilder:validation:Optional
	Op MatchLabelSelectorOperator `json:"op,omitempty"`
	// Values for In and NotIn.
	// +kubebuilder:validation:Optional
	Values []string `json:"values,omitempty"`
}

// MatchLabelSelectorOperator compares a label across the two nodes of a pair.
type MatchLabelSelectorOperator string

// Operators of MatchLabelSelector.
const (
	MatchLabelSelectorOpExists       MatchLabelSelectorOperator = "Exists"
	MatchLabelSelectorOpDoesNotExist MatchLabelSelectorOperator = "DoesNotExist"
	MatchLabelSelectorOpIn           MatchLabelSelectorOperator = "In"
	MatchLabelSelectorOpNotIn        MatchLabelSelectorOperator = "NotIn"
	MatchLabelSelectorOpSame         MatchLabelSelectorOperator = "Same"
	MatchLabelSelectorOpNotSame      MatchLabelSelectorOperator = "NotSame"
)

// LinstorNodeConnectionPath is a named network path over one interface.
type LinstorNodeConnectionPath struct {
	// Name of the path.
	// +kubebuilder:validation:Required
	Name string `json:"name"`
	// Interface is the name of the LINSTOR net interface used on both nodes.
	// +kubebuilder:validation:Required
	Interface string `json:"interface"`
}

// LinstorNodeConnectionStatus is the observed state of a node connection.
type LinstorNodeConnectionStatus struct {
	// Conditions: Configured.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LinstorNodeConnection configures DRBD connections between node pairs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Configured",type=string,JSONPath=`.status.conditions[?(@.type=='Configured')].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LinstorNodeConnection struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LinstorNodeConnectionSpec   `json:"spec,omitempty"`
	Status LinstorNodeConnectionStatus `json:"status,omitempty"`
}

// LinstorNodeConnectionList is a list of LinstorNodeConnection.
// +kubebuilder:object:root=true
type LinstorNodeConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LinstorNodeConnection `json:"items"`
}

func init() { SchemeBuilder.Register(&LinstorNodeConnection{}, &LinstorNodeConnectionList{}) }
