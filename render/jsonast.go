package render

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/google/go-jsonnet/ast"
)

// jsonToAST turns a decoded JSON value into a Jsonnet AST (in the desugared
// form the evaluator runs), so the template input reaches the VM without
// being lexed, parsed and analysed as Jsonnet source: on large clusters
// that parse was a tenth of the evaluation.
func jsonToAST(v any) (ast.Node, error) {
	switch t := v.(type) {
	case nil:
		return &ast.LiteralNull{}, nil
	case bool:
		return &ast.LiteralBoolean{Value: t}, nil
	case string:
		return &ast.LiteralString{Value: t, Kind: ast.StringDouble}, nil
	case float64:
		return &ast.LiteralNumber{OriginalString: strconv.FormatFloat(t, 'g', -1, 64)}, nil
	case json.Number:
		return &ast.LiteralNumber{OriginalString: t.String()}, nil
	case []any:
		arr := &ast.Array{Elements: make([]ast.CommaSeparatedExpr, len(t))}
		for i, e := range t {
			n, err := jsonToAST(e)
			if err != nil {
				return nil, err
			}
			arr.Elements[i] = ast.CommaSeparatedExpr{Expr: n}
		}
		return arr, nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		obj := &ast.DesugaredObject{Fields: make(ast.DesugaredObjectFields, len(keys))}
		for i, k := range keys {
			n, err := jsonToAST(t[k])
			if err != nil {
				return nil, err
			}
			obj.Fields[i] = ast.DesugaredObjectField{
				Name: &ast.LiteralString{Value: k, Kind: ast.StringDouble},
				Body: n,
				Hide: ast.ObjectFieldInherit,
			}
		}
		return obj, nil
	}
	return nil, fmt.Errorf("template input: unsupported value %T", v)
}

// inputAST encodes the template input as a Jsonnet AST.
func inputAST(in *Input) (ast.Node, error) {
	data, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode template input: %w", err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("encode template input: %w", err)
	}
	return jsonToAST(v)
}
