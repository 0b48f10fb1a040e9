// Package lint holds repository-wide checks that run with `go test`: the package
// dependency direction of docs/architecture (house style §1) and forbidden imports.
package lint

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/stratamq/strata"

// allowed lists, per package of ours, the packages of ours it may depend on
// (transitively) and the third-party module prefixes it may import directly.
// Packages not listed (cmd/strata, bench, internal/lint) may import anything.
var allowed = map[string]struct {
	ours       []string
	thirdParty []string
}{
	"topic":            {},
	"internal/durable": {}, // the standard library only
	"internal/testpki": {}, // certificates for tests: the standard library only
	"auth":             {ours: []string{"topic", "internal/durable"}, thirdParty: []string{"golang.org/x/crypto", "golang.org/x/time", "golang.org/x/sync/singleflight", "gopkg.in/yaml.v3", "github.com/golang-jwt/jwt/v5"}},
	"internal/varint":  {}, // the standard library only
	"segment":          {ours: []string{"internal/varint"}, thirdParty: []string{"github.com/klauspost/compress"}},
	"log":              {ours: []string{"segment", "topic", "internal/varint"}, thirdParty: []string{"github.com/google/btree", "github.com/rs/zerolog"}},
	"fsm":              {ours: []string{"log", "segment", "topic", "internal/varint"}, thirdParty: []string{"github.com/google/btree"}},
	// presence builds presence snapshots and events from fsm views, for mqtt and httpapi.
	"presence":    {ours: []string{"log", "segment", "topic", "fsm", "internal/varint"}},
	"replication": {ours: []string{"log", "segment", "topic", "fsm", "internal/durable", "internal/varint"}, thirdParty: []string{"github.com/hashicorp/", "github.com/rs/zerolog"}},
	// mqtt names replication.Future (what its Cluster's Propose returns) and nothing else of it.
	"mqtt":         {ours: []string{"log", "segment", "topic", "fsm", "presence", "replication", "mqtt/packet", "auth", "internal/durable", "internal/varint"}, thirdParty: []string{"github.com/rs/zerolog", "github.com/coder/websocket"}},
	"housekeeping": {ours: []string{"log", "segment", "topic", "fsm", "replication", "internal/durable", "internal/varint"}, thirdParty: []string{"github.com/rs/zerolog"}},
	"mqtt/packet":  {}, // the codec imports nothing but the standard library
	"trust":        {}, // cluster keys and node TLS: the standard library only
	"httpapi":      {ours: []string{"log", "segment", "topic", "fsm", "presence", "replication", "auth", "internal/durable", "internal/varint"}, thirdParty: []string{"github.com/rs/zerolog", "github.com/parquet-go/parquet-go"}},
	// metrics reads every part's counters at scrape time; nothing imports it but cmd/strata.
	"metrics": {ours: []string{"log", "segment", "topic", "fsm", "presence", "replication", "mqtt", "mqtt/packet", "auth", "httpapi", "internal/durable", "internal/varint"}, thirdParty: []string{"github.com/prometheus/client_golang", "github.com/rs/zerolog"}},
}

// forbidden may not be imported directly by any package of ours: the standard
// "log" would clash with our log/ and is a global logger, as is zerolog's.
var forbidden = []string{"log", "github.com/rs/zerolog/log"}

type pkgInfo struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImports(t *testing.T) {
	touchSources(t)
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		checkForbidden(t, rel, p)
		rule, ok := allowed[rel]
		if !ok {
			continue
		}
		for _, d := range p.Deps {
			if dep, ours := strings.CutPrefix(d, module+"/"); ours && !contains(rule.ours, dep) {
				t.Errorf("%s depends on %s; allowed: %v", rel, dep, rule.ours)
			}
		}
		for _, imp := range p.Imports {
			if isThirdParty(imp) && !hasPrefix(rule.thirdParty, imp) {
				t.Errorf("%s imports %s; allowed third-party: %v", rel, imp, rule.thirdParty)
			}
		}
	}
}

func checkForbidden(t *testing.T, rel string, p pkgInfo) {
	for _, list := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
		for _, imp := range list {
			if contains(forbidden, imp) {
				t.Errorf("%s imports %q: use a zerolog.Logger passed in options", rel, imp)
			}
		}
	}
}

func isThirdParty(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return strings.Contains(first, ".") && !strings.HasPrefix(imp, module)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasPrefix(prefixes []string, s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// touchSources stats every Go file and directory so that `go test` caching
// reruns this test whenever a source file changes (the go list subprocess's
// reads are invisible to the cache).
func touchSources(t *testing.T) {
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(path, ".go") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatalf("walk sources: %v", err)
	}
}
