package main

import (
	"bufio"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stratamq/strata/mqtt/packet"
)

// mqttSession is a raw MQTT 5 connection for process tests.
type mqttSession struct {
	nc net.Conn
	br *bufio.Reader
}

// connectAs opens a connection from the local address ip (any 127.0.0.0/8
// address is loopback) and sends CONNECT as user; it returns the CONNACK's
// reason code and, when accepted, the open session.
func connectAs(t *testing.T, ip, addr, clientID, user, password string) (packet.ReasonCode, *mqttSession) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &mqttSession{nc: nc, br: bufio.NewReader(nc)}
	s.send(t, &packet.Connect{ProtocolVersion: packet.Version5, ClientID: clientID, CleanStart: true,
		HasUsername: true, Username: user, HasPassword: true, Password: []byte(password)})
	ack, ok := s.read(t).(*packet.Connack)
	if !ok {
		t.Fatal("no CONNACK")
	}
	if ack.ReasonCode != 0 {
		nc.Close()
		return ack.ReasonCode, nil
	}
	t.Cleanup(func() { nc.Close() })
	return 0, s
}

func (s *mqttSession) send(t *testing.T, p packet.Packet) {
	t.Helper()
	b, err := packet.Encode(nil, p, packet.Version5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (s *mqttSession) read(t *testing.T) packet.Packet {
	t.Helper()
	s.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.Read(s.br, packet.Version5, 0)
	if err != nil {
		t.Fatalf("reading a packet: %v", err)
	}
	return p
}

// ping proves the session is still open.
func (s *mqttSession) ping(t *testing.T) {
	t.Helper()
	s.send(t, &packet.Pingreq{})
	if _, ok := s.read(t).(*packet.Pingresp); !ok {
		t.Fatal("no PINGRESP")
	}
}

func writePasswords(t *testing.T, path string, users ...string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(users); i += 2 {
		h, err := bcrypt.GenerateFromPassword([]byte(users[i+1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(users[i] + ":" + string(h) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPReloadsPasswords runs a real `strata serve`: SIGHUP applies a
// new password file (the old password refused, the new one accepted)
// without closing a connection admitted before; a broken file keeps the
// previous one; repeated failures from one address ban it; no password
// reaches the log; and after traffic and a snapshot every file in the data
// directory is 0600 and every directory 0700.
func TestSIGHUPReloadsPasswords(t *testing.T) {
	old := syscall.Umask(0o022) // what most services run with; strata must not rely on a stricter one
	defer syscall.Umask(old)
	bin := buildStrata(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "strata.passwd")
	writePasswords(t, pwFile, "alice", "old-pass-1")
	p := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(dir, "data")}
	startNode(t, bin, p, "", "--password-file", pwFile, "--auth-fail-limit", "3", "--log-level", "debug")
	waitReady(t, p)
	waitFor(t, "MQTT listening", 20*time.Second, func() bool {
		nc, err := net.DialTimeout("tcp", p.mqtt, time.Second)
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	code, early := connectAs(t, "127.0.0.1", p.mqtt, "early", "alice", "old-pass-1")
	if code != 0 {
		t.Fatalf("alice with the first password: %v", code)
	}

	writePasswords(t, pwFile, "alice", "new-pass-2", "bob", "bob-pass-3")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the new password accepted", 10*time.Second, func() bool {
		code, _ := connectAs(t, "127.0.0.1", p.mqtt, "late", "alice", "new-pass-2")
		return code == 0
	})
	if code, _ := connectAs(t, "127.0.0.1", p.mqtt, "stale", "alice", "old-pass-1"); code != packet.CodeBadUsernameOrPassword {
		t.Fatalf("old password after reload: %v, want bad user name or password", code)
	}
	early.ping(t)

	os.WriteFile(pwFile, []byte("alice:not-a-hash\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the failed reload logged", 10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "reload failed") })
	if code, _ := connectAs(t, "127.0.0.1", p.mqtt, "kept", "bob", "bob-pass-3"); code != 0 {
		t.Fatalf("bob after a failed reload: %v", code)
	}
	early.ping(t)

	checkBan(t, p.mqtt)
	snap := exec.Command(bin, "cluster", "snapshot", "--server", p.http, "--user", "bob") // no ACL: every user is admin
	snap.Env = append(os.Environ(), "STRATA_PASSWORD=bob-pass-3")
	if out, err := snap.CombinedOutput(); err != nil {
		t.Fatalf("cluster snapshot: %v\n%s", err, out)
	}
	stopNode(t, p)
	logs := p.stderr.String()
	for _, secret := range []string{"old-pass-1", "new-pass-2", "bob-pass-3", "guess-pass", "$2a$04$"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "low bcrypt cost") {
		t.Errorf("cost-4 hashes not warned about:\n%s", logs)
	}
	checkPrivateTree(t, p.dir)
}

// checkBan: with --auth-fail-limit 3, three failures from 127.0.0.5 ban
// it (even the right password is refused) while 127.0.0.6 connects.
func checkBan(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 3; i++ {
		if code, _ := connectAs(t, "127.0.0.5", addr, "guess", "alice", "guess-pass"); code != packet.CodeBadUsernameOrPassword {
			t.Fatalf("guess %d: %v", i+1, code)
		}
	}
	if code, _ := connectAs(t, "127.0.0.5", addr, "guess", "alice", "new-pass-2"); code != packet.CodeBanned {
		t.Fatalf("after 3 failures, the right password: %v, want banned", code)
	}
	if code, _ := connectAs(t, "127.0.0.6", addr, "other", "alice", "new-pass-2"); code != 0 {
		t.Fatalf("another address: %v", code)
	}
}

// checkPrivateTree fails for each directory under dir not 0700 and each
// file not 0600.
func checkPrivateTree(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if n++; info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d paths in the data directory", n)
	}
}
