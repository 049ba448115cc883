// Command llmstub serves the scripted LLM server of internal/llm/llmtest from a
// JSON script file, for demos and end-to-end tests:
//
//	go run ./test/llmstub --addr 127.0.0.1:0 --script script.json
//
// The script is a JSON list of steps, e.g.
//
//	[{"kind":"reply","content":{"actions":[],"rationale":"nothing to do"}},
//	 {"kind":"status","code":429},{"kind":"malformed","content":"sure!"},{"kind":"delay","delay":"30s"}]
//
// The first line on stdout is the server's root URL; OpenAI-compatible and
// Anthropic clients use <url>/v1 as their base URL. It runs until SIGINT/SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/netchange-io/netchange/internal/llm/llmtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "llmstub:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("llmstub", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback; port 0 picks a free port)")
	script := fs.String("script", "", "JSON file with the list of scripted steps (required)")
	loop := fs.Bool("loop", false, "start the script over when it is used up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	steps, err := readScript(*script)
	if err != nil {
		return err
	}
	s := llmtest.New().Add(steps...).Loop(*loop)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	s.URL = "http://" + ln.Addr().String()
	fmt.Println(s.URL)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// readScript reads and checks the step list in path.
func readScript(path string) ([]llmtest.Step, error) {
	if path == "" {
		return nil, fmt.Errorf("--script is required: a JSON file with a list of steps")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	var steps []llmtest.Step
	if err := json.Unmarshal(b, &steps); err != nil {
		return nil, fmt.Errorf("script %s: %w (want a JSON list of {\"kind\":\"reply|malformed|status|delay\",...})", path, err)
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("script %s has no steps", path)
	}
	return steps, nil
}
