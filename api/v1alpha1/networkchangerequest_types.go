package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Environment is the environment a request targets. It selects policy and guardrails.
// +kubebuilder:validation:Enum=production;staging;development;test
type Environment string

// Environments.
const (
	// EnvironmentProduction is production: the strictest guardrails apply.
	EnvironmentProduction Environment = "production"
	// EnvironmentStaging is a pre-production environment.
	EnvironmentStaging Environment = "staging"
	// EnvironmentDevelopment is a development environment.
	EnvironmentDevelopment Environment = "development"
	// EnvironmentTest is a test environment.
	EnvironmentTest Environment = "test"
)

// Severity is how urgent a request is, as its author or the triggering finding says.
// +kubebuilder:validation:Enum=low;medium;high;critical
type Severity string

// Severities.
const (
	// SeverityLow is a low-severity request (GuardDuty 1.0–3.9).
	SeverityLow Severity = "low"
	// SeverityMedium is a medium-severity request (GuardDuty 4.0–6.9).
	SeverityMedium Severity = "medium"
	// SeverityHigh is a high-severity request (GuardDuty 7.0–8.9).
	SeverityHigh Severity = "high"
	// SeverityCritical is a critical request (GuardDuty 9.0 and above).
	SeverityCritical Severity = "critical"
)

// SourceType says where a request came from.
// +kubebuilder:validation:Enum=user;guardduty;cloudwatch;securityhub;other
type SourceType string

// Source types.
const (
	// SourceUser is a request typed by a person.
	SourceUser SourceType = "user"
	// SourceGuardDuty is a request raised from an Amazon GuardDuty finding.
	SourceGuardDuty SourceType = "guardduty"
	// SourceCloudWatch is a request raised from a CloudWatch alarm or event.
	SourceCloudWatch SourceType = "cloudwatch"
	// SourceSecurityHub is a request raised from an AWS Security Hub finding.
	SourceSecurityHub SourceType = "securityhub"
	// SourceOther is any other automated source.
	SourceOther SourceType = "other"
)

// DeletionPolicy says what deleting a request does to the change it applied.
// +kubebuilder:validation:Enum=Retain;Rollback
type DeletionPolicy string

// Deletion policies.
const (
	// DeletionPolicyRetain keeps the applied change when the request is deleted.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyRollback undoes the applied change before the request goes away.
	DeletionPolicyRollback DeletionPolicy = "Rollback"
)

// Protocol is an IP protocol for rules and targets.
// +kubebuilder:validation:Enum=tcp;udp;icmp;all
type Protocol string

// Protocols.
const (
	// ProtocolTCP is TCP.
	ProtocolTCP Protocol = "tcp"
	// ProtocolUDP is UDP.
	ProtocolUDP Protocol = "udp"
	// ProtocolICMP is ICMP.
	ProtocolICMP Protocol = "icmp"
	// ProtocolAll is every protocol (AWS "-1").
	ProtocolAll Protocol = "all"
)

// PortRange is an inclusive range of ports.
// +kubebuilder:validation:XValidation:rule="self.to >= self.from",message="ports: to must be greater than or equal to from"
type PortRange struct {
	// from is the first port of the range.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	From int32 `json:"from"`
	// to is the last port of the range.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	To int32 `json:"to"`
}

// Targets names, in structured form, what a request is about. Every entry is
// optional; the planner and the auditor also read the intent text.
type Targets struct {
	// accountID is the 12-digit AWS account the change applies to.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{12}$`
	AccountID string `json:"accountID,omitempty"`
	// region is the AWS region the change applies to, e.g. eu-west-1.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(af|ap|ca|cn|eu|il|me|mx|sa|us)(-gov|-iso|-isob)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9]$`
	Region string `json:"region,omitempty"`
	// resourceIDs are EC2 resource IDs the request names (instances, security
	// groups, network ACLs, route tables, prefix lists, VPCs, subnets, ...).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Pattern=`^(i|sg|acl|rtb|pl|vpc|subnet|eni|igw|nat|tgw|pcx|vpce)-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:items:MaxLength=32
	ResourceIDs []string `json:"resourceIDs,omitempty"`
	// wafIPSets are names of WAFv2 IP sets the request names (block lists).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9_-]{1,128}$`
	// +kubebuilder:validation:items:MaxLength=128
	WAFIPSets []string `json:"wafIPSets,omitempty"`
	// cidrs are IPv4 or IPv6 CIDR blocks the request names.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="targets.cidrs: every entry must be a CIDR block such as 203.0.113.0/24"
	CIDRs []string `json:"cidrs,omitempty"`
	// ports are the port ranges the request names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []PortRange `json:"ports,omitempty"`
	// protocol is the IP protocol the request names.
	// +optional
	Protocol Protocol `json:"protocol,omitempty"`
}

// Source says what raised a request.
type Source struct {
	// type is the kind of source: user, guardduty, cloudwatch, securityhub or other.
	// +required
	Type SourceType `json:"type"`
	// event is the raw triggering event (for example a GuardDuty finding) as JSON.
	// It is untrusted input: planners and the auditor treat it as data only.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Event string `json:"event,omitempty"`
}

