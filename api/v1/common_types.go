package v1

import "encoding/json"

// ComponentSpec switches a component on or off and patches its Pod template.
type ComponentSpec struct {
	// Enabled deploys the component. Defaults to true.
	// +kubebuilder:default:=true
	// +kubebuilder:validation:Optional
	Enabled bool `json:"enabled,omitempty"`

	// PodTemplate is merged into the component's default Pod template as a
	// strategic merge patch, so it may be sparse.
	// +kubebuilder:validation:Optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +structType=atomic
	PodTemplate json.RawMessage `json:"podTemplate,omitempty"`
}

// IsEnabled reports whether the component is deployed; an absent spec means yes.
func (c *ComponentSpec) IsEnabled() bool { return c == nil || c.Enabled }

// Template returns the Pod template patch, if any.
func (c *ComponentSpec) Template() json.RawMessage {
	if c == nil {
		return nil
	}
	return c.PodTemplate
}

// DeploymentComponentSpec is a ComponentSpec for a Deployment, with a replica count.
type DeploymentComponentSpec struct {
	ComponentSpec `json:",inline"`

	// Replicas is the number of desired Pods. Defaults to 1.
	// +kubebuilder:validation:Optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`
}

// IsEnabled reports whether the component is deployed; an absent spec means yes.
func (d *DeploymentComponentSpec) IsEnabled() bool { return d == nil || d.ComponentSpec.IsEnabled() }

// Template returns the Pod template patch, if any.
func (d *DeploymentComponentSpec) Template() json.RawMessage {
	if d == nil {
		return nil
	}
	return d.PodTemplate
}

// Patch is a kustomize-style patch: a strategic merge patch or a JSON 6902
// patch, applied to the rendered objects that Target selects.
type Patch struct {
	// Patch is the patch document (YAML or JSON).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Required
	Patch string `json:"patch,omitempty"`

	// Target selects the objects to patch. When absent, a strategic merge
	// patch targets the object it names.
	// +kubebuilder:validation:Optional
	Target *Selector `json:"target,omitempty"`

	// Options for the patch: allowNameChange, allowKindChange.
	// +kubebuilder:validation:Optional
	Options map[string]bool `json:"options,omitempty"`
}

// Selector matches objects that meet every condition given.
type Selector struct {
	Group   string `json:"group,omitempty"`
	Version string `json:"version,omitempty"`
	Kind    string `json:"kind,omitempty"`
	// Name of the object (a regular expression, as in kustomize).
	Name string `json:"name,omitempty"`
	// Namespace of the object (a regular expression, as in kustomize).
	Namespace string `json:"namespace,omitempty"`
	// AnnotationSelector is a label-selector expression evaluated on annotations.
	AnnotationSelector string `json:"annotationSelector,omitempty"`
	// LabelSelector is a label-selector expression evaluated on labels.
	LabelSelector string `json:"labelSelector,omitempty"`
}

// LinstorControllerProperty is a LINSTOR property set at cluster or connection level.
type LinstorControllerProperty struct {
	// Name of the property.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Required
	Name string `json:"name"`
	// Value of the property.
	Value string `json:"value,omitempty"`
}

// LinstorNodeProperty is a LINSTOR property set on a node or storage pool; its
// value may come from the Kubernetes Node object.
type LinstorNodeProperty struct {
	// Name of the property.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Required
	Name string `json:"name"`
	// Value of the property.
	// +kubebuilder:validation:Optional
	Value string `json:"value,omitempty"`
	// ValueFrom takes the value from a field of the Node.
	// +kubebuilder:validation:Optional
	ValueFrom *LinstorNodePropertyValueFrom `json:"valueFrom,omitempty"`
	// ExpandFrom takes values from several fields of the Node, either joined
	// into one property or expanded into one property each.
	// +kubebuilder:validation:Optional
	ExpandFrom *LinstorNodePropertyExpandFrom `json:"expandFrom,omitempty"`
	// Optional properties are set only when their value is not empty.
	// +kubebuilder:validation:Optional
	Optional bool `json:"optional,omitempty"`
}

