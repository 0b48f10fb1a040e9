package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The packaging files live at the repository's root and in deploy/; these
// tests check them against the code that reads them.
const (
	exampleConfig = "../../deploy/strata.yaml"
	systemdUnit   = "../../deploy/strata.service"
	composeFile   = "../../deploy/compose.yaml"
	dockerfile    = "../../Dockerfile"
)

// exampleChanges are the keys whose value in deploy/strata.yaml is not
// serve's default, on purpose (the file's header says which).
var exampleChanges = map[string]string{"data-dir": "/var/lib/strata"}

// TestExampleConfig loads deploy/strata.yaml with serve's own flags and
// config loader: it must name every flag (so a new flag fails here until
// the example documents it), each with a comment, each at its default but
// for exampleChanges, and the result must pass serve's checks.
func TestExampleConfig(t *testing.T) {
	fs := newFlagSet("serve", io.Discard)
	var f serveFlags
	registerServeFlags(fs, &f)
	if err := applyConfigFile(fs, exampleConfig); err != nil {
		t.Fatalf("the real loader refuses the example: %v", err)
	}
	keys := exampleKeys(t)
	fs.VisitAll(func(fl *flag.Flag) {
		want, changed := exampleChanges[fl.Name]
		switch {
		case !keys[fl.Name]:
			t.Errorf("deploy/strata.yaml lacks serve's flag --%s: add the key %q with its default and a comment", fl.Name, fl.Name)
		case changed && fl.Value.String() != want:
			t.Errorf("key %q is %q, want %q", fl.Name, fl.Value.String(), want)
		case !changed && fl.Value.String() != fl.DefValue:
			t.Errorf("key %q is %q but serve's default is %q: the example shows defaults", fl.Name, fl.Value.String(), fl.DefValue)
		}
	})
	if err := checkServeFlags(&f); err != nil {
		t.Errorf("serve's checks refuse the example: %v", err)
	}
}

// exampleKeys are deploy/strata.yaml's keys. Each must be commented: a
// comment above it, or above the run of keys on consecutive lines it
// belongs to (tls-cert and tls-key share one).
func exampleKeys(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	root, err := configMapping(data)
	if err != nil || root == nil {
		t.Fatalf("deploy/strata.yaml: %v (or empty)", err)
	}
	keys := map[string]bool{}
	commented := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		keys[k.Value] = true
		follows := i > 0 && k.Line == root.Content[i-2].Line+1
		commented = k.HeadComment != "" || (follows && commented)
		if !commented {
			t.Errorf("deploy/strata.yaml:%d: key %q has no comment saying what it does", k.Line, k.Value)
		}
	}
	return keys
}

// TestExampleConfigServesUnderTheUnit starts the systemd unit's ExecStart
// (strata serve --config with the example config) with the data directory
// and addresses moved to a temporary directory and free loopback ports,
// waits until `strata health` says ready, checks the node took its ID from
// the file, and stops it with the unit's KillSignal: a clean exit 0, after
// which `strata health` fails.
func TestExampleConfigServesUnderTheUnit(t *testing.T) {
	bin := buildStrata(t)
	argv := unitExecStart(t)
	if filepath.Base(argv[0]) != "strata" || !slices.Contains(argv, "--config") {
		t.Fatalf("ExecStart %q does not run strata with --config", argv)
	}
	for i, a := range argv {
		if a == "/etc/strata/strata.yaml" {
			argv[i] = exampleConfig
		}
	}
	httpAddr := freeAddr(t)
	args := append(argv[1:], "--data-dir", t.TempDir(), "--http", httpAddr, "--raft-addr", freeAddr(t),
		"--mqtt", freeAddr(t), "--ws", freeAddr(t), "--log-level", "warn")
	cmd := exec.Command(bin, args...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "strata health to say ready", 30*time.Second, func() bool {
		return exec.Command(bin, "health", "--http", httpAddr).Run() == nil
	})
	var st struct{ ID string }
	if err := getJSON("http://"+httpAddr+"/v1/cluster/status", &st); err != nil || st.ID != "node1" {
		t.Fatalf("status: %v, node id %q, want node1 from the config file", err, st.ID)
	}
	if sig := unitKey(t, "KillSignal"); sig != "SIGTERM" {
		t.Fatalf("KillSignal=%s, the test sends SIGTERM", sig)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("strata serve after SIGTERM: %v\n%s", err, stderr)
	}
	out, err := exec.Command(bin, "health", "--http", httpAddr).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "not ready") {
		t.Errorf("strata health on a stopped node: exit %d, %q; want 1 and \"not ready\"", code, out)
	}
}

