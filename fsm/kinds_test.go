package fsm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// declaredKinds parses entry.go and returns every constant of type Kind with
// its value: the record kind space as written, not as some list restates it.
func declaredKinds(t *testing.T) map[string]uint64 {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "entry.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]uint64{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Kind" {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.INT {
					t.Fatalf("%s: a record kind must be an integer literal", name.Name)
				}
				v, err := strconv.ParseUint(lit.Value, 0, 8)
				if err != nil {
					t.Fatalf("%s: %v", name.Name, err)
				}
				kinds[name.Name] = v
			}
		}
	}
	return kinds
}

// TestRecordKindsDeclaredOnce: the log record's one-byte kind is shared by
// fsm entries and replication's records; every kind is declared in entry.go,
// no two share a value, and each has a name (Declared).
func TestRecordKindsDeclaredOnce(t *testing.T) {
	kinds := declaredKinds(t)
	if len(kinds) == 0 {
		t.Fatal("no Kind constants found in entry.go")
	}
	byValue := map[uint64]string{}
	for name, v := range kinds {
		if other, dup := byValue[v]; dup {
			t.Errorf("%s and %s are both record kind %#x", name, other, v)
		}
		byValue[v] = name
		if !Kind(v).Declared() {
			t.Errorf("%s (%#x) has no name in kindNames", name, v)
		}
		if entry := v >= uint64(KindPublish) && v < uint64(KindMember); Kind(v).Valid() != entry {
			t.Errorf("%s (%#x): Valid() = %v; entry kinds are below KindMember", name, v, !entry)
		}
	}
	for k := 0; k < 256; k++ {
		if _, ok := byValue[uint64(k)]; Kind(k).Declared() != ok {
			t.Errorf("kind %#x: Declared() = %v but entry.go declares it: %v", k, !ok, ok)
		}
	}
}
