package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// checkSchema is a small JSON Schema evaluator for exactly the keywords Schema and
// SchemaStrict emit; it fails on any keyword it does not know, so the schemas
// cannot grow untested keywords.
func checkSchema(s map[string]any, doc any, path string) error {
	for k := range s {
		switch k {
		case "$schema", "title", "description", "type", "enum", "properties", "required", "additionalProperties",
			"items", "minItems", "maxItems", "minimum", "maximum", "pattern", "minLength", "maxLength", "anyOf":
		default:
			return fmt.Errorf("%s: unknown schema keyword %q", path, k)
		}
	}
	if alts, ok := s["anyOf"].([]any); ok {
		var errs []string
		for _, sub := range alts {
			if err := checkSchema(sub.(map[string]any), doc, path); err == nil {
				return nil
			} else {
				errs = append(errs, err.Error())
			}
		}
		return fmt.Errorf("%s: matches no anyOf branch: %s", path, strings.Join(errs, " | "))
	}
	if t, ok := s["type"]; ok {
		types := []any{t}
		if list, ok := t.([]any); ok {
			types = list
		}
		match := false
		for _, typ := range types {
			match = match || jsonTypeIs(doc, typ.(string))
		}
		if !match {
			return fmt.Errorf("%s: %v is not of type %v", path, doc, t)
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || e == doc
		}
		if !found {
			return fmt.Errorf("%s: %v is not in enum %v", path, doc, enum)
		}
	}
	switch d := doc.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := d[r.(string)]; !ok {
				return fmt.Errorf("%s: required property %q missing", path, r)
			}
		}
		for k, v := range d {
			sub, ok := props[k]
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: additional property %q", path, k)
				}
				continue
			}
			if err := checkSchema(sub.(map[string]any), v, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if n, ok := s["maxItems"].(json.Number); ok && int64(len(d)) > mustInt(n) {
			return fmt.Errorf("%s: %d items, max %s", path, len(d), n)
		}
		if n, ok := s["minItems"].(json.Number); ok && int64(len(d)) < mustInt(n) {
			return fmt.Errorf("%s: %d items, min %s", path, len(d), n)
		}
		for i, v := range d {
			if err := checkSchema(s["items"].(map[string]any), v, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case json.Number:
		v := mustInt(d)
		if n, ok := s["minimum"].(json.Number); ok && v < mustInt(n) {
			return fmt.Errorf("%s: %d < minimum %s", path, v, n)
		}
		if n, ok := s["maximum"].(json.Number); ok && v > mustInt(n) {
			return fmt.Errorf("%s: %d > maximum %s", path, v, n)
		}
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(d) {
			return fmt.Errorf("%s: %q does not match %s", path, d, p)
		}
		if n, ok := s["maxLength"].(json.Number); ok && int64(len([]rune(d))) > mustInt(n) {
			return fmt.Errorf("%s: longer than %s", path, n)
		}
		if n, ok := s["minLength"].(json.Number); ok && int64(len([]rune(d))) < mustInt(n) {
			return fmt.Errorf("%s: shorter than %s", path, n)
		}
	}
	return nil
}

func asList(v any) []any { l, _ := v.([]any); return l }

func mustInt(n json.Number) int64 {
	i, err := n.Int64()
	if err != nil {
		return -1 << 62 // fractions never satisfy integer schemas in these tests
	}
	return i
}

func jsonTypeIs(doc any, typ string) bool {
	switch typ {
	case "null":
		return doc == nil
	case "object":
		_, ok := doc.(map[string]any)
		return ok
	case "array":
		_, ok := doc.([]any)
		return ok
	case "string":
		_, ok := doc.(string)
		return ok
	case "boolean":
		_, ok := doc.(bool)
		return ok
	case "integer":
		n, ok := doc.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not valid JSON: %v", err)
	}
	return v
}

// withNulls adds null for every property the schema lists but doc lacks, as an
// OpenAI strict-mode response carries them.
func withNulls(s map[string]any, doc any) any {
	if alts, ok := s["anyOf"].([]any); ok {
		for _, a := range alts {
			if am := a.(map[string]any); am["type"] == "object" {
				s = am
			}
		}
	}
	switch d := doc.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, sub := range props {
			if v, ok := d[k]; ok {
				d[k] = withNulls(sub.(map[string]any), v)
			} else {
				d[k] = nil
			}
		}
	case []any:
		for i := range d {
			d[i] = withNulls(s["items"].(map[string]any), d[i])
		}
	}
	return doc
}

