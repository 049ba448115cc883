package v1alpha1

// Condition types of a NetworkChangeRequest. Each is owned by exactly one
// controller, which is the only writer of it.
const (
	// ConditionPlanned is owned by the planner: True once status.plan holds a
	// validated plan for the current generation.
	ConditionPlanned = "Planned"
	// ConditionApproved is owned by the auditor: True when a signed Approve verdict
	// for the current plan digest is on the request.
	ConditionApproved = "Approved"
	// ConditionApplied is owned by the executor: True once every action was applied.
	ConditionApplied = "Applied"
	// ConditionVerified is owned by the executor: True once every applied action was
	// confirmed by describing AWS.
	ConditionVerified = "Verified"
	// ConditionRolledBack is owned by the executor: True when applied actions were
	// undone (failure, revertAfter or deletionPolicy Rollback).
	ConditionRolledBack = "RolledBack"
	// ConditionReady is owned by the executor: True when the change is in effect and
	// verified; False with the blocking reason otherwise.
	ConditionReady = "Ready"
)

// Condition reasons. They are CamelCase, as Kubernetes conventions require.
const (
	// ReasonPlanning means the planner is computing a plan.
	ReasonPlanning = "Planning"
	// ReasonPlanReady means a valid plan is on the request.
	ReasonPlanReady = "PlanReady"
	// ReasonPlanningFailed means the planner could not produce a valid plan; the
	// message says what it could not understand. Terminal for this generation.
	ReasonPlanningFailed = "PlanningFailed"
	// ReasonPlannerUnavailable means a dependency of the planner (AWS read, LLM) failed
	// in a way that may pass; the planner retries with backoff.
	ReasonPlannerUnavailable = "PlannerUnavailable"
	// ReasonNoActionNeeded means the request asks for nothing to change (for
	// example a low-severity finding); it is recorded and closed.
	ReasonNoActionNeeded = "NoActionNeeded"

	// ReasonAutoApproved means policy approved the plan without a human.
	ReasonAutoApproved = "AutoApproved"
	// ReasonHumanApproved means the required quorum of humans approved the plan.
	ReasonHumanApproved = "HumanApproved"
	// ReasonAwaitingHumanApproval means the plan needs ChangeApprovals in the auditor cluster.
	ReasonAwaitingHumanApproval = "AwaitingHumanApproval"
	// ReasonVetoed means the auditor refused the plan; the message names why.
	ReasonVetoed = "Vetoed"
	// ReasonFrozen means an active ChangeFreeze holds the request.
	ReasonFrozen = "Frozen"
	// ReasonPolicyError means the policy could not be evaluated; the auditor fails closed.
	ReasonPolicyError = "PolicyError"

	// ReasonVerdictMissing means there is no signed verdict on the request.
	ReasonVerdictMissing = "VerdictMissing"
	// ReasonVerdictInvalid means the verdict's signature, key, digest, generation,
	// request binding, expiry or nonce check failed.
	ReasonVerdictInvalid = "VerdictInvalid"
	// ReasonGuardrail means a built-in guardrail refused the plan.
	ReasonGuardrail = "GuardrailViolation"
	// ReasonRateLimited means the namespace/environment change budget is spent.
	ReasonRateLimited = "RateLimited"
	// ReasonStalePlan means AWS no longer matches the plan's snapshot; a new plan is needed.
	ReasonStalePlan = "StalePlan"
	// ReasonAWSUnavailable means describing AWS before acting failed (access denied,
	// throttling, network); nothing was changed and the executor retries later.
	ReasonAWSUnavailable = "AWSUnavailable"
	// ReasonAuditUnavailable means the audit sink refused a write; nothing is executed.
	ReasonAuditUnavailable = "AuditUnavailable"
	// ReasonApplying means actions are being applied.
	ReasonApplying = "Applying"
	// ReasonApplied means every action was applied.
	ReasonApplied = "Applied"
	// ReasonVerified means every action was verified against AWS.
	ReasonVerified = "Verified"
	// ReasonApplyFailed means an action failed; applied actions are rolled back.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonRolledBack means the applied actions were undone.
	ReasonRolledBack = "RolledBack"
	// ReasonReverted means a time-boxed change was undone at revertAfter.
	ReasonReverted = "Reverted"
	// ReasonWaiting means the request waits for another controller.
	ReasonWaiting = "Waiting"
)

// Annotations and labels.
const (
	// AnnotationRequester holds the authenticated user that created a request; an
	// admission policy requires it to equal request.userInfo.username.
	AnnotationRequester = "netchange.io/requester"
	// AnnotationReplan asks the planner to compute a new plan when its value changes.
	AnnotationReplan = "netchange.io/replan"
	// AnnotationPlannedFor records the replan token the current plan answers.
	AnnotationPlannedFor = "netchange.io/planned-for"
	// AnnotationConsumedNonces lists (comma-separated) the verdict nonces whose
	// executions the executor started on this request. It is written in the
	// request's metadata, which the planner's and the auditor's identities cannot
	// change, so resetting status.execution cannot make a verdict usable again.
	AnnotationConsumedNonces = "netchange.io/consumed-nonces"
	// TagProtected marks AWS resources that netchange never changes automatically.
	TagProtected = "netchange.io/protected"
	// TagRequestUID is put on AWS resources netchange creates, with the request uid.
	TagRequestUID = "netchange.io/request-uid"
	// FinalizerExecutor guards requests with deletionPolicy Rollback.
	FinalizerExecutor = "netchange.io/executor"
)
