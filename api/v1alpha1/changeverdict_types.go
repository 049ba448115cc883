package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Decision is the auditor's decision on a plan.
// +kubebuilder:validation:Enum=Approve;Veto;Escalate
type Decision string

// Decisions.
const (
	// DecisionApprove authorises the executor to apply the plan.
	DecisionApprove Decision = "Approve"
	// DecisionVeto refuses the plan.
	DecisionVeto Decision = "Veto"
	// DecisionEscalate asks for human approval.
	DecisionEscalate Decision = "Escalate"
)

// ApprovalPath says how a decision was reached.
// +kubebuilder:validation:Enum=Policy;Human;Guardrail;ScopeCheck;Freeze
type ApprovalPath string

// Approval paths.
const (
	// ApprovalPathPolicy is a decision the ChangePolicy made on its own.
	ApprovalPathPolicy ApprovalPath = "Policy"
	// ApprovalPathHuman is a decision reached by ChangeApprovals.
	ApprovalPathHuman ApprovalPath = "Human"
	// ApprovalPathGuardrail is a decision forced by a built-in guardrail.
	ApprovalPathGuardrail ApprovalPath = "Guardrail"
	// ApprovalPathScopeCheck is a veto for scope creep.
	ApprovalPathScopeCheck ApprovalPath = "ScopeCheck"
	// ApprovalPathFreeze is a hold caused by a ChangeFreeze.
	ApprovalPathFreeze ApprovalPath = "Freeze"
)

// RequestReference identifies one generation of a request in a control cluster.
type RequestReference struct {
	// cluster is the control cluster's name.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Cluster string `json:"cluster"`
	// namespace is the request's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// name is the request's name.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// uid is the request's uid.
	// +required
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid"`
	// generation is the request generation judged.
	// +required
	Generation int64 `json:"generation"`
}

// Findings are what the auditor found while judging a plan.
type Findings struct {
	// intentMatch is true when every action is grounded in the request.
	// +optional
	IntentMatch bool `json:"intentMatch,omitempty"`
	// entities are what the auditor independently extracted from the request.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MaxLength=256
	Entities []string `json:"entities,omitempty"`
	// scopeCreep names each action or target not grounded in the request.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=512
	ScopeCreep []string `json:"scopeCreep,omitempty"`
	// policyRules are the ChangePolicy rules that matched, with their outcomes.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=512
	PolicyRules []string `json:"policyRules,omitempty"`
	// guardrails are the built-in or policy guardrails that fired.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=512
	Guardrails []string `json:"guardrails,omitempty"`
	// secondOpinion is the auditor's LLM reviewer's finding, if one is configured.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	SecondOpinion string `json:"secondOpinion,omitempty"`
	// monthlyCostUSD is the plan's estimated monthly cost.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	MonthlyCostUSD string `json:"monthlyCostUSD,omitempty"`
	// blastRadius is the plan's blast radius.
	// +optional
	BlastRadius BlastRadius `json:"blastRadius,omitempty"`
}

// ChangeVerdictSpec is the auditor's durable record of one decision.
// +kubebuilder:validation:XValidation:rule="self == oldSelf || oldSelf.decision == 'Escalate'",message="a final verdict is immutable"
type ChangeVerdictSpec struct {
	// requestRef identifies the request and generation judged.
	// +required
	RequestRef RequestReference `json:"requestRef"`
	// requester is the user that created the request.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Requester string `json:"requester,omitempty"`
	// planDigest is the digest of the plan judged.
	// +required
	// +kubebuilder:validation:Pattern=`^sha256:[0-9a-f]{64}$`
	PlanDigest string `json:"planDigest"`
	// decision is Approve, Veto or Escalate.
	// +required
	Decision Decision `json:"decision"`
	// approvalPath says how the decision was reached.
	// +required
	ApprovalPath ApprovalPath `json:"approvalPath"`
	// reason explains the decision in one sentence.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Reason string `json:"reason,omitempty"`
	// requiredApprovals is the quorum of distinct human approvers for an escalation.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	RequiredApprovals int32 `json:"requiredApprovals,omitempty"`
	// requiredGroups are groups at least one approver must belong to.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=256
	RequiredGroups []string `json:"requiredGroups,omitempty"`
	// approvers are the distinct users whose approvals counted.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	Approvers []string `json:"approvers,omitempty"`
	// policyVersion identifies the policy the decision was made under.
	// +required
	// +kubebuilder:validation:MaxLength=256
	PolicyVersion string `json:"policyVersion"`
	// findings are what the auditor found.
	// +optional
	Findings Findings `json:"findings,omitempty"`
	// signed is the signed statement delivered to the request, for Approve and Veto.
	// +optional
	Signed *SignedVerdict `json:"signed,omitempty"`
}

// ChangeVerdictStatus is the observed state of a verdict.
type ChangeVerdictStatus struct {
	// delivered is true once the verdict was written to the request in the control cluster.
	// +optional
	Delivered bool `json:"delivered,omitempty"`
	// conditions describe the verdict's delivery.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ChangeVerdict is the auditor's durable record of a decision on one plan of one request.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cv,categories=netchange
// +kubebuilder:printcolumn:name="Request",type=string,JSONPath=`.spec.requestRef.name`
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.spec.decision`
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=`.spec.approvalPath`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.requestRef.cluster`,priority=1
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.policyVersion`,priority=1
type ChangeVerdict struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the decision record.
	// +required
	Spec ChangeVerdictSpec `json:"spec"`
	// status is the verdict's delivery state.
	// +optional
	Status ChangeVerdictStatus `json:"status,omitempty"`
}

// ChangeVerdictList is a list of ChangeVerdicts.
// +kubebuilder:object:root=true
type ChangeVerdictList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the verdicts.
	Items []ChangeVerdict `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ChangeVerdict{}, &ChangeVerdictList{})
}