func TestSchema_stableAndValidJSON(t *testing.T) {
	for name, f := range map[string]func() []byte{"Schema": Schema, "SchemaStrict": SchemaStrict} {
		a, b := f(), f()
		if !bytes.Equal(a, b) {
			t.Errorf("%s: differs between calls", name)
		}
		if !json.Valid(a) {
			t.Fatalf("%s: not valid JSON", name)
		}
		a[0] = 'X'
		if c := f(); c[0] != '{' {
			t.Errorf("%s: returns shared memory", name)
		}
	}
	if bytes.Equal(Schema(), SchemaStrict()) {
		t.Error("Schema and SchemaStrict are identical")
	}
}

// walkObjects calls f for every object schema (type "object") in s.
func walkObjects(s any, path string, f func(path string, obj map[string]any)) {
	switch v := s.(type) {
	case map[string]any:
		if v["type"] == "object" {
			f(path, v)
		}
		for k, sub := range v {
			walkObjects(sub, path+"/"+k, f)
		}
	case []any:
		for i, sub := range v {
			walkObjects(sub, fmt.Sprintf("%s/%d", path, i), f)
		}
	}
}

func TestSchema_shape(t *testing.T) {
	draft := decodeAny(t, Schema()).(map[string]any)
	strict := decodeAny(t, SchemaStrict()).(map[string]any)
	if draft["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", draft["$schema"])
	}
	if _, ok := strict["$schema"]; ok || strict["type"] != "object" {
		t.Errorf("strict root must be a plain object schema without $schema: %v", strict["type"])
	}
	objects := 0
	walkObjects(draft, "#", func(path string, obj map[string]any) {
		objects++
		if obj["additionalProperties"] != false {
			t.Errorf("draft %s: additionalProperties is not false", path)
		}
	})
	walkObjects(strict, "#", func(path string, obj map[string]any) {
		if obj["additionalProperties"] != false {
			t.Errorf("strict %s: additionalProperties is not false", path)
		}
		var props, req []string
		for k := range obj["properties"].(map[string]any) {
			props = append(props, k)
		}
		for _, r := range asList(obj["required"]) {
			req = append(req, r.(string))
		}
		sort.Strings(props)
		sort.Strings(req)
		if strings.Join(props, ",") != strings.Join(req, ",") {
			t.Errorf("strict %s: required %v != properties %v", path, req, props)
		}
	})
	// proposal, action, 7 parameter blocks, ports (in two blocks) and tag
	if objects != 12 {
		t.Errorf("draft schema has %d object schemas, want 12", objects)
	}
	for _, kw := range []string{"maxLength", "minLength", "minimum", "maximum", "minItems", "maxItems", "pattern"} {
		if strings.Contains(string(SchemaStrict()), `"`+kw+`"`) {
			t.Errorf("strict schema uses %q, which some OpenAI strict-mode models reject", kw)
		}
	}
	if !strings.Contains(string(SchemaStrict()), "An integer from 1 to 32766.") {
		t.Error("strict schema lost the rule number bounds from its descriptions")
	}

	action := draft["properties"].(map[string]any)["actions"].(map[string]any)
	if action["maxItems"] != json.Number("20") {
		t.Errorf("actions maxItems = %v", action["maxItems"])
	}
	typ := action["items"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)
	var enum []string
	for _, e := range asList(typ["enum"]) {
		enum = append(enum, e.(string))
	}
	var cat []string
	for _, c := range Catalog() {
		cat = append(cat, string(c))
	}
	if strings.Join(enum, ",") != strings.Join(cat, ",") {
		t.Errorf("type enum %v, want the catalog %v", enum, cat)
	}
	if req := asList(action["items"].(map[string]any)["required"]); len(req) != 1 || req[0] != "type" {
		t.Errorf("draft action required = %v, want [type]", req)
	}
}

