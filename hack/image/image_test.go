package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/image"
	"github.com/piraeusctl/piraeusctl/internal/image/debian"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// The stamp of the test builds.
const (
	testVersion = "v0.0.0-imagetest"
	testEpoch   = "1700000000"
)

var (
	buildOnce sync.Once
	built     string // IMAGE_DIR of the first build
	buildErr  error
)

func skipUnlessIntegration(t *testing.T) {
	t.Helper()
	if testing.Short() || testsupport.IntegrationSkipped() {
		t.Skip("builds the image from Debian's archive (" + testsupport.SkipIntegrationEnv + "=1 or -short)")
	}
}

// makeImage runs `make image` as a user does, with the test's stamp, and
// the given output directory, download cache and extra settings.
func makeImage(t *testing.T, dir, cache string, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{"-s", "-C", "../..", "image", "IMAGE_DIR=" + dir, "IMAGE_CACHE=" + cache,
		"VERSION=" + testVersion, "SOURCE_DATE_EPOCH=" + testEpoch}, extra...)
	start := time.Now()
	out, err := exec.CommandContext(t.Context(), "make", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("make %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("make image (%s): %s\n%s", dir, time.Since(start).Round(time.Millisecond), out)
	return string(out), nil
}

// builtImage is the image of the first build, shared by the tests.
func builtImage(t *testing.T) string {
	t.Helper()
	skipUnlessIntegration(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "piraeusctl-image-test-")
		if err != nil {
			buildErr = err
			return
		}
		built = dir
		_, buildErr = makeImage(t, dir, cacheDir(t))
	})
	require.NoError(t, buildErr)
	return built
}

func cacheDir(t *testing.T) string {
	d, err := os.UserCacheDir()
	require.NoError(t, err)
	return filepath.Join(d, "piraeusctl", "image")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(built)
	}
	os.Exit(code)
}

// rootfs unpacks one platform of the built image.
func rootfs(t *testing.T, platform string) string {
	t.Helper()
	img, err := image.LoadPlatform(filepath.Join(builtImage(t), image.LayoutDir), platform)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "rootfs")
	require.NoError(t, image.ExtractRootfs(img, dir))
	return dir
}

// chroot runs a command inside the root file system as the container
// runtime would: PATH from the image, nothing of the host.
func chroot(t *testing.T, root string, args ...string) string {
	t.Helper()
	// Built by hand: exec.Command would look the program up on the host.
	cmd := exec.CommandContext(t.Context(), "/")
	cmd.Path, cmd.Args, cmd.Err = args[0], args, nil
	if !strings.HasPrefix(args[0], "/") {
		cmd.Path = lookPathIn(t, root, args[0])
	}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + image.Path, "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
	return string(out)
}

func lookPathIn(t *testing.T, root, name string) string {
	t.Helper()
	for _, d := range filepath.SplitList(image.Path) {
		if fi, err := os.Stat(filepath.Join(root, d, name)); err == nil && fi.Mode()&0o111 != 0 {
			return filepath.Join(d, name)
		}
	}
	t.Fatalf("%s not on the image's PATH", name)
	return ""
}

func requireRoot(t *testing.T) {
	t.Helper()
	require.Equal(t, 0, os.Geteuid(), "the image tests chroot into the image: run as root (or set PIRAEUSCTL_SKIP_INTEGRATION=1)")
}