// unitKey is the value of key in deploy/strata.service ("" if absent).
func unitKey(t *testing.T, key string) string {
	t.Helper()
	f, err := os.Open(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return v
		}
	}
	return ""
}

func unitExecStart(t *testing.T) []string {
	t.Helper()
	v := unitKey(t, "ExecStart")
	if v == "" || strings.ContainsAny(v, `"'$\`) {
		t.Fatalf("ExecStart %q: want a plain command line", v)
	}
	return strings.Fields(v)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit (its
// ExecStart pointed at a built binary, since verify checks that the
// command exists), and on a copy with a misspelt key, which must be
// reported: any output is a failure. Skipped where systemd-analyze is
// missing; systemd is not a test dependency.
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed: the unit is not verified")
	}
	bin := buildStrata(t)
	unit, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/strata", bin)
	if out := verifyUnit(t, text); out != "" {
		t.Errorf("systemd-analyze verify deploy/strata.service:\n%s", out)
	}
	broken := strings.Replace(text, "LockPersonality=", "LockPersonalty=", 1)
	if out := verifyUnit(t, broken); !strings.Contains(out, "LockPersonalty") {
		t.Errorf("verify did not report a misspelt key (so it checks nothing): %q", out)
	}
	for _, key := range []string{"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
		"ReadWritePaths", "CapabilityBoundingSet", "RestrictAddressFamilies", "SystemCallFilter", "LockPersonality",
		"MemoryDenyWriteExecute", "Restart", "LimitNOFILE", "TimeoutStopSec", "ExecReload", "StateDirectory", "User", "Group"} {
		if !strings.Contains(text, "\n"+key+"=") {
			t.Errorf("deploy/strata.service does not set %s", key)
		}
	}
}

// verifyUnit writes text as strata.service in a temporary directory and
// returns what systemd-analyze verify says about it.
func verifyUnit(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strata.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil && len(out) == 0 {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

// TestDockerfileBuild runs the Dockerfile's `go build` line as written
// (its output moved to a temporary directory, its build arguments set) and
// checks the binary is static, as a FROM scratch image needs, and carries
// the version. Docker itself is not needed.
func TestDockerfileBuild(t *testing.T) {
	line := dockerfileGoBuild(t)
	out := filepath.Join(t.TempDir(), "strata")
	line = strings.NewReplacer("/out/usr/local/bin/strata", out, "${VERSION}", "v9.8.7-test", "${COMMIT}", "abc1234").Replace(line)
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the Dockerfile's binary is dynamically linked (%v): scratch has no libc", p.Type)
		}
	}
	v, err := exec.Command(out, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(v), "v9.8.7-test") {
		t.Errorf("strata version: %v %q, want the build's VERSION", err, v)
	}
}

// dockerfileGoBuild is the Dockerfile's RUN line that builds the binary.
func dockerfileGoBuild(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if cmd, ok := strings.CutPrefix(l, "RUN "); ok && strings.Contains(cmd, "go build") {
			if !strings.Contains(cmd, "CGO_ENABLED=0") || !strings.Contains(cmd, "-trimpath") {
				t.Errorf("the Dockerfile's build %q lacks CGO_ENABLED=0 or -trimpath", cmd)
			}
			return cmd
		}
	}
	t.Fatal("the Dockerfile has no RUN ... go build line")
	return ""
}

// composeService is what the tests read of a compose service.
type composeService struct {
	Entrypoint  []string
	Command     []string
	Healthcheck struct{ Test []string }
}

// TestComposeCluster runs deploy/compose.yaml's three nodes as processes:
// each service's entrypoint and command as written, with the container's
// addresses mapped to loopback ones (service names and fixed IPs to
// 127.0.0.1N, each port to a free one), its files to temporary ones, and
// the MQTT listeners that every container binds on 0.0.0.0 moved to free
// loopback ports. The three must form one cluster of three voters, and
// each service's healthcheck command must pass. With docker-compose
// installed, `docker-compose config` must accept the file too.
func TestComposeCluster(t *testing.T) {
	services := composeServices(t)
	bin := buildStrata(t)
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	pw := exec.Command(bin, "passwd", passwd, "ops")
	pw.Stdin = strings.NewReader("compose-test-password\n")
	if out, err := pw.CombinedOutput(); err != nil {
		t.Fatalf("strata passwd: %v\n%s", err, out)
	}
	m := append(composeAddrMap(t, services), "/etc/strata/strata.yaml", exampleConfig,
		"/run/secrets/cluster_key", clusterKey(t, bin), "/etc/strata/auth/passwd", passwd)
	mapArg := strings.NewReplacer(m...).Replace
	for _, name := range composeNodes {
		s := services[name]
		var args []string
		for _, a := range append(slices.Clone(s.Entrypoint[1:]), s.Command...) {
			args = append(args, mapArg(a))
		}
		args = append(args, "--data-dir", filepath.Join(dir, name), "--mqtt", freeAddr(t), "--ws", freeAddr(t), "--log-level", "warn")
		startProc(t, bin, args)
	}
	for _, name := range composeNodes {
		test := services[name].Healthcheck.Test
		if len(test) < 3 || test[0] != "CMD" || test[1] != "/usr/local/bin/strata" || test[2] != "health" {
			t.Fatalf("%s: healthcheck %q, want [CMD /usr/local/bin/strata health ...]", name, test)
		}
		var args []string
		for _, a := range test[2:] {
			args = append(args, mapArg(a))
		}
		waitFor(t, name+"'s healthcheck", 60*time.Second, func() bool { return exec.Command(bin, args...).Run() == nil })
	}
	waitFor(t, "three voters", 30*time.Second, func() bool {
		st := exec.Command(bin, "cluster", "status", "--server", mapArg("strata1:8080"), "--user", "ops")
		st.Env = append(os.Environ(), "STRATA_PASSWORD=compose-test-password")
		out, err := st.Output()
		return err == nil && strings.Count(string(out), " voter\n") == 3
	})
	composeConfig(t)
}

var composeNodes = []string{"strata1", "strata2", "strata3"}

// composeServices decodes deploy/compose.yaml's services (merge keys
// resolved).
func composeServices(t *testing.T) map[string]composeService {
	t.Helper()
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Services map[string]composeService }
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	for _, name := range composeNodes {
		s, ok := doc.Services[name]
		if !ok || len(s.Entrypoint) < 2 || s.Entrypoint[0] != "/usr/local/bin/strata" || s.Entrypoint[1] != "serve" {
			t.Fatalf("deploy/compose.yaml: service %s's entrypoint %q, want /usr/local/bin/strata serve ...", name, s.Entrypoint)
		}
	}
	return doc.Services
}

// composeAddrMap maps every container address in the services' arguments
// (strataN:PORT, 172.28.0.1N:PORT) to a free port on 127.0.0.1N, as
// strings.NewReplacer pairs.
func composeAddrMap(t *testing.T, services map[string]composeService) []string {
	t.Helper()
	re := regexp.MustCompile(`(strata|172\.28\.0\.1)([0-9]):([0-9]+)`)
	seen := map[string]bool{}
	var pairs []string
	for _, s := range services {
		for _, a := range slices.Concat(s.Entrypoint, s.Command, s.Healthcheck.Test) {
			for _, sub := range re.FindAllStringSubmatch(a, -1) {
				if !seen[sub[0]] {
					seen[sub[0]] = true
					pairs = append(pairs, sub[0], freeAddrOn(t, "127.0.0.1"+sub[2]))
				}
			}
		}
	}
	return pairs
}

// freeAddrOn is a free port on the loopback address ip.
func freeAddrOn(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProc starts bin with args until the test ends.
func startProc(t *testing.T, bin string, args []string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("strata %s:\n%s", strings.Join(args, " "), stderr)
		}
	})
}

// composeConfig has docker-compose (or docker compose) validate the file,
// when one is installed; neither is a test dependency. The secret's file
// must exist for it, so the file is checked from a copy beside one.
func composeConfig(t *testing.T) {
	t.Helper()
	var argv []string
	if _, err := exec.LookPath("docker-compose"); err == nil {
		argv = []string{"docker-compose"}
	} else if exec.Command("docker", "compose", "version").Run() == nil {
		argv = []string{"docker", "compose"}
	} else {
		t.Log("neither docker-compose nor docker compose installed: compose.yaml's syntax not checked")
		return
	}
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{"compose.yaml": data, "cluster.key": nil} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(argv[0], append(argv[1:], "-f", "compose.yaml", "config", "-q")...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s config: %v\n%s", strings.Join(argv, " "), err, out)
	}
}
