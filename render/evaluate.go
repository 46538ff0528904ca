package render

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// collectNative is the native function the entry snippet hands its result
// to: go-jsonnet passes native arguments as Go values, which saves
// serialising the whole plan to a JSON string and parsing it again.
const collectNative = "piraeusctl.collect"

// shardMinSatellites: below this many satellites one VM run is fastest.
const shardMinSatellites = 64

// maxShards bounds the number of concurrent VM runs.
const maxShards = 4

// evaluate runs every component template and decodes the objects. Large
// plans are evaluated in shards on all cores: each shard's VM sees the whole
// input and every template, but manifests only its slice of each template's
// output array (Jsonnet arrays are lazy, so the other elements are never
// computed). Shards are joined in order, so the result does not depend on
// the number of shards.
func evaluate(ctx context.Context, src *templateSource, maxStack int, in *Input) ([]*unstructured.Unstructured, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := src.components()
	if err != nil {
		return nil, err
	}
	shards := shardCount(len(in.Satellites))
	results := make([][]any, shards)
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for k := 0; k < shards; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k], errs[k] = evaluateShard(src.fork(), maxStack, in, names, k, shards)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return joinShards(names, results)
}

func shardCount(satellites int) int {
	if satellites < shardMinSatellites {
		return 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), maxShards))
}

// evaluateShard evaluates shard k of n; the result has one entry per
// template: its slice of objects.
func evaluateShard(src *templateSource, maxStack int, in *Input, names []string, k, n int) ([]any, error) {
	// Each VM gets its own AST: evaluation keeps state in nodes' thunks.
	input, err := inputAST(in)
	if err != nil {
		return nil, err
	}
	vm := newVM(src, maxStack)
	var out []any
	vm.NativeFunction(&jsonnet.NativeFunction{
		Name:   collectNative,
		Params: ast.Identifiers{"result"},
		Func: func(args []any) (any, error) {
			list, ok := args[0].([]any)
			if !ok {
				return nil, fmt.Errorf("want an array, got %T", args[0])
			}
			out = list
			return true, nil
		},
	})
	vm.TLANode("input", input)
	if _, err := vm.EvaluateAnonymousSnippet("render.jsonnet", entrySnippet(names, k, n)); err != nil {
		return nil, fmt.Errorf("evaluate templates: %w", err)
	}
	return out, nil
}

// entrySnippet calls every component with the input and hands shard k of n
// of each one's output to the collect function.
func entrySnippet(names []string, k, n int) string {
	var b strings.Builder
	b.WriteString("function(input)\n")
	fmt.Fprintf(&b, "  local shard(objs) = if std.isArray(objs) then objs[std.floor(std.length(objs) * %d / %d):std.floor(std.length(objs) * %d / %d)] else objs;\n", k, n, k+1, n)
	fmt.Fprintf(&b, "  std.native(%q)([\n", collectNative)
	for _, name := range names {
		q, _ := json.Marshal(name)
		fmt.Fprintf(&b, "    shard((import %s)(input)),\n", q)
	}
	b.WriteString("  ])\n")
	return b.String()
}

// joinShards concatenates each template's shards in order and decodes the objects.
func joinShards(names []string, results [][]any) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for t, name := range names {
		for _, shard := range results {
			if len(shard) != len(names) {
				return nil, fmt.Errorf("evaluate templates: %d results for %d templates", len(shard), len(names))
			}
			list, ok := shard[t].([]any)
			if !ok {
				return nil, fmt.Errorf("template %s: want an array of objects, got %T", name, shard[t])
			}
			got, err := decodeObjectList(name, list)
			if err != nil {
				return nil, err
			}
			objs = append(objs, got...)
		}
	}
	return objs, nil
}

func decodeObjectList(template string, list []any) ([]*unstructured.Unstructured, error) {
	objs := make([]*unstructured.Unstructured, 0, len(list))
	for i, o := range list {
		m, ok := normalizeJSON(o).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("template %s: object %d: want an object, got %T", template, i, o)
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("template %s: object %d: apiVersion, kind and metadata.name are required", template, i)
		}
		objs = append(objs, u)
	}
	return objs, nil
}
