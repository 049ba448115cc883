package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ActionType names one entry of the closed action catalog. Nothing outside this
// list can be planned, approved or executed.
// +kubebuilder:validation:Enum=SecurityGroupRuleAuthorize;SecurityGroupRuleRevoke;NetworkACLEntryAdd;NetworkACLEntryRemove;RouteCreate;RouteReplace;RouteDelete;PrefixListEntryAdd;PrefixListEntryRemove;InstanceQuarantine;InstanceRelease;TagsAdd;TagsRemove;WAFIPSetAdd;WAFIPSetRemove
type ActionType string

// The action catalog.
const (
	// ActionSecurityGroupRuleAuthorize authorizes an ingress or egress rule on a security group.
	ActionSecurityGroupRuleAuthorize ActionType = "SecurityGroupRuleAuthorize"
	// ActionSecurityGroupRuleRevoke revokes an ingress or egress rule from a security group.
	ActionSecurityGroupRuleRevoke ActionType = "SecurityGroupRuleRevoke"
	// ActionNetworkACLEntryAdd adds an allow or deny entry to a network ACL.
	ActionNetworkACLEntryAdd ActionType = "NetworkACLEntryAdd"
	// ActionNetworkACLEntryRemove removes an entry from a network ACL.
	ActionNetworkACLEntryRemove ActionType = "NetworkACLEntryRemove"
	// ActionRouteCreate creates a route in a route table.
	ActionRouteCreate ActionType = "RouteCreate"
	// ActionRouteReplace points an existing route at a new target.
	ActionRouteReplace ActionType = "RouteReplace"
	// ActionRouteDelete deletes a route from a route table.
	ActionRouteDelete ActionType = "RouteDelete"
	// ActionPrefixListEntryAdd adds a CIDR to a managed prefix list.
	ActionPrefixListEntryAdd ActionType = "PrefixListEntryAdd"
	// ActionPrefixListEntryRemove removes a CIDR from a managed prefix list.
	ActionPrefixListEntryRemove ActionType = "PrefixListEntryRemove"
	// ActionInstanceQuarantine moves an instance into a quarantine security group.
	ActionInstanceQuarantine ActionType = "InstanceQuarantine"
	// ActionInstanceRelease restores a quarantined instance's original security groups.
	ActionInstanceRelease ActionType = "InstanceRelease"
	// ActionTagsAdd adds or overwrites tags on a resource.
	ActionTagsAdd ActionType = "TagsAdd"
	// ActionTagsRemove removes tags from a resource.
	ActionTagsRemove ActionType = "TagsRemove"
	// ActionWAFIPSetAdd adds addresses to a WAFv2 IP set.
	ActionWAFIPSetAdd ActionType = "WAFIPSetAdd"
	// ActionWAFIPSetRemove removes addresses from a WAFv2 IP set.
	ActionWAFIPSetRemove ActionType = "WAFIPSetRemove"
)

// Direction is the direction of a security group rule or network ACL entry.
// +kubebuilder:validation:Enum=ingress;egress
type Direction string

// Directions.
const (
	// DirectionIngress is inbound traffic.
	DirectionIngress Direction = "ingress"
	// DirectionEgress is outbound traffic.
	DirectionEgress Direction = "egress"
)

// RuleAction is what a network ACL entry does with matching traffic.
// +kubebuilder:validation:Enum=allow;deny
type RuleAction string

// Rule actions.
const (
	// RuleActionAllow lets matching traffic through.
	RuleActionAllow RuleAction = "allow"
	// RuleActionDeny drops matching traffic.
	RuleActionDeny RuleAction = "deny"
)

// RouteTargetType is the kind of next hop of a route.
// +kubebuilder:validation:Enum=gateway;natGateway;networkInterface;transitGateway;vpcPeeringConnection;instance
type RouteTargetType string