// NetworkChangeRequestSpec is what was asked for. It is immutable: a different
// change is a new request.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new NetworkChangeRequest for a different change"
// +kubebuilder:validation:XValidation:rule="!has(self.source) || self.source.type == 'user' || has(self.source.event)",message="source.event is required when source.type is not user"
type NetworkChangeRequestSpec struct {
	// intent is the change asked for, in plain language. Untrusted input.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="intent must not be blank: say what should change"
	Intent string `json:"intent"`
	// targets names, in structured form, what the request is about.
	// +optional
	Targets *Targets `json:"targets,omitempty"`
	// environment is the environment the change applies to.
	// +required
	Environment Environment `json:"environment"`
	// severity is how urgent the request is. For findings the planner derives it
	// from the event when unset.
	// +optional
	Severity Severity `json:"severity,omitempty"`
	// source says what raised the request; unset means a user request.
	// +optional
	Source *Source `json:"source,omitempty"`
	// revertAfter makes the change time-boxed: it is undone this long after it was applied.
	// +optional
	RevertAfter *metav1.Duration `json:"revertAfter,omitempty"`
	// deletionPolicy says whether deleting the request undoes the applied change.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// Phase is where a request is in its life.
// +kubebuilder:validation:Enum=Pending;Planning;AwaitingVerdict;Approved;AwaitingHumanApproval;Vetoed;Executing;Succeeded;Failed;RolledBack;Expired;Reverted;NoAction
type Phase string

// Phases.
const (
	// PhasePending is a request no controller has looked at.
	PhasePending Phase = "Pending"
	// PhasePlanning is a request the planner is working on.
	PhasePlanning Phase = "Planning"
	// PhaseAwaitingVerdict is a planned request the auditor has not judged yet.
	PhaseAwaitingVerdict Phase = "AwaitingVerdict"
	// PhaseApproved is a request with a signed Approve verdict, not yet executed.
	PhaseApproved Phase = "Approved"
	// PhaseAwaitingHumanApproval is an escalated request waiting for ChangeApprovals.
	PhaseAwaitingHumanApproval Phase = "AwaitingHumanApproval"
	// PhaseVetoed is a request the auditor refused. Terminal.
	PhaseVetoed Phase = "Vetoed"
	// PhaseExecuting is a request whose actions are being applied.
	PhaseExecuting Phase = "Executing"
	// PhaseSucceeded is a request whose actions were applied and verified.
	PhaseSucceeded Phase = "Succeeded"
	// PhaseFailed is a request that could not be planned or applied. Terminal.
	PhaseFailed Phase = "Failed"
	// PhaseRolledBack is a request whose applied actions were undone after a failure.
	PhaseRolledBack Phase = "RolledBack"
	// PhaseExpired is a request whose verdict expired before it could be executed.
	PhaseExpired Phase = "Expired"
	// PhaseReverted is a time-boxed change undone at revertAfter.
	PhaseReverted Phase = "Reverted"
	// PhaseNoAction is a request that needs no change (recorded, nothing executed).
	PhaseNoAction Phase = "NoAction"
)

// NetworkChangeRequestStatus is the observed state of a request. The planner, the
// auditor and the executor each own their own fields and conditions.
type NetworkChangeRequestStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase is where the request is in its life.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// message is a human-readable summary of the phase.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Message string `json:"message,omitempty"`
	// requester is the authenticated user that created the request (from the
	// admission-checked netchange.io/requester annotation).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Requester string `json:"requester,omitempty"`
	// decision is the auditor's decision on the current plan.
	// +optional
	Decision Decision `json:"decision,omitempty"`
	// actionCount is the number of actions in the current plan.
	// +optional
	ActionCount int32 `json:"actionCount,omitempty"`
	// conditions are Planned, Approved, Applied, Verified, RolledBack and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// plan is the typed plan the planner attached. Owned by the planner.
	// +optional
	Plan *Plan `json:"plan,omitempty"`
	// verdict is the auditor's signed verdict on the plan. Owned by the auditor.
	// +optional
	Verdict *SignedVerdict `json:"verdict,omitempty"`
	// execution is the executor's per-action journal. Owned by the executor.
	// +optional
	Execution *Execution `json:"execution,omitempty"`
}

// NetworkChangeRequest asks netchange to change an AWS network.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ncr,categories=netchange
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.status.decision`
// +kubebuilder:printcolumn:name="Actions",type=integer,JSONPath=`.status.actionCount`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Requester",type=string,JSONPath=`.status.requester`,priority=1
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environment`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
type NetworkChangeRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what was asked for.
	// +required
	Spec NetworkChangeRequestSpec `json:"spec"`
	// status is what netchange did about it.
	// +optional
	Status NetworkChangeRequestStatus `json:"status,omitempty"`
}

// NetworkChangeRequestList is a list of NetworkChangeRequests.
// +kubebuilder:object:root=true
type NetworkChangeRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the requests.
	Items []NetworkChangeRequest `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NetworkChangeRequest{}, &NetworkChangeRequestList{})
}
