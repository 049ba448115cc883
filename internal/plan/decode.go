package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// MaxProposalBytes caps the size of a proposal Decode accepts.
const MaxProposalBytes = 256 << 10

// Proposal is what a planner (typically an LLM) proposes: the actions and why.
// The planner adds region, account, snapshot and provenance to make a v1.Plan.
type Proposal struct {
	// Actions are the proposed steps, from the closed catalog, applied in order.
	Actions []v1.Action `json:"actions"`
	// Rationale explains the proposal.
	Rationale string `json:"rationale"`
}

// Decode strictly decodes a JSON plan proposal. It is the only way untrusted
// planner output (LLM responses) becomes typed actions. It rejects, with an
// error naming the JSON path (for example actions[2].route.targetID): input
// larger than MaxProposalBytes; anything but exactly one JSON object; unknown or
// duplicated fields anywhere (field names match exactly, unlike encoding/json's
// case-insensitive default); values of the wrong JSON type; a missing actions
// list; more than MaxActions actions; and action types outside the catalog.
// JSON null is accepted for any field and means "unset". Decode does not judge
// parameter values: pass the result through Validate.
func Decode(data []byte) (*Proposal, error) {
	if len(data) > MaxProposalBytes {
		return nil, fmt.Errorf("decode proposal: %d bytes is more than the %d allowed; propose fewer actions or a shorter rationale", len(data), MaxProposalBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := walker{dec: dec}
	first, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decode proposal: empty input; send one JSON object with \"actions\" and \"rationale\"")
		}
		return nil, fmt.Errorf("decode proposal: %w", err)
	}
	if d, ok := first.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("decode proposal: the proposal must be a JSON object with \"actions\" and \"rationale\", got %s", describeToken(first))
	}
	if err := w.object(reflect.TypeFor[Proposal](), ""); err != nil {
		return nil, fmt.Errorf("decode proposal: %w", err)
	}
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("decode proposal: trailing data after the proposal object: %w", err)
		}
		return nil, fmt.Errorf("decode proposal: trailing data after the proposal object (%s); send exactly one JSON object", describeToken(tok))
	}

	// The walk proved the shape; decode for real, still refusing unknown fields.
	var p Proposal
	strict := json.NewDecoder(bytes.NewReader(data))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode proposal: %w", err)
	}
	if p.Actions == nil {
		return nil, fmt.Errorf("decode proposal: actions is required; use [] when nothing needs to change")
	}
	if len(p.Actions) > MaxActions {
		return nil, fmt.Errorf("decode proposal: actions has %d entries, at most %d are allowed; split the change into several requests", len(p.Actions), MaxActions)
	}
	for i := range p.Actions {
		t := p.Actions[i].Type
		if t == "" {
			return nil, fmt.Errorf("decode proposal: actions[%d].type is required; the catalog is: %s", i, catalogList())
		}
		if !IsCatalogType(t) {
			return nil, fmt.Errorf("decode proposal: actions[%d].type: unknown action type %s; the catalog is: %s", i, quote(string(t)), catalogList())
		}
	}
	return &p, nil
}

// walker checks a JSON token stream against a Go type: exact field names, no
// duplicates, JSON types that fit. Its depth is bounded by the Go type.
type walker struct {
	dec *json.Decoder
}

// value checks the next JSON value against t.
func (w *walker) value(t reflect.Type, path string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if tok == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return fmt.Errorf("%s: want an object, got %s", path, describeToken(tok))
		}
		return w.object(t, path)
	case reflect.Slice:
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fmt.Errorf("%s: want an array, got %s", path, describeToken(tok))
		}
		for i := 0; w.dec.More(); i++ {
			if path == "actions" && i >= MaxActions {
				return fmt.Errorf("actions: more than %d actions; split the change into several requests", MaxActions)
			}
			if err := w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := w.dec.Token() // ']'
		return err
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return fmt.Errorf("%s: want a string, got %s", path, describeToken(tok))
		}
		return nil
	case reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return fmt.Errorf("%s: want an integer, got %s", path, describeToken(tok))
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return fmt.Errorf("%s: want an integer that fits in %d bits, got %s", path, t.Bits(), n)
		}
		return nil
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return fmt.Errorf("%s: want true or false, got %s", path, describeToken(tok))
		}
		return nil
	default:
		return fmt.Errorf("%s: unsupported Go kind %s", path, t.Kind())
	}
}

// object checks the members of an object whose '{' was already read.
func (w *walker) object(t reflect.Type, path string) error {
	fields := jsonFields(t)
	seen := make(map[string]bool, len(fields))
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", orRoot(path), err)
		}
		key, _ := tok.(string)
		sub := key
		if path != "" {
			sub = path + "." + key
		}
		f, ok := fields[key]
		if !ok {
			return fmt.Errorf("%s: unknown field; allowed here: %s", quotePath(path, key), strings.Join(fieldNames(t), ", "))
		}
		if seen[key] {
			return fmt.Errorf("%s: duplicate field", sub)
		}
		seen[key] = true
		if err := w.value(f.Type, sub); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

func orRoot(path string) string {
	if path == "" {
		return "proposal"
	}
	return path
}

func quotePath(path, key string) string {
	if path == "" {
		return quote(key)
	}
	return path + "." + quote(key)
}

// describeToken names a JSON token for an error message without echoing much
// untrusted text.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return string(v)
	case string:
		return "the string " + quote(v)
	case json.Number:
		return "the number " + quote(string(v))
	case bool:
		return "the boolean " + strconv.FormatBool(v)
	}
	return fmt.Sprintf("%T", tok)
}

// jsonField is one JSON-visible field of a struct.
type jsonField struct {
	Name      string
	Index     int
	Type      reflect.Type
	OmitEmpty bool
}

var fieldCache sync.Map // reflect.Type -> map[string]jsonField

// jsonFields returns t's JSON fields by exact JSON name.
func jsonFields(t reflect.Type) map[string]jsonField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]jsonField)
	}
	m := make(map[string]jsonField)
	for _, f := range orderedFields(t) {
		m[f.Name] = f
	}
	fieldCache.Store(t, m)
	return m
}

// orderedFields returns t's JSON fields in declaration order. Embedded and
// unexported fields do not occur in the catalog types and are skipped.
func orderedFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Anonymous {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		out = append(out, jsonField{
			Name:      name,
			Index:     i,
			Type:      sf.Type,
			OmitEmpty: strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,"),
		})
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for name := range jsonFields(t) {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