// Route target types.
const (
	// RouteTargetGateway is an internet or virtual private gateway (igw-, vgw-).
	RouteTargetGateway RouteTargetType = "gateway"
	// RouteTargetNATGateway is a NAT gateway (nat-).
	RouteTargetNATGateway RouteTargetType = "natGateway"
	// RouteTargetNetworkInterface is a network interface (eni-).
	RouteTargetNetworkInterface RouteTargetType = "networkInterface"
	// RouteTargetTransitGateway is a transit gateway (tgw-).
	RouteTargetTransitGateway RouteTargetType = "transitGateway"
	// RouteTargetVPCPeering is a VPC peering connection (pcx-).
	RouteTargetVPCPeering RouteTargetType = "vpcPeeringConnection"
	// RouteTargetInstance is an instance (i-).
	RouteTargetInstance RouteTargetType = "instance"
)

// WAFScope is the scope of a WAFv2 IP set.
// +kubebuilder:validation:Enum=REGIONAL;CLOUDFRONT
type WAFScope string

// WAF scopes.
const (
	// WAFScopeRegional is a regional IP set.
	WAFScopeRegional WAFScope = "REGIONAL"
	// WAFScopeCloudFront is a CloudFront (global) IP set.
	WAFScopeCloudFront WAFScope = "CLOUDFRONT"
)

// SecurityGroupRuleParams are the parameters of SecurityGroupRuleAuthorize/Revoke.
type SecurityGroupRuleParams struct {
	// groupID is the security group, sg-….
	// +required
	// +kubebuilder:validation:Pattern=`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`
	GroupID string `json:"groupID"`
	// direction is ingress or egress.
	// +required
	Direction Direction `json:"direction"`
	// protocol is tcp, udp, icmp or all.
	// +required
	Protocol Protocol `json:"protocol"`
	// ports is the port range; required for tcp and udp.
	// +optional
	Ports *PortRange `json:"ports,omitempty"`
	// cidr is the peer CIDR block.
	// +required
	// +kubebuilder:validation:MaxLength=43
	CIDR string `json:"cidr"`
	// description is the rule's description in AWS.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Description string `json:"description,omitempty"`
}

// NetworkACLEntryParams are the parameters of NetworkACLEntryAdd/Remove.
type NetworkACLEntryParams struct {
	// networkACLID is the network ACL, acl-….
	// +required
	// +kubebuilder:validation:Pattern=`^acl-([0-9a-f]{8}|[0-9a-f]{17})$`
	NetworkACLID string `json:"networkACLID"`
	// ruleNumber is the entry's rule number (1–32766); lower numbers match first.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32766
	RuleNumber int32 `json:"ruleNumber"`
	// direction is ingress or egress.
	// +required
	Direction Direction `json:"direction"`
	// ruleAction is allow or deny.
	// +required
	RuleAction RuleAction `json:"ruleAction"`
	// protocol is tcp, udp, icmp or all.
	// +required
	Protocol Protocol `json:"protocol"`
	// ports is the port range; required for tcp and udp.
	// +optional
	Ports *PortRange `json:"ports,omitempty"`
	// cidr is the CIDR block the entry matches.
	// +required
	// +kubebuilder:validation:MaxLength=43
	CIDR string `json:"cidr"`
}

// RouteParams are the parameters of RouteCreate/Replace/Delete.
type RouteParams struct {
	// routeTableID is the route table, rtb-….
	// +required
	// +kubebuilder:validation:Pattern=`^rtb-([0-9a-f]{8}|[0-9a-f]{17})$`
	RouteTableID string `json:"routeTableID"`
	// destinationCIDR is the route's destination.
	// +required
	// +kubebuilder:validation:MaxLength=43
	DestinationCIDR string `json:"destinationCIDR"`
	// targetType is the kind of next hop; required for create and replace.
	// +optional
	TargetType RouteTargetType `json:"targetType,omitempty"`
	// targetID is the next hop's ID; required for create and replace.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	TargetID string `json:"targetID,omitempty"`
	// previousTargetType is the next hop before a replace or delete, kept for rollback.
	// +optional
	PreviousTargetType RouteTargetType `json:"previousTargetType,omitempty"`
	// previousTargetID is the next hop's ID before a replace or delete, kept for rollback.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	PreviousTargetID string `json:"previousTargetID,omitempty"`
}

