package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// schemaEnums registers the allowed values of the named string types of the
// catalog. The schema generator refuses (panics at first use, caught by tests)
// a named string type that is missing here, so a new enum cannot slip in unlisted.
var schemaEnums = map[reflect.Type][]string{
	reflect.TypeFor[v1.ActionType]():      enumStrings(Catalog()),
	reflect.TypeFor[v1.Direction]():       enumStrings([]v1.Direction{v1.DirectionIngress, v1.DirectionEgress}),
	reflect.TypeFor[v1.RuleAction]():      enumStrings([]v1.RuleAction{v1.RuleActionAllow, v1.RuleActionDeny}),
	reflect.TypeFor[v1.Protocol]():        enumStrings([]v1.Protocol{v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolICMP, v1.ProtocolAll}),
	reflect.TypeFor[v1.RouteTargetType](): enumStrings([]v1.RouteTargetType{v1.RouteTargetGateway, v1.RouteTargetNATGateway, v1.RouteTargetNetworkInterface, v1.RouteTargetTransitGateway, v1.RouteTargetVPCPeering, v1.RouteTargetInstance}),
	reflect.TypeFor[v1.WAFScope]():        enumStrings([]v1.WAFScope{v1.WAFScopeRegional, v1.WAFScopeCloudFront}),
}

func enumStrings[T ~string](vals []T) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}

// schemaRule holds the JSON Schema keywords for one field, keyed by
// "<GoStruct>.<GoField>", or "<GoStruct>.<GoField>[]" for its items.
type schemaRule struct {
	min, max           *int64
	minItems, maxItems *int
	minLen, maxLen     *int
	pattern            string
	description        string
}

func ptr[T any](v T) *T { return &v }

const idHex = `-([0-9a-f]{8}|[0-9a-f]{17})$`

var schemaRules = map[string]schemaRule{
	"Proposal.Actions":                    {maxItems: ptr(MaxActions), description: "The steps, applied in order and rolled back in reverse. Use [] when nothing needs to change."},
	"Proposal.Rationale":                  {maxLen: ptr(maxRationale), description: "Why these actions satisfy the request."},
	"Action.Type":                         {description: "The catalog entry. Set exactly the parameter block that matches it and no other: SecurityGroupRule* → securityGroupRule, NetworkACLEntry* → networkACLEntry, Route* → route, PrefixListEntry* → prefixListEntry, InstanceQuarantine/InstanceRelease → quarantine, Tags* → tags, WAFIPSet* → wafIPSet."},
	"Action.Reason":                       {maxLen: ptr(maxReason)},
	"PortRange.From":                      {min: ptr[int64](0), max: ptr[int64](65535)},
	"PortRange.To":                        {min: ptr[int64](0), max: ptr[int64](65535)},
	"SecurityGroupRuleParams.GroupID":     {pattern: "^sg" + idHex},
	"SecurityGroupRuleParams.Ports":       {description: "Required for tcp and udp; omit (or null) for icmp and all."},
	"SecurityGroupRuleParams.CIDR":        {maxLen: ptr(43), description: "A CIDR block with no host bits set, e.g. 203.0.113.0/24."},
	"SecurityGroupRuleParams.Description": {maxLen: ptr(maxDescription)},
	"NetworkACLEntryParams.NetworkACLID":  {pattern: "^acl" + idHex},
	"NetworkACLEntryParams.RuleNumber":    {min: ptr[int64](1), max: ptr[int64](32766)},
	"NetworkACLEntryParams.Ports":         {description: "Required for tcp and udp; omit (or null) for icmp and all."},
	"NetworkACLEntryParams.CIDR":          {maxLen: ptr(43)},
	"RouteParams.RouteTableID":            {pattern: "^rtb" + idHex},
	"RouteParams.DestinationCIDR":         {maxLen: ptr(43)},
	"RouteParams.TargetType":              {description: "Required for RouteCreate and RouteReplace; omit (or null) for RouteDelete."},
	"RouteParams.TargetID":                {maxLen: ptr(32), description: "igw-/vgw- (gateway), nat- (natGateway), eni- (networkInterface), tgw- (transitGateway), pcx- (vpcPeeringConnection), i- (instance)."},
	"RouteParams.PreviousTargetType":      {description: "The route's current next hop; required for RouteReplace and RouteDelete, omit (or null) for RouteCreate."},
	"RouteParams.PreviousTargetID":        {maxLen: ptr(32)},
	"PrefixListEntryParams.PrefixListID":  {pattern: "^pl" + idHex},
	"PrefixListEntryParams.CIDR":          {maxLen: ptr(43)},
	"PrefixListEntryParams.Description":   {maxLen: ptr(maxDescription)},
	"QuarantineParams.InstanceID":         {pattern: "^i" + idHex},
	"QuarantineParams.VPCID":              {pattern: "^vpc" + idHex},
	"QuarantineParams.OriginalGroupIDs":   {minItems: ptr(1), maxItems: ptr(16), description: "The instance's current security groups, restored on release or rollback."},
	"QuarantineParams.OriginalGroupIDs[]": {pattern: "^sg" + idHex},
	"QuarantineParams.ForensicsCIDR":      {maxLen: ptr(43)},
	"Tag.Key":                             {minLen: ptr(1), maxLen: ptr(128), description: "Keys starting with aws: are reserved by AWS."},
	"Tag.Value":                           {maxLen: ptr(256)},
	"TagsParams.ResourceID":               {pattern: `^(i|sg|acl|rtb|pl|vpc|subnet|eni|igw|nat|tgw|pcx|vpce)` + idHex},
	"TagsParams.Tags":                     {minItems: ptr(1), maxItems: ptr(16)},
	"WAFIPSetParams.Name":                 {pattern: `^[A-Za-z0-9_-]{1,128}$`},
	"WAFIPSetParams.ID":                   {pattern: `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`},
	"WAFIPSetParams.Addresses":            {minItems: ptr(1), maxItems: ptr(32)},
	"WAFIPSetParams.Addresses[]":          {maxLen: ptr(43)},
}