// LinstorNodePropertyValueFrom names a field of the Node.
type LinstorNodePropertyValueFrom struct {
	// NodeFieldRef selects a field of the Node: `metadata.name`,
	// `metadata.uid`, `metadata.labels['<KEY>']` or `metadata.annotations['<KEY>']`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Required
	NodeFieldRef string `json:"nodeFieldRef,omitempty"`
}

// LinstorNodePropertyExpandFrom selects many Node fields at once: the key in
// NodeFieldRef may end in `*` to match every label or annotation with that prefix.
type LinstorNodePropertyExpandFrom struct {
	LinstorNodePropertyValueFrom `json:",inline"`
	// NameTemplate, when set, is appended to the property name and makes one
	// property per match instead of one joined value. $1 is the matched key,
	// $2 the matched value.
	// +kubebuilder:validation:Optional
	NameTemplate string `json:"nameTemplate,omitempty"`
	// ValueTemplate shapes each matched value. $1 is the key, $2 the value.
	// +kubebuilder:validation:Optional
	ValueTemplate string `json:"valueTemplate,omitempty"`
	// Delimiter joins the values when NameTemplate is empty.
	// +kubebuilder:validation:Optional
	Delimiter string `json:"delimiter,omitempty"`
}

// TLSConfig names the Secret holding a component's TLS key and certificates.
type TLSConfig struct {
	// SecretName of the Secret with tls.key, tls.crt and ca.crt.
	// +kubebuilder:validation:Optional
	SecretName string `json:"secretName,omitempty"`
	// CertManager references a cert-manager Issuer or ClusterIssuer that
	// provisions SecretName.
	// +kubebuilder:validation:Optional
	CertManager *IssuerReference `json:"certManager,omitempty"`
	// CAReference names where the CA certificate lives, when not ca.crt in SecretName.
	// +kubebuilder:validation:Optional
	CAReference *CAReference `json:"caReference,omitempty"`
}

// TLSConfigWithHandshakeDaemon is a TLSConfig that can also run tlshd for DRBD.
type TLSConfigWithHandshakeDaemon struct {
	TLSConfig `json:",inline"`
	// TLSHandshakeDaemon adds the tlshd sidecar that establishes TLS sessions for DRBD.
	// +kubebuilder:validation:Optional
	TLSHandshakeDaemon bool `json:"tlsHandshakeDaemon,omitempty"`
}

// IssuerReference points at a cert-manager issuer (cert-manager's ObjectReference).
type IssuerReference struct {
	// Name of the issuer.
	Name string `json:"name"`
	// Kind of the issuer: Issuer or ClusterIssuer.
	// +kubebuilder:validation:Optional
	Kind string `json:"kind,omitempty"`
	// Group of the issuer.
	// +kubebuilder:validation:Optional
	Group string `json:"group,omitempty"`
}

// CAReference names a ConfigMap or Secret key holding a CA certificate.
type CAReference struct {
	// Kind is ConfigMap or Secret.
	// +kubebuilder:default:=Secret
	// +kubebuilder:validation:Enum:=ConfigMap;Secret
	// +kubebuilder:validation:Optional
	Kind string `json:"kind,omitempty"`
	// Name of the ConfigMap or Secret.
	// +kubebuilder:validation:Required
	Name string `json:"name"`
	// Key in the object; defaults to ca.crt.
	// +kubebuilder:default:=ca.crt
	// +kubebuilder:validation:Optional
	Key string `json:"key,omitempty"`
	// Optional allows the object or key to be missing.
	// +kubebuilder:validation:Optional
	Optional *bool `json:"optional,omitempty"`
}

// IPFamily is IPv4 or IPv6.
// +kubebuilder:validation:Enum:=IPv4;IPv6
type IPFamily string

// DeletionPolicy says what happens to a satellite that leaves the cluster.
// +kubebuilder:validation:Enum:=Evacuate;Retain;Delete
type DeletionPolicy string

// Deletion policies.
const (
	DeletionPolicyEvacuate DeletionPolicy = "Evacuate"
	DeletionPolicyRetain   DeletionPolicy = "Retain"
	DeletionPolicyDelete   DeletionPolicy = "Delete"
)
