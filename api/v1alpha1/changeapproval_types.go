package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApprovalDecision is a human's answer to an escalated verdict.
// +kubebuilder:validation:Enum=Approve;Reject
type ApprovalDecision string

// Approval decisions.
const (
	// ApprovalApprove counts towards the quorum.
	ApprovalApprove ApprovalDecision = "Approve"
	// ApprovalReject vetoes the plan.
	ApprovalReject ApprovalDecision = "Reject"
)

// ChangeApprovalSpec is one human's answer to one verdict's plan.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an approval is immutable: create a new ChangeApproval"
type ChangeApprovalSpec struct {
	// verdictName is the ChangeVerdict (same namespace) being answered.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	VerdictName string `json:"verdictName"`
	// planDigest is the plan digest being approved; it must match the verdict's.
	// +required
	// +kubebuilder:validation:Pattern=`^sha256:[0-9a-f]{64}$`
	PlanDigest string `json:"planDigest"`
	// decision is Approve or Reject.
	// +required
	Decision ApprovalDecision `json:"decision"`
	// approver is the authenticated user; admission requires it to equal the
	// user creating the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Approver string `json:"approver"`
	// groups are the approver's groups claimed for required-group checks; admission
	// requires each to be one of the creating user's groups.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	Groups []string `json:"groups,omitempty"`
	// comment is the approver's note.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Comment string `json:"comment,omitempty"`
}

// ChangeApprovalStatus says whether the auditor counted the approval.
type ChangeApprovalStatus struct {
	// counted is true when the approval counted towards the quorum.
	// +optional
	Counted bool `json:"counted,omitempty"`
	// message says why it did or did not count.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// ChangeApproval is one human's approval or rejection of an escalated plan.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=capr,categories=netchange
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.spec.verdictName`
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.spec.decision`
// +kubebuilder:printcolumn:name="Approver",type=string,JSONPath=`.spec.approver`
// +kubebuilder:printcolumn:name="Counted",type=boolean,JSONPath=`.status.counted`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChangeApproval struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the approval.
	// +required
	Spec ChangeApprovalSpec `json:"spec"`
	// status says whether it counted.
	// +optional
	Status ChangeApprovalStatus `json:"status,omitempty"`
}

// ChangeApprovalList is a list of ChangeApprovals.
// +kubebuilder:object:root=true
type ChangeApprovalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the approvals.
	Items []ChangeApproval `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ChangeApproval{}, &ChangeApprovalList{})
}
