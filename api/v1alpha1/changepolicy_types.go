package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyOutcome is what a matching policy rule decides.
// +kubebuilder:validation:Enum=AutoApprove;RequireApproval;Reject
type PolicyOutcome string

// Policy outcomes, from least to most strict.
const (
	// OutcomeAutoApprove approves without a human.
	OutcomeAutoApprove PolicyOutcome = "AutoApprove"
	// OutcomeRequireApproval escalates to human approval.
	OutcomeRequireApproval PolicyOutcome = "RequireApproval"
	// OutcomeReject vetoes.
	OutcomeReject PolicyOutcome = "Reject"
)

// GuardrailLevel is what a matching guardrail does.
// +kubebuilder:validation:Enum=warn;escalate;block
type GuardrailLevel string

// Guardrail levels.
const (
	// GuardrailWarn records a finding and changes nothing.
	GuardrailWarn GuardrailLevel = "warn"
	// GuardrailEscalate requires human approval.
	GuardrailEscalate GuardrailLevel = "escalate"
	// GuardrailBlock vetoes.
	GuardrailBlock GuardrailLevel = "block"
)

// PolicyRule maps requests that match a CEL expression to an outcome.
// +kubebuilder:validation:XValidation:rule="self.outcome != 'RequireApproval' || self.approvals >= 1",message="approvals (the quorum) must be at least 1 when outcome is RequireApproval"
type PolicyRule struct {
	// name identifies the rule in verdict findings.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// description explains the rule to a reader.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Description string `json:"description,omitempty"`
	// match is a CEL expression over request, plan, blastRadius, cost, environment,
	// severity and source that returns a bool.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Match string `json:"match"`
	// outcome is what the rule decides when it matches.
	// +required
	Outcome PolicyOutcome `json:"outcome"`
	// approvals is the quorum of distinct approvers for RequireApproval.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	Approvals int32 `json:"approvals,omitempty"`
	// groups are groups at least one approver must belong to.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=256
	Groups []string `json:"groups,omitempty"`
}

// Guardrail is a CEL check that warns, escalates or blocks whatever the rules decide.
type Guardrail struct {
	// name identifies the guardrail in verdict findings.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// expression is a CEL expression that returns true when the guardrail fires.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Expression string `json:"expression"`
	// level is warn, escalate or block.
	// +required
	Level GuardrailLevel `json:"level"`
	// message is recorded in the verdict when the guardrail fires.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`
}

// ChangePolicySpec is the auditor's decision matrix.
type ChangePolicySpec struct {
	// rules map requests to outcomes; the strictest matching outcome wins, and no
	// match means RequireApproval with one approver.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Rules []PolicyRule `json:"rules"`
	// guardrails are extra checks on top of the built-in ones.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Guardrails []Guardrail `json:"guardrails,omitempty"`
	// verdictTTL is how long an approval stays valid for execution.
	// +optional
	// +kubebuilder:default="15m"
	VerdictTTL *metav1.Duration `json:"verdictTTL,omitempty"`
}

// ChangePolicyStatus reports whether the policy compiles.
type ChangePolicyStatus struct {
	// observedGeneration is the generation last compiled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// version identifies this policy content in verdicts: <name>@<generation>/<sha256 prefix>.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Version string `json:"version,omitempty"`
	// conditions has Ready, False with the CEL error when a rule does not compile.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ChangePolicy is the auditor's decision matrix as policy-as-code.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cpol,categories=netchange
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChangePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the decision matrix.
	// +required
	Spec ChangePolicySpec `json:"spec"`
	// status reports whether it compiles.
	// +optional
	Status ChangePolicyStatus `json:"status,omitempty"`
}

// ChangePolicyList is a list of ChangePolicies.
// +kubebuilder:object:root=true
type ChangePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the policies.
	Items []ChangePolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ChangePolicy{}, &ChangePolicyList{})
}