// PrefixListEntryParams are the parameters of PrefixListEntryAdd/Remove.
type PrefixListEntryParams struct {
	// prefixListID is the managed prefix list, pl-….
	// +required
	// +kubebuilder:validation:Pattern=`^pl-([0-9a-f]{8}|[0-9a-f]{17})$`
	PrefixListID string `json:"prefixListID"`
	// cidr is the entry.
	// +required
	// +kubebuilder:validation:MaxLength=43
	CIDR string `json:"cidr"`
	// description is the entry's description.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Description string `json:"description,omitempty"`
}

// QuarantineParams are the parameters of InstanceQuarantine/Release.
type QuarantineParams struct {
	// instanceID is the instance, i-….
	// +required
	// +kubebuilder:validation:Pattern=`^i-([0-9a-f]{8}|[0-9a-f]{17})$`
	InstanceID string `json:"instanceID"`
	// vpcID is the instance's VPC, where the quarantine group lives.
	// +required
	// +kubebuilder:validation:Pattern=`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`
	VPCID string `json:"vpcID"`
	// originalGroupIDs are the instance's security groups before quarantine, restored on rollback.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:items:MaxLength=20
	OriginalGroupIDs []string `json:"originalGroupIDs"`
	// forensicsCIDR is the only destination the quarantined instance may still reach.
	// +optional
	// +kubebuilder:validation:MaxLength=43
	ForensicsCIDR string `json:"forensicsCIDR,omitempty"`
}

// Tag is one AWS tag.
type Tag struct {
	// key is the tag key.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Key string `json:"key"`
	// value is the tag value.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Value string `json:"value,omitempty"`
}

// TagsParams are the parameters of TagsAdd/Remove.
type TagsParams struct {
	// resourceID is the EC2 resource to tag.
	// +required
	// +kubebuilder:validation:Pattern=`^(i|sg|acl|rtb|pl|vpc|subnet|eni|igw|nat|tgw|pcx|vpce)-([0-9a-f]{8}|[0-9a-f]{17})$`
	ResourceID string `json:"resourceID"`
	// tags are the tags to add, or to remove (with their values, so rollback can restore them).
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Tags []Tag `json:"tags"`
}

// WAFIPSetParams are the parameters of WAFIPSetAdd/Remove.
type WAFIPSetParams struct {
	// name is the IP set's name.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,128}$`
	Name string `json:"name"`
	// id is the IP set's ID.
	// +required
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// scope is REGIONAL or CLOUDFRONT.
	// +required
	Scope WAFScope `json:"scope"`
	// addresses are the CIDR blocks to add or remove.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=43
	Addresses []string `json:"addresses"`
}

// Action is one typed step of a plan. Exactly the parameter block that matches
// type is set.
type Action struct {
	// type is the catalog entry.
	// +required
	Type ActionType `json:"type"`
	// reason says why the planner chose this action.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`
	// securityGroupRule parameterises SecurityGroupRule* actions.
	// +optional
	SecurityGroupRule *SecurityGroupRuleParams `json:"securityGroupRule,omitempty"`
	// networkACLEntry parameterises NetworkACLEntry* actions.
	// +optional
	NetworkACLEntry *NetworkACLEntryParams `json:"networkACLEntry,omitempty"`
	// route parameterises Route* actions.
	// +optional
	Route *RouteParams `json:"route,omitempty"`
	// prefixListEntry parameterises PrefixListEntry* actions.
	// +optional
	PrefixListEntry *PrefixListEntryParams `json:"prefixListEntry,omitempty"`
	// quarantine parameterises InstanceQuarantine and InstanceRelease.
	// +optional
	Quarantine *QuarantineParams `json:"quarantine,omitempty"`
	// tags parameterises Tags* actions.
	// +optional
	Tags *TagsParams `json:"tags,omitempty"`
	// wafIPSet parameterises WAFIPSet* actions.
	// +optional
	WAFIPSet *WAFIPSetParams `json:"wafIPSet,omitempty"`
}

