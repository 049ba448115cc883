package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FreezeScope limits a freeze; an empty scope freezes everything.
type FreezeScope struct {
	// namespaces are the request namespaces frozen.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	Namespaces []string `json:"namespaces,omitempty"`
	// environments are the environments frozen.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	Environments []Environment `json:"environments,omitempty"`
	// regions are the AWS regions frozen.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern=`^[a-z]{2}(-gov|-iso|-isob)?-[a-z]+-[1-9]$`
	Regions []string `json:"regions,omitempty"`
}

// ChangeFreezeSpec says what is frozen, why and until when.
// +kubebuilder:validation:XValidation:rule="!has(self.start) || !has(self.end) || timestamp(self.end) > timestamp(self.start)",message="end must be after start"
type ChangeFreezeSpec struct {
	// reason says why changes are frozen.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
	// author is who declared the freeze.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Author string `json:"author"`
	// scope limits the freeze; empty means everything.
	// +optional
	Scope FreezeScope `json:"scope,omitempty"`
	// start is when the freeze begins; unset means now.
	// +optional
	Start *metav1.Time `json:"start,omitempty"`
	// end is when the freeze ends; unset means until deleted.
	// +optional
	End *metav1.Time `json:"end,omitempty"`
}

// ChangeFreezeStatus is the observed state of a freeze.
type ChangeFreezeStatus struct {
	// active is true while the freeze is in force.
	// +optional
	Active bool `json:"active,omitempty"`
}

// ChangeFreeze stops all matching changes while it is in force.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cfz,categories=netchange
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Author",type=string,JSONPath=`.spec.author`
// +kubebuilder:printcolumn:name="End",type=string,JSONPath=`.spec.end`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChangeFreeze struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says what is frozen.
	// +required
	Spec ChangeFreezeSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status ChangeFreezeStatus `json:"status,omitempty"`
}

// ChangeFreezeList is a list of ChangeFreezes.
// +kubebuilder:object:root=true
type ChangeFreezeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the freezes.
	Items []ChangeFreeze `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ChangeFreeze{}, &ChangeFreezeList{})
}
