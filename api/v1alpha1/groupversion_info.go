// Package v1alpha1 contains the netchange.io/v1alpha1 API: network change
// requests, the auditor's verdicts, policies, human approvals and freezes.
// +kubebuilder:object:generate=true
// +groupName=netchange.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every netchange kind.
	GroupVersion = schema.GroupVersion{Group: "netchange.io", Version: "v1alpha1"}

	// SchemeBuilder registers the netchange kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the netchange kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
