package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A source package: its import path and top-level constants.
type srcPkg struct {
	path   string
	consts map[string]constDecl
	files  []*ast.File
}

// A constant's value and the imports of the file declaring it.
type constDecl struct {
	value   ast.Expr
	imports map[string]string
}

// TestRecordKinds: every log record the code builds (a log.Record or
// segment.Record literal with a Kind) takes a kind declared in fsm/entry.go
// (the record kind space, see fsm.Kind), directly or through constants
// defined from one; a literal number or a constant not traced back to fsm's
// declarations fails. Copies of a kind held in a variable or field (r.Kind,
// uint8(e.Kind)) are not constants and are left to the types.
func TestRecordKinds(t *testing.T) {
	touchSources(t)
	pkgs := parseModule(t)
	fsmPkg := pkgs[module+"/fsm"]
	if fsmPkg == nil {
		t.Fatal("fsm not found")
	}
	declared := map[string]bool{}
	for _, f := range fsmPkg.files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Kind" {
						for _, n := range vs.Names {
							declared[n.Name] = true
						}
					}
				}
			}
		}
	}
	if !declared["KindPublish"] || !declared["KindMember"] {
		t.Fatalf("fsm's Kind constants not found: %v", declared)
	}
	checked := 0
	for _, p := range pkgs {
		for _, f := range p.files {
			imports := fileImports(f)
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.CompositeLit)
				if !ok || !isRecordType(p.path, lit.Type, imports) {
					return true
				}
				for _, el := range lit.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if k, _ := kv.Key.(*ast.Ident); !ok || k == nil || k.Name != "Kind" {
						continue
					}
					checked++
					if why := kindOrigin(pkgs, p, imports, kv.Value, declared, 0); why != "" {
						pos := srcFset.Position(kv.Pos())
						t.Errorf("%s: record kind %s", pos, why)
					}
				}
				return true
			})
		}
	}
	if checked == 0 {
		t.Fatal("no record literals found: the check looks in the wrong place")
	}
}

var srcFset = token.NewFileSet()

// parseModule parses every non-test Go file of the module, by package.
func parseModule(t *testing.T) map[string]*srcPkg {
	t.Helper()
	pkgs := map[string]*srcPkg{}
	root := "../.."
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(srcFset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		ip := module
		if rel != "." {
			ip += "/" + filepath.ToSlash(rel)
		}
		sp := pkgs[ip]
		if sp == nil {
			sp = &srcPkg{path: ip, consts: map[string]constDecl{}}
			pkgs[ip] = sp
		}
		sp.files = append(sp.files, f)
		imports := fileImports(f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							sp.consts[n.Name] = constDecl{vs.Values[i], imports}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("parse sources: %v", err)
	}
	return pkgs
}

// fileImports maps a file's import names to import paths.
func fileImports(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		m[name] = p
	}
	return m
}

func isRecordType(pkg string, typ ast.Expr, imports map[string]string) bool {
	switch x := typ.(type) {
	case *ast.Ident:
		return x.Name == "Record" && (pkg == module+"/log" || pkg == module+"/segment")
	case *ast.SelectorExpr:
		id, ok := x.X.(*ast.Ident)
		if !ok || x.Sel.Name != "Record" {
			return false
		}
		ip := imports[id.Name]
		return ip == module+"/log" || ip == module+"/segment"
	}
	return false
}

// kindOrigin follows a record kind expression through conversions and
// constants; it returns why the kind is not one of fsm's declarations, or
// "" if it is (or is not a constant at all).
func kindOrigin(pkgs map[string]*srcPkg, p *srcPkg, imports map[string]string, e ast.Expr, declared map[string]bool, depth int) string {
	if depth > 10 {
		return "defined through too many constants"
	}
	switch x := e.(type) {
	case *ast.ParenExpr:
		return kindOrigin(pkgs, p, imports, x.X, declared, depth+1)
	case *ast.CallExpr: // a conversion such as uint8(k) or fsm.Kind(k)
		if len(x.Args) == 1 {
			return kindOrigin(pkgs, p, imports, x.Args[0], declared, depth+1)
		}
		return ""
	case *ast.BasicLit:
		return "is the literal " + x.Value + ": use a kind declared in fsm/entry.go"
	case *ast.Ident:
		if p.path == module+"/fsm" && declared[x.Name] {
			return ""
		}
		if c, ok := p.consts[x.Name]; ok {
			if why := kindOrigin(pkgs, p, c.imports, c.value, declared, depth+1); why != "" {
				return x.Name + " " + why
			}
		}
		return "" // a variable
	case *ast.SelectorExpr:
		id, ok := x.X.(*ast.Ident)
		if !ok {
			return ""
		}
		ip, isPkg := imports[id.Name]
		if !isPkg {
			return "" // a field
		}
		if ip == module+"/fsm" {
			if declared[x.Sel.Name] {
				return ""
			}
			return "fsm." + x.Sel.Name + " is not a Kind declared in fsm/entry.go"
		}
		if q := pkgs[ip]; q != nil {
			if c, ok := q.consts[x.Sel.Name]; ok {
				if why := kindOrigin(pkgs, q, c.imports, c.value, declared, depth+1); why != "" {
					return id.Name + "." + x.Sel.Name + " " + why
				}
			}
		}
		return ""
	}
	return ""
}
