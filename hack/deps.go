//go:build tools

// Package hack pins modules that the project's packages are about to use, so that
// concurrent work does not race on go.mod. Removed once every module is imported.
package hack

import (
	_ "github.com/aws-controllers-k8s/runtime/pkg/types"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/ec2"
	_ "github.com/aws/aws-sdk-go-v2/service/wafv2"
	_ "github.com/google/cel-go/cel"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/tmc/langchaingo/llms/anthropic"
	_ "github.com/tmc/langchaingo/llms/bedrock"
	_ "github.com/tmc/langchaingo/llms/ollama"
	_ "github.com/tmc/langchaingo/llms/openai"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
)
