package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Peer is a broker under test, started on 127.0.0.1 in a temporary
// directory and stopped by Stop.
type Peer struct {
	Name    string
	URL     string // tcp://127.0.0.1:port
	Config  string // how it was configured, for the report
	cmd     *exec.Cmd
	dir     string
	Version string
}

// Stop kills the broker and removes its directory.
func (p *Peer) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}

// freePort returns a loopback port free at the moment.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls addr until it accepts a connection or d passes.
func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, d, err)
		}
		time.Sleep(50 * time.Millisecond) // poll under a deadline
	}
}

// ensureDebian finds bin in PATH (or /usr/sbin), installing pkg with
// apt-get when it is missing.
func ensureDebian(bin, pkg string, log io.Writer) (string, error) {
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if p, err := exec.LookPath(dir + bin); err == nil {
			return p, nil
		}
	}
	fmt.Fprintf(log, "installing %s (apt-get install -y %s)\n", bin, pkg)
	out, err := exec.Command("apt-get", "install", "-y", pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apt-get install %s: %w\n%s", pkg, err, out)
	}
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if p, err := exec.LookPath(dir + bin); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found after installing %s", bin, pkg)
}

func start(p *Peer, addr string, log io.Writer, name string, args ...string) (*Peer, error) {
	p.cmd = exec.Command(name, args...)
	logf, err := os.Create(filepath.Join(p.dir, "broker.log"))
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitListening(addr, 20*time.Second); err != nil {
		p.Stop()
		out, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("%s: %w\n%s", p.Name, err, out)
	}
	fmt.Fprintf(log, "started %s on %s\n", p.Name, addr)
	return p, nil
}

// StartStrata starts `strata serve` (the running binary) as one durable
// node with its data in a temporary directory.
func StartStrata(log io.Writer) (*Peer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "strata-bench-")
	if err != nil {
		return nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p := &Peer{Name: "strata", URL: "tcp://" + addr, dir: dir,
		Config: "one node, durable default (each batch fsynced through Raft before it is acknowledged or delivered)"}
	return start(p, addr, log, self, "serve", "--data-dir", filepath.Join(dir, "data"), "--mqtt", addr, "--ws", "",
		"--http", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--raft-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--sys-interval", "0", "--log-level", "warn")
}

// StartMosquitto starts mosquitto with unlimited queues (its default of
// 1000 queued messages silently drops QoS 1 backlogs) and no persistence.
func StartMosquitto(log io.Writer) (*Peer, error) {
	bin, err := ensureDebian("mosquitto", "mosquitto", log)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mosquitto-bench-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n", port)
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := &Peer{Name: "mosquitto", URL: "tcp://" + addr, dir: dir,
		Config: "max_queued_messages 0, persistence false (in memory)"}
	return start(p, addr, log, bin, "-c", cf)
}

// StartNATS starts nats-server with its MQTT gateway (which needs
// JetStream) and default JetStream syncing (every 2 minutes).
func StartNATS(log io.Writer) (*Peer, error) {
	bin, err := ensureDebian("nats-server", "nats-server", log)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nats-bench-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	nport, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("server_name: bench\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\nmqtt { listen: 127.0.0.1:%d }\n",
		nport, filepath.Join(dir, "js"), port)
	cf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := &Peer{Name: "nats-server", URL: "tcp://" + addr, dir: dir,
		Config: "MQTT gateway on JetStream, default sync (every 2 minutes)"}
	return start(p, addr, log, bin, "-c", cf)
}

// mochiMain is the ten-line broker built for the comparison.
const mochiMain = `package main

import (
	"os"
	"os/signal"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	s := mqtt.New(&mqtt.Options{InlineClient: false})
	_ = s.AddHook(new(auth.AllowHook), nil)
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "t1", Address: os.Args[1]})); err != nil {
		panic(err)
	}
	go s.Serve()
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	<-c
}
`

// StartMochi builds mochi-mqtt (Go module github.com/mochi-mqtt/server/v2)
// in a temporary module and starts it (in memory, default options).
func StartMochi(ctx context.Context, log io.Writer) (*Peer, error) {
	dir, err := os.MkdirTemp("", "mochi-bench-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(mochiMain), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintln(log, "building mochi-mqtt (go get github.com/mochi-mqtt/server/v2)")
	for _, args := range [][]string{{"mod", "init", "mochibench"}, {"get", "github.com/mochi-mqtt/server/v2@latest"}, {"build", "-o", "mochi", "."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("building mochi-mqtt: go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := &Peer{Name: "mochi-mqtt", URL: "tcp://" + addr, dir: dir, Config: "default options, in memory"}
	return start(p, addr, log, filepath.Join(dir, "mochi"), addr)
}

// StartPeer starts a broker by name.
func StartPeer(ctx context.Context, name string, log io.Writer) (*Peer, error) {
	switch name {
	case "strata":
		return StartStrata(log)
	case "mosquitto":
		return StartMosquitto(log)
	case "nats", "nats-server":
		return StartNATS(log)
	case "mochi", "mochi-mqtt":
		return StartMochi(ctx, log)
	}
	return nil, errors.New("bench: unknown peer " + name + " (strata, mosquitto, nats, mochi)")
}
