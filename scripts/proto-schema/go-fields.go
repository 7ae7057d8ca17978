// go-fields reads the Go API types next to Kubernetes' generated.proto files and prints, as JSON,
// what the .proto cannot say but the JSON form depends on: each protobuf field's JSON name, its
// omitempty/omitzero options, whether the Go field is a pointer (protobuf presence) or embedded
// inline, the Go declaration order (JSON key order), named slice types (JSON arrays carried in a
// one-field message) and each package's API group. Standard library only: it parses source, it
// does not compile Kubernetes.
//
// usage: go run go-fields.go <import path>=<dir> ...
package main

import (
	"encoding/json"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type field struct {
	Go        string `json:"go"`
	Proto     string `json:"proto"`
	JSON      string `json:"json"`
	OmitEmpty bool   `json:"omitempty,omitempty"`
	OmitZero  bool   `json:"omitzero,omitempty"`
	Inline    bool   `json:"inline,omitempty"`
	Pointer   bool   `json:"pointer,omitempty"`
	Slice     bool   `json:"slice,omitempty"`
	Map       bool   `json:"map,omitempty"`
	Bytes     bool   `json:"bytes,omitempty"`
	GoType    string `json:"goType"`
}

type goType struct {
	Kind   string  `json:"kind"` // struct, slice, map, other
	Fields []field `json:"fields,omitempty"`
}

type pkg struct {
	Group string            `json:"group"`
	Types map[string]goType `json:"types"`
}

var groupTag = regexp.MustCompile(`\+groupName=([^\s]*)`)

func typeString(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.SelectorExpr:
		return typeString(t.X) + "." + t.Sel.Name
	case *ast.StarExpr:
		return "*" + typeString(t.X)
	case *ast.ArrayType:
		return "[]" + typeString(t.Elt)
	case *ast.MapType:
		return "map[" + typeString(t.Key) + "]" + typeString(t.Value)
	case *ast.InterfaceType:
		return "interface{}"
	}
	return "?"
}

func main() {
	out := map[string]pkg{}
	for _, arg := range os.Args[1:] {
		importPath, dir, _ := strings.Cut(arg, "=")
		fset := token.NewFileSet()
		// Only the files a default build compiles: some types have build-tagged variants
		// (metav1.FieldsV1), and which one a map iteration met first must not matter.
		keep := func(fi os.FileInfo) bool {
			ok, err := build.Default.MatchFile(dir, fi.Name())
			return err == nil && ok && !strings.HasSuffix(fi.Name(), "_test.go")
		}
		pkgs, err := parser.ParseDir(fset, dir, keep, parser.ParseComments)
		if err != nil {
			panic(err)
		}
		p := pkg{Types: map[string]goType{}}
		for _, astPkg := range pkgs {
			if strings.HasSuffix(astPkg.Name, "_test") {
				continue
			}
			for _, f := range astPkg.Files {
				if f.Doc != nil {
					if m := groupTag.FindStringSubmatch(f.Doc.Text()); m != nil && p.Group == "" {
						p.Group = m[1]
					}
				}
				for _, decl := range f.Decls {
					gd, ok := decl.(*ast.GenDecl)
					if !ok {
						continue
					}
					for _, spec := range gd.Specs {
						switch s := spec.(type) {
						case *ast.ValueSpec:
							for i, n := range s.Names {
								if n.Name == "GroupName" && i < len(s.Values) {
									if lit, ok := s.Values[i].(*ast.BasicLit); ok {
										if v, err := strconv.Unquote(lit.Value); err == nil {
											p.Group = v
										}
									}
								}
							}
						case *ast.TypeSpec:
							p.Types[s.Name.Name] = describe(s.Type)
						}
					}
				}
			}
		}
		out[importPath] = p
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}

func describe(e ast.Expr) goType {
	switch t := e.(type) {
	case *ast.StructType:
		g := goType{Kind: "struct"}
		for _, f := range t.Fields.List {
			if f.Tag == nil {
				continue
			}
			tag, _ := strconv.Unquote(f.Tag.Value)
			st := reflect.StructTag(tag)
			pb, ok := st.Lookup("protobuf")
			if !ok || pb == "-" {
				continue
			}
			fd := field{GoType: typeString(f.Type)}
			if len(f.Names) > 0 {
				fd.Go = f.Names[0].Name
			} else {
				fd.Go = strings.TrimPrefix(fd.GoType[strings.LastIndex(fd.GoType, ".")+1:], "*")
			}
			for _, part := range strings.Split(pb, ",") {
				if strings.HasPrefix(part, "name=") {
					fd.Proto = strings.TrimPrefix(part, "name=")
				}
			}
			if fd.Proto == "" {
				// go-to-protobuf names an untagged field after the Go field, first letter lowered.
				fd.Proto = strings.ToLower(fd.Go[:1]) + fd.Go[1:]
			}
			js, hasJSON := st.Lookup("json")
			name, opts, _ := strings.Cut(js, ",")
			if !hasJSON {
				name = fd.Go
			}
			fd.JSON = name
			for _, o := range strings.Split(opts, ",") {
				switch o {
				case "omitempty":
					fd.OmitEmpty = true
				case "omitzero":
					fd.OmitZero = true
				}
			}
			// encoding/json promotes the fields of an embedded struct that has no JSON name.
			fd.Inline = len(f.Names) == 0 && name == ""
			switch ft := f.Type.(type) {
			case *ast.StarExpr:
				fd.Pointer = true
			case *ast.ArrayType:
				if typeString(ft.Elt) == "byte" {
					fd.Bytes = true
				} else {
					fd.Slice = true
				}
			case *ast.MapType:
				fd.Map = true
			}
			g.Fields = append(g.Fields, fd)
		}
		return g
	case *ast.ArrayType:
		if typeString(t.Elt) == "byte" {
			return goType{Kind: "bytes"}
		}
		return goType{Kind: "slice"}
	case *ast.MapType:
		return goType{Kind: "map"}
	}
	return goType{Kind: "other"}
}