// ResourceSnapshot is the observed pre-state of one AWS object a plan touches.
type ResourceSnapshot struct {
	// id is the AWS resource ID (or WAF IP set name/id).
	// +required
	// +kubebuilder:validation:MaxLength=256
	ID string `json:"id"`
	// kind is the resource kind, e.g. SecurityGroup, NetworkACL, Instance.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Kind string `json:"kind"`
	// environment is the resource's Environment tag, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Environment string `json:"environment,omitempty"`
	// protected is true when the resource carries the netchange.io/protected tag.
	// +optional
	Protected bool `json:"protected,omitempty"`
	// state is the canonical JSON of the described object's relevant fields.
	// +required
	// +kubebuilder:validation:MaxLength=32768
	State string `json:"state"`
}

// BlastRadius summarises what a plan can affect.
type BlastRadius struct {
	// resources are the AWS resource IDs the plan touches.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Resources []string `json:"resources,omitempty"`
	// environments are the Environment tags of those resources.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=64
	Environments []string `json:"environments,omitempty"`
	// protected are the touched resources tagged netchange.io/protected.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Protected []string `json:"protected,omitempty"`
	// widestCIDR is the widest CIDR any action opens or matches.
	// +optional
	// +kubebuilder:validation:MaxLength=43
	WidestCIDR string `json:"widestCIDR,omitempty"`
	// addresses is the number of IPv4 addresses (capped at 2^32) of the widest CIDR.
	// +optional
	Addresses int64 `json:"addresses,omitempty"`
}

// Provenance records how a plan was made.
type Provenance struct {
	// planner is rules or llm.
	// +required
	// +kubebuilder:validation:MaxLength=32
	Planner string `json:"planner"`
	// provider is the LLM provider (openai, anthropic, bedrock, ollama).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Provider string `json:"provider,omitempty"`
	// model is the LLM model name.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Model string `json:"model,omitempty"`
	// promptSHA256 is the hex SHA-256 of the prompt sent.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PromptSHA256 string `json:"promptSHA256,omitempty"`
	// responseSHA256 is the hex SHA-256 of the accepted response.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ResponseSHA256 string `json:"responseSHA256,omitempty"`
	// promptTokens is the number of prompt tokens the provider reported.
	// +optional
	PromptTokens int32 `json:"promptTokens,omitempty"`
	// completionTokens is the number of completion tokens the provider reported.
	// +optional
	CompletionTokens int32 `json:"completionTokens,omitempty"`
	// latencyMillis is the total time spent waiting for the model.
	// +optional
	LatencyMillis int64 `json:"latencyMillis,omitempty"`
	// attempts is the number of model calls made, retries included.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
}

// Plan is the typed plan for a request.
type Plan struct {
	// actions are the steps, applied in order and rolled back in reverse.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Actions []Action `json:"actions"`
	// rationale explains the plan.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Rationale string `json:"rationale,omitempty"`
	// region is the AWS region the plan applies to.
	// +required
	// +kubebuilder:validation:MaxLength=32
	Region string `json:"region"`
	// accountID is the AWS account the plan applies to, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=12
	AccountID string `json:"accountID,omitempty"`
	// snapshot is the pre-state of every AWS object the plan touches.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Snapshot []ResourceSnapshot `json:"snapshot,omitempty"`
	// monthlyCostUSD is the estimated monthly cost of the change, in US dollars (decimal string).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	MonthlyCostUSD string `json:"monthlyCostUSD,omitempty"`
	// blastRadius summarises what the plan can affect.
	// +optional
	BlastRadius BlastRadius `json:"blastRadius,omitempty"`
	// provenance records how the plan was made.
	// +required
	Provenance Provenance `json:"provenance"`
	// digest is sha256:<hex> over request uid, generation, spec, actions and snapshot.
	// +required
	// +kubebuilder:validation:Pattern=`^sha256:[0-9a-f]{64}$`
	Digest string `json:"digest"`
	// generation is the request generation the plan was made for.
	// +required
	Generation int64 `json:"generation"`
	// trigger says why this plan was made: "initial", "stale" (the executor found AWS
	// changed) or "user:<token>" (the netchange.io/replan annotation's value).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Trigger string `json:"trigger,omitempty"`
	// createdAt is when the plan was made.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`
}

