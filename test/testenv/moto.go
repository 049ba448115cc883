package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Moto is a running moto_server on a loopback port.
type Moto struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	cmd      *exec.Cmd
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartMoto starts moto_server on a free loopback port and stops it (by PID) when
// the test ends. It sets fake AWS credentials in the test process's environment.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	m, err := StartMotoServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	return m
}

// StartMotoServer starts moto_server on a free loopback port in its own process
// group. Stop it with Stop.
func StartMotoServer() (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not found on PATH: install moto[server] 5.2.1 (the machine image has it)")
	}
	for try := 0; try < 3; try++ {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if os.Getenv("NETCHANGE_TEST_VERBOSE") != "" {
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
		if m.waitReady(30 * time.Second) {
			return m, nil
		}
		m.Stop()
	}
	return nil, fmt.Errorf("moto_server did not become ready on a loopback port")
}

// PID is the moto_server process id.
func (m *Moto) PID() int { return m.cmd.Process.Pid }

func (m *Moto) waitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(m.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return true
		}
		if m.cmd.ProcessState != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// Stop stops moto_server (its whole process group) and waits for it.
func (m *Moto) Stop() {
	if m.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Reset wipes all moto state.
func (m *Moto) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	return nil
}
