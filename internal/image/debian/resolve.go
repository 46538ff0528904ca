package debian

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Resolve returns the dependency closure of roots (Pre-Depends and Depends;
// Recommends are not followed), sorted by name. A dependency group is
// skipped when every alternative is excluded (or a virtual package whose
// providers all are); otherwise its first alternative that is already
// chosen, else the first that exists, is taken, and its version constraint
// must hold. Each package's Via names the package that pulled it in
// ("" for roots).
func (ix *Index) Resolve(roots []string, exclude []string) ([]*Package, error) {
	r := resolver{ix: ix, excluded: map[string]bool{}, chosen: map[string]*Package{}, why: map[string]string{}}
	for _, e := range exclude {
		r.excluded[e] = true
	}
	var queue []*Package
	for _, name := range roots {
		if r.excluded[name] {
			return nil, fmt.Errorf("%s is both a root and excluded", name)
		}
		p := ix.packages[name]
		if p == nil {
			return nil, fmt.Errorf("root package %s: not in the %s index", name, ix.Arch)
		}
		if r.chosen[name] == nil {
			r.chosen[name], r.why[name] = p, "root"
			queue = append(queue, p)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, group := range p.Depends {
			next, err := r.satisfy(p, group)
			if err != nil {
				return nil, err
			}
			if next != nil {
				queue = append(queue, next)
			}
		}
	}
	out := make([]*Package, 0, len(r.chosen))
	for name, p := range r.chosen {
		cp := *p
		if via := r.why[name]; via != "root" {
			cp.Via = via
		}
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type resolver struct {
	ix       *Index
	excluded map[string]bool
	chosen   map[string]*Package
	why      map[string]string
}

// satisfy meets one dependency group of p; it returns a newly chosen
// package, or nil when the group was already met or is excluded.
func (r *resolver) satisfy(p *Package, group []Relation) (*Package, error) {
	for _, rel := range group {
		if r.met(rel) {
			return nil, nil
		}
	}
	if r.allExcluded(group) {
		return nil, nil
	}
	for _, rel := range group {
		if r.excluded[rel.Name] {
			continue
		}
		if cand := r.ix.packages[rel.Name]; cand != nil {
			if !rel.Satisfied(cand.Version) {
				return nil, fmt.Errorf("%s %s (via %s) depends on %s, but the index has %s %s",
					p.Name, p.Version, r.chain(p.Name), rel, cand.Name, cand.Version)
			}
			return r.choose(cand, p), nil
		}
		if rel.Op == "" {
			for _, prov := range r.ix.provides[rel.Name] {
				if !r.excluded[prov.Name] {
					return r.choose(prov, p), nil
				}
			}
		}
	}
	return nil, fmt.Errorf("%s %s (via %s): no package satisfies %s", p.Name, p.Version, r.chain(p.Name), formatGroup(group))
}

func (r *resolver) choose(p, parent *Package) *Package {
	r.chosen[p.Name], r.why[p.Name] = p, parent.Name
	return p
}

// met reports whether a chosen package satisfies rel, by name or Provides.
func (r *resolver) met(rel Relation) bool {
	if p := r.chosen[rel.Name]; p != nil && rel.Satisfied(p.Version) {
		return true
	}
	for _, prov := range r.ix.provides[rel.Name] {
		if r.chosen[prov.Name] == nil {
			continue
		}
		for _, v := range prov.Provides {
			if v.Name == rel.Name && (rel.Op == "" || (v.Op == "=" && rel.Satisfied(v.Version))) {
				return true
			}
		}
	}
	return false
}

func (r *resolver) allExcluded(group []Relation) bool {
	for _, rel := range group {
		if r.excluded[rel.Name] {
			continue
		}
		if r.ix.packages[rel.Name] != nil {
			return false
		}
		provs := r.ix.provides[rel.Name]
		if len(provs) == 0 {
			return false
		}
		for _, prov := range provs {
			if !r.excluded[prov.Name] {
				return false
			}
		}
	}
	return true
}

// chain names the path from a root to name ("lvm2 > dmsetup").
func (r *resolver) chain(name string) string {
	parts := []string{name}
	for i := 0; i < 100; i++ {
		parent := r.why[name]
		if parent == "" || parent == "root" {
			break
		}
		parts = append(parts, parent)
		name = parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, " > ")
}

func formatGroup(group []Relation) string {
	s := make([]string, len(group))
	for i, rel := range group {
		s[i] = rel.String()
	}
	return strings.Join(s, " | ")
}

// ResolveLock reads the archives' indexes for every platform and pins the
// closure of req.
func (f *Fetcher) ResolveLock(ctx context.Context, archives []Archive, req Request, platforms []string) (*Lock, error) {
	resolved := map[string][]*Package{}
	for _, platform := range platforms {
		ix, err := f.FetchIndex(ctx, archives, platform)
		if err != nil {
			return nil, err
		}
		pkgs, err := ix.Resolve(req.Roots, req.Exclude)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", platform, err)
		}
		resolved[platform] = pkgs
	}
	return NewLock(archives, req, resolved), nil
}