// TestImageRunsTools runs the binary and the host tools the components
// call inside the image's root file system.
func TestImageRunsTools(t *testing.T) {
	requireRoot(t)
	root := rootfs(t, "amd64")
	mountProc(t, root)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"piraeusctl", "version"}, "piraeusctl " + testVersion + "\n"},
		{[]string{"drbdadm", "--version"}, "DRBDADM_VERSION=9.22.0"},
		{[]string{"lvm", "version"}, "LVM version:     2.03.16"},
		{[]string{"mkfs.ext4", "-V"}, "mke2fs 1.47.0"},
		{[]string{"mkfs.xfs", "-V"}, "mkfs.xfs version 6.1.0"},
		{[]string{"blkid", "-V"}, "blkid from util-linux 2.38.1"},
		{[]string{"losetup", "--version"}, "losetup from util-linux 2.38.1"},
		{[]string{"mount", "--version"}, "mount from util-linux 2.38.1"},
		{[]string{"thin_check", "-V"}, "0.9.0"},
		{[]string{"modprobe", "--version"}, "kmod version 30"},
		{[]string{"ip", "-V"}, "ip utility, iproute2-6.1.0"},
		{[]string{"sh", "-c", "truncate --version | head -1"}, "truncate (GNU coreutils) 9.1"},
		// The image's LVM settings for a container without udev.
		{[]string{"lvmconfig", "activation/udev_sync", "activation/udev_rules"}, "udev_sync=0\nudev_rules=0\n"},
	} {
		got := chroot(t, root, tc.args...)
		assert.Contains(t, got, tc.want, strings.Join(tc.args, " "))
	}
	assert.FileExists(t, filepath.Join(root, "etc/os-release"))
}

// mountProc mounts a proc file system in the root, as a container runtime
// does (LVM reads /proc/mounts and /proc/devices).
func mountProc(t *testing.T, root string) {
	t.Helper()
	proc := filepath.Join(root, "proc")
	require.NoError(t, syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""))
	t.Cleanup(func() { _ = syscall.Unmount(proc, syscall.MNT_DETACH) })
}

// TestImageSharedLibrariesResolve asks the image's own dynamic loader to
// resolve every ELF executable and library of the amd64 image (the build
// already checked DT_NEEDED for every platform).
func TestImageSharedLibrariesResolve(t *testing.T) {
	requireRoot(t)
	root := rootfs(t, "amd64")
	var checked int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !isDynamicELF(p) {
			return err
		}
		rel := "/" + strings.TrimPrefix(p, root+"/")
		out := chroot(t, root, "/lib64/ld-linux-x86-64.so.2", "--list", rel)
		assert.NotContains(t, out, "not found", rel)
		checked++
		return nil
	})
	require.NoError(t, err)
	t.Logf("%d dynamic ELF files resolve", checked)
	assert.Greater(t, checked, 100, "the walk saw the image's binaries")
}

func isDynamicELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "\x7fELF" {
		return false
	}
	return strings.HasSuffix(p, ".so") || strings.Contains(p, ".so.") || hasInterp(p)
}

func hasInterp(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// TestImageReproducible builds again in another directory, from another
// download cache (so the Debian layers are made afresh) whose files have
// other times, in another time zone and umask, as a build on another day
// would: every digest and file must be the same.
func TestImageReproducible(t *testing.T) {
	first := builtImage(t)
	cache := t.TempDir()
	copyCache(t, cacheDir(t), cache, time.Now().Add(72*time.Hour))
	second := t.TempDir()
	old := syscall.Umask(0o027)
	t.Setenv("TZ", "Pacific/Kiritimati")
	out, err := makeImage(t, second, cache)
	syscall.Umask(old)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(out, "debianLayerCached=false"), "both Debian layers made afresh")

	for _, name := range append([]string{image.DigestFile}, outputs(t, first)...) {
		a, b := fileSum(t, filepath.Join(first, name)), fileSum(t, filepath.Join(second, name))
		assert.Equal(t, a, b, "%s differs between the builds", name)
	}
	assert.Equal(t, layoutSums(t, first), layoutSums(t, second), "OCI layouts differ")
}

func outputs(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tar") || strings.HasSuffix(e.Name(), ".spdx.json") {
			names = append(names, e.Name())
		}
	}
	require.Len(t, names, 4, "a tarball and an SBOM per platform")
	return names
}

func copyCache(t *testing.T, from, to string, mtime time.Time) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(p, ".deb") {
			return err
		}
		dst := filepath.Join(to, strings.TrimPrefix(p, from))
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dst, data, 0o600))
		return os.Chtimes(dst, mtime, mtime)
	})
	require.NoError(t, err)
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func layoutSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(dir, image.LayoutDir)
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out[strings.TrimPrefix(p, root)] = fileSum(t, p)
		}
		return err
	}))
	return out
}

