package main

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers shared by the interop tests (interop_mosquitto_test.go,
// interop_mqttjs_test.go): one real `strata serve` process, and external
// client processes whose output is watched line by line.

// startInteropNode starts a single-node `strata serve` on free 127.0.0.1
// ports (startNode in process_test.go) and waits until it is ready and its
// MQTT listener accepts connections.
func startInteropNode(t *testing.T, bin string) *proc {
	t.Helper()
	p := &proc{id: "interop1", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")}
	startNode(t, bin, p, "")
	waitFor(t, "the node to be ready", 20*time.Second, func() bool { var v any; return getJSON("http://"+p.http+"/readyz", &v) == nil })
	waitFor(t, "the MQTT listener", 10*time.Second, func() bool { return canDial(p.mqtt) })
	waitFor(t, "the WebSocket listener", 10*time.Second, func() bool { return canDial(p.ws) })
	return p
}

func canDial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// interopBuffer collects a child process's output; exec copies into it from
// its own goroutine while the test reads it.
type interopBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *interopBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *interopBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the complete lines written so far.
func (b *interopBuffer) lines() []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	} else {
		return nil
	}
	return strings.Split(s, "\n")
}

// extClient is an external MQTT client process (mosquitto_sub, mosquitto_pub,
// node) with stdout and stderr in one buffer.
type extClient struct {
	name string
	cmd  *exec.Cmd
	out  *interopBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// startClient starts a client process; t.Cleanup kills it if still running.
// Its stdout is line buffered through stdbuf (coreutils), which execs the
// client in its own place: mosquitto_sub's -d lines and messages would
// otherwise sit in a stdio buffer while the test waits for them.
func startClient(t *testing.T, name string, args ...string) *extClient {
	t.Helper()
	return startClientWith(t, nil, name, args...)
}

// startClientWith is startClient with prep (when not nil) adjusting the
// command (directory, environment) before it starts.
func startClientWith(t *testing.T, prep func(*exec.Cmd), name string, args ...string) *extClient {
	t.Helper()
	c := &extClient{name: name, out: &interopBuffer{}, done: make(chan struct{})}
	if stdbuf, err := exec.LookPath("stdbuf"); err == nil {
		c.cmd = exec.Command(stdbuf, append([]string{"-oL", name}, args...)...)
	} else {
		c.cmd = exec.Command(name, args...)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if prep != nil {
		prep(c.cmd)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// wait waits up to d for the process to exit and returns its exit status.
func (c *extClient) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(d):
		t.Fatalf("%s %s did not exit within %v; output so far:\n%s", c.name, strings.Join(c.cmd.Args, " "), d, c.out.String())
		return nil
	}
}

// kill9 sends SIGKILL (no DISCONNECT reaches the broker) and waits for the exit.
func (c *extClient) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", c.name, err)
	}
	c.wait(t, 5*time.Second)
}

// waitOutput polls until some output line satisfies ok, failing after d
// (or as soon as the process exits without printing it).
func (c *extClient) waitOutput(t *testing.T, what string, d time.Duration, ok func(line string) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, l := range c.out.lines() {
			if ok(l) {
				return
			}
		}
		select {
		case <-c.done:
			for _, l := range c.out.lines() { // output written just before the exit
				if ok(l) {
					return
				}
			}
			t.Fatalf("%s exited (%v) before %s; output:\n%s", c.name, c.err, what, c.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s from %s; output:\n%s", d, what, c.name, c.out.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval under a deadline
	}
}