func TestSchema_judgesProposals(t *testing.T) {
	valid, err := json.Marshal(Proposal{Actions: validActions(), Rationale: "one of each"})
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(a *v1.Action)) []byte {
		as := validActions()
		for i := range as {
			f(&as[i])
		}
		b, _ := json.Marshal(Proposal{Actions: as, Rationale: "r"})
		return b
	}
	tooMany := func() []byte {
		var as []v1.Action
		for range 21 {
			as = append(as, sgRule(v1.ActionSecurityGroupRuleRevoke))
		}
		b, _ := json.Marshal(Proposal{Actions: as, Rationale: "r"})
		return b
	}
	cases := []struct {
		name string
		doc  []byte
		ok   bool
		// strictOK is what the strict schema says; it carries constraints as prose
		// only, so Decode+Validate must refuse what it lets through.
		strictOK bool
	}{
		{"one of every type", valid, true, true},
		{"no actions", []byte(`{"actions":[],"rationale":"r"}`), true, true},
		{"unknown type", []byte(`{"actions":[{"type":"RunCommand"}],"rationale":"r"}`), false, false},
		{"unknown field", []byte(`{"actions":[],"rationale":"r","shell":"x"}`), false, false},
		{"unknown nested field", []byte(`{"actions":[{"type":"TagsAdd","tags":{"resourceID":"i-0123456789abcdef0","tags":[{"key":"a"}],"force":true}}],"rationale":"r"}`), false, false},
		{"port out of range", mutate(func(a *v1.Action) {
			if a.SecurityGroupRule != nil {
				a.SecurityGroupRule.Ports.To = 70000
			}
		}), false, true},
		{"rule number 0", mutate(func(a *v1.Action) {
			if a.NetworkACLEntry != nil {
				a.NetworkACLEntry.RuleNumber = 0
			}
		}), false, true},
		{"bad group id", mutate(func(a *v1.Action) {
			if a.SecurityGroupRule != nil {
				a.SecurityGroupRule.GroupID = "sg-nothex00"
			}
		}), false, true},
		{"bad direction", mutate(func(a *v1.Action) {
			if a.SecurityGroupRule != nil {
				a.SecurityGroupRule.Direction = "inbound"
			}
		}), false, false},
		{"no original groups", mutate(func(a *v1.Action) {
			if a.Quarantine != nil {
				a.Quarantine.OriginalGroupIDs = []string{}
			}
		}), false, true},
		{"21 actions", tooMany(), false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			draft := decodeAny(t, Schema()).(map[string]any)
			strict := decodeAny(t, SchemaStrict()).(map[string]any)
			if err := checkSchema(draft, decodeAny(t, tc.doc), "$"); (err == nil) != tc.ok {
				t.Errorf("draft schema: ok=%v, err=%v", tc.ok, err)
			}
			strictDoc := withNulls(strict, decodeAny(t, tc.doc))
			if err := checkSchema(strict, strictDoc, "$"); (err == nil) != tc.strictOK {
				t.Errorf("strict schema: ok=%v, err=%v", tc.strictOK, err)
			}
			if tc.strictOK && !tc.ok {
				b, _ := json.Marshal(strictDoc)
				prop, err := Decode(b)
				if err == nil {
					err = Validate(testRequest(v1.EnvironmentStaging), &v1.Plan{Actions: prop.Actions, Region: testRegion})
				}
				if err == nil {
					t.Errorf("the strict schema admits it and Decode+Validate accept it too")
				}
			}
			if tc.ok {
				// What the strict schema admits, Decode must accept (nulls included).
				b, _ := json.Marshal(strictDoc)
				if _, err := Decode(b); err != nil {
					t.Errorf("Decode refused a strict-schema document: %v", err)
				}
				if err := checkSchema(strict, decodeAny(t, tc.doc), "$"); err == nil && tc.name != "no actions" {
					t.Errorf("strict schema accepted a document without the nullable fields")
				}
			}
		})
	}
}
