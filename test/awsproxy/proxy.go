// Package awsproxy is a loopback HTTP reverse proxy in front of moto_server for
// tests. It counts the AWS calls that pass through by action (EC2 query API
// "Action" form field, WAFv2 "X-Amz-Target" header), separating reads
// (Describe*/Get*/List*), dry runs (EC2 DryRun=true) and mutations, and it can
// inject faults into mutating calls: throttling, HTTP 503, a permanent AWS error,
// or "apply, then drop the response" (the call reaches moto, the caller never
// learns it did — a crash between an AWS call and its journal record).
package awsproxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// FaultKind is the kind of failure a Fault injects.
type FaultKind string

// Fault kinds.
const (
	// Throttle answers HTTP 400 with AWS error code RequestLimitExceeded (EC2) or
	// ThrottlingException (WAFv2) without forwarding the call.
	Throttle FaultKind = "Throttle"
	// Unavailable answers HTTP 503 without forwarding the call.
	Unavailable FaultKind = "Unavailable"
	// Permanent answers HTTP 400 with Fault.Code (default UnauthorizedOperation)
	// without forwarding the call.
	Permanent FaultKind = "Permanent"
	// DropAfterApply forwards the call to moto, runs Fault.OnApplied, then closes the
	// connection without an answer.
	DropAfterApply FaultKind = "DropAfterApply"
)

// Fault is one injected failure for the mutating (non-dry-run) calls of an action.
type Fault struct {
	// Action is the EC2 Action or WAFv2 operation name, e.g. "CreateNetworkAclEntry".
	Action string
	// Kind is what happens.
	Kind FaultKind
	// Times is how many calls fail; 0 means every call.
	Times int
	// Code is the AWS error code for Permanent.
	Code string
	// Message is the AWS error message for Permanent.
	Message string
	// OnApplied runs (in the proxy's handler) after a DropAfterApply call reached moto
	// and before the connection is dropped.
	OnApplied func()

	used int
}

// Proxy is a running proxy. Its methods are safe for concurrent use.
type Proxy struct {
	// URL is the proxy's base URL (http://127.0.0.1:<port>); use it as the AWS endpoint.
	URL string

	target *url.URL
	rp     *httputil.ReverseProxy
	srv    *http.Server
	ln     net.Listener

	mu        sync.Mutex
	forwarded map[string]int
	received  map[string]int
	dryRuns   map[string]int
	reads     map[string]int
	faults    []*Fault
}

// Start starts a proxy on a free 127.0.0.1 port in front of target (moto's base URL).
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("awsproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("awsproxy: listen: %w", err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), target: u, ln: ln, rp: httputil.NewSingleHostReverseProxy(u)}
	p.Reset()
	p.srv = &http.Server{Handler: p}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// Reset forgets all counts and faults.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forwarded, p.received, p.dryRuns, p.reads = map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	p.faults = nil
}

// Inject adds a fault. Faults are tried in the order added.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ff := f
	p.faults = append(p.faults, &ff)
}

// Forwarded returns how many mutating, non-dry-run calls of action reached moto.
func (p *Proxy) Forwarded(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forwarded[action]
}

// Received returns how many mutating, non-dry-run calls of action arrived
// (forwarded or answered with a fault).
func (p *Proxy) Received(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.received[action]
}

// Mutations returns every mutating call that arrived, dry runs included, by
// action ("<Action>(DryRun)" for dry runs). Empty means no mutating call at all.
func (p *Proxy) Mutations() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.received {
		out[k] = v
	}
	for k, v := range p.dryRuns {
		out[k+"(DryRun)"] = v
	}
	return out
}

// Summary is Mutations as a sorted "Action=n" list, for test failure messages.
func (p *Proxy) Summary() string {
	m := p.Mutations()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// IsRead reports whether an AWS operation name only reads.
func IsRead(action string) bool {
	for _, p := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

// classify returns the operation name, whether it is a WAF (JSON) call and whether it is a dry run.
func classify(r *http.Request, body []byte) (action string, json bool, dry bool) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if i := strings.LastIndex(t, "."); i >= 0 {
			return t[i+1:], true, false
		}
		return t, true, false
	}
	form, _ := url.ParseQuery(string(body))
	action = form.Get("Action")
	if action == "" {
		action = r.URL.Query().Get("Action")
	}
	return action, false, strings.EqualFold(form.Get("DryRun"), "true")
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	action, isJSON, dry := classify(r, body)

	var fault *Fault
	p.mu.Lock()
	switch {
	case action == "" || IsRead(action):
		p.reads[action]++
	case dry:
		p.dryRuns[action]++
	default:
		p.received[action]++
		for _, f := range p.faults {
			if f.Action == action && (f.Times == 0 || f.used < f.Times) {
				f.used++
				fault = f
				break
			}
		}
		if fault == nil || fault.Kind == DropAfterApply {
			p.forwarded[action]++
		}
	}
	p.mu.Unlock()

	if fault == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch fault.Kind {
	case Throttle:
		code := "RequestLimitExceeded"
		if isJSON {
			code = "ThrottlingException"
		}
		writeError(w, isJSON, http.StatusBadRequest, code, "Request limit exceeded.")
	case Unavailable:
		writeError(w, isJSON, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable (injected).")
	case Permanent:
		code, msg := fault.Code, fault.Message
		if code == "" {
			code = "UnauthorizedOperation"
		}
		if msg == "" {
			msg = "You are not authorized to perform this operation (injected)."
		}
		writeError(w, isJSON, http.StatusBadRequest, code, msg)
	case DropAfterApply:
		p.forwardThenDrop(w, r, body, fault)
	}
}

func (p *Proxy) forwardThenDrop(w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	out, err := http.NewRequest(r.Method, p.target.ResolveReference(&url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery}).String(), bytes.NewReader(body))
	if err == nil {
		out.Header = r.Header.Clone()
		var resp *http.Response
		if resp, err = http.DefaultTransport.RoundTrip(out); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	if f.OnApplied != nil {
		f.OnApplied()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, herr := hj.Hijack(); herr == nil {
			_ = conn.Close()
			return
		}
	}
	http.Error(w, "connection dropped (injected)", http.StatusInternalServerError)
}

func writeError(w http.ResponseWriter, isJSON bool, status int, code, msg string) {
	if isJSON {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>`, code, msg)
}