// TestImageSBOM checks each platform's SBOM against `go version -m` of the
// binary in the image and against the lock.
func TestImageSBOM(t *testing.T) {
	dir := builtImage(t)
	lock, err := debian.ReadLockFile("debian.lock")
	require.NoError(t, err)
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			doc, err := spdxjson.Read(openFile(t, filepath.Join(dir, "sbom-linux-"+arch+".spdx.json")))
			require.NoError(t, err)
			assert.Equal(t, "SPDX-2.3", doc.SPDXVersion)
			have := map[string]string{}
			for _, p := range doc.Packages {
				have[p.PackageName] = p.PackageVersion
			}
			mods := goVersionM(t, filepath.Join(dir, "piraeusctl-linux-"+arch))
			require.Greater(t, len(mods), 20, "go version -m lists the dependencies")
			for path, version := range mods {
				assert.Equal(t, version, have[path], "Go module %s", path)
			}
			debs := lock.For(arch)
			for _, p := range debs {
				assert.Equal(t, p.Version, have[p.Name], "Debian package %s", p.Name)
			}
			t.Logf("%s SBOM: %d packages (%d Go modules with the toolchain, %d Debian packages)", arch, len(doc.Packages), len(mods), len(debs))
		})
	}
}

func openFile(t *testing.T, p string) io.Reader {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	return bytes.NewReader(data)
}

// goVersionM returns module path → version as `go version -m` prints
// them (replacements win), plus the toolchain as "stdlib".
func goVersionM(t *testing.T, bin string) map[string]string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "version", "-m", bin).Output()
	require.NoError(t, err)
	mods := map[string]string{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && strings.HasSuffix(f[0], ":") && strings.HasPrefix(f[1], "go1."):
			mods["stdlib"] = f[1]
		case len(f) >= 3 && f[0] == "dep":
			mods[f[1]], last = f[2], f[1]
		case len(f) >= 3 && f[0] == "=>": // replaces the dep on the line before
			delete(mods, last)
			mods[f[1]] = f[2]
		}
	}
	return mods
}

// TestImageLayout checks the OCI layout: its one entry is the index,
// tagged with the version and carrying the OCI labels; each platform's
// config has the entrypoint and labels; each SBOM artifact in the index has
// its platform's manifest as subject, and that manifest's annotation names
// the SBOM's digest. The docker tarball holds the same image.
func TestImageLayout(t *testing.T) {
	dir := builtImage(t)
	tm, idx := layoutIndex(t, dir)
	require.Len(t, tm.Manifests, 1, "one entry, so `crane push DIR` and `skopeo copy oci:DIR:TAG` take it")
	assert.Equal(t, testVersion, tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"])
	digest := strings.TrimSpace(string(readFile(t, filepath.Join(dir, image.DigestFile))))
	assert.Equal(t, tm.Manifests[0].Digest.String(), digest)

	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Equal(t, testVersion, im.Annotations["org.opencontainers.image.version"])
	assert.Equal(t, "2023-11-14T22:13:20Z", im.Annotations["org.opencontainers.image.created"])
	require.Len(t, im.Manifests, 4, "two platform images and their SBOMs")

	sboms := map[string]v1.Descriptor{} // subject digest → SBOM blob
	for _, d := range im.Manifests {
		assert.Empty(t, d.ArtifactType, "older tools rewrite an index whose descriptors carry artifactType")
	}
	for _, d := range im.Manifests[2:] {
		assert.Equal(t, "unknown/unknown", d.Platform.String())
		art, err := idx.Image(d.Digest)
		require.NoError(t, err)
		m, err := art.Manifest()
		require.NoError(t, err)
		assert.Equal(t, image.SBOMMediaType, m.ArtifactType)
		require.NotNil(t, m.Subject)
		require.Len(t, m.Layers, 1)
		sboms[m.Subject.Digest.String()] = m.Layers[0]
	}
	for _, d := range im.Manifests[:2] {
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, d.Platform.Architecture, cf.Architecture)
		assert.Equal(t, []string{image.BinaryPath}, cf.Config.Entrypoint)
		assert.Equal(t, []string{"PATH=" + image.Path}, cf.Config.Env)
		for _, k := range []string{"version", "revision", "source", "created"} {
			assert.NotEmpty(t, cf.Config.Labels["org.opencontainers.image."+k], k)
		}
		m, err := img.Manifest()
		require.NoError(t, err)
		sbom, ok := sboms[d.Digest.String()]
		require.True(t, ok, "an SBOM whose subject is %s", d.Platform)
		assert.Equal(t, sbom.Digest.String(), m.Annotations[image.SBOMAnnotation])
		assert.Equal(t, fileDigest(t, filepath.Join(dir, image.SBOMName(*d.Platform))), sbom.Digest.String(), "the SBOM file beside the image")
		assert.Len(t, m.Layers, 2, "the Debian layer and the binary layer")

		tb, err := tarball.ImageFromPath(filepath.Join(dir, image.TarballName(*d.Platform)), nil)
		require.NoError(t, err)
		tc, err := tb.ConfigName()
		require.NoError(t, err)
		ic, err := img.ConfigName()
		require.NoError(t, err)
		assert.Equal(t, ic, tc, "the docker tarball holds the same image")
	}
}