// schemaMode selects the schema dialect.
type schemaMode int

const (
	modeDraft schemaMode = iota
	modeStrict
)

var (
	schemaOnce             sync.Once
	schemaDraft, schemaStr []byte
)

// Schema returns a JSON Schema (draft 2020-12) for a Proposal, derived by
// reflection from the Go types: JSON names from the json tags, required fields
// are those without omitempty, nested objects inline, additionalProperties false
// on every object, enums for the catalog's named string types, and bounds, item
// limits and ID patterns from a registry. It suits validators and providers that
// take plain JSON Schema (Anthropic and Bedrock tool input, Ollama format).
// The bytes are identical on every call.
//
// Two schemas exist because OpenAI's strict json_schema mode cannot take this
// one: it requires every property to be listed in required (optional ones made
// nullable instead) and, depending on the model, rejects length, range, item
// and pattern keywords. A single schema satisfying both would mark every optional field as
// required-but-nullable in plain JSON Schema too, which misdescribes the
// Proposal for every other consumer; see SchemaStrict.
func Schema() []byte {
	schemaOnce.Do(buildSchemas)
	return bytes.Clone(schemaDraft)
}

// SchemaStrict returns the Proposal schema in the form OpenAI's strict
// json_schema mode (response_format {"type":"json_schema","strict":true})
// accepts: the same reflection, but every property is required and optional ones
// accept null (Decode reads null as unset), no "$schema", and only the keywords
// every strict-mode model takes (type, enum, properties, required,
// additionalProperties, items, anyOf, description). Bounds, item limits and ID
// patterns are written into descriptions instead; Decode and Validate enforce
// them, so nothing is lost. The bytes are identical on every call.
func SchemaStrict() []byte {
	schemaOnce.Do(buildSchemas)
	return bytes.Clone(schemaStr)
}

func buildSchemas() {
	draft := newSchemaGen(modeDraft).object(reflect.TypeFor[Proposal]())
	draft["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	draft["title"] = "netchange plan proposal"
	draft["description"] = "A plan proposal: actions from netchange's closed catalog and the rationale."
	strict := newSchemaGen(modeStrict).object(reflect.TypeFor[Proposal]())
	strict["description"] = "A plan proposal: actions from netchange's closed catalog and the rationale. Unused optional fields are null."
	var err error
	if schemaDraft, err = json.Marshal(draft); err != nil {
		panic(fmt.Sprintf("plan: encode proposal schema: %v", err))
	}
	if schemaStr, err = json.Marshal(strict); err != nil {
		panic(fmt.Sprintf("plan: encode strict proposal schema: %v", err))
	}
}

type schemaGen struct {
	mode schemaMode
}

func newSchemaGen(m schemaMode) *schemaGen { return &schemaGen{mode: m} }

// object returns the schema of struct type t.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, f := range orderedFields(t) {
		key := t.Name() + "." + t.Field(f.Index).Name
		s := g.typeSchema(f.Type, key)
		optional := f.OmitEmpty || f.Type.Kind() == reflect.Pointer
		if g.mode == modeStrict {
			required = append(required, f.Name)
			if optional {
				s = nullable(s)
			}
		} else if !optional {
			required = append(required, f.Name)
		}
		props[f.Name] = s
	}
	return map[string]any{
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": false,
	}
}

