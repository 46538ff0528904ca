package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"

	"github.com/piraeusctl/piraeusctl/internal/image/debian"
)

// Files the image sets itself: Debian's maintainer scripts (which nothing
// runs here) would have created the first two; the LVM settings are those
// Piraeus's own satellite image uses, as no udev runs in the container.
var (
	etcPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	etcGroup  = "root:x:0:\ntty:x:5:\ndisk:x:6:\nnogroup:x:65534:\n"
	lvmLocal  = `# piraeusctl image: LVM inside a container, where no udev runs and dmeventd
# is not started; the host's /run/udev is mounted only for device discovery.
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
`
)

// baseTree unpacks the locked packages of one platform into a merged-/usr
// tree, leaves out the lock's dropped paths, records each package's control
// file where scanners look for it (/var/lib/dpkg/status.d/NAME, as
// distroless images do), adds the image's own configuration and proves that
// every shared library resolves.
func baseTree(ctx context.Context, lock *debian.Lock, arch string, debs []string) (*tree, error) {
	pkgs := lock.For(arch)
	t := newTree()
	for i, p := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := debian.ReadDeb(debs[i])
		if err != nil {
			return nil, err
		}
		ctl, err := debian.ParseControl(d.Control, p.Basename()+": control")
		if err != nil {
			return nil, err
		}
		if ctl["Package"] != p.Name || ctl["Version"] != p.Version {
			return nil, fmt.Errorf("%s: control says %s %s, the lock pins %s %s",
				p.Basename(), ctl["Package"], ctl["Version"], p.Name, p.Version)
		}
		if err := t.addTar(d.Data, p.Name+" "+p.Version); err != nil {
			return nil, err
		}
		t.put("var/lib/dpkg/status.d/"+p.Name, 0o644, statusEntry(d.Control))
	}
	for _, d := range lock.Drop {
		if !t.drop(canonical(d)) {
			return nil, fmt.Errorf("drop %s: no such path in the packages", d)
		}
	}
	if err := t.mergeUsr(); err != nil {
		return nil, err
	}
	t.put("etc/passwd", 0o644, []byte(etcPasswd))
	t.put("etc/group", 0o644, []byte(etcGroup))
	t.put("etc/lvm/lvmlocal.conf", 0o644, []byte(lvmLocal))
	for _, d := range []struct {
		name string
		mode int64
	}{{"tmp", 0o1777}, {"var/tmp", 0o1777}, {"root", 0o700}, {"run/lock", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}} {
		if _, ok := t.nodes[d.name]; !ok {
			t.nodes[d.name] = &node{typ: tar.TypeDir, mode: d.mode, owner: "piraeusctl"}
		}
	}
	if _, ok := t.nodes["var/lock"]; !ok { // drbdmeta locks there
		t.nodes["var/lock"] = &node{typ: tar.TypeSymlink, mode: 0o777, link: "../run/lock", owner: "piraeusctl"}
	}
	if err := t.checkLibraries(arch); err != nil {
		return nil, err
	}
	return t, nil
}

// statusEntry is a control file as dpkg's status database holds it.
func statusEntry(control []byte) []byte {
	out := bytes.TrimRight(control, "\n")
	return append(append([]byte{}, out...), "\nStatus: install ok installed\n"...)
}