// VerdictStatement is exactly what the auditor signs.
type VerdictStatement struct {
	// cluster is the control cluster's name as the auditor knows it.
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
	// requestUID is the request's uid.
	// +required
	// +kubebuilder:validation:MaxLength=64
	RequestUID string `json:"requestUID"`
	// generation is the request generation judged.
	// +required
	Generation int64 `json:"generation"`
	// planDigest is the digest of the plan judged.
	// +required
	// +kubebuilder:validation:MaxLength=71
	PlanDigest string `json:"planDigest"`
	// decision is Approve, Veto or Escalate.
	// +required
	Decision Decision `json:"decision"`
	// policyVersion identifies the policy the decision was made under.
	// +required
	// +kubebuilder:validation:MaxLength=256
	PolicyVersion string `json:"policyVersion"`
	// expiresAt is when the verdict stops authorising execution.
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`
	// nonce is a random value that makes each verdict single-use.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Nonce string `json:"nonce"`
	// keyID identifies the signing key.
	// +required
	// +kubebuilder:validation:MaxLength=128
	KeyID string `json:"keyID"`
}

// SignedVerdict is a verdict statement and its ed25519 signature.
type SignedVerdict struct {
	// statement is what was signed.
	// +required
	Statement VerdictStatement `json:"statement"`
	// signature is the base64 ed25519 signature over the statement's canonical encoding.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Signature string `json:"signature"`
	// verdictRef names the ChangeVerdict in the auditor cluster.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	VerdictRef string `json:"verdictRef,omitempty"`
}

// JournalState is the state of one action in the execution journal.
// +kubebuilder:validation:Enum=Pending;Applying;Applied;Verified;Failed;RollingBack;RolledBack
type JournalState string

// Journal states.
const (
	// JournalPending is an action not started.
	JournalPending JournalState = "Pending"
	// JournalApplying is written before the mutating call; on restart the executor
	// observes AWS to learn whether the call took effect.
	JournalApplying JournalState = "Applying"
	// JournalApplied is written after the mutating call succeeded.
	JournalApplied JournalState = "Applied"
	// JournalVerified is written once a describe call confirmed the action.
	JournalVerified JournalState = "Verified"
	// JournalFailed is an action whose call failed terminally.
	JournalFailed JournalState = "Failed"
	// JournalRollingBack is written before the inverse call.
	JournalRollingBack JournalState = "RollingBack"
	// JournalRolledBack is written after the inverse call succeeded.
	JournalRolledBack JournalState = "RolledBack"
)

// JournalEntry is the executor's record of one action.
type JournalEntry struct {
	// index is the action's position in the plan.
	// +required
	// +kubebuilder:validation:Minimum=0
	Index int32 `json:"index"`
	// type is the action's catalog entry.
	// +required
	Type ActionType `json:"type"`
	// state is where the action is.
	// +required
	State JournalState `json:"state"`
	// attempts counts the rounds of AWS calls tried for this action: each apply call,
	// and each observe, verify or rollback round that AWS failed in a way that may pass.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// message is the last result, including any AWS error.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// resultID is the ID of anything AWS created (e.g. the quarantine security group).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ResultID string `json:"resultID,omitempty"`
	// lastTransitionTime is when state last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// Execution is the executor's journal for the current plan.
type Execution struct {
	// planDigest is the digest of the plan being executed.
	// +required
	// +kubebuilder:validation:MaxLength=71
	PlanDigest string `json:"planDigest"`
	// verdictNonce is the nonce of the verdict consumed by this execution.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	VerdictNonce string `json:"verdictNonce,omitempty"`
	// journal has one entry per action.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Journal []JournalEntry `json:"journal,omitempty"`
	// rollbackReason says why applied actions are being rolled back, if they are.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	RollbackReason string `json:"rollbackReason,omitempty"`
	// startedAt is when execution started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// completedAt is when execution ended (succeeded, failed or rolled back).
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// revertAt is when a time-boxed change will be undone.
	// +optional
	RevertAt *metav1.Time `json:"revertAt,omitempty"`
}