// typeSchema returns the schema of a value of type t at registry key key.
func (g *schemaGen) typeSchema(t reflect.Type, key string) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var s map[string]any
	switch {
	case schemaEnums[t] != nil:
		enum := make([]any, 0, len(schemaEnums[t]))
		for _, v := range schemaEnums[t] {
			enum = append(enum, v)
		}
		s = map[string]any{"type": "string", "enum": enum}
	case t.Kind() == reflect.String:
		if t.PkgPath() != "" {
			panic(fmt.Sprintf("plan: schema: named string type %s has no enum registered", t))
		}
		s = map[string]any{"type": "string"}
	case t.Kind() == reflect.Struct:
		s = g.object(t)
	case t.Kind() == reflect.Slice:
		s = map[string]any{"type": "array", "items": g.typeSchema(t.Elem(), key+"[]")}
	case t.Kind() == reflect.Int32 || t.Kind() == reflect.Int64:
		s = map[string]any{"type": "integer"}
	case t.Kind() == reflect.Bool:
		s = map[string]any{"type": "boolean"}
	default:
		panic(fmt.Sprintf("plan: schema: unsupported kind %s at %s", t.Kind(), key))
	}
	r := schemaRules[key]
	if g.mode == modeStrict {
		// Constraints become prose: strict mode rejects these keywords on some
		// models, and Decode and Validate enforce them anyway.
		if d := strictHint(r); d != "" {
			s["description"] = d
		}
		return s
	}
	if r.min != nil {
		s["minimum"] = *r.min
	}
	if r.max != nil {
		s["maximum"] = *r.max
	}
	if r.minItems != nil {
		s["minItems"] = *r.minItems
	}
	if r.maxItems != nil {
		s["maxItems"] = *r.maxItems
	}
	if r.pattern != "" {
		s["pattern"] = r.pattern
	}
	if r.minLen != nil {
		s["minLength"] = *r.minLen
	}
	if r.maxLen != nil {
		s["maxLength"] = *r.maxLen
	}
	if r.description != "" {
		s["description"] = r.description
	}
	return s
}

// strictHint is r's description followed by its constraints in words.
func strictHint(r schemaRule) string {
	var parts []string
	if r.description != "" {
		parts = append(parts, r.description)
	}
	if r.min != nil && r.max != nil {
		parts = append(parts, fmt.Sprintf("An integer from %d to %d.", *r.min, *r.max))
	}
	if r.minItems != nil || r.maxItems != nil {
		lo, hi := 0, 0
		if r.minItems != nil {
			lo = *r.minItems
		}
		if r.maxItems != nil {
			hi = *r.maxItems
		}
		if hi > 0 {
			parts = append(parts, fmt.Sprintf("%d to %d items.", lo, hi))
		} else {
			parts = append(parts, fmt.Sprintf("At least %d items.", lo))
		}
	}
	if r.pattern != "" {
		parts = append(parts, "Must match "+r.pattern+".")
	}
	if r.maxLen != nil {
		parts = append(parts, fmt.Sprintf("At most %d characters.", *r.maxLen))
	}
	return strings.Join(parts, " ")
}

// nullable lets s also accept null, as OpenAI's strict mode expects optional
// fields: a type list for scalars and arrays (null added to any enum), anyOf for
// objects.
func nullable(s map[string]any) map[string]any {
	switch typ := s["type"]; typ {
	case "object":
		out := map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		if d, ok := s["description"]; ok {
			out["description"] = d
			delete(s, "description")
		}
		return out
	default:
		s["type"] = []any{typ, "null"}
		if enum, ok := s["enum"].([]any); ok {
			s["enum"] = append(enum, nil)
		}
		return s
	}
}
