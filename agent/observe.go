package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// pool is one storage pool as found on the host.
type pool struct {
	spec     *agentv1.StoragePool
	provider storage.Provider
	volumes  map[string]storage.Volume // by volume name
	// snapshots by snapshot volume name
	snapshots map[string]storage.Snapshot
	err       error
}

// resFile is a DRBD resource file found in the config dir.
type resFile struct {
	path string
	data []byte
	uid  string
}

// host is what the agent read from the host before acting.
type host struct {
	pools    map[string]*pool
	resFiles map[string]resFile       // by resource name
	kernel   map[string]drbd.Resource // by resource name; nil when not read
}

func (a *Agent) resPath(name string) string {
	return filepath.Join(a.cfg.ConfigDir, name+".res")
}

// readResFiles lists the resource files in the config dir.
func (a *Agent) readResFiles() (map[string]resFile, error) {
	entries, err := os.ReadDir(a.cfg.ConfigDir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]resFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read DRBD config dir: %w", err)
	}
	out := map[string]resFile{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".res")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(a.cfg.ConfigDir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		out[name] = resFile{path: path, data: data, uid: resFileUID(data)}
	}
	return out, nil
}

// resFileUID reads the "# uid: X" header drbd.Render writes.
func resFileUID(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			return ""
		}
		if uid, ok := strings.CutPrefix(line, "# uid: "); ok {
			return strings.TrimSpace(uid)
		}
	}
	return ""
}

// readKernel reads DRBD's state of all resources.
func readKernel(ctx context.Context, exec hostexec.Executor) (map[string]drbd.Resource, error) {
	res, err := exec.Run(ctx, drbd.StatusJSON())
	if err != nil {
		return nil, fmt.Errorf("read DRBD state: %w", err)
	}
	list, err := drbd.ParseStatusJSON(res.Stdout)
	if err != nil {
		return nil, err
	}
	out := make(map[string]drbd.Resource, len(list))
	for _, r := range list {
		out[r.Name] = r
	}
	return out, nil
}

// openPool makes the provider of a pool and lists its volumes; failures are
// kept in the pool, so other pools still converge.
func openPool(ctx context.Context, spec *agentv1.StoragePool, exec hostexec.Executor, ensure bool) (*pool, bool) {
	p := &pool{spec: spec, volumes: map[string]storage.Volume{}, snapshots: map[string]storage.Snapshot{}}
	prov, err := storage.New(spec, exec)
	if err != nil {
		p.err = err
		return p, false
	}
	p.provider = prov
	changed := false
	if ensure {
		if changed, p.err = prov.Ensure(ctx); p.err != nil {
			return p, changed
		}
	}
	vols, snaps, err := prov.Scan(ctx)
	if err != nil {
		p.err = err
		return p, changed
	}
	for _, v := range vols {
		p.volumes[v.Name] = v
	}
	for _, s := range snaps {
		p.snapshots[s.Name] = s
	}
	return p, changed
}

// usesDRBD reports whether a resource has the DRBD layer.
func usesDRBD(r *agentv1.Resource) bool {
	return len(r.GetLayers()) == 0 || r.GetLayers()[0] == agentv1.Layer_DRBD
}

// validateLayers accepts [DRBD, STORAGE] (or empty) and [STORAGE].
func validateLayers(r *agentv1.Resource) error {
	l := r.GetLayers()
	switch {
	case len(l) == 0:
	case len(l) == 2 && l[0] == agentv1.Layer_DRBD && l[1] == agentv1.Layer_STORAGE:
	case len(l) == 1 && l[0] == agentv1.Layer_STORAGE:
	default:
		return fmt.Errorf("resource %s: layer list %v not supported (want [DRBD STORAGE] or [STORAGE])", r.GetName(), l)
	}
	if usesDRBD(r) && r.GetDrbd() == nil {
		return fmt.Errorf("resource %s: the DRBD layer needs drbd settings", r.GetName())
	}
	return nil
}