// layoutIndex reads the layout's index.json and the image index it lists first.
func layoutIndex(t *testing.T, dir string) (*v1.IndexManifest, v1.ImageIndex) {
	t.Helper()
	p, err := layout.FromPath(filepath.Join(dir, image.LayoutDir))
	require.NoError(t, err)
	top, err := p.ImageIndex()
	require.NoError(t, err)
	tm, err := top.IndexManifest()
	require.NoError(t, err)
	require.NotEmpty(t, tm.Manifests)
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	require.NoError(t, err)
	return tm, idx
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	return "sha256:" + fileSum(t, p)
}

// TestImagePushByDigest pushes the layout as `crane push` does to a
// registry on 127.0.0.1 and pulls it back by the digest `make image`
// printed: the digest survives, the SBOM is found through the referrers
// API, and a plan pinned to REGISTRY/piraeusctl@DIGEST names that image.
func TestImagePushByDigest(t *testing.T) {
	dir := builtImage(t)
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	_, idx := layoutIndex(t, dir)
	tag, err := name.NewTag(host+"/piraeusctl:"+testVersion, name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(tag, idx, remote.WithContext(t.Context())))

	digest := strings.TrimSpace(string(readFile(t, filepath.Join(dir, image.DigestFile))))
	pinned, err := name.NewDigest(host+"/piraeusctl@"+digest, name.Insecure)
	require.NoError(t, err)
	pulled, err := remote.Index(pinned, remote.WithContext(t.Context()))
	require.NoError(t, err)
	pd, err := pulled.Digest()
	require.NoError(t, err)
	assert.Equal(t, digest, pd.String())

	amd64, err := image.LoadPlatform(filepath.Join(dir, image.LayoutDir), "amd64")
	require.NoError(t, err)
	ad, err := amd64.Digest()
	require.NoError(t, err)
	refs, err := remote.Referrers(tag.Context().Digest(ad.String()), remote.WithContext(t.Context()))
	require.NoError(t, err)
	rm, err := refs.IndexManifest()
	require.NoError(t, err)
	require.Len(t, rm.Manifests, 1, "the amd64 image's SBOM")
	art, err := remote.Image(tag.Context().Digest(rm.Manifests[0].Digest.String()), remote.WithContext(t.Context()))
	require.NoError(t, err)
	am, err := art.Manifest()
	require.NoError(t, err)
	assert.Equal(t, image.SBOMMediaType, am.ArtifactType)
	sbom, err := art.LayerByDigest(am.Layers[0].Digest)
	require.NoError(t, err)
	rc, err := sbom.Compressed()
	require.NoError(t, err)
	pulledSBOM, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, readFile(t, filepath.Join(dir, "sbom-linux-amd64.spdx.json")), pulledSBOM)

	out, err := exec.CommandContext(t.Context(), filepath.Join(dir, "piraeusctl-linux-amd64"), "plan", "-f", "../../examples",
		"-o", "json", "--image", "piraeusctl="+pinned.String()).Output()
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(out), `"image": "`+pinned.String()+`"`), "the plan pins the pushed image by digest")
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	return data
}
